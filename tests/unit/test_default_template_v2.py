"""Version 2 of the default checklist (DESIGN §3.1.1): the rules a clinical review asked for.

Pure: the register, the template built from it and the checklist rules, without an app.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from safety.checklists.rules import (
    EXPIRED_PACK,
    NOTE_NEEDED,
    SEVERITIES,
    answer_columns,
    applicable_answers,
    check_phase,
    count_mismatches,
    flags_for,
    is_enabled,
    next_phase,
    read_phase,
    sign_off_blockers,
    stopped_by,
    worst_reaction,
)
from safety.risks.rules import (
    REGISTER_FILES,
    build_definition,
    load_register,
    template_from_definition,
)

REGISTER = load_register()
TEMPLATE = template_from_definition(build_definition(REGISTER, REGISTER.default_kinds))
SESSION_DAY = date(2026, 12, 4)
PHASES = ("signin", "timeout", "signout")

#: A clean version 2 session, as the form sends it.
CLEAN: dict[str, dict[str, list[str]]] = {
    "signin": {
        "signin.authorised": ["yes"],
        "signin.identity": ["yes"],
        "signin.consent": ["yes"],
        "signin.skin_ok": ["yes"],
        "signin.anticoagulant": ["no"],
        "signin.faint_history": ["no"],
        "signin.conditions": ["none"],
        "signin.regions": ["lumbar", "hip"],
    },
    "timeout": {
        "timeout.hand_hygiene": ["yes"],
        "timeout.needle_lot": ["LOT-2611A"],
        "timeout.needle_expiry": ["2099-12-31"],
        "timeout.needles_sterile": ["yes"],
        "timeout.opened_in_view": ["yes"],
        "timeout.guide_tubes": ["single_use"],
        "timeout.field_ready": ["yes"],
        "timeout.no_touch": ["yes"],
        "timeout.skin_prepared": ["yes"],
        "timeout.gloves": ["worn"],
    },
    "signout": {
        "signout.needles_opened": ["8"],
        "signout.needles_used": ["6"],
        "signout.needles_removed": ["6"],
        "signout.needles_disposed": ["8"],
        "signout.sharps_safe": ["yes"],
        "signout.needles_intact": ["yes"],
        "signout.pain_during": ["2"],
        "signout.bleeding": ["none"],
        "signout.bruising": ["none"],
        "signout.reactions": ["none"],
        "signout.fit_to_leave": ["yes"],
        "signout.hand_hygiene": ["yes"],
        "signout.aftercare": ["yes"],
        "signout.followup": ["email"],
    },
}

#: Every infection-control item and the bleeding check: in every template (DESIGN §3.1.1).
INFECTION_CONTROL = (
    "signin.skin_ok",
    "timeout.hand_hygiene",
    "timeout.needles_sterile",
    "timeout.needle_lot",
    "timeout.needle_expiry",
    "timeout.opened_in_view",
    "timeout.guide_tubes",
    "timeout.field_ready",
    "timeout.no_touch",
    "timeout.skin_prepared",
    "timeout.gloves",
    "signout.sharps_safe",
    "signout.hand_hygiene",
    "signout.bleeding",
)


def form(phase: str, **changes: list[str]) -> dict[str, list[str]]:
    values = {**CLEAN[phase], **{k.replace("__", "."): v for k, v in changes.items()}}
    return {k: v for k, v in values.items() if v}


def answers_for(changes: dict[str, list[str]] | None = None) -> tuple[dict, dict]:
    """Read all three phases (with changes) into answers and notes, as the services do."""
    answers: dict = {}
    notes: dict = {}
    for phase in PHASES:
        values = {**CLEAN[phase]}
        values.update({k: v for k, v in (changes or {}).items() if k.startswith(phase)})
        read = read_phase(TEMPLATE.phase(phase), {k: v for k, v in values.items() if v})
        assert read.errors == {}, read.errors
        answers.update(read.answers)
        notes.update(read.notes)
    return applicable_answers(TEMPLATE, answers), notes


def problems(phase: str, changes: dict[str, list[str]], earlier: dict | None = None) -> dict:
    values = {**CLEAN[phase], **changes}
    read = read_phase(TEMPLATE.phase(phase), {k: v for k, v in values.items() if v})
    if read.errors:
        return read.errors
    if earlier is None:
        earlier, _ = answers_for()
        earlier = {k: v for k, v in earlier.items() if not k.startswith(phase)}
    return check_phase(
        TEMPLATE,
        phase,
        read.answers,
        read.notes,
        earlier_answers=earlier,
        session_date=SESSION_DAY,
    )


# --- the register ------------------------------------------------------------------------------


def test_a_clean_version_2_session_passes_every_phase_and_can_be_signed():
    answers, notes = answers_for()

    assert (
        sign_off_blockers(TEMPLATE, answers, notes, submitted=PHASES, session_date=SESSION_DAY)
        == []
    )
    assert flags_for(TEMPLATE, answers) == []


def test_the_default_template_is_built_from_the_current_register_version_6():
    """Version 3 is version 2 with the stops (authorisation, sterile packs) and the needle
    count "no more used than opened"; version 4 makes a broken needle a critical flag of its
    own; version 5 stops at unsafe answers before needling; version 6 makes a patient not fit
    to leave a critical flag of its own. This module's checks hold for all five."""
    assert TEMPLATE.register_version == REGISTER.version == 6


