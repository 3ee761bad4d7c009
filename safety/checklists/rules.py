"""Pure checklist rules: reading answers, completeness, sign-off blockers, flags and the hash.

Everything a practitioner can get wrong is decided here, without Flask or SQLAlchemy, so the
same rules hold in the browser form, the CLI and the tests. One module of about 590 lines: what
makes a checklist complete, safe to sign and flagged is read and reviewed as one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from operator import attrgetter
from typing import Any

from safety.errors import SAME_ACT_WINDOW
from safety.hashing import canonical_json, sha256_hex
from safety.languages import N_, Listed, Said, Words
from safety.packs.rules import EXPIRED_PACK, PACKS_KEY, pack_field
from safety.risks.rules import Item, Option, Phase, Template

PHASE_NOT_DONE = N_("The %(phase)s phase has not been completed.")


def _stop_message(item: Item) -> str:
    return item.stop.message


@dataclass(frozen=True)
class Wording:
    """How the blockers are said: the template's own words and English by default, or the
    reader's language when a caller passes its translations (safety.display's helpers)."""

    gettext: Callable[[str], str] = str
    phase_title: Callable[[Phase], str] = attrgetter("title")
    item_text: Callable[[Item], str] = attrgetter("text")
    stop_message: Callable[[Item], str] = _stop_message


NOTE_NEEDED = N_("Add a short note saying what was done about this answer.")
REQUIRED = N_("Answer this item.")
#: Two counts that differ, each with the template's name for it: "8 used / 7 removed".
COUNTS_SAID = N_("%(counted)s %(counted_words)s / %(against)s %(against_words)s")
COUNT_NOTE_NEEDED = N_("The needle counts do not reconcile: say what was done before signing.")
NOTE_MAX_LENGTH = 1000
TEXT_MAX_LENGTH = 2000
#: A start button tapped again this soon, its session untouched, or a phase saved again with
#: the same answers, is one act (a double tap).
REPEAT_WINDOW = SAME_ACT_WINDOW


class Severity(StrEnum):
    """How urgently compliance should look at a flag, most serious first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class FlagStatus(StrEnum):
    """Where a flag stands: raised, seen by someone responsible, or closed with a note."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


#: Flag severities, most serious first.
SEVERITIES = tuple(severity.value for severity in Severity)

FormData = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class FlagSpec:
    """A flag a signed record raises for compliance."""

    kind: str
    severity: Severity
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
            errors[item.link_id] = exc.args[0] if exc.args else str(exc)
            continue
        if value is not None:
            answers[item.link_id] = value
        note = _first(form.get(note_field(item.link_id), ())).strip()
        if len(note) > NOTE_MAX_LENGTH:
            errors[note_field(item.link_id)] = Said(
                N_("Keep the note under %(max)s characters."), max=NOTE_MAX_LENGTH
            )
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
            raise ValueError(N_("Choose from the listed options."))
        if item.exclusive in codes and len(codes) > 1:
            alone = item.option(item.exclusive)
            raise ValueError(
                Said(
                    N_("“%(option)s” cannot be chosen with another answer."),
                    option=Words(alone.display, item.link_id),
                )
            )
        # In the template's order, whatever order the form sent them in.
        return [o.code for o in item.options if o.code in codes] or None
    if raw == "":
        return None
    if item.type == "boolean":
        if raw not in {"yes", "no"}:
            raise ValueError(N_("Choose yes or no."))
        return raw == "yes"
    if item.type == "integer":
        if not re.fullmatch(r"[+-]?\d{1,6}", raw):
            raise ValueError(N_("Enter a whole number, for example 6."))
        number = int(raw)
        if item.min is not None and number < item.min:
            raise ValueError(Said(N_("Enter a number of at least %(min)s."), min=item.min))
        if item.max is not None and number > item.max:
            raise ValueError(Said(N_("Enter a number no greater than %(max)s."), max=item.max))
        return number
    if item.type == "date":
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError(N_("Enter a date as YYYY-MM-DD, for example 2027-03-31.")) from None
    if item.type == "choice":
        if item.option(raw) is None:
            raise ValueError(N_("Choose one of the listed options."))
        return raw
    limit = item.max_length or TEXT_MAX_LENGTH
    if len(raw) > limit:
        raise ValueError(Said(N_("Keep this under %(max)s characters."), max=limit))
    return raw


def is_enabled(template: Template, item: Item, answers: Mapping[str, Any]) -> bool:
    """Return whether a conditional item applies, given the answers so far."""
    if item.enable_when_counts_differ:
        return counts_differ(template, answers)
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


@dataclass(frozen=True)
class CountMismatch:
    """Two needle counts that should be equal and are not, said the way staff say it."""

    #: "8 used / 7 removed" (a `Said` whose count names are the template's words).
    text: str


#: Version 1 compares these three counts all together.
_V1_COUNTS = ("timeout.needles_inserted", "signout.needles_removed", "signout.needles_disposed")


def count_mismatches(template: Template, answers: Mapping[str, Any]) -> list[CountMismatch]:
    """Return the needle counts that do not reconcile (DESIGN §3.1.1: used = removed,
    opened = disposed, and no more used than opened), each as "8 used / 7 removed"."""
    if not template.count_checks:
        counts = [answers.get(link_id) for link_id in _V1_COUNTS]
        known = [c for c in counts if c is not None]
        if len(known) >= 2 and len(set(known)) > 1:
            inserted, removed, disposed = counts
            return [
                CountMismatch(
                    Said(
                        N_("inserted %(inserted)s, removed %(removed)s, disposed %(disposed)s"),
                        inserted=inserted,
                        removed=removed,
                        disposed=disposed,
                    )
                )
            ]
        return []
    found = []
    for check in template.count_checks:
        counted, against = answers.get(check.counted), answers.get(check.against)
        if counted is not None and against is not None and check.fails(counted, against):
            found.append(
                CountMismatch(
                    Said(
                        COUNTS_SAID,
                        counted=counted,
                        counted_words=Words(check.words[0]),
                        against=against,
                        against_words=Words(check.words[1]),
                    )
                )
            )
    return found


def count_note_needed(template: Template, answers: Mapping[str, Any]) -> str:
    """Ask for the discrepancy note, naming the counts that differ ("8 used / 7 removed")."""
    if not template.count_checks:
        return COUNT_NOTE_NEEDED
    differ = Listed(m.text for m in count_mismatches(template, answers))
    return Said(
        N_("The needle counts do not reconcile (%(counts)s). Say what was done before signing."),
        counts=differ,
    )


def counts_differ(template: Template, answers: Mapping[str, Any]) -> bool:
    """Return whether any needle count fails to reconcile."""
    return bool(count_mismatches(template, answers))


#: The phase ticked just before the first needle goes in (WHO's surgical safety checklist: the
#: time out is the last check before the procedure starts).
NEEDLING_PHASE = "timeout"


def needles_may_be_in(template: Template, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> bool:
    """Whether needles may have been used in a session: some Time out was saved while no
    answer in force stopped it (a pack found not sterile stops it before any needle).

    `entries` are the session's saved phases, (phase, answers), in the order they were saved.
    Any such Time out counts, not only the latest: once a clean Time out was saved, needling
    may have begun, and a later "not sterile" or consent "No" does not take that back (a
    review re-saved Time out with a stop, cancelled, and the record said "no needling").

    Such a session can still be cancelled (started for the wrong patient, say), but never
    said to have no needling: a cancellation skips Sign out, where every needle is counted
    out, and the follow-up that signing sends.
    """
    latest: dict[str, Mapping[str, Any]] = {}
    for phase, answers in entries:
        latest[phase] = answers
        if phase != NEEDLING_PHASE:
            continue
        in_force: dict[str, Any] = {}
        for phase_id in template.phase_ids:
            in_force.update(latest.get(phase_id, {}))
        if stopped_by(template, in_force) is None:
            return True
    return False


#: What a session cancelled after its Time out (`needles_may_be_in`) raises for compliance,
#: beside the flags its saved answers raise (`cancel_flags`): its needles were never counted
#: out, the count the Sign out makes so that none is left in the patient (CCAOM Clean Needle
#: Technique; White 2001 on needles left in), and no follow-up went. High, not critical: most
#: such sessions stopped before any needle went in, which a person checks with the
#: practitioner.
CANCELLED_AFTER_TIME_OUT = FlagSpec(
    kind="cancelled_after_time_out",
    severity=Severity.HIGH,
    link_id=None,
    message=N_(
        "Cancelled after the Time out, so needles may have been used: they were never counted "
        "out at Sign out, and no follow-up was sent. Ask the practitioner whether any needle "
        "went in, and if one did, whether every needle was removed and how the patient was "
        "when they left."
    ),
)


#: The same after Sign out was saved: the needles were counted, and the counts and answers
#: raise their own flags (a missing needle its critical one); what is missing is the
#: signature and the follow-up.
CANCELLED_AFTER_SIGN_OUT = FlagSpec(
    kind="cancelled_after_time_out",
    severity=Severity.HIGH,
    link_id=None,
    message=N_(
        "Cancelled after Sign out was saved, instead of being signed: no follow-up was sent. "
        "Ask the practitioner why, and how the patient was when they left."
    ),
)


def cancel_flags(
    template: Template, entries: Sequence[tuple[str, Mapping[str, Any]]], answers: Mapping[str, Any]
) -> list[FlagSpec]:
    """Return the flags a cancellation raises: none before any needle may have gone in;
    after, what the saved answers raise as a signature would (`flags_for`: a needle missing
    from the counts stays critical) and the cancellation's own flag, worded by whether Sign
    out was saved (a review's cancel after a count that did not reconcile raised only "never
    counted out", which was false and pointed away from the missing needle)."""
    if not needles_may_be_in(template, entries):
        return []
    signed_out = any(phase == "signout" for phase, _ in entries)
    own = CANCELLED_AFTER_SIGN_OUT if signed_out else CANCELLED_AFTER_TIME_OUT
    return [own, *flags_for(template, applicable_answers(template, answers))]


def stopped_by(template: Template, answers: Mapping[str, Any]) -> Item | None:
    """Return the item whose answer stopped the session (consent "No"), if any."""
    return next(
        (
            item
            for item in template.items
            if item.stop is not None and answers.get(item.link_id) == item.stop.answer
        ),
        None,
    )


def _flagged(item: Item, value: Any) -> list[Option]:
    """The options chosen for a choice item that raise a flag."""
    codes = value if isinstance(value, list) else [value]
    return [o for o in (item.option(c) for c in codes) if o is not None and o.flag]


def is_unexpected(item: Item, value: Any) -> bool:
    """Return whether an answer departs from what a safe session gives."""
    if value is None:
        return False
    if item.stop is not None and value == item.stop.answer:
        return False  # not a deviation to note: the session stops instead
    if item.expected is not None and value != item.expected:
        return True
    if item.type in {"choice", "multichoice"}:
        return bool(_flagged(item, value))
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
    """Return the problems (field name -> message) that stop a phase being saved.

    A stopping answer (consent "No") is saved as it is, without the rest of the phase: the
    session goes no further, and the record keeps what the practitioner found.
    """
    everything = {**earlier_answers, **answers}
    stopped = stopped_by(template, answers) is not None
    errors: dict[str, str] = {}
    for item in template.phase(phase_id).items:
        if not is_enabled(template, item, everything):
            continue
        value = answers.get(item.link_id)
        if value is None:
            if stopped:
                continue
            if item.enable_when_counts_differ:
                errors[item.link_id] = count_note_needed(template, everything)
            elif item.required or item.type == "boolean":
                errors[item.link_id] = REQUIRED
            continue
        if item.not_before == "session_date" and date.fromisoformat(value) < session_date:
            errors[item.link_id] = EXPIRED_PACK
        elif is_unexpected(item, value) and not notes.get(item.link_id):
            errors[note_field(item.link_id)] = NOTE_NEEDED
    return errors


def applicable_answers(template: Template, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Drop answers to conditional items that do not apply (e.g. a precaution no longer needed).

    The list of packs (`timeout.packs`) is no template item but goes with the lot it extends.
    """
    return {
        link_id: value
        for link_id, value in answers.items()
        if (
            link_id in template.items_by_id
            and is_enabled(template, template.items_by_id[link_id], answers)
        )
        or link_id == PACKS_KEY
    }


def next_phase(
    template: Template, submitted: Iterable[str], answers: Mapping[str, Any] | None = None
) -> str | None:
    """Return the first phase not yet submitted, or None when all are in or the session
    stopped (consent "No" stops it at Sign in)."""
    if answers is not None and stopped_by(template, answers) is not None:
        return None
    done = set(submitted)
    return next((p for p in template.phase_ids if p not in done), None)


def sign_off_blockers(
    template: Template,
    answers: Mapping[str, Any],
    notes: Mapping[str, str],
    *,
    submitted: Iterable[str],
    session_date: date,
    words: Wording | None = None,
) -> list[str]:
    """Return why a checklist cannot be signed yet; empty when it can.

    In English unless `words` says it in the reader's language (the record page passes the
    practitioner's); the rules stay free of Flask either way.
    """
    said = words or Wording()
    blockers: list[str] = []
    stop = stopped_by(template, answers)
    if stop is not None:
        return [said.stop_message(stop)]
    done = set(submitted)
    for phase in template.phases:
        if phase.id not in done:
            blockers.append(said.gettext(PHASE_NOT_DONE) % {"phase": said.phase_title(phase)})
            continue
        asked = {k: v for k, v in answers.items() if k in template.items_by_id}
        earlier = {k: v for k, v in asked.items() if template.items_by_id[k].phase != phase.id}
        own = {k: v for k, v in asked.items() if template.items_by_id[k].phase == phase.id}
        for field_name, message in check_phase(
            template, phase.id, own, notes, earlier_answers=earlier, session_date=session_date
        ).items():
            link_id = field_name.removesuffix(".note")
            item = template.items_by_id[link_id]
            blockers.append(
                f"{said.phase_title(phase)}: {said.item_text(item)} {said.gettext(message)}"
            )
    return blockers


#: How the error summary names the note beside a question, and each part of a pack.
NOTE_FOR = N_("Note for “%(item)s”")
PACK_PART_LABELS = {
    "lot": N_("Pack %(n)s lot"),
    "expiry": N_("Pack %(n)s expiry"),
    "gtin": N_("Pack %(n)s GTIN"),
}


def field_labels(phase: Phase, packs: Iterable[int]) -> dict[str, str]:
    """Name each field of a phase for its error summary, in English: each question (the
    template's own words) and the note beside it, and each part of the numbered packs.

    `display.error_labels` says them in the reader's language.
    """
    labels: dict[str, str] = {}
    for item in phase.items:
        question = Words(item.text, item.link_id)
        labels[item.link_id] = question
        labels[f"{item.link_id}.note"] = Said(NOTE_FOR, item=question)
    for n in packs:
        for part, label in PACK_PART_LABELS.items():
            labels[pack_field(n, part)] = Said(label, n=n)
    return labels


def flags_for(template: Template, answers: Mapping[str, Any]) -> list[FlagSpec]:
    """Return the flags a completed checklist raises, most serious first."""
    flags: list[FlagSpec] = [
        FlagSpec(
            "count_discrepancy",
            Severity.CRITICAL,
            "signout.count_discrepancy",
            f"Needle counts do not reconcile: {mismatch.text}.",
        )
        for mismatch in count_mismatches(template, answers)
    ]
    for item in template.items:
        value = answers.get(item.link_id)
        if not is_unexpected(item, value):
            continue
        if item.type in {"choice", "multichoice"} and (chosen := _flagged(item, value)):
            worst = Severity(min((o.flag for o in chosen), key=SEVERITIES.index))
            flags.append(
                FlagSpec(
                    item.flag_kind or "deviation",
                    worst,
                    item.link_id,
                    f"{item.text} {', '.join(o.display for o in chosen)}.",
                )
            )
        else:
            flags.append(
                FlagSpec(
                    item.flag_kind or "deviation",
                    Severity(item.flag) if item.flag else Severity.HIGH,
                    item.link_id,
                    f"{item.text} Answered: {_say(value)}.",
                )
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


def entry_hash(answers: Mapping[str, Any], notes: Mapping[str, str] | None) -> str:
    """Return the SHA-256 of a phase entry's answers and notes, which its session.phase_submit
    event records: a session never signed (open, or cancelled) is held to it by verify, as a
    signed one is to its content hash."""
    return sha256_hex(canonical_json({"answers": answers, "notes": notes or {}}))


#: Answers copied to columns of the signed record, so the dashboard aggregates and the lot trace
#: looks up plain indexed columns: column name -> the linkIds it is read from, one per template
#: version that asks it (pain moved from Time out to Sign out in version 2). `flask audit
#: verify` holds each column to its signed answer, since the content hash covers only the
#: answers.
ANSWER_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "needle_lot": ("timeout.needle_lot",),
    "bleeding": ("signout.bleeding",),
    "bruising": ("signout.bruising",),
    "reaction": ("signout.reaction",),
    "pain_during": ("timeout.pain_during", "signout.pain_during"),
}
#: Version 2 asks immediate reactions as a multiple choice; the reaction column keeps the most
#: serious one, so the dashboard's rate reads one column for both versions.
REACTIONS_LINK_ID = "signout.reactions"
REACTIONS_WORST_FIRST = ("fainted", "dizziness", "other", "nausea")
NO_REACTION = "none"


def worst_reaction(codes: Sequence[str]) -> str:
    """Return the most serious of the immediate reactions chosen, or "none"."""
    return next((code for code in REACTIONS_WORST_FIRST if code in codes), NO_REACTION)


def answer_columns(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Return the column values a signed record copies from its answers."""
    values = {
        column: next((answers[i] for i in link_ids if i in answers), None)
        for column, link_ids in ANSWER_COLUMNS.items()
    }
    if values["reaction"] is None and REACTIONS_LINK_ID in answers:
        values["reaction"] = worst_reaction(answers[REACTIONS_LINK_ID])
    return values
