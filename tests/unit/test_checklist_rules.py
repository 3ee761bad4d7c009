"""Pure checklist rules: reading a phase form, the business rules, sign-off, flags and the hash."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from safety.checklists.rules import (
    COUNT_NOTE_NEEDED,
    NOTE_MAX_LENGTH,
    NOTE_NEEDED,
    REQUIRED,
    FlagSpec,
    applicable_answers,
    check_phase,
    content_hash,
    counts_differ,
    flags_for,
    next_phase,
    read_phase,
    sign_off_blockers,
)
from safety.risks.rules import build_definition, load_register, template_from_definition

#: Version 1 keeps its rules for the sessions started on it; version 2 has its own tests.
REGISTER = load_register(1)
TEMPLATE = template_from_definition(build_definition(REGISTER, REGISTER.default_kinds))
PHASES = ("signin", "timeout", "signout")
SESSION_DAY = date(2026, 3, 10)

#: A session where everything went as it should (form field name -> submitted values).
CLEAN_FORMS: dict[str, dict[str, list[str]]] = {
    "signin": {
        "signin.authorised": ["yes"],
        "signin.consent": ["yes"],
        "signin.anticoagulant": ["no"],
        "signin.skin_ok": ["yes"],
        "signin.regions": ["lumbar", "hip"],
    },
    "timeout": {
        "timeout.hand_hygiene": ["yes"],
        "timeout.needles_sterile": ["yes"],
        "timeout.needle_lot": ["LOT-2611A"],
        "timeout.needle_expiry": ["2027-12-31"],
        "timeout.clean_field": ["yes"],
        "timeout.skin_prepared": ["yes"],
        "timeout.gloves": ["worn"],
        "timeout.needles_inserted": ["6"],
        "timeout.pain_during": ["2"],
    },
    "signout": {
        "signout.needles_removed": ["6"],
        "signout.needles_disposed": ["6"],
        "signout.bleeding": ["none"],
        "signout.bruising": ["none"],
        "signout.reaction": ["none"],
        "signout.fit_to_leave": ["yes"],
        "signout.hand_hygiene": ["yes"],
        "signout.aftercare": ["yes"],
        "signout.followup": ["email"],
    },
}

#: Items a safe session answers "yes"; "no" needs a note and raises a flag.
EXPECTED_YES = [
    ("signin", "signin.authorised"),
    ("signin", "signin.consent"),
    ("signin", "signin.skin_ok"),
    ("timeout", "timeout.hand_hygiene"),
    ("timeout", "timeout.needles_sterile"),
    ("timeout", "timeout.clean_field"),
    ("timeout", "timeout.skin_prepared"),
    ("signout", "signout.fit_to_leave"),
    ("signout", "signout.hand_hygiene"),
    ("signout", "signout.aftercare"),
]

#: Choice answers that need a note: (linkId, option, flag kind, severity).
FLAGGED_OPTIONS = [
    ("signout.bleeding", "prolonged", "prolonged_bleeding", "high"),
    ("signout.bruising", "large", "large_bruise", "medium"),
    ("signout.reaction", "dizziness", "reaction", "medium"),
    ("signout.reaction", "nausea", "reaction", "low"),
    ("signout.reaction", "other", "reaction", "medium"),
]

#: Choice answers that are part of an ordinary session.
ORDINARY_OPTIONS = [
    ("timeout", "timeout.gloves", "not_needed"),
    ("signout", "signout.bleeding", "minor"),
    ("signout", "signout.bruising", "small"),
    ("signout", "signout.followup", "sms"),
    ("signout", "signout.followup", "declined"),
]

Changes = dict[str, "str | list[str] | None"]


def form_for(phase_id: str, changes: Changes | None = None) -> dict[str, list[str]]:
    """Return the clean form of a phase with some fields changed (None removes a field)."""
    form = dict(CLEAN_FORMS[phase_id])
    for field_name, value in (changes or {}).items():
        if value is None:
            form.pop(field_name, None)
        else:
            form[field_name] = [value] if isinstance(value, str) else value
    return form


def read_answers(phase_id: str, changes: Changes | None = None) -> tuple[dict, dict]:
    """Read a phase form that must be well formed; return its answers and notes."""
    read = read_phase(TEMPLATE.phase(phase_id), form_for(phase_id, changes))
    assert read.errors == {}
    return read.answers, read.notes


def answers_for(changes: Changes | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the answers and notes of a whole checklist, clean apart from the changes."""
    answers: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for phase_id in PHASES:
        own = {k: v for k, v in (changes or {}).items() if k.startswith(f"{phase_id}.")}
        phase_answers, phase_notes = read_answers(phase_id, own)
        answers.update(phase_answers)
        notes.update(phase_notes)
    return answers, notes


