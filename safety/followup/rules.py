"""Pure follow-up rules: when to ask, what an answer means, how to back off, what to say.

Times are aware UTC datetimes in and out; the clinic's zone decides quiet hours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

QUIET_START = time(21, 0)
QUIET_END = time(8, 0)
LINK_LIFETIME = timedelta(days=7)
#: Minutes to wait after each failed attempt; after the last one the reminder has failed.
BACKOFF_MINUTES = (1, 5, 15, 60, 240)
MAX_ATTEMPTS = len(BACKOFF_MINUTES) + 1


class Kind(StrEnum):
    """The checks a patient is sent after a session (DESIGN §4)."""

    DAY_1 = "24h"
    DAY_3 = "72h"
    DAY_7 = "7d"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    Kind.DAY_1: "24-hour check",
    Kind.DAY_3: "72-hour soreness check",
    Kind.DAY_7: "7-day site check",
}


class Status(StrEnum):
    """Where a follow-up stands, as staff read it on the record."""

    SCHEDULED = "scheduled"
    SENT = "sent"
    ANSWERED = "answered"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    Status.SCHEDULED: "scheduled",
    Status.SENT: "sent, waiting for an answer",
    Status.ANSWERED: "answered",
    Status.FAILED: "could not be delivered",
    Status.CANCELLED: "cancelled",
}

#: How a follow-up reaches the patient, as staff read it.
CHANNEL_LABELS = {"email": "email", "sms": "text message"}

EMERGENCY, SAME_DAY, REVIEW, NONE = "emergency", "same_day", "review", "none"
#: Escalation levels, most urgent first.
LEVELS = (EMERGENCY, SAME_DAY, REVIEW, NONE)
INFECTION_SIGNS = ("redness", "warmth", "swelling", "pus", "fever")


def out_of_quiet_hours(moment: datetime, zone: ZoneInfo) -> datetime:
    """Move a time inside the clinic's quiet hours (21:00–08:00 local) to the next 08:00."""
    local = moment.astimezone(zone)
    if QUIET_END <= local.time() < QUIET_START:
        return moment.astimezone(UTC)
    day = local.date() if local.time() < QUIET_END else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_END, zone).astimezone(UTC)


def local_offset(signed: datetime, days: int, zone: ZoneInfo) -> datetime:
    """Return the same wall-clock time `days` later in the clinic's zone (DST-safe)."""
    local = signed.astimezone(zone)
    target = datetime.combine(local.date() + timedelta(days=days), local.time(), zone)
    # A wall time skipped by a DST change resolves forward through UTC.
    return target.astimezone(UTC).astimezone(zone).astimezone(UTC)


@dataclass(frozen=True)
class Planned:
    """A follow-up to schedule at signing: its kind and when its message is due."""

    kind: Kind
    due: datetime
    #: The 48 h nudge of an unanswered 24 h check.
    is_reminder: bool = False


def plan_at_signing(signed: datetime, zone: ZoneInfo, *, with_day7: bool) -> list[Planned]:
    """Return the follow-ups written when a session is signed (DESIGN §4)."""
    plans = [
        Planned(Kind.DAY_1, out_of_quiet_hours(local_offset(signed, 1, zone), zone)),
        Planned(
            Kind.DAY_1, out_of_quiet_hours(local_offset(signed, 2, zone), zone), is_reminder=True
        ),
    ]
    if with_day7:
        plans.append(Planned(Kind.DAY_7, out_of_quiet_hours(local_offset(signed, 7, zone), zone)))
    return plans


def due_72h(signed: datetime, zone: ZoneInfo) -> datetime:
    """Return when the 72 h soreness check is due."""
    return out_of_quiet_hours(local_offset(signed, 3, zone), zone)


def needs_72h(answers: Mapping[str, Any]) -> bool:
    """Ask again at 72 h when soreness was 4 or more, or not improving, at 24 h."""
    return (answers.get("soreness") or 0) >= 4 or answers.get("trend") in {"same", "worse"}


def escalation(kind: str, answers: Mapping[str, Any]) -> str:
    """Return how urgently a follow-up answer needs a person (DESIGN §4)."""
    if answers.get("chest") == "yes" or answers.get("bleeding") == "wont_stop":
        return EMERGENCY
    if answers.get("signs") or answers.get("bruising") == "large":
        return SAME_DAY
    if (answers.get("soreness") or 0) >= 7:
        return REVIEW
    if kind == Kind.DAY_3 and answers.get("trend") in {"same", "worse"}:
        return REVIEW
    return NONE