@pytest.mark.parametrize("link_id", INFECTION_CONTROL)
def test_every_infection_control_item_is_baseline(link_id):
    spec = next(i for i in REGISTER.items if i["linkId"] == link_id)

    assert spec.get("baseline") is True


@pytest.mark.parametrize("kinds", [(), ("soreness",), ("bruising",), ("pneumothorax",)])
def test_an_import_naming_only_some_risks_keeps_every_baseline_item(kinds):
    definition = build_definition(REGISTER, kinds)
    link_ids = {i["linkId"] for p in definition["phases"] for i in p["items"]}

    assert set(REGISTER.baseline_link_ids) <= link_ids
    assert set(INFECTION_CONTROL) <= link_ids


def test_an_import_naming_only_soreness_adds_the_pain_item_but_not_the_bruising_check():
    definition = build_definition(REGISTER, ("soreness",))
    link_ids = {i["linkId"] for p in definition["phases"] for i in p["items"]}

    assert "signout.pain_during" in link_ids
    assert "signout.bruising" not in link_ids


def test_every_item_says_why_it_is_there_and_cites_a_source():
    for item in TEMPLATE.items:
        assert item.why, item.link_id
        assert item.sources, item.link_id
        assert all(source.citation for source in item.sources), item.link_id


def test_a_threshold_the_product_chose_says_so():
    policy = REGISTER.source("needlesafe-policy")

    assert policy.design_choice is True
    assert "not from a study" in policy.citation


def test_every_source_the_follow_up_section_names_is_in_the_register():
    sections = REGISTER.followup
    named = [
        source
        for key in ("checks", "escalations", "thresholds")
        for entry in sections[key]
        for source in entry["sources"]
    ] + list(sections["quiet_hours"]["sources"])

    assert named
    assert all(source in REGISTER.sources for source in named)


def test_time_out_holds_only_what_is_checked_before_the_first_needle():
    timeout = {item.link_id for item in TEMPLATE.phase("timeout").items}

    assert not any(
        "needles_" in link_id and link_id != "timeout.needles_sterile" for link_id in timeout
    )
    assert "timeout.pain_during" not in timeout
    assert {"signout.needles_opened", "signout.needles_used", "signout.pain_during"} <= {
        item.link_id for item in TEMPLATE.phase("signout").items
    }


# --- lung regions -------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["thorax", "neck", "shoulder"])
@pytest.mark.parametrize(
    "link_id", ["signin.lung_precaution", "signin.position", "signin.lung_risk"]
)
def test_a_lung_region_needs_the_lung_precaution_and_the_position(region, link_id):
    item = TEMPLATE.items_by_id[link_id]

    assert is_enabled(TEMPLATE, item, {"signin.regions": [region]})
    assert region in TEMPLATE.high_risk_regions