def problems(
    phase_id: str, changes: Changes | None = None, *, session_date: date = SESSION_DAY
) -> dict[str, str]:
    """Submit a phase after the clean earlier phases; return what stops it being saved."""
    earlier: dict[str, Any] = {}
    for earlier_id in PHASES[: PHASES.index(phase_id)]:
        earlier.update(read_answers(earlier_id)[0])
    answers, notes = read_answers(phase_id, changes)
    return check_phase(
        TEMPLATE, phase_id, answers, notes, earlier_answers=earlier, session_date=session_date
    )


# read_phase: the shape of what was submitted


def test_a_clean_form_is_read_into_typed_answers():
    read = read_phase(TEMPLATE.phase("timeout"), form_for("timeout"))

    assert read.errors == {}
    assert read.answers["timeout.hand_hygiene"] is True
    assert read.answers["timeout.needles_inserted"] == 6
    assert read.answers["timeout.needle_expiry"] == "2027-12-31"
    assert read.answers["timeout.gloves"] == "worn"
    assert read.answers["timeout.needle_lot"] == "LOT-2611A"


def test_a_no_is_read_as_false_not_as_a_missing_answer():
    answers, _ = read_answers("signin", {"signin.anticoagulant": "no"})

    assert answers["signin.anticoagulant"] is False


def test_regions_are_read_as_a_list_without_repeats():
    answers, _ = read_answers("signin", {"signin.regions": ["neck", "thorax", "neck"]})

    assert answers["signin.regions"] == ["neck", "thorax"]


def test_blank_fields_are_left_unanswered_rather_than_refused():
    read = read_phase(
        TEMPLATE.phase("timeout"),
        form_for("timeout", {"timeout.needle_lot": "   ", "timeout.needles_inserted": ""}),
    )

    assert read.errors == {}
    assert "timeout.needle_lot" not in read.answers
    assert "timeout.needles_inserted" not in read.answers


@pytest.mark.parametrize(
    ("phase_id", "link_id", "value", "message_part"),
    [
        ("timeout", "timeout.needles_inserted", "six", "whole number"),
        ("timeout", "timeout.needles_inserted", "6.5", "whole number"),
        ("timeout", "timeout.needles_inserted", "1e3", "whole number"),
        ("timeout", "timeout.needles_inserted", "0", "at least 1"),
        ("timeout", "timeout.needles_inserted", "201", "no greater than 200"),
        ("timeout", "timeout.pain_during", "11", "no greater than 10"),
        ("timeout", "timeout.pain_during", "-1", "at least 0"),
        ("signout", "signout.needles_removed", "-3", "at least 0"),
        ("timeout", "timeout.needle_expiry", "31/12/2027", "YYYY-MM-DD"),
        ("timeout", "timeout.needle_expiry", "2027-02-30", "YYYY-MM-DD"),
        ("timeout", "timeout.needle_expiry", "next year", "YYYY-MM-DD"),
        ("timeout", "timeout.gloves", "sometimes", "listed options"),
        ("signout", "signout.bleeding", "a lot", "listed options"),
        ("signin", "signin.regions", ["lumbar", "spleen"], "listed options"),
        ("signin", "signin.authorised", "maybe", "yes or no"),
        ("signin", "signin.authorised", "true", "yes or no"),
        ("timeout", "timeout.needle_lot", "L" * 65, "under 64 characters"),
    ],
)
def test_a_malformed_answer_is_refused_beside_its_field(phase_id, link_id, value, message_part):
    read = read_phase(TEMPLATE.phase(phase_id), form_for(phase_id, {link_id: value}))

    assert list(read.errors) == [link_id]
    assert message_part in read.errors[link_id]
    assert link_id not in read.answers


