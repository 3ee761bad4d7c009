"""Pure rules of the record list and record page: states, overdue sessions, filters, cursors.

A session is signed, in progress, or overdue once its clinic's working day has ended without
a signature; the list narrows to `RecordFilters` and pages by a cursor on (date, id).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from safety.ids import is_id
from safety.languages import N_, Said
from safety.review.rules.flags import SEVERITY_LABELS

#: The states a session can be in, with their labels.
STATE_LABELS = {
    "signed": N_("Signed"),
    "in_progress": N_("In progress"),
    "overdue": N_("Overdue"),
    "cancelled": N_("Cancelled"),
}
STATES = tuple(STATE_LABELS)
#: The state filter's choices say what overdue means.
STATE_FILTERS = {**STATE_LABELS, "overdue": N_("Overdue (unsigned after the working day)")}
#: The flag filter's choices: any flag, none, or a flag of one severity.
FLAG_FILTERS = {"any": N_("Any flag"), "none": N_("No flags"), **SEVERITY_LABELS}
#: How the error summary names each filter of the record list.
FILTER_LABELS = {
    "clinic": N_("Clinic"),
    "practitioner": N_("Practitioner"),
    "patient": N_("Patient"),
    "from": N_("From"),
    "to": N_("To"),
    "version": N_("Checklist version"),
    "flag": N_("Flags"),
    "state": N_("State"),
}


def practitioner_choices(practitioners: Sequence[tuple[int, str, str]]) -> list[tuple[int, str]]:
    """The practitioner filter's choices: each name with its clinic (two clinics may each
    have a practitioner of that name)."""
    return [(user_id, f"{name} ({clinic})") for user_id, name, clinic in practitioners]


def version_choices(versions: Sequence[tuple[int, int]]) -> list[tuple[int, Said]]:
    """The checklist version filter's choices, newest first as given: "Version 2"."""
    return [(version_id, Said(N_("Version %(version)s"), version=n)) for version_id, n in versions]


#: Phases saved closer together than this look ticked all at once at the end.
TICKED_TOGETHER = timedelta(minutes=2)


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


def session_state(
    is_signed: bool, session_date: date, cutoff: date | None, *, is_cancelled: bool = False
) -> str:
    """Return signed, cancelled, overdue (unsigned after its working day) or in_progress.

    A cancelled session is never overdue: it will not be signed, and nobody should chase it.
    """
    if is_signed:
        return "signed"
    if is_cancelled:
        return "cancelled"
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