def test_shoulder_needling_is_refused_without_the_lung_precaution():
    errors = problems("signin", {"signin.regions": ["shoulder"]}, earlier={})

    assert set(errors) == {"signin.lung_precaution", "signin.position", "signin.lung_risk"}


def test_shoulder_needling_with_its_precaution_position_and_risk_factors_is_accepted():
    errors = problems(
        "signin",
        {
            "signin.regions": ["shoulder", "arm"],
            "signin.lung_precaution": ["25 mm needles, angled toward the scapula"],
            "signin.position": ["prone"],
            "signin.lung_risk": ["none"],
        },
        earlier={},
    )

    assert errors == {}


@pytest.mark.parametrize("region", ["lumbar", "arm", "leg", "head"])
def test_a_region_away_from_the_lung_asks_no_lung_precaution(region):
    item = TEMPLATE.items_by_id["signin.lung_precaution"]

    assert not is_enabled(TEMPLATE, item, {"signin.regions": [region]})


def test_lung_risk_factors_cannot_be_none_and_something():
    errors = problems(
        "signin",
        {
            "signin.regions": ["thorax"],
            "signin.lung_precaution": ["pincer grip"],
            "signin.position": ["prone"],
            "signin.lung_risk": ["none", "copd"],
        },
        earlier={},
    )

    assert list(errors) == ["signin.lung_risk"]
    assert "cannot be chosen with another answer" in errors["signin.lung_risk"]


# --- sign in screening and the consent stop -----------------------------------------------------


def test_a_history_of_fainting_asks_to_treat_lying_down():
    errors = problems("signin", {"signin.faint_history": ["yes"]}, earlier={})

    assert errors == {"signin.lying_down": "Answer this item."}


def test_not_treating_a_fainter_lying_down_needs_a_note():
    errors = problems(
        "signin", {"signin.faint_history": ["yes"], "signin.lying_down": ["no"]}, earlier={}
    )

    assert errors == {"signin.lying_down.note": NOTE_NEEDED}


@pytest.mark.parametrize("condition", ["pregnancy", "immunocompromise", "lymphoedema", "implant"])
def test_a_condition_that_needs_a_precaution_asks_for_it(condition):
    errors = problems("signin", {"signin.conditions": [condition]}, earlier={})

    assert errors == {"signin.condition_precaution": "Answer this item."}


def test_consent_no_stops_the_session_at_sign_in_without_a_flag():
    sign_in = read_phase(TEMPLATE.phase("signin"), {"signin.consent": ["no"]})
    answers = sign_in.answers

    assert (
        check_phase(TEMPLATE, "signin", answers, {}, earlier_answers={}, session_date=SESSION_DAY)
        == {}
    )
    assert stopped_by(TEMPLATE, answers).link_id == "signin.consent"
    assert next_phase(TEMPLATE, ["signin"], answers) is None
    assert flags_for(TEMPLATE, answers) == []
    blockers = sign_off_blockers(
        TEMPLATE, answers, {}, submitted=["signin"], session_date=SESSION_DAY
    )
    assert blockers == [TEMPLATE.items_by_id["signin.consent"].stop.message]
    assert "No needling without informed consent" in blockers[0]


def test_consent_yes_lets_the_session_go_on_to_time_out():
    answers, _ = answers_for()

    assert stopped_by(TEMPLATE, answers) is None
    assert next_phase(TEMPLATE, ["signin"], answers) == "timeout"


# --- time out ------------------------------------------------------------------------------------


def test_an_expired_pack_is_refused_before_anything_is_needled():
    expired = (SESSION_DAY - timedelta(days=1)).isoformat()

    errors = problems("timeout", {"timeout.needle_expiry": [expired]})

    assert errors == {"timeout.needle_expiry": EXPIRED_PACK}
    assert EXPIRED_PACK.count(":") == 1


