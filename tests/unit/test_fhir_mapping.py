"""FHIR mapping of signed records, follow-up answers, bundles and search parameters, alone.

Every resource built here is validated with the fhir.resources R4B models, the way a receiving
system would read it.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from safety.fhir import mapping
from safety.risks import services


def default_definition() -> dict:
    """Version 1's default: these records pin it (version 2 maps the same way, by linkId)."""
    return services.default_definition(1)


SIGNED = datetime(2026, 3, 14, 9, 30, 15, 123456, tzinfo=UTC)
HASH = "a" * 64

ANSWERS = {
    "signin.authorised": True,
    "signin.consent": True,
    "signin.anticoagulant": False,
    "signin.skin_ok": True,
    "signin.regions": ["lumbar", "hip"],
    "timeout.hand_hygiene": True,
    "timeout.needles_sterile": True,
    "timeout.needle_lot": "LOT-2611A",
    "timeout.needle_expiry": "2099-12-31",
    "timeout.clean_field": True,
    "timeout.skin_prepared": True,
    "timeout.gloves": "worn",
    "timeout.needles_inserted": 6,
    "timeout.pain_during": 2,
    "signout.needles_removed": 6,
    "signout.needles_disposed": 6,
    "signout.bleeding": "minor",
    "signout.bruising": "none",
    "signout.reaction": "none",
    "signout.fit_to_leave": False,
    "signout.hand_hygiene": True,
    "signout.aftercare": True,
    "signout.followup": "email",
}
NOTES = {"signout.fit_to_leave": "Kept for 20 minutes, then walked out well."}


def record(**changes) -> dict:
    values = {
        "id": 41,
        "patient_id": 12,
        "practitioner_id": 7,
        "signed_by_id": 7,
        "signer_name": "Grace Hopper",
        "signature_meaning": "Performed and verified these checks",
        "signed_dt": SIGNED,
        "template_version": 3,
        "answers": ANSWERS,
        "notes": NOTES,
        "content_hash": HASH,
    }
    values.update(changes)
    return values


def addendum(number: int, minutes: int) -> dict:
    return {
        "id": number,
        "author_id": 8,
        "signer_name": "Ada Lovelace",
        "reason": f"Reason {number}",
        "body": f"Correction {number}",
        "signed_dt": SIGNED.replace(minute=30 + minutes),
        "meaning": "Authored and signed this correction",
        "content_hash": str(number) * 64,
    }


def response(**changes) -> QuestionnaireResponse:
    resource = mapping.questionnaire_response(record(**changes), default_definition())
    return QuestionnaireResponse.model_validate(resource)


def leaves(parsed: QuestionnaireResponse) -> dict:
    """The answered items by linkId; the packs group's parts stand in for the group."""
    found = {}
    for group in parsed.item:
        for item in group.item:
            for leaf in item.item or [item]:
                found[leaf.linkId] = leaf
    return found


def extension(extensions, url):
    return next(e for e in extensions or () if e.url == url)


# --- QuestionnaireResponse of a signed record ------------------------------------------------


def test_a_signed_record_is_a_valid_completed_questionnaire_response():
    parsed = response()

    assert parsed.status == "completed"
    assert parsed.id == "41"
    assert parsed.subject.reference == "Patient/12"
    assert parsed.author.reference == "Practitioner/7"
    assert parsed.authored == SIGNED.replace(microsecond=0)
    assert parsed.identifier.system == "urn:needlesafe:session"
    assert parsed.identifier.value == "41"


def test_the_response_names_the_questionnaire_version_it_was_filled_on():
    parsed = response(template_version=5)

    assert parsed.questionnaire == f"{mapping.QUESTIONNAIRE_URL}|5"


def test_items_are_grouped_by_phase_in_template_order():
    parsed = response()

    assert [g.linkId for g in parsed.item] == ["signin", "timeout", "signout"]
    assert [g.text for g in parsed.item] == ["Sign in", "Time out", "Sign out"]
    assert list(leaves(parsed))[:2] == ["signin.authorised", "signin.consent"]


def test_each_answer_keeps_its_type():
    items = leaves(response())

    assert items["signin.authorised"].answer[0].valueBoolean is True
    assert items["signin.anticoagulant"].answer[0].valueBoolean is False
    assert items["timeout.needles_inserted"].answer[0].valueInteger == 6
    assert str(items["timeout.needle_expiry"].answer[0].valueDate) == "2099-12-31"
    assert items["timeout.needle_lot"].answer[0].valueString == "LOT-2611A"
    gloves = items["timeout.gloves"].answer[0].valueCoding
    assert (gloves.code, gloves.display) == ("worn", "Worn")


