"""Pure checklist rules: reading answers, completeness, sign-off blockers, flags and the hash.

Everything a practitioner can get wrong is decided here, without Flask or SQLAlchemy, so the
same rules hold in the browser form, the CLI and the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from safety.hashing import canonical_json, sha256_hex
from safety.risks.rules import Item, Phase, Template

EXPIRED_PACK = "This pack has expired: do not use: open an in-date pack."
NOTE_NEEDED = "Add a short note saying what was done about this answer."
REQUIRED = "Answer this item."
COUNT_NOTE_NEEDED = "The needle counts do not reconcile: say what was done before signing."
NOTE_MAX_LENGTH = 1000
TEXT_MAX_LENGTH = 2000

#: Flag severities, most serious first.
SEVERITIES = ("critical", "high", "medium", "low")

FormData = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class FlagSpec:
    """A flag a signed record raises for compliance."""

    kind: str
    severity: str
    link_id: str | None
    message: str


@dataclass(frozen=True)
class PhaseInput:
    """What a phase form submitted, read into typed values, with any problems per field."""

    answers: dict[str, Any]
    notes: dict[str, str]
    errors: dict[str, str]


def note_field(link_id: str) -> str:
    """Return the form field name of an item's note."""
    return f"{link_id}.note"


def read_phase(phase: Phase, form: FormData) -> PhaseInput:
    """Read a submitted phase form into typed answers; shape errors only (no business rules)."""
    answers: dict[str, Any] = {}
    notes: dict[str, str] = {}
    errors: dict[str, str] = {}
    for item in phase.items:
        values = [v for v in form.get(item.link_id, ()) if v is not None]
        try:
            value = _read_value(item, values)
        except ValueError as exc:
            errors[item.link_id] = str(exc)
            continue
        if value is not None:
            answers[item.link_id] = value
        note = _first(form.get(note_field(item.link_id), ())).strip()
        if len(note) > NOTE_MAX_LENGTH:
            errors[note_field(item.link_id)] = f"Keep the note under {NOTE_MAX_LENGTH} characters."
        elif note:
            notes[item.link_id] = note
    return PhaseInput(answers, notes, errors)


def _first(values: Sequence[str]) -> str:
    return values[0] if values else ""


def _read_value(item: Item, values: Sequence[str]) -> Any:
    raw = _first(values).strip()
    if item.type == "multichoice":
        codes = [v for v in dict.fromkeys(values) if v]
        unknown = [c for c in codes if item.option(c) is None]
        if unknown:
            raise ValueError("Choose from the listed options.")
        return codes or None
    if raw == "":
        return None
    if item.type == "boolean":
        if raw not in {"yes", "no"}:
            raise ValueError("Choose yes or no.")
        return raw == "yes"
    if item.type == "integer":
        if not re.fullmatch(r"[+-]?\d{1,6}", raw):
            raise ValueError("Enter a whole number, for example 6.")
        number = int(raw)
        if item.min is not None and number < item.min:
            raise ValueError(f"Enter a number of at least {item.min}.")
        if item.max is not None and number > item.max:
            raise ValueError(f"Enter a number no greater than {item.max}.")
        return number
    if item.type == "date":
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError("Enter a date as YYYY-MM-DD, for example 2027-03-31.") from None
    if item.type == "choice":
        if item.option(raw) is None:
            raise ValueError("Choose one of the listed options.")
        return raw
    limit = item.max_length or TEXT_MAX_LENGTH
    if len(raw) > limit:
        raise ValueError(f"Keep this under {limit} characters.")
    return raw


def is_enabled(item: Item, answers: Mapping[str, Any]) -> bool:
    """Return whether a conditional item applies, given the answers so far."""
    if item.enable_when_counts_differ:
        return counts_differ(answers)
    if not item.enable_when:
        return True
    results = [
        _condition_holds(c.question, c.operator, c.answer, answers) for c in item.enable_when
    ]
    return any(results) if item.enable_behavior == "any" else all(results)


def _condition_holds(
    question: str, operator: str, expected: Any, answers: Mapping[str, Any]
) -> bool:
    actual = answers.get(question)
    if operator == "exists":
        return (actual is not None) == bool(expected)
    hit = expected in actual if isinstance(actual, list) else actual == expected
    return hit if operator == "=" else not hit


def counts_differ(answers: Mapping[str, Any]) -> bool:
    """Return whether needles inserted, removed and disposed fail to reconcile."""
    counts = [
        answers.get("timeout.needles_inserted"),
        answers.get("signout.needles_removed"),
        answers.get("signout.needles_disposed"),
    ]
    known = [c for c in counts if c is not None]
    return len(known) >= 2 and len(set(known)) > 1


