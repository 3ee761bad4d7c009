"""Pure rules of the dashboard: minor events and their baselines, rates, and calendar months.

The dashboard's SQL counts sessions and events per clinic and day; these rules roll the days
up into months, divide, and lay the figures out as the charts and their tables read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from safety.followup.rules import Status
from safety.languages import N_, Said
from safety.risks.rules import load_register

#: Sign-out answers that count as a minor event.
BLEEDING_EVENTS = ("minor", "prolonged")
BRUISING_EVENTS = ("small", "large")
#: Pain during needling at or above this score (0-10) counts as an event. NeedleSafe's own
#: threshold (clinic policy, not from a study): the published surveys counted pain during
#: treatment as the practitioner recorded it, without a score.
PAIN_THRESHOLD = 4
#: A reaction other than this counts as an event.
NO_REACTION = "none"


@dataclass(frozen=True)
class Baseline:
    """A published rate of a minor event per session, to compare a clinic against."""

    source: str
    #: Percent of sessions.
    rate: float
    #: The full reference, and what the study counted, as the register gives them.
    citation: str = ""
    counted: str = ""
    url: str | None = None


@dataclass(frozen=True)
class Measure:
    """A minor event the dashboard charts, with how it is counted and its baselines."""

    key: str
    title: str
    definition: str
    baselines: tuple[Baseline, ...] = ()
    #: Said beside the definition when the measure is NeedleSafe's own choice.
    caveat: str = ""


def published_baselines(key: str) -> tuple[Baseline, ...]:
    """Return the register's published rates for one measure, each with its full source."""
    register = load_register()
    found = []
    for study in register.baselines:
        if key in study["rates"]:
            source = register.source(study["sources"][0])
            found.append(
                Baseline(
                    study["label"],
                    study["rates"][key],
                    source.citation,
                    study["counted"],
                    source.url,
                )
            )
    return tuple(found)


def studies() -> tuple[Baseline, ...]:
    """Every study the dashboard compares with, once, in full (for the page's references)."""
    seen: dict[str, Baseline] = {}
    for measure in MEASURES:
        for baseline in measure.baselines:
            seen.setdefault(baseline.source, baseline)
    return tuple(seen.values())


#: DESIGN.md §3.2: Brady et al. 2014 (7,629 sessions) and Boyce et al. 2020 (20,464 sessions),
#: read from the register, which carries their full references.
MEASURES: tuple[Measure, ...] = (
    Measure(
        "bleeding",
        N_("Bleeding at needle sites"),
        N_("Sessions with bleeding at sign out: minor (stopped with pressure) or prolonged."),
        published_baselines("bleeding"),
    ),
    Measure(
        "bruising",
        N_("Bruising"),
        N_("Sessions with bruising at sign out, small or large."),
        published_baselines("bruising"),
    ),
    Measure(
        "pain_during",
        N_("Pain during needling"),
        Said(
            N_(
                "Sessions where the patient rated pain during needling %(threshold)s or more "
                "out of 10."
            ),
            threshold=PAIN_THRESHOLD,
        ),
        published_baselines("pain_during"),
        caveat=Said(
            N_(
                "%(threshold)s out of 10 is the threshold these figures use, for every clinic "
                "(clinic policy, not from a study): the studies counted pain during treatment "
                "as the practitioner recorded it, without a score, so read their lines as a "
                "rough guide only."
            ),
            threshold=PAIN_THRESHOLD,
        ),
    ),
    Measure(
        "reaction",
        N_("Immediate reactions"),
        N_("Sessions with any immediate reaction: dizziness, fainting, nausea, or other."),
    ),
)
MEASURE_KEYS = tuple(m.key for m in MEASURES)


# --- rates -----------------------------------------------------------------------------------


def rate(events: int, total: int) -> float | None:
    """Return events as a percent of total, or None when there is nothing to divide by."""
    if total <= 0:
        return None
    return 100.0 * events / total


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
    answered = by_status.get(Status.ANSWERED, 0)
    return rate(answered, by_status.get(Status.SENT, 0) + answered)


# --- months ----------------------------------------------------------------------------------


def add_months(month_start: date, months: int) -> date:
    """Return the first day of the month `months` after (or before) a month's first day."""
    index = month_start.year * 12 + month_start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_bounds(today: date, months: int) -> tuple[date, date]:
    """Return the first day of the `months` calendar months ending with today's, and today.

    The period ends today, not at the end of the month: "the last 12 months" never reaches
    into days (or months) that have not happened yet (issue 17).
    """
    this_month = today.replace(day=1)
    start = add_months(this_month, -(months - 1))
    return start, today


def month_keys(start: date, end: date) -> tuple[str, ...]:
    """Return YYYY-MM for every month from start to end, both included."""
    keys = []
    month = start.replace(day=1)
    while month <= end:
        keys.append(f"{month.year:04d}-{month.month:02d}")
        month = add_months(month, 1)
    return tuple(keys)