@pytest.mark.parametrize(
    ("link_id", "answer", "severity"),
    [("timeout.gloves", "needed_not_worn", "high"), ("timeout.guide_tubes", "reused", "high")],
)
def test_an_unsafe_time_out_choice_needs_a_note_and_raises_a_flag(link_id, answer, severity):
    assert problems("timeout", {link_id: [answer]}) == {f"{link_id}.note": NOTE_NEEDED}

    answers, _ = answers_for({link_id: [answer], f"{link_id}.note": ["explained"]})
    (flag,) = flags_for(TEMPLATE, answers)

    assert (flag.link_id, flag.severity) == (link_id, severity)


#: Version 5 (a clinical review): at Sign in, before anything is needled, the patient and the
#: sites not confirmed, or infected or broken skin at them, stop the session where it is, as
#: consent does; they were deviations noted at signing, after the needling they should have
#: prevented.
STOPS_AT_SIGN_IN = [
    ("signin.identity", "has confirmed who they are and where the needles will go"),
    ("signin.skin_ok", "Do not needle through infected or broken skin"),
]


@pytest.mark.parametrize(("link_id", "says"), STOPS_AT_SIGN_IN)
def test_an_unconfirmed_patient_or_unsafe_skin_stops_the_session_at_sign_in(link_id, says):
    read = read_phase(
        TEMPLATE.phase("signin"), form("signin", **{link_id.replace(".", "__"): ["no"]})
    )

    # Saved as it is, with no note asked: the session stops instead of going on.
    assert problems("signin", {link_id: ["no"]}) == {}
    assert stopped_by(TEMPLATE, read.answers).link_id == link_id
    assert next_phase(TEMPLATE, ["signin"], read.answers) is None
    assert flags_for(TEMPLATE, read.answers) == []
    [blocker] = sign_off_blockers(
        TEMPLATE, read.answers, read.notes, submitted=["signin"], session_date=SESSION_DAY
    )
    assert says in blocker
    assert blocker.count(":") == 1  # one colon a message (issue 17)


@pytest.mark.parametrize(
    ("link_id", "answer"), [("timeout.hand_hygiene", "no"), ("timeout.guide_tubes", "reused")]
)
def test_time_out_lapses_stay_flagged_deviations_not_stops(link_id, answer):
    """Time out is now and then ticked at the end of a session: a stop there would leave a
    practitioner who needled with a reused tube only a false answer or a false cancellation,
    and a reused tube's flag is how compliance learns of a possible exposure."""
    answers, _ = answers_for({link_id: [answer], f"{link_id}.note": ["explained"]})

    assert stopped_by(TEMPLATE, answers) is None
    [flag] = flags_for(TEMPLATE, answers)
    assert flag.link_id == link_id


def test_skin_preparation_stays_a_deviation_to_note_not_a_stop():
    """Clinic policy decides how skin is prepared, and a departure with a reason (soap and
    water when the alcohol wipes ran out) is recorded and reviewed, not refused."""
    answers, notes = answers_for(
        {"timeout.skin_prepared": ["no"], "timeout.skin_prepared.note": ["Soap and water."]}
    )

    assert stopped_by(TEMPLATE, answers) is None
    [flag] = flags_for(TEMPLATE, answers)
    assert (flag.link_id, flag.kind) == ("timeout.skin_prepared", "deviation")


@pytest.mark.parametrize("link_id", ["signin.skin_ok", "signout.sharps_safe"])
def test_a_yes_says_the_safe_thing_happened_not_that_an_unsafe_one_did_not(link_id):
    """ "No infection or broken skin" answered "Yes", and "No needle recapped" the same: a
    double negative is read wrong at the chair. Version 5 says both plainly."""
    text = TEMPLATE.items_by_id[link_id].text

    assert not text.startswith("No ")
    assert TEMPLATE.items_by_id[link_id].expected is True


# --- sign out: the counts ------------------------------------------------------------------------


def test_used_not_equal_to_removed_raises_a_critical_flag_said_as_staff_say_it():
    answers, _ = answers_for(
        {
            "signout.needles_used": ["8"],
            "signout.needles_removed": ["7"],
            "signout.needles_disposed": ["8"],
            "signout.needles_opened": ["8"],
            "signout.count_discrepancy": ["searched couch and floor"],
        }
    )

    (flag,) = [f for f in flags_for(TEMPLATE, answers) if f.kind == "count_discrepancy"]

    assert flag.severity == "critical"
    assert "8 used / 7 removed" in flag.message