def test_a_lot_number_at_the_length_limit_is_accepted():
    answers, _ = read_answers("timeout", {"timeout.needle_lot": "L" * 64})

    assert answers["timeout.needle_lot"] == "L" * 64


def test_an_over_long_note_is_refused_on_the_note_field():
    form = form_for("signin", {"signin.authorised": "no"})
    form["signin.authorised.note"] = ["x" * (NOTE_MAX_LENGTH + 1)]

    read = read_phase(TEMPLATE.phase("signin"), form)

    assert list(read.errors) == ["signin.authorised.note"]
    assert str(NOTE_MAX_LENGTH) in read.errors["signin.authorised.note"]
    assert "signin.authorised" not in read.notes


def test_a_note_at_the_length_limit_is_kept_without_surrounding_spaces():
    note = "y" * NOTE_MAX_LENGTH
    answers, notes = read_answers(
        "signin", {"signin.authorised": "no", "signin.authorised.note": f"  {note}  "}
    )

    assert answers["signin.authorised"] is False
    assert notes == {"signin.authorised": note}


def test_a_blank_note_is_no_note():
    _, notes = read_answers("signin", {"signin.authorised.note": "   "})

    assert notes == {}


# check_phase: the rules a practitioner must satisfy


@pytest.mark.parametrize("phase_id", PHASES)
def test_a_clean_phase_has_no_problems(phase_id):
    assert problems(phase_id) == {}


@pytest.mark.parametrize(
    ("phase_id", "link_id"),
    [(phase_id, link_id) for phase_id, form in CLEAN_FORMS.items() for link_id in form],
)
def test_an_unanswered_item_is_required(phase_id, link_id):
    assert problems(phase_id, {link_id: None}) == {link_id: REQUIRED}


@pytest.mark.parametrize("days_before", [1, 30, 400])
def test_an_expired_pack_is_refused_with_do_not_use(days_before):
    expiry = SESSION_DAY - timedelta(days=days_before)

    errors = problems("timeout", {"timeout.needle_expiry": expiry.isoformat()})

    assert list(errors) == ["timeout.needle_expiry"]
    assert "Do not use it: open an in-date pack" in errors["timeout.needle_expiry"]


@pytest.mark.parametrize("days_after", [0, 1, 365])
def test_a_pack_expiring_on_or_after_the_session_date_is_accepted(days_after):
    expiry = SESSION_DAY + timedelta(days=days_after)

    assert problems("timeout", {"timeout.needle_expiry": expiry.isoformat()}) == {}


def test_the_expiry_is_judged_against_the_session_date_not_today():
    changes = {"timeout.needle_expiry": "2020-06-01"}

    assert problems("timeout", changes, session_date=date(2020, 6, 1)) == {}
    assert "timeout.needle_expiry" in problems("timeout", changes, session_date=date(2020, 6, 2))


def test_an_anticoagulated_patient_needs_a_bleeding_precaution():
    errors = problems("signin", {"signin.anticoagulant": "yes"})

    assert errors == {"signin.bleeding_precaution": REQUIRED}


def test_an_anticoagulated_patient_with_a_precaution_passes():
    changes = {
        "signin.anticoagulant": "yes",
        "signin.bleeding_precaution": "Pressure for 2 minutes at each site; fewer needles.",
    }

    assert problems("signin", changes) == {}


def test_a_patient_not_on_anticoagulants_needs_no_bleeding_precaution():
    assert "signin.bleeding_precaution" not in problems("signin", {"signin.anticoagulant": "no"})


@pytest.mark.parametrize("regions", [["thorax"], ["neck"], ["lumbar", "neck"], ["thorax", "neck"]])
def test_a_high_risk_region_needs_a_precaution(regions):
    errors = problems("signin", {"signin.regions": regions})

    assert errors == {"signin.high_risk_precaution": REQUIRED}


@pytest.mark.parametrize("regions", [["thorax"], ["neck", "shoulder"]])
def test_a_high_risk_region_with_a_precaution_passes(regions):
    changes = {
        "signin.regions": regions,
        "signin.high_risk_precaution": "30 mm needles, pincer grip, angled away from the lung.",
    }

    assert problems("signin", changes) == {}


