"""Pure rules of the compliance review: rates, baselines, overdue sessions, cursors and CSV cells.

No Flask or SQLAlchemy here: the services feed these plain values and the tests call them alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from safety.ids import is_id

#: Flag severities, most serious first (the same scale as the checklist rules).
SEVERITIES = ("critical", "high", "medium", "low")
#: Flag statuses in the order a queue works them.
FLAG_STATUSES = ("open", "acknowledged", "resolved")
#: Escalations from a patient's follow-up answers: they go to the top of every queue.
URGENT_KINDS = ("emergency", "same_day")
#: The states a session can be in, for filters and labels.
STATES = ("signed", "in_progress", "overdue")
STATE_LABELS = {"signed": "Signed", "in_progress": "In progress", "overdue": "Overdue"}

#: Sign-out answers that count as a minor event.
BLEEDING_EVENTS = ("minor", "prolonged")
BRUISING_EVENTS = ("small", "large")
#: Pain during needling at or above this score (0-10) counts as an event.
PAIN_THRESHOLD = 4
#: A reaction other than this counts as an event.
NO_REACTION = "none"

#: Phases saved closer together than this look ticked all at once at the end.
TICKED_TOGETHER = timedelta(minutes=2)


@dataclass(frozen=True)
class Baseline:
    """A published rate of a minor event per session, to compare a clinic against."""

    source: str
    #: Percent of sessions.
    rate: float


@dataclass(frozen=True)
class Measure:
    """A minor event the dashboard charts, with how it is counted and its baselines."""

    key: str
    title: str
    definition: str
    baselines: tuple[Baseline, ...] = ()


#: DESIGN.md §3.2: Brady et al. 2014 (7,629 sessions) and Boyce et al. 2020 (20,464 sessions).
MEASURES: tuple[Measure, ...] = (
    Measure(
        "bleeding",
        "Bleeding at needle sites",
        "Sessions with bleeding at sign out: minor (stopped with pressure) or prolonged.",
        (Baseline("Brady 2014", 4.65), Baseline("Boyce 2020", 16.0)),
    ),
    Measure(
        "bruising",
        "Bruising",
        "Sessions with bruising at sign out, small or large.",
        (Baseline("Brady 2014", 7.55), Baseline("Boyce 2020", 7.7)),
    ),
    Measure(
        "pain_during",
        "Pain during needling",
        f"Sessions where the patient rated pain during needling {PAIN_THRESHOLD} or more "
        "out of 10.",
        (Baseline("Brady 2014", 3.01), Baseline("Boyce 2020", 5.9)),
    ),
    Measure(
        "reaction",
        "Immediate reactions",
        "Sessions with any immediate reaction: dizziness or faint, nausea, or other.",
    ),
)
MEASURE_KEYS = tuple(m.key for m in MEASURES)


# --- rates -----------------------------------------------------------------------------------


def rate(events: int, total: int) -> float | None:
    """Return events as a percent of total, or None when there is nothing to divide by."""
    if total <= 0:
        return None
    return 100.0 * events / total


def format_rate(value: float | None) -> str:
    """Show a percent the way a report would: one decimal, or a dash when there is none."""
    if value is None:
        return "—"
    return f"{value:.1f} %"


@dataclass(frozen=True)
class MonthCounts:
    """What one clinic recorded in one month: sessions and each minor event with its base."""

    clinic_id: int
    #: YYYY-MM.
    month: str
    started: int = 0
    signed: int = 0
    #: measure key -> (sessions with the event, sessions where it was recorded).
    events: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def rate_of(self, key: str) -> float | None:
        hits, total = self.events.get(key, (0, 0))
        return rate(hits, total)


def roll_up_months(rows: Iterable[Sequence[Any]]) -> list[MonthCounts]:
    """Add up per-day counts into per-month counts for each clinic.

    Each row is (session_date, clinic_id, started, signed, then an (events, recorded) pair per
    measure in MEASURES order), as the dashboard query returns them.
    """
    totals: dict[tuple[int, str], list[int]] = {}
    for day, clinic_id, *numbers in rows:
        key = (clinic_id, f"{day.year:04d}-{day.month:02d}")
        into = totals.setdefault(key, [0] * len(numbers))
        for i, n in enumerate(numbers):
            into[i] += int(n or 0)
    result = []
    for (clinic_id, month), numbers in sorted(totals.items()):
        started, signed, *pairs = numbers
        events = {
            measure: (pairs[2 * i], pairs[2 * i + 1]) for i, measure in enumerate(MEASURE_KEYS)
        }
        result.append(MonthCounts(clinic_id, month, started, signed, events))
    return result


@dataclass(frozen=True)
class MeasureTable:
    """One measure as rows of clinics by months of rates, for a chart and its data table."""

    measure: Measure
    months: tuple[str, ...]
    #: (clinic name, [(rate or None, events, sessions) per month]) in clinic order.
    rows: tuple[tuple[str, tuple[tuple[float | None, int, int], ...]], ...]
    #: Across every clinic and month shown: (rate or None, events, sessions).
    overall: tuple[float | None, int, int]


def measure_table(
    measure: Measure,
    counts: Iterable[MonthCounts],
    clinics: Sequence[tuple[int, str]],
    months: Sequence[str],
) -> MeasureTable:
    """Arrange monthly counts of one measure by clinic and month; every month gets a cell."""
    by_key = {(c.clinic_id, c.month): c.events.get(measure.key, (0, 0)) for c in counts}
    rows = []
    total_hits = total_base = 0
    for clinic_id, name in clinics:
        cells = []
        for month in months:
            hits, base = by_key.get((clinic_id, month), (0, 0))
            total_hits += hits
            total_base += base
            cells.append((rate(hits, base), hits, base))
        rows.append((name, tuple(cells)))
    overall = (rate(total_hits, total_base), total_hits, total_base)
    return MeasureTable(measure, tuple(months), tuple(rows), overall)


def response_rate(by_status: Mapping[str, int]) -> float | None:
    """Return answered follow-ups as a percent of those that reached the patient."""
    answered = by_status.get("answered", 0)
    return rate(answered, by_status.get("sent", 0) + answered)


# --- months ----------------------------------------------------------------------------------


def add_months(month_start: date, months: int) -> date:
    """Return the first day of the month `months` after (or before) a month's first day."""
    index = month_start.year * 12 + month_start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_bounds(today: date, months: int) -> tuple[date, date]:
    """Return the first and last day of the `months` calendar months ending with today's."""
    this_month = today.replace(day=1)
    start = add_months(this_month, -(months - 1))
    end = add_months(this_month, 1) - timedelta(days=1)
    return start, end