def is_unexpected(item: Item, value: Any) -> bool:
    """Return whether an answer departs from what a safe session gives."""
    if value is None:
        return False
    if item.expected is not None and value != item.expected:
        return True
    if item.type == "choice":
        option = item.option(value)
        return bool(option and option.flag)
    return False


def check_phase(
    template: Template,
    phase_id: str,
    answers: Mapping[str, Any],
    notes: Mapping[str, str],
    *,
    earlier_answers: Mapping[str, Any],
    session_date: date,
) -> dict[str, str]:
    """Return the problems (field name -> message) that stop a phase being saved."""
    everything = {**earlier_answers, **answers}
    errors: dict[str, str] = {}
    for item in template.phase(phase_id).items:
        if not is_enabled(item, everything):
            continue
        value = answers.get(item.link_id)
        if value is None:
            if item.required or item.type == "boolean":
                errors[item.link_id] = (
                    COUNT_NOTE_NEEDED if item.enable_when_counts_differ else REQUIRED
                )
            continue
        if item.not_before == "session_date" and date.fromisoformat(value) < session_date:
            errors[item.link_id] = EXPIRED_PACK
        elif is_unexpected(item, value) and not notes.get(item.link_id):
            errors[note_field(item.link_id)] = NOTE_NEEDED
    return errors


def applicable_answers(template: Template, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Drop answers to conditional items that do not apply (e.g. a precaution no longer needed)."""
    return {
        link_id: value
        for link_id, value in answers.items()
        if link_id in template.items_by_id and is_enabled(template.items_by_id[link_id], answers)
    }


def next_phase(template: Template, submitted: Iterable[str]) -> str | None:
    """Return the first phase not yet submitted, or None when all are in."""
    done = set(submitted)
    return next((p for p in template.phase_ids if p not in done), None)


def sign_off_blockers(
    template: Template,
    answers: Mapping[str, Any],
    notes: Mapping[str, str],
    *,
    submitted: Iterable[str],
    session_date: date,
) -> list[str]:
    """Return why a checklist cannot be signed yet; empty when it can."""
    blockers: list[str] = []
    done = set(submitted)
    for phase in template.phases:
        if phase.id not in done:
            blockers.append(f"The {phase.title} phase has not been completed.")
            continue
        earlier = {k: v for k, v in answers.items() if template.items_by_id[k].phase != phase.id}
        own = {k: v for k, v in answers.items() if template.items_by_id[k].phase == phase.id}
        for field_name, message in check_phase(
            template, phase.id, own, notes, earlier_answers=earlier, session_date=session_date
        ).items():
            link_id = field_name.removesuffix(".note")
            blockers.append(f"{phase.title}: {template.items_by_id[link_id].text} {message}")
    return blockers


def flags_for(template: Template, answers: Mapping[str, Any]) -> list[FlagSpec]:
    """Return the flags a completed checklist raises, most serious first."""
    flags: list[FlagSpec] = []
    if counts_differ(answers):
        flags.append(
            FlagSpec(
                "count_discrepancy",
                "critical",
                "signout.count_discrepancy",
                "Needle counts do not reconcile: inserted {}, removed {}, disposed {}.".format(
                    answers.get("timeout.needles_inserted"),
                    answers.get("signout.needles_removed"),
                    answers.get("signout.needles_disposed"),
                ),
            )
        )
    for item in template.items:
        value = answers.get(item.link_id)
        if not is_unexpected(item, value):
            continue
        if item.type == "choice":
            option = item.option(value)
            assert option is not None and option.flag is not None
            flags.append(
                FlagSpec(
                    item.flag_kind or "deviation",
                    option.flag,
                    item.link_id,
                    f"{item.text} {option.display}.",
                )
            )
        else:
            flags.append(
                FlagSpec("deviation", "high", item.link_id, f"{item.text} Answered: {_say(value)}.")
            )
    flags.sort(key=lambda f: SEVERITIES.index(f.severity))
    return flags


def _say(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def content_hash(content: Mapping[str, Any]) -> str:
    """Return the SHA-256 that binds a signature to the record's content."""
    return sha256_hex(canonical_json(content))


#: Answers copied to columns of the signed record, so the dashboard aggregates and the lot trace
#: looks up plain indexed columns: column name -> linkId. `flask audit verify` holds each column
#: to its signed answer, since the content hash covers only the answers.
ANSWER_COLUMNS: Mapping[str, str] = {
    "needle_lot": "timeout.needle_lot",
    "bleeding": "signout.bleeding",
    "bruising": "signout.bruising",
    "reaction": "signout.reaction",
    "pain_during": "timeout.pain_during",
}