@pytest.mark.parametrize("regions", [["lumbar"], ["head", "shoulder"], ["leg", "foot", "hip"]])
def test_other_regions_need_no_high_risk_precaution(regions):
    assert problems("signin", {"signin.regions": regions}) == {}


@pytest.mark.parametrize(("phase_id", "link_id"), EXPECTED_YES)
def test_an_unexpected_no_needs_a_note(phase_id, link_id):
    assert problems(phase_id, {link_id: "no"}) == {f"{link_id}.note": NOTE_NEEDED}


@pytest.mark.parametrize(("phase_id", "link_id"), EXPECTED_YES)
def test_an_unexpected_no_with_a_note_passes(phase_id, link_id):
    changes = {link_id: "no", f"{link_id}.note": "Reported to the clinic lead; see incident log."}

    assert problems(phase_id, changes) == {}


@pytest.mark.parametrize(("link_id", "option", "flag_kind", "severity"), FLAGGED_OPTIONS)
def test_a_flagged_choice_needs_a_note(link_id, option, flag_kind, severity):
    assert problems("signout", {link_id: option}) == {f"{link_id}.note": NOTE_NEEDED}


@pytest.mark.parametrize(("link_id", "option", "flag_kind", "severity"), FLAGGED_OPTIONS)
def test_a_flagged_choice_with_a_note_passes(link_id, option, flag_kind, severity):
    changes = {link_id: option, f"{link_id}.note": "Observed 20 minutes; advice given."}

    assert problems("signout", changes) == {}


@pytest.mark.parametrize(("phase_id", "link_id", "option"), ORDINARY_OPTIONS)
def test_an_ordinary_choice_needs_no_note(phase_id, link_id, option):
    assert problems(phase_id, {link_id: option}) == {}


@pytest.mark.parametrize(
    ("removed", "disposed"),
    [("5", "5"), ("7", "7"), ("6", "5"), ("5", "6"), ("0", "0")],
)
def test_an_unreconciled_needle_count_needs_a_discrepancy_note(removed, disposed):
    changes = {"signout.needles_removed": removed, "signout.needles_disposed": disposed}

    errors = problems("signout", changes)

    assert errors == {"signout.count_discrepancy": COUNT_NOTE_NEEDED}


def test_an_unreconciled_needle_count_with_a_discrepancy_note_passes():
    changes = {
        "signout.needles_removed": "5",
        "signout.needles_disposed": "5",
        "signout.count_discrepancy": "Sixth needle found on the plinth and disposed of.",
    }

    assert problems("signout", changes) == {}


def test_a_reconciled_needle_count_needs_no_discrepancy_note():
    assert "signout.count_discrepancy" not in problems("signout")


# applicable_answers: answers to items that no longer apply are dropped


def test_a_bleeding_precaution_is_dropped_when_the_patient_is_not_anticoagulated():
    answers, _ = answers_for(
        {"signin.anticoagulant": "no", "signin.bleeding_precaution": "Extra pressure."}
    )

    kept = applicable_answers(TEMPLATE, answers)

    assert "signin.bleeding_precaution" not in kept
    assert kept["signin.anticoagulant"] is False


def test_a_bleeding_precaution_is_kept_when_the_patient_is_anticoagulated():
    answers, _ = answers_for(
        {"signin.anticoagulant": "yes", "signin.bleeding_precaution": "Extra pressure."}
    )

    assert applicable_answers(TEMPLATE, answers)["signin.bleeding_precaution"] == "Extra pressure."


def test_a_high_risk_precaution_is_dropped_when_no_high_risk_region_is_needled():
    answers, _ = answers_for(
        {"signin.regions": ["lumbar"], "signin.high_risk_precaution": "Short needles."}
    )

    assert "signin.high_risk_precaution" not in applicable_answers(TEMPLATE, answers)


def test_a_discrepancy_note_is_dropped_once_the_counts_reconcile():
    answers, _ = answers_for({"signout.count_discrepancy": "Recounted."})

    assert "signout.count_discrepancy" not in applicable_answers(TEMPLATE, answers)


def test_a_discrepancy_note_is_kept_while_the_counts_differ():
    answers, _ = answers_for(
        {"signout.needles_removed": "5", "signout.count_discrepancy": "Searched the room."}
    )

    kept = applicable_answers(TEMPLATE, answers)

    assert kept["signout.count_discrepancy"] == "Searched the room."