def test_a_multiple_choice_answer_gives_one_coding_per_choice():
    regions = leaves(response())["signin.regions"]

    assert [a.valueCoding.code for a in regions.answer] == ["lumbar", "hip"]


def test_choice_answers_match_the_questionnaire_answer_options_exactly():
    definition = default_definition()
    questionnaire = Questionnaire.model_validate(
        mapping.questionnaire(definition, version=3, kind_titles={}, published_dt=SIGNED)
    )
    options = {
        item.linkId: {(o.valueCoding.system, o.valueCoding.code) for o in item.answerOption}
        for group in questionnaire.item
        for item in group.item
        if item.answerOption
    }

    for link_id, item in leaves(response()).items():
        for answer in item.answer:
            if answer.valueCoding is not None:
                coding = (answer.valueCoding.system, answer.valueCoding.code)
                assert coding in options[link_id], link_id


def test_a_deviation_note_rides_on_its_item():
    items = leaves(response())

    note = extension(items["signout.fit_to_leave"].extension, mapping.NOTE_EXTENSION)
    assert note.valueString == NOTES["signout.fit_to_leave"]
    assert items["signin.authorised"].extension is None


def test_unanswered_conditional_items_are_left_out():
    items = leaves(response())

    assert "signin.bleeding_precaution" not in items
    assert "signout.count_discrepancy" not in items


def test_the_content_hash_and_the_signature_are_carried():
    parsed = response()

    assert extension(parsed.extension, mapping.CONTENT_HASH_EXTENSION).valueString == HASH
    signature = extension(parsed.extension, mapping.SIGNATURE_EXTENSION).valueSignature
    assert signature.who.reference == "Practitioner/7"
    assert signature.who.display == "Grace Hopper"
    assert signature.when == SIGNED.replace(microsecond=0)
    assert signature.type[0].code == "1.2.840.10065.1.12.1.5"


def test_addenda_make_the_response_amended_and_follow_in_order():
    resource = mapping.questionnaire_response(
        record(), default_definition(), addenda=[addendum(1, 5), addendum(2, 9)]
    )
    parsed = QuestionnaireResponse.model_validate(resource)

    assert parsed.status == "amended"
    listed = [e for e in parsed.extension if e.url == mapping.ADDENDUM_EXTENSION]
    parts = [{p.url: p for p in e.extension} for e in listed]
    assert [p["reason"].valueString for p in parts] == ["Reason 1", "Reason 2"]
    assert parts[1]["body"].valueString == "Correction 2"
    assert parts[1]["author"].valueReference.reference == "Practitioner/8"
    assert parts[1]["contentHash"].valueString == "2" * 64
    assert parsed.meta.versionId == "3"
    assert parsed.meta.lastUpdated == SIGNED.replace(minute=39, microsecond=0)


def test_the_answers_of_an_amended_record_are_the_signed_ones():
    plain = mapping.questionnaire_response(record(), default_definition())
    amended = mapping.questionnaire_response(
        record(), default_definition(), addenda=[addendum(1, 5)]
    )

    assert amended["item"] == plain["item"]


def test_a_record_without_answers_still_validates():
    parsed = response(answers={}, notes=None)

    assert parsed.item is None


# --- follow-up answers -----------------------------------------------------------------------


FOLLOWUP = {
    "id": 5,
    "session_id": 41,
    "kind": "24h",
    "answers": {
        "soreness": 3,
        "trend": "better",
        "bleeding": "none",
        "bruising": "small",
        "chest": "no",
        "signs": ["redness", "warmth"],
        "other": "Slight ache when sitting.",
    },
    "escalation": "same_day",
    "created_dt": SIGNED.replace(day=15),
}


def followup(unanswered=(), **changes) -> QuestionnaireResponse:
    values = {**FOLLOWUP, **changes}
    resource = mapping.followup_response(
        values,
        patient_id=12,
        choices={"trend": (), "bruising": (), "signs": ()},
        unanswered=unanswered,
    )
    return QuestionnaireResponse.model_validate(resource)


