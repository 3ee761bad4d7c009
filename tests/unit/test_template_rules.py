"""Pure template rules: the register builds the checklist, and the checklist maps to FHIR R4."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire

from safety.fhir.mapping import questionnaire
from safety.risks.rules import build_definition, load_register, template_from_definition

#: Version 1 keeps its rules for the sessions started on it; version 2 has its own tests.
REGISTER = load_register(1)
GUIDANCE_KINDS = ("bloodborne_infection", "bleeding", "bruising", "soreness")
KIND_TITLES = {kind: REGISTER.kind_title(kind) for kind in REGISTER.kinds}
PUBLISHED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

#: DESIGN.md §3.1, in order.
DEFAULT_LINK_IDS = {
    "signin": [
        "signin.authorised",
        "signin.consent",
        "signin.anticoagulant",
        "signin.bleeding_precaution",
        "signin.skin_ok",
        "signin.regions",
        "signin.high_risk_precaution",
    ],
    "timeout": [
        "timeout.hand_hygiene",
        "timeout.needles_sterile",
        "timeout.needle_lot",
        "timeout.needle_expiry",
        "timeout.clean_field",
        "timeout.skin_prepared",
        "timeout.gloves",
        "timeout.needles_inserted",
        "timeout.pain_during",
    ],
    "signout": [
        "signout.needles_removed",
        "signout.needles_disposed",
        "signout.count_discrepancy",
        "signout.bleeding",
        "signout.bruising",
        "signout.reaction",
        "signout.fit_to_leave",
        "signout.hand_hygiene",
        "signout.aftercare",
        "signout.followup",
    ],
}

#: Items every checklist has, whatever risks the source names.
BASELINE_LINK_IDS = {
    "signin.authorised",
    "signin.consent",
    "signin.regions",
    "signin.high_risk_precaution",
    "timeout.hand_hygiene",
    "timeout.needles_inserted",
    "signout.needles_removed",
    "signout.needles_disposed",
    "signout.count_discrepancy",
    "signout.reaction",
    "signout.fit_to_leave",
    "signout.hand_hygiene",
    "signout.aftercare",
    "signout.followup",
}


def default_definition() -> dict:
    return build_definition(REGISTER, REGISTER.default_kinds)


def link_ids(definition: dict) -> list[str]:
    return [item["linkId"] for phase in definition["phases"] for item in phase["items"]]


def items_by_id(definition: dict) -> dict[str, dict]:
    return {item["linkId"]: item for phase in definition["phases"] for item in phase["items"]}


def fhir_items(resource: dict) -> list[dict]:
    """The template's own items; the needle packs group (issue 15) is no template item."""
    return [
        item
        for group in resource["item"]
        for item in group["item"]
        if item["linkId"] != "timeout.packs"
    ]


# build_definition


def test_the_default_kinds_are_the_four_risks_of_the_guidance():
    assert REGISTER.default_kinds == GUIDANCE_KINDS


def test_the_default_definition_has_the_three_phases_in_order():
    phases = default_definition()["phases"]

    assert [(p["id"], p["title"]) for p in phases] == [
        ("signin", "Sign in"),
        ("timeout", "Time out"),
        ("signout", "Sign out"),
    ]


@pytest.mark.parametrize("phase_id", list(DEFAULT_LINK_IDS))
def test_the_default_definition_has_the_design_link_ids_in_order(phase_id):
    phase = next(p for p in default_definition()["phases"] if p["id"] == phase_id)

    assert [item["linkId"] for item in phase["items"]] == DEFAULT_LINK_IDS[phase_id]


def test_the_default_definition_lists_its_kinds_and_high_risk_regions():
    definition = default_definition()

    assert definition["kinds"] == list(GUIDANCE_KINDS)
    assert definition["high_risk_regions"] == ["thorax", "neck"]
    assert definition["title"] == REGISTER.title


def test_a_title_can_be_given_to_an_imported_definition():
    definition = build_definition(REGISTER, ["bleeding"], title="Harbour Physio leaflet")

    assert definition["title"] == "Harbour Physio leaflet"


def test_no_matched_kind_gives_only_the_baseline_items():
    definition = build_definition(REGISTER, [])

    assert set(link_ids(definition)) == BASELINE_LINK_IDS
    assert definition["kinds"] == []


def test_the_baseline_keeps_the_design_order():
    definition = build_definition(REGISTER, [])
    design_order = [link_id for ids in DEFAULT_LINK_IDS.values() for link_id in ids]

    assert link_ids(definition) == [i for i in design_order if i in BASELINE_LINK_IDS]


@pytest.mark.parametrize(
    ("kind", "added"),
    [
        ("pneumothorax", set()),  # its precaution is already a baseline item
        ("syncope", set()),
        ("retained_needle", set()),
        ("needlestick", {"timeout.gloves"}),
        ("soreness", {"timeout.pain_during"}),
        (
            "bleeding",
            {"signin.anticoagulant", "signin.bleeding_precaution", "signout.bleeding"},
        ),
        (
            "bruising",
            {"signin.anticoagulant", "signin.bleeding_precaution", "signout.bruising"},
        ),
        (
            "bloodborne_infection",
            {
                "signin.skin_ok",
                "timeout.needles_sterile",
                "timeout.needle_lot",
                "timeout.needle_expiry",
                "timeout.clean_field",
                "timeout.skin_prepared",
                "timeout.gloves",
            },
        ),
    ],
)
def test_a_single_kind_adds_only_its_own_controls(kind, added):
    definition = build_definition(REGISTER, [kind])

    assert set(link_ids(definition)) - BASELINE_LINK_IDS == added
    assert definition["kinds"] == [kind]