def month_keys(start: date, end: date) -> tuple[str, ...]:
    """Return YYYY-MM for every month from start to end, both included."""
    keys = []
    month = start.replace(day=1)
    while month <= end:
        keys.append(f"{month.year:04d}-{month.month:02d}")
        month = add_months(month, 1)
    return tuple(keys)


def month_label(key: str) -> str:
    """Show YYYY-MM as a person reads it, e.g. Mar 2026."""
    year, month = key.split("-")
    return date(int(year), int(month), 1).strftime("%b %Y")


# --- overdue ---------------------------------------------------------------------------------


@cache
def _zone(name: str) -> ZoneInfo:
    """ZoneInfo by name, kept: ZoneInfo itself keeps only 8 zones and the clinics have more."""
    return ZoneInfo(name)


def overdue_cutoff(now: datetime, zone: ZoneInfo | str, workday_end_hour: int) -> date:
    """Return the latest session date whose unsigned checklist is overdue at `now`.

    A session is overdue once its clinic's working day has ended (in the clinic's zone)
    without a signature: today's sessions after the closing hour, every earlier day's at once.
    """
    tz = zone if isinstance(zone, ZoneInfo) else _zone(zone)
    local = now.astimezone(tz)
    closing = time(min(max(workday_end_hour, 0), 23))
    return local.date() if local.time() >= closing else local.date() - timedelta(days=1)


def session_state(is_signed: bool, session_date: date, cutoff: date | None) -> str:
    """Return signed, overdue (unsigned after its working day) or in_progress."""
    if is_signed:
        return "signed"
    if cutoff is not None and session_date <= cutoff:
        return "overdue"
    return "in_progress"


def ticked_together(times: Sequence[datetime], *, phases: int) -> bool:
    """Return whether every phase was saved within a couple of minutes of the others.

    A checklist ticked all at once at the end, rather than at each phase, shows as such.
    """
    if phases < 2 or len(times) < phases:
        return False
    return max(times) - min(times) < TICKED_TOGETHER