def test_a_followup_answer_is_its_own_response_pointing_at_the_session():
    parsed = followup()

    assert parsed.id == "followup-5"
    assert parsed.status == "completed"
    assert parsed.subject.reference == "Patient/12"
    assert parsed.source.reference == "Patient/12"
    session = extension(parsed.extension, mapping.SESSION_EXTENSION)
    assert session.valueReference.reference == "QuestionnaireResponse/41"
    assert extension(parsed.extension, mapping.ESCALATION_EXTENSION).valueCode == "same_day"
    # R4 limits basedOn to CarePlan and ServiceRequest: the session is not put there.
    assert parsed.basedOn is None


def test_followup_answers_keep_their_types():
    items = {item.linkId: item for item in followup().item}

    assert items["soreness"].answer[0].valueInteger == 3
    assert items["trend"].answer[0].valueCoding.code == "better"
    assert [a.valueCoding.code for a in items["signs"].answer] == ["redness", "warmth"]
    assert items["other"].answer[0].valueString == "Slight ache when sitting."


def test_an_urgent_answer_with_questions_left_out_is_stopped_not_completed():
    """The form sends a patient with chest pain to call at once: the questions after it were
    never answered, and "completed" read as if they had nothing to report."""
    assert followup(unanswered=("soreness", "signs")).status == "stopped"
    assert followup(unanswered=()).status == "completed"


def test_an_empty_followup_answer_is_left_out():
    items = {item.linkId for item in followup(answers={"soreness": 0, "signs": []}).item}

    assert items == {"soreness"}


# --- bundles, outcomes, capability ----------------------------------------------------------


def test_a_searchset_bundle_carries_its_total_and_links():
    resource = mapping.questionnaire_response(record(), default_definition())
    bundle = Bundle.model_validate(
        mapping.searchset_bundle(
            [
                mapping.bundle_entry(
                    "https://x/fhir/QuestionnaireResponse/41", resource, search=True
                )
            ],
            total=7,
            self_url="https://x/fhir/QuestionnaireResponse?_count=1",
            next_url="https://x/fhir/QuestionnaireResponse?_count=1&_cursor=abc",
            timestamp=SIGNED,
        )
    )

    assert bundle.type == "searchset"
    assert bundle.total == 7
    assert [(link.relation, link.url) for link in bundle.link] == [
        ("self", "https://x/fhir/QuestionnaireResponse?_count=1"),
        ("next", "https://x/fhir/QuestionnaireResponse?_count=1&_cursor=abc"),
    ]
    assert bundle.entry[0].fullUrl == "https://x/fhir/QuestionnaireResponse/41"
    assert bundle.entry[0].search.mode == "match"
    assert isinstance(bundle.entry[0].resource, QuestionnaireResponse)


def test_an_empty_searchset_has_no_next_link_and_no_entries():
    bundle = Bundle.model_validate(
        mapping.searchset_bundle([], total=0, self_url="https://x", next_url=None, timestamp=SIGNED)
    )

    assert bundle.total == 0
    assert bundle.entry is None
    assert [link.relation for link in bundle.link] == ["self"]


def test_a_collection_bundle_validates():
    resource = mapping.questionnaire_response(record(), default_definition())
    bundle = Bundle.model_validate(
        mapping.collection_bundle(
            [mapping.bundle_entry("https://x/fhir/QuestionnaireResponse/41", resource)],
            timestamp=SIGNED,
        )
    )

    assert bundle.type == "collection"
    assert bundle.entry[0].search is None


def test_an_operation_outcome_validates():
    outcome = OperationOutcome.model_validate(mapping.operation_outcome("login", "Send a token."))

    assert outcome.issue[0].severity == "error"
    assert outcome.issue[0].code == "login"
    assert outcome.issue[0].diagnostics == "Send a token."


def test_the_capability_statement_declares_a_read_only_server():
    statement = CapabilityStatement.model_validate(
        mapping.capability_statement(
            base_url="https://x/fhir", date_published=SIGNED, software_version="1", max_count=200
        )
    )

    resources = {r.type: r for r in statement.rest[0].resource}
    assert set(resources) == {"Questionnaire", "QuestionnaireResponse", "AdverseEvent"}
    interactions = {i.code for r in resources.values() for i in r.interaction}
    assert interactions == {"read", "search-type"}
    params = {p.name for p in resources["QuestionnaireResponse"].searchParam}
    assert {"authored", "subject"} <= params