def test_pneumothorax_alone_keeps_the_high_risk_precaution_and_adds_nothing_else():
    definition = build_definition(REGISTER, ["pneumothorax"])

    assert "signin.high_risk_precaution" in link_ids(definition)
    assert "timeout.pain_during" not in link_ids(definition)
    assert "signout.bleeding" not in link_ids(definition)


def test_kinds_the_catalogue_does_not_know_add_nothing():
    definition = build_definition(REGISTER, ["alien_abduction"])

    assert set(link_ids(definition)) == BASELINE_LINK_IDS
    assert definition["kinds"] == []


def test_build_definition_does_not_leak_register_bookkeeping_into_items():
    for item in items_by_id(default_definition()).values():
        assert "phase" not in item
        assert "baseline" not in item


BLEEDING = "There may be bleeding at the needle sites."
SORENESS = "Soreness after treatment is common and is usually temporary."
BLEEDING_AND_BRUISING = "Bleeding and bruising around the sites."


def test_provenance_attaches_statements_to_the_items_whose_risks_they_name():
    statements = [(BLEEDING, ["bleeding"]), (SORENESS, ["soreness"])]

    items = items_by_id(build_definition(REGISTER, ["bleeding", "soreness"], statements))

    assert items["signout.bleeding"]["provenance"] == [BLEEDING]
    assert items["signin.anticoagulant"]["provenance"] == [BLEEDING]
    assert items["timeout.pain_during"]["provenance"] == [SORENESS]
    assert items["signout.aftercare"]["provenance"] == [BLEEDING, SORENESS]
    assert items["timeout.hand_hygiene"]["provenance"] == []
    assert items["timeout.needles_inserted"]["provenance"] == []


def test_a_statement_naming_two_risks_is_provenance_for_both_of_their_items():
    statements = [(BLEEDING_AND_BRUISING, ["bleeding", "bruising"])]

    items = items_by_id(build_definition(REGISTER, ["bleeding", "bruising"], statements))

    assert items["signout.bleeding"]["provenance"] == [BLEEDING_AND_BRUISING]
    assert items["signout.bruising"]["provenance"] == [BLEEDING_AND_BRUISING]


def test_without_statements_every_item_has_empty_provenance():
    assert all(item["provenance"] == [] for item in items_by_id(default_definition()).values())


# template_from_definition


def test_a_definition_survives_storage_as_json():
    definition = default_definition()
    stored = json.loads(json.dumps(definition))

    assert template_from_definition(stored) == template_from_definition(definition)


def test_the_template_reads_back_every_item_of_the_definition():
    definition = default_definition()

    template = template_from_definition(definition)

    assert [i.link_id for i in template.items] == link_ids(definition)
    assert list(template.items_by_id) == link_ids(definition)
    assert template.phase_ids == ("signin", "timeout", "signout")
    assert template.high_risk_regions == ("thorax", "neck")


def test_the_template_keeps_the_rules_of_each_item():
    statements = [(BLEEDING, ["bleeding"])]
    template = template_from_definition(
        build_definition(REGISTER, REGISTER.default_kinds, statements)
    )
    items = template.items_by_id

    assert items["signin.authorised"].expected is True
    assert items["signin.authorised"].phase == "signin"
    assert items["signin.bleeding_precaution"].required is True
    assert [
        (c.question, c.operator, c.answer) for c in items["signin.bleeding_precaution"].enable_when
    ] == [("signin.anticoagulant", "=", True)]
    assert items["signin.high_risk_precaution"].enable_behavior == "any"
    assert items["timeout.needle_expiry"].not_before == "session_date"
    assert items["timeout.needle_lot"].max_length == 64
    assert (items["timeout.pain_during"].min, items["timeout.pain_during"].max) == (0, 10)
    assert items["signout.needles_disposed"].must_equal == "signout.needles_removed"
    assert items["signout.count_discrepancy"].enable_when_counts_differ is True
    assert items["signout.count_discrepancy"].is_conditional
    assert items["signout.bleeding"].option("prolonged").flag == "high"
    assert items["signout.bleeding"].option("none").flag is None
    assert items["signout.bleeding"].option("torrential") is None
    assert items["signout.bleeding"].flag_kind == "prolonged_bleeding"
    assert items["signout.bleeding"].provenance == (BLEEDING,)
    assert "bleeding" in items["signout.bleeding"].risks


def test_asking_for_an_unknown_phase_raises():
    template = template_from_definition(default_definition())

    with pytest.raises(KeyError):
        template.phase("debrief")