def test_opened_not_equal_to_disposed_raises_a_critical_flag():
    answers, _ = answers_for(
        {"signout.needles_opened": ["10"], "signout.count_discrepancy": ["two found on floor"]}
    )

    (flag,) = [f for f in flags_for(TEMPLATE, answers) if f.kind == "count_discrepancy"]

    assert flag.severity == "critical"
    assert "10 opened / 8 disposed" in flag.message


def test_both_counts_wrong_raise_two_critical_flags():
    answers, _ = answers_for(
        {
            "signout.needles_opened": ["10"],
            "signout.needles_removed": ["5"],
            "signout.count_discrepancy": ["searched"],
        }
    )

    flags = [f for f in flags_for(TEMPLATE, answers) if f.kind == "count_discrepancy"]

    assert [f.severity for f in flags] == ["critical", "critical"]
    assert [m.text for m in count_mismatches(TEMPLATE, answers)] == [
        "6 used / 5 removed",
        "10 opened / 8 disposed",
    ]


def test_more_needles_used_than_opened_does_not_reconcile_though_each_pair_agrees():
    """Opened 10, used 12, removed 12, disposed 10: each pair agreed, so the session signed
    clean, yet two needles came from nowhere (or two removed ones are missing from the sharps
    container): a count mistyped, or needles unaccounted for."""
    changes = {
        "signout.needles_opened": ["10"],
        "signout.needles_used": ["12"],
        "signout.needles_removed": ["12"],
        "signout.needles_disposed": ["10"],
    }
    assert "signout.count_discrepancy" in problems("signout", changes)

    answers, _ = answers_for({**changes, "signout.count_discrepancy": ["searched"]})

    assert [m.text for m in count_mismatches(TEMPLATE, answers)] == ["12 used / 10 opened"]
    assert [f.severity for f in flags_for(TEMPLATE, answers) if f.kind == "count_discrepancy"] == [
        "critical"
    ]


def test_fewer_needles_used_than_opened_reconciles():
    answers, _ = answers_for(
        {
            "signout.needles_opened": ["10"],
            "signout.needles_used": ["6"],
            "signout.needles_removed": ["6"],
            "signout.needles_disposed": ["10"],
        }
    )

    assert count_mismatches(TEMPLATE, answers) == []


def test_reconciled_counts_ask_for_no_discrepancy_note():
    answers, _ = answers_for()

    assert count_mismatches(TEMPLATE, answers) == []
    assert "signout.count_discrepancy" not in answers


def test_a_count_that_does_not_reconcile_cannot_be_saved_without_saying_what_was_done():
    errors = problems("signout", {"signout.needles_removed": ["5"]})

    assert "signout.count_discrepancy" in errors


# --- sign out: the patient ------------------------------------------------------------------------


def test_fainting_is_a_high_flag():
    answers, _ = answers_for(
        {"signout.reactions": ["fainted"], "signout.reactions.note": ["lay down, recovered"]}
    )

    (flag,) = flags_for(TEMPLATE, answers)

    assert (flag.kind, flag.severity) == ("reaction", "high")
    assert "Fainted (lost consciousness)" in flag.message


def test_several_reactions_raise_one_flag_at_the_most_serious_level():
    answers, _ = answers_for(
        {"signout.reactions": ["nausea", "dizziness"], "signout.reactions.note": ["sat up slowly"]}
    )

    (flag,) = flags_for(TEMPLATE, answers)

    assert flag.severity == "medium"
    assert answers["signout.reactions"] == ["dizziness", "nausea"]  # the template's order
    assert "Dizziness, Nausea" in flag.message


def test_no_reaction_cannot_be_chosen_with_a_reaction():
    errors = problems("signout", {"signout.reactions": ["none", "fainted"]})

    assert list(errors) == ["signout.reactions"]


@pytest.mark.parametrize(
    ("codes", "worst"),
    [
        (["none"], "none"),
        (["nausea", "fainted"], "fainted"),
        (["other", "nausea"], "other"),
        (["dizziness", "other"], "dizziness"),
    ],
)
def test_the_reaction_column_keeps_the_most_serious_reaction(codes, worst):
    assert worst_reaction(codes) == worst