def _incident(**changes) -> dict:
    values = {
        "id": 7,
        "kind": "sharps_injury",
        "event_type": None,
        "event_label": "Needlestick or sharps injury",
        "grade": None,
        "occurred_dt": SIGNED,
        "signed_dt": SIGNED,
        "work_area": "Room 2",
        "patient_id": 3,
        "session_id": 11,
        "device": "Filiform needle, lot LOT-1",
        "content_hash": "ab" * 32,
        "addenda": 1,
    }
    values.update(changes)
    return values


def test_a_sharps_injury_maps_to_a_valid_adverse_event_about_a_privacy_case():
    event = AdverseEvent.model_validate(mapping.adverse_event(_incident()))
    assert event.actuality == "actual"
    assert event.subject.display == "Privacy case" and event.subject.reference is None
    assert event.meta.versionId == "2"
    assert event.suspectEntity[0].instance.display == "Filiform needle, lot LOT-1"


@pytest.mark.parametrize(
    ("grade", "severity", "seriousness"),
    [
        ("mild", "mild", "non-serious"),
        ("significant", "moderate", "non-serious"),
        ("serious", "severe", "serious"),
    ],
)
def test_an_adverse_events_grade_maps_to_severity_and_seriousness(grade, severity, seriousness):
    event = AdverseEvent.model_validate(
        mapping.adverse_event(
            _incident(kind="adverse_event", event_type="fainting", grade=grade, device=None)
        )
    )
    assert event.subject.reference == "Patient/3"
    assert event.severity.coding[0].code == severity
    assert event.seriousness.coding[0].code == seriousness


def test_a_near_miss_is_a_potential_adverse_event():
    event = AdverseEvent.model_validate(
        mapping.adverse_event(
            _incident(kind="near_miss", event_type="damaged_or_unsterile_pack", patient_id=None)
        )
    )
    assert event.actuality == "potential"
    assert event.category[0].coding[0].code == "product-quality"


def test_the_mapping_does_not_change_its_inputs():
    definition = default_definition()
    before = copy.deepcopy((record(), definition))

    mapping.questionnaire_response(record(), definition, addenda=[addendum(1, 1)])

    assert (record(), definition) == before


# --- needle packs (issue 15) -----------------------------------------------------------------

GTIN = "09501101020917"


def packs_in(parsed) -> list[dict]:
    timeout = next(g for g in parsed.item if g.linkId == "timeout")
    return [
        {leaf.linkId.rsplit(".", 1)[1]: leaf.answer[0] for leaf in item.item}
        for item in timeout.item
        if item.linkId == "timeout.packs"
    ]


def test_every_pack_is_a_repetition_of_the_packs_group_with_its_gtin_lot_and_expiry():
    answers = {
        **ANSWERS,
        "timeout.packs": [
            {"lot": "HW-2611A", "expiry": "2027-05-31", "gtin": GTIN, "serial": "S1"},
            {"lot": "sj-40812", "expiry": "2028-01-31"},
        ],
    }

    packs = packs_in(response(answers=answers))

    assert [(p["lot"].valueString, p["expiry"].valueDate.isoformat()) for p in packs] == [
        ("HW-2611A", "2027-05-31"),
        ("sj-40812", "2028-01-31"),
    ]
    assert packs[0]["gtin"].valueString == GTIN and packs[0]["serial"].valueString == "S1"
    assert "gtin" not in packs[1]


def test_a_record_from_before_packs_has_its_lot_and_expiry_as_its_one_pack():
    packs = packs_in(response())

    assert [(p["lot"].valueString, p["expiry"].valueDate.isoformat()) for p in packs] == [
        (ANSWERS["timeout.needle_lot"], ANSWERS["timeout.needle_expiry"])
    ]


def test_the_questionnaire_defines_the_repeating_packs_group_the_responses_use():
    parsed = Questionnaire.model_validate(
        mapping.questionnaire(default_definition(), version=3, kind_titles={}, published_dt=SIGNED)
    )
    timeout = next(g for g in parsed.item if g.linkId == "timeout")
    group = next(i for i in timeout.item if i.linkId == "timeout.packs")

    assert group.repeats and group.type == "group"
    assert [i.linkId for i in group.item] == [
        "timeout.packs.gtin",
        "timeout.packs.lot",
        "timeout.packs.expiry",
        "timeout.packs.serial",
    ]