# --- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFilters:
    """What the compliance officer narrowed the records to; None means any."""

    clinic_id: int | None = None
    practitioner_id: int | None = None
    patient_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    template_version_id: int | None = None
    #: any, none, or a severity.
    flag: str | None = None
    #: signed, in_progress or overdue.
    state: str | None = None

    def date_args(self) -> dict[str, str]:
        """Return only the date range, as the FHIR export reads it."""
        return {k: v for k, v in self.as_args().items() if k in ("from", "to")}

    def as_args(self) -> dict[str, str]:
        """Return the filters as query arguments (ids and dates only, never names)."""
        names = {
            "clinic_id": "clinic",
            "practitioner_id": "practitioner",
            "patient_id": "patient",
            "date_from": "from",
            "date_to": "to",
            "template_version_id": "version",
            "flag": "flag",
            "state": "state",
        }
        args = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                args[names[f.name]] = value.isoformat() if isinstance(value, date) else str(value)
        return args

    @property
    def is_empty(self) -> bool:
        return not self.as_args()


@dataclass(frozen=True)
class LotQuery:
    """A needle lot to trace: exactly, or every lot starting with it, within dates."""

    lot: str
    is_prefix: bool = False
    date_from: date | None = None
    date_to: date | None = None

    def as_args(self) -> dict[str, str]:
        args = {"lot": self.lot, "match": "prefix" if self.is_prefix else "exact"}
        if self.date_from:
            args["from"] = self.date_from.isoformat()
        if self.date_to:
            args["to"] = self.date_to.isoformat()
        return args


def lot_variants(lot: str) -> tuple[str, ...]:
    """Return the spellings of a lot to look for: as typed, and in capitals as printed on packs."""
    return tuple(dict.fromkeys((lot, lot.upper())))


def prefix_upper_bound(prefix: str) -> str | None:
    """Return the smallest string greater than every string that starts with `prefix`.

    `prefix <= value < bound` is then a prefix match that an ordinary index can answer.
    None means there is no bound (the prefix is all maximal code points).
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be stored; skip past them
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None


# --- keyset cursors --------------------------------------------------------------------------

_CURSOR = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})_([0-9]{1,10})$")


def encode_cursor(session_date: date, session_id: int) -> str:
    """Return the position after which (or before which) a page starts."""
    return f"{session_date.isoformat()}_{session_id}"


def decode_cursor(value: str | None) -> tuple[date, int] | None:
    """Read a cursor back; None for anything that is not one."""
    match = _CURSOR.match(value or "")
    if not match:
        return None
    try:
        day = date.fromisoformat(match.group(1))
    except ValueError:
        return None
    session_id = int(match.group(2))
    if not is_id(session_id):
        return None
    return day, session_id


# --- flags -----------------------------------------------------------------------------------


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def flags_summary(flags: Iterable[tuple[str, str]]) -> str:
    """Summarise (severity, kind) pairs for one CSV cell, most serious first."""
    ordered = sorted(flags, key=lambda f: (severity_rank(f[0]), f[1]))
    return "; ".join(f"{severity}:{kind}" for severity, kind in ordered)


def kind_label(kind: str) -> str:
    """Show a flag kind in words."""
    return kind.replace("_", " ").capitalize()


def age_text(created: datetime, now: datetime) -> str:
    """Say how long a flag has waited, in the largest unit that makes sense."""
    seconds = max(int((now - created).total_seconds()), 0)
    if seconds < 3600:
        minutes = seconds // 60
        return "just now" if minutes < 1 else f"{minutes} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


# --- CSV -------------------------------------------------------------------------------------

#: A cell starting with one of these is a formula to a spreadsheet; the quote keeps it text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """Return text that a spreadsheet shows as written instead of running it as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


#: linkIds the export can name inside SQL text (every linkId of the register has this shape).
SAFE_LINK_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$")