def test_answers_to_items_not_on_the_template_are_dropped():
    answers, _ = answers_for()

    kept = applicable_answers(TEMPLATE, {**answers, "signin.favourite_colour": "blue"})

    assert kept == answers


# counts_differ


@pytest.mark.parametrize(
    ("inserted", "removed", "disposed", "differ"),
    [
        (6, 6, 6, False),
        (6, 5, 5, True),
        (6, 6, 5, True),
        (6, 5, 6, True),
        (6, 7, 7, True),
        (6, None, None, False),
        (6, 6, None, False),
        (6, 5, None, True),
        (6, None, 5, True),
        (None, None, None, False),
    ],
)
def test_counts_differ_when_any_two_known_counts_disagree(inserted, removed, disposed, differ):
    answers = {
        "timeout.needles_inserted": inserted,
        "signout.needles_removed": removed,
        "signout.needles_disposed": disposed,
    }

    assert counts_differ(TEMPLATE, {k: v for k, v in answers.items() if v is not None}) is differ


# next_phase


@pytest.mark.parametrize(
    ("submitted", "expected"),
    [
        ([], "signin"),
        (["signin"], "timeout"),
        (["signin", "timeout"], "signout"),
        (["signin", "timeout", "signout"], None),
        (["timeout", "signout"], "signin"),
        (["signout", "signin"], "timeout"),
    ],
)
def test_the_next_phase_is_the_first_one_not_yet_submitted(submitted, expected):
    assert next_phase(TEMPLATE, submitted) == expected


# sign_off_blockers


def test_a_complete_clean_checklist_can_be_signed():
    answers, notes = answers_for()

    blockers = sign_off_blockers(
        TEMPLATE, answers, notes, submitted=PHASES, session_date=SESSION_DAY
    )

    assert blockers == []


@pytest.mark.parametrize(
    ("submitted", "missing_titles"),
    [
        ([], ["Sign in", "Time out", "Sign out"]),
        (["signin"], ["Time out", "Sign out"]),
        (["signin", "timeout"], ["Sign out"]),
    ],
)
def test_a_checklist_with_missing_phases_cannot_be_signed(submitted, missing_titles):
    answers, notes = answers_for()
    answers = {k: v for k, v in answers.items() if k.split(".")[0] in submitted}

    blockers = sign_off_blockers(
        TEMPLATE, answers, notes, submitted=submitted, session_date=SESSION_DAY
    )

    assert blockers == [f"The {title} phase has not been completed." for title in missing_titles]


def test_a_later_change_to_the_inserted_count_blocks_signing():
    answers, notes = answers_for()
    # The time out is resubmitted after the sign out, with a different count.
    answers["timeout.needles_inserted"] = 7

    blockers = sign_off_blockers(
        TEMPLATE, answers, notes, submitted=PHASES, session_date=SESSION_DAY
    )

    assert len(blockers) == 1
    assert blockers[0].startswith("Sign out:")
    assert COUNT_NOTE_NEEDED in blockers[0]


def test_a_later_anticoagulant_yes_blocks_signing_until_a_precaution_is_given():
    answers, notes = answers_for()
    answers["signin.anticoagulant"] = True

    blockers = sign_off_blockers(
        TEMPLATE, answers, notes, submitted=PHASES, session_date=SESSION_DAY
    )

    assert len(blockers) == 1
    assert blockers[0].startswith("Sign in:")
    assert REQUIRED in blockers[0]


def test_an_expired_pack_blocks_signing():
    answers, notes = answers_for({"timeout.needle_expiry": "2026-03-09"})

    blockers = sign_off_blockers(
        TEMPLATE, answers, notes, submitted=PHASES, session_date=SESSION_DAY
    )

    assert len(blockers) == 1
    assert "Do not use it: open an in-date pack" in blockers[0]


# flags_for


def test_a_clean_checklist_raises_no_flags():
    answers, _ = answers_for()

    assert flags_for(TEMPLATE, answers) == []


@pytest.mark.parametrize(("phase_id", "link_id", "option"), ORDINARY_OPTIONS)
def test_an_ordinary_choice_raises_no_flag(phase_id, link_id, option):
    answers, _ = answers_for({link_id: option})

    assert flags_for(TEMPLATE, answers) == []