SEVERITY = {EMERGENCY: "critical", SAME_DAY: "high", REVIEW: "medium"}
#: Escalation levels as staff read them.
LEVEL_LABELS = {EMERGENCY: "emergency", SAME_DAY: "same day", REVIEW: "review", NONE: "none"}


def kind_label(kind: str) -> str:
    """Return the name of a follow-up check, or the stored code for one this version lacks."""
    return Kind(kind).label if kind in Kind._value2member_map_ else kind


def status_label(status: str) -> str:
    return Status(status).label if status in Status._value2member_map_ else status


@dataclass(frozen=True)
class FormInput:
    answers: dict[str, Any]
    errors: dict[str, str]


#: The soreness answers, as typed: a whole number from 0 to 10 and nothing else.
SORENESS_SCALE = {str(n): n for n in range(11)}

CHOICES = {
    "trend": ("better", "same", "worse"),
    "bleeding": ("none", "stopped", "wont_stop"),
    "bruising": ("none", "small", "large"),
    "chest": ("no", "yes"),
}


def read_form(form: Mapping[str, Sequence[str]]) -> FormInput:
    """Read the patient's form; every question but the last needs an answer."""
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    raw = (form.get("soreness") or [""])[0].strip()
    if raw in SORENESS_SCALE:
        answers["soreness"] = SORENESS_SCALE[raw]
    else:
        errors["soreness"] = "Choose a number from 0 (no soreness) to 10 (the worst)."
    messages = {
        "trend": "Tell us whether it is better, the same or worse.",
        "bleeding": "Tell us about any bleeding since you left.",
        "bruising": "Tell us about any bruising.",
        "chest": "Please answer this question about chest pain or breathlessness.",
    }
    for name, options in CHOICES.items():
        value = (form.get(name) or [""])[0]
        if value in options:
            answers[name] = value
        else:
            errors[name] = messages[name]
    signs = [s for s in dict.fromkeys(form.get("signs") or []) if s]
    if any(s not in INFECTION_SIGNS for s in signs):
        errors["signs"] = "Choose from the listed signs."
    answers["signs"] = [s for s in INFECTION_SIGNS if s in signs]
    other = (form.get("other") or [""])[0].strip()
    if len(other) > 2000:
        errors["other"] = "Please keep this under 2000 characters."
    elif other:
        answers["other"] = other
    return FormInput(answers, errors)


def backoff(attempts: int) -> timedelta | None:
    """Return the wait before the next attempt, or None when attempts are used up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return timedelta(minutes=BACKOFF_MINUTES[min(attempts, len(BACKOFF_MINUTES)) - 1])


def message_id(outbox_id: int, domain: str) -> str:
    """Derive the Message-ID from the reminder id, so a receiver can drop a duplicate."""
    return f"<needlesafe-reminder-{outbox_id}@{domain}>"


@dataclass(frozen=True)
class Message:
    subject: str
    text: str


def patient_message(
    *,
    first_name: str,
    clinic: str,
    appointment: date,
    link: str,
    stop_link: str,
    is_reminder: bool,
) -> Message:
    """Compose a patient's message: no clinical detail, just who, where, when and the link."""
    when = appointment.strftime("%-d %B %Y")
    opening = (
        f"Hello {first_name}, a gentle reminder from {clinic}."
        if is_reminder
        else f"Hello {first_name}, this is {clinic}."
    )
    text = (
        f"{opening}\n\n"
        f"How are you feeling after your appointment on {when}? "
        f"It takes about a minute to tell us:\n{link}\n\n"
        f"To stop these messages: {stop_link}\n"
    )
    return Message(f"{clinic}: how are you after your appointment?", text)


def practitioner_alert(*, level: str, clinic: str, link: str) -> Message:
    """Compose an alert to the practitioner: the level and a link, no patient details."""
    words = {EMERGENCY: "EMERGENCY", SAME_DAY: "Same-day", REVIEW: "Review"}[level]
    text = (
        f"{words} follow-up answer at {clinic}.\n\n"
        f"A patient's follow-up answer needs you. Open NeedleSafe to see it:\n{link}\n"
    )
    return Message(f"NeedleSafe: {words.lower()} follow-up answer", text)