def export_items(definitions: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Return (linkId, type) of the union of the items of template definitions, first seen first."""
    seen: dict[str, str] = {}
    for definition in definitions:
        for phase in definition.get("phases", ()):
            for item in phase.get("items", ()):
                seen.setdefault(item["linkId"], item.get("type", "string"))
    return list(seen.items())


def export_columns(definitions: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the union of the item linkIds of template definitions, in first-seen order."""
    return [link_id for link_id, _type in export_items(definitions)]


#: Record metadata before the answer columns of a CSV export.
EXPORT_METADATA = (
    "record_id",
    "clinic",
    "practitioner",
    "session_date",
    "signed_utc",
    "template_version",
    "content_hash",
    "flags",
)

#: Metadata cells the database writes itself (an integer id, a formatted UTC time).
_EXPORT_METADATA_WITHOUT_SEPARATORS = ("record_id", "signed_utc")


def export_cells_without_separators(items: Iterable[tuple[str, str]]) -> set[str]:
    """Return the export columns that can never hold a comma, a quote or a line break.

    They are the cells the database writes itself: the record id, the UTC time and yes/no
    for boolean items, whatever a stored answer holds. Every other cell is checked per row.
    """
    return {*_EXPORT_METADATA_WITHOUT_SEPARATORS, *(k for k, t in items if t == "boolean")}


#: Columns of the lot trace CSV for a recall notification.
LOT_TRACE_COLUMNS = (
    "record_id",
    "session_date",
    "needle_lot",
    "clinic",
    "practitioner",
    "patient_id",
    "patient_given_name",
    "patient_family_name",
    "patient_email",
    "patient_phone",
    "opted_out",
    "signed",
)


# --- flags queue filters ---------------------------------------------------------------------

#: What the flags queue can show: unresolved (open or acknowledged) is where work starts.
FLAG_STATUS_FILTERS = ("unresolved", "open", "acknowledged", "resolved", "all")


@dataclass(frozen=True)
class FlagFilters:
    status: str = "unresolved"
    severity: str | None = None
    kind: str | None = None

    def as_args(self) -> dict[str, str]:
        args = {"status": self.status}
        if self.severity:
            args["severity"] = self.severity
        if self.kind:
            args["kind"] = self.kind
        return args


# --- audit history ---------------------------------------------------------------------------

ACTION_LABELS = {
    "session.create": "Started the session",
    "session.phase_submit": "Saved a phase",
    "session.sign": "Signed the checklist",
    "session.sign_failed": "Signature refused",
    "session.view": "Viewed the record",
    "session.addendum": "Added a signed addendum",
    "session.addendum_failed": "Addendum refused",
    "followup.schedule": "Scheduled the follow-ups",
    "followup.response": "Patient answered a follow-up",
    "followup.revoke_links": "Revoked follow-up links",
    "flag.raise": "Raised a flag",
    "flag.acknowledge": "Acknowledged a flag",
    "flag.resolve": "Resolved a flag",
    "export.csv": "Exported records",
    "export.lot_trace": "Exported a lot trace",
}
PHASE_TITLES = {"signin": "Sign in", "timeout": "Time out", "signout": "Sign out"}


def action_label(action: str) -> str:
    """Say what an audited action was, in words."""
    return ACTION_LABELS.get(action, action)


def history_summary(action: str, details: Mapping[str, Any]) -> str:
    """Return the useful part of an audit event's details for a record's history."""
    if action == "session.phase_submit":
        phase = PHASE_TITLES.get(str(details.get("phase")), str(details.get("phase", "")))
        return f"{phase} (saved again)" if details.get("resubmitted") else phase
    if action == "session.create" and "template" in details:
        return f"checklist version {details['template']}"
    if action == "session.sign" and details.get("content_hash"):
        return f"content hash {str(details['content_hash'])[:12]}…"
    if action in ("session.sign_failed", "session.addendum_failed"):
        return "account locked" if details.get("reason") == "locked" else "wrong password"
    if action == "followup.response" and details.get("escalation"):
        level = str(details["escalation"]).replace("_", " ")
        return "no escalation" if level == "none" else f"escalated: {level}"
    if action.startswith("flag.") and details.get("kind"):
        return f"{kind_label(str(details['kind']))} ({details.get('severity', '')})"
    return ""


def crlf_lines(text: str, inside_quotes: bool) -> tuple[str, bool]:
    """End CSV lines with CRLF, leaving line feeds inside quoted cells alone.

    A cell's own quotes are doubled, so whether a point lies inside quotes is the parity of
    the quotes before it. Return the text and whether it ends inside quotes.
    """
    if '"' not in text:
        return (text if inside_quotes else text.replace("\n", "\r\n")), inside_quotes
    parts = text.split('"')
    for i in range(1 if inside_quotes else 0, len(parts), 2):
        parts[i] = parts[i].replace("\n", "\r\n")
    return '"'.join(parts), inside_quotes ^ (len(parts) % 2 == 0)