def test_an_anticoagulated_patient_alone_raises_no_flag():
    answers, _ = answers_for(
        {"signin.anticoagulant": "yes", "signin.bleeding_precaution": "Extra pressure."}
    )

    assert flags_for(TEMPLATE, answers) == []


def test_a_count_discrepancy_raises_a_critical_flag_naming_the_counts():
    answers, _ = answers_for({"signout.needles_removed": "5", "signout.needles_disposed": "5"})

    flags = flags_for(TEMPLATE, answers)

    assert len(flags) == 1
    flag = flags[0]
    assert (flag.kind, flag.severity, flag.link_id) == (
        "count_discrepancy",
        "critical",
        "signout.count_discrepancy",
    )
    assert "inserted 6, removed 5, disposed 5" in flag.message


@pytest.mark.parametrize(("phase_id", "link_id"), EXPECTED_YES)
def test_an_unexpected_no_raises_a_high_deviation_flag(phase_id, link_id):
    answers, _ = answers_for({link_id: "no"})

    flags = flags_for(TEMPLATE, answers)

    assert [(f.kind, f.severity, f.link_id) for f in flags] == [("deviation", "high", link_id)]
    assert "Answered: no" in flags[0].message


@pytest.mark.parametrize(("link_id", "option", "flag_kind", "severity"), FLAGGED_OPTIONS)
def test_a_flagged_choice_raises_its_flag(link_id, option, flag_kind, severity):
    answers, _ = answers_for({link_id: option})

    flags = flags_for(TEMPLATE, answers)

    assert [(f.kind, f.severity, f.link_id) for f in flags] == [(flag_kind, severity, link_id)]


def test_the_count_discrepancy_comes_first_and_flags_are_ordered_by_severity():
    answers, _ = answers_for(
        {
            "signout.reaction": "nausea",
            "signout.bruising": "large",
            "signout.fit_to_leave": "no",
            "signout.needles_removed": "5",
            "signout.needles_disposed": "5",
        }
    )

    flags = flags_for(TEMPLATE, answers)

    assert [(f.kind, f.severity) for f in flags] == [
        ("count_discrepancy", "critical"),
        ("deviation", "high"),
        ("large_bruise", "medium"),
        ("reaction", "low"),
    ]
    assert all(isinstance(f, FlagSpec) for f in flags)


# content_hash


def signed_content(answers: dict[str, Any], notes: dict[str, str]) -> dict[str, Any]:
    return {
        "record": 41,
        "template_version": 1,
        "signer": "Alex Practitioner",
        "answers": answers,
        "notes": notes,
    }


def test_the_content_hash_is_a_stable_sha256():
    answers, notes = answers_for()

    first = content_hash(signed_content(answers, notes))
    again = content_hash(signed_content(*answers_for()))

    assert first == again
    assert len(first) == 64
    assert set(first) <= set("0123456789abcdef")


def test_the_content_hash_does_not_depend_on_key_order():
    answers, notes = answers_for({"signin.authorised": "no", "signin.authorised.note": "n"})
    content = signed_content(answers, notes)
    reordered = {
        key: dict(reversed(value.items())) if isinstance(value, dict) else value
        for key, value in reversed(content.items())
    }

    assert list(reordered) != list(content)
    assert content_hash(reordered) == content_hash(content)


def _another(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, list):
        return [*value, "foot"]
    return f"{value}X"


@pytest.mark.parametrize("link_id", [link_id for form in CLEAN_FORMS.values() for link_id in form])
def test_the_content_hash_changes_when_any_answer_changes(link_id):
    answers, notes = answers_for()
    original = content_hash(signed_content(answers, notes))

    changed = {**answers, link_id: _another(answers[link_id])}

    assert content_hash(signed_content(changed, notes)) != original


def test_the_content_hash_changes_when_a_note_changes():
    answers, notes = answers_for({"signin.authorised": "no", "signin.authorised.note": "Lapsed."})
    original = content_hash(signed_content(answers, notes))

    edited = {"signin.authorised": "Lapsed; renewed."}

    assert content_hash(signed_content(answers, edited)) != original