def test_an_unknown_item_type_raises_naming_the_item():
    definition = copy.deepcopy(default_definition())
    definition["phases"][0]["items"][0]["type"] = "slider"

    with pytest.raises(ValueError, match=r"'slider'.*signin\.authorised"):
        template_from_definition(definition)


# FHIR R4 Questionnaire


def fhir_resource(definition: dict | None = None, published_dt: datetime | None = PUBLISHED):
    return questionnaire(
        definition or default_definition(),
        version=3,
        kind_titles=KIND_TITLES,
        published_dt=published_dt,
        resource_id="template-3",
    )


@pytest.mark.parametrize("published_dt", [PUBLISHED, None], ids=["published", "draft"])
def test_the_questionnaire_validates_as_fhir_r4b(published_dt):
    resource = fhir_resource(published_dt=published_dt)

    parsed = Questionnaire.model_validate(resource)

    assert parsed.id == "template-3"
    assert parsed.version == "3"
    assert [group.linkId for group in parsed.item] == ["signin", "timeout", "signout"]
    assert [
        i.linkId for g in parsed.item for i in g.item if i.linkId != "timeout.packs"
    ] == link_ids(default_definition())
    packs = next(i for i in parsed.item[1].item if i.linkId == "timeout.packs")
    assert packs.repeats and [c.code for c in packs.code] == ["bloodborne_infection"]


def test_an_imported_definition_with_provenance_also_validates():
    definition = build_definition(
        REGISTER, ["bleeding", "pneumothorax"], [(BLEEDING, ["bleeding"])], title="Leaflet"
    )

    parsed = Questionnaire.model_validate(fhir_resource(definition, published_dt=None))

    assert parsed.title == "Leaflet"


def test_a_published_template_is_active_and_dated():
    resource = fhir_resource(published_dt=PUBLISHED)

    assert resource["status"] == "active"
    assert Questionnaire.model_validate(resource).date == PUBLISHED


def test_an_unpublished_template_is_a_draft_without_a_date():
    resource = fhir_resource(published_dt=None)

    assert resource["status"] == "draft"
    assert "date" not in resource


def test_every_item_is_coded_with_its_risk_kinds():
    resource = fhir_resource()
    definition = items_by_id(default_definition())

    for item in fhir_items(resource):
        assert item["type"] != "group"
        assert item["code"], item["linkId"]
        assert all(coding["system"] == "urn:needlesafe:risk" for coding in item["code"])
        assert [c["code"] for c in item["code"]] == definition[item["linkId"]]["risks"]


def test_the_four_guidance_risks_appear_as_codes():
    codes = {coding["code"] for item in fhir_items(fhir_resource()) for coding in item["code"]}

    assert set(GUIDANCE_KINDS) <= codes


def test_risk_codings_carry_the_kind_titles():
    items = {item["linkId"]: item for item in fhir_items(fhir_resource())}

    coding = next(c for c in items["signout.bleeding"]["code"] if c["code"] == "bleeding")

    assert coding["display"] == "Bleeding at the needle sites"


def test_the_bleeding_precaution_is_enabled_by_an_anticoagulant_yes():
    items = {item["linkId"]: item for item in fhir_items(fhir_resource())}

    assert items["signin.bleeding_precaution"]["enableWhen"] == [
        {"question": "signin.anticoagulant", "operator": "=", "answerBoolean": True}
    ]


def test_the_high_risk_precaution_is_enabled_by_either_high_risk_region():
    items = {item["linkId"]: item for item in fhir_items(fhir_resource())}
    precaution = items["signin.high_risk_precaution"]

    assert precaution["enableBehavior"] == "any"
    assert {c["answerCoding"]["code"] for c in precaution["enableWhen"]} == {"thorax", "neck"}
    assert {c["question"] for c in precaution["enableWhen"]} == {"signin.regions"}


def test_every_enable_when_points_to_an_earlier_item():
    seen: set[str] = set()

    for item in fhir_items(fhir_resource()):
        for condition in item.get("enableWhen", ()):
            assert condition["question"] in seen, item["linkId"]
        seen.add(item["linkId"])


def test_the_regions_question_repeats_and_single_choices_do_not():
    items = {item["linkId"]: item for item in fhir_items(fhir_resource())}

    assert items["signin.regions"]["type"] == "choice"
    assert items["signin.regions"]["repeats"] is True
    assert "repeats" not in items["signout.bleeding"]
    assert [o["valueCoding"]["code"] for o in items["signout.bleeding"]["answerOption"]] == [
        "none",
        "minor",
        "prolonged",
    ]


def test_integer_bounds_and_lengths_are_carried_over():
    items = {item["linkId"]: item for item in fhir_items(fhir_resource())}

    bounds = {
        e["url"].rsplit("/", 1)[1]: e["valueInteger"]
        for e in items["timeout.pain_during"]["extension"]
    }

    assert bounds == {"minValue": 0, "maxValue": 10}
    assert items["timeout.needle_lot"]["maxLength"] == 64


def test_the_count_discrepancy_note_is_not_required_of_fhir_consumers():
    items = {item["linkId"]: item for item in fhir_items(fhir_resource())}

    assert "required" not in items["signout.count_discrepancy"]
    assert items["signout.needles_removed"]["required"] is True