def test_a_version_2_record_copies_pain_and_its_worst_reaction_to_the_columns():
    answers, _ = answers_for(
        {
            "signout.reactions": ["nausea", "fainted"],
            "signout.reactions.note": ["recovered"],
            "signout.pain_during": ["5"],
        }
    )

    columns = answer_columns(answers)

    assert columns == {
        "needle_lot": "LOT-2611A",
        "bleeding": "none",
        "bruising": "none",
        "reaction": "fainted",
        "pain_during": 5,
    }


def test_a_version_1_record_copies_its_columns_as_before():
    columns = answer_columns(
        {
            "timeout.needle_lot": "A1",
            "timeout.pain_during": 3,
            "signout.bleeding": "minor",
            "signout.bruising": "small",
            "signout.reaction": "nausea",
        }
    )

    assert columns == {
        "needle_lot": "A1",
        "bleeding": "minor",
        "bruising": "small",
        "reaction": "nausea",
        "pain_during": 3,
    }


# --- FHIR ---------------------------------------------------------------------------------------


def test_the_version_2_questionnaire_validates_and_carries_each_items_reasons():
    from fhir.resources.R4B.questionnaire import Questionnaire

    from safety.fhir import mapping

    definition = build_definition(REGISTER, REGISTER.default_kinds)
    resource = mapping.questionnaire(
        definition, version=2, kind_titles={}, published_dt=None, resource_id="2"
    )

    parsed = Questionnaire.model_validate(resource)
    reactions = next(i for g in parsed.item for i in g.item if i.linkId == "signout.reactions")
    urls = [e.url for e in reactions.extension]
    assert reactions.repeats is True
    assert mapping.WHY_EXTENSION in urls and mapping.SOURCE_EXTENSION in urls


def test_a_signed_version_2_record_is_a_valid_questionnaire_response():
    from datetime import UTC, datetime

    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    from safety.fhir import mapping

    answers, notes = answers_for(
        {"signout.reactions": ["dizziness", "nausea"], "signout.reactions.note": ["sat up"]}
    )
    record = {
        "id": 41,
        "patient_id": 12,
        "practitioner_id": 7,
        "signed_by_id": 7,
        "signer_name": "Grace Hopper",
        "signature_meaning": "Performed and verified these checks",
        "signed_dt": datetime(2026, 12, 4, 10, tzinfo=UTC),
        "template_version": 2,
        "answers": answers,
        "notes": notes,
        "content_hash": "a" * 64,
    }

    parsed = QuestionnaireResponse.model_validate(
        mapping.questionnaire_response(record, build_definition(REGISTER, REGISTER.default_kinds))
    )
    items = {i.linkId: i for g in parsed.item for i in g.item}
    assert [a.valueCoding.code for a in items["signout.reactions"].answer] == [
        "dizziness",
        "nausea",
    ]
    assert items["signout.needles_used"].answer[0].valueInteger == 6


def test_a_version_2_session_keeps_version_2s_rules_a_pack_not_sterile_flags_it_not_stops():
    """Records started on version 2 keep the rules they were filled under (register_v2.json):
    version 3's stops apply to sessions started on version 3 only."""
    v2 = template_from_definition(build_definition(load_register(2), REGISTER.default_kinds))

    assert v2.register_version == 2
    assert v2.items_by_id["timeout.needles_sterile"].stop is None
    assert len(v2.count_checks) == 2
    assert TEMPLATE.items_by_id["timeout.needles_sterile"].stop is not None


@pytest.mark.parametrize("version", sorted(REGISTER_FILES))
def test_every_flag_severity_a_register_names_is_one_the_checklist_knows(version):
    """A severity the checklist does not know would only fail at signing (a review)."""
    for spec in load_register(version).items:
        named = [spec.get("flag"), *(o.get("flag") for o in spec.get("options", ()))]
        assert {s for s in named if s is not None} <= set(SEVERITIES), spec["linkId"]
