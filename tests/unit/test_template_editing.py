"""The template editor's pure rules: what an administrator may change in a draft, and what a
draft changes against the version in use. No app, no database."""

from __future__ import annotations

import copy

import pytest

from safety.admin.rules import describe_event
from safety.risks import editing
from safety.risks.rules import build_definition, load_register, template_from_definition

REGISTER = load_register()
REGISTERS = (load_register(1), REGISTER)
CHANGE = editing.Change("edit", "Alan Admin", 7, "2026-12-06T10:00:00+00:00")


def default() -> dict:
    return build_definition(REGISTER, REGISTER.default_kinds)


def only_bleeding() -> dict:
    """An imported draft that named bleeding only: pain and bruising are not in it."""
    return build_definition(REGISTER, ["bleeding"])


def phase_ids(definition: dict, phase: str) -> list[str]:
    [found] = [p for p in definition["phases"] if p["id"] == phase]
    return [i["linkId"] for i in found["items"]]


def item(definition: dict, link_id: str) -> dict:
    [found] = [i for _, i in editing.items(definition) if i["linkId"] == link_id]
    return found


def protected(definition: dict) -> dict[str, str]:
    return editing.protected_items(definition, REGISTERS)


# --- what cannot be removed ----------------------------------------------------------------


@pytest.mark.parametrize(
    "link_id",
    [
        "signin.consent",
        "timeout.needle_lot",
        "timeout.needle_expiry",
        "signout.needles_used",
        "signout.needles_removed",
        "signout.needles_disposed",
        "signout.followup",
    ],
)
def test_removing_a_baseline_item_is_refused_with_the_reason(link_id):
    definition = default()

    with pytest.raises(editing.EditRefused) as refused:
        editing.remove_item(definition, link_id, protected(definition))

    assert "baseline" in refused.value.message or "count" in refused.value.message
    assert link_id in editing.link_ids(definition)


def test_an_item_signing_compares_or_another_item_depends_on_is_protected_outside_the_baseline():
    definition = default()
    signout = next(p for p in definition["phases"] if p["id"] == "signout")
    # A template whose register no longer marks the counts and consent as baseline keeps them.
    found = editing.protected_items(definition, ())

    assert found["signout.needles_removed"] == "counts"
    assert found["signout.needles_used"] == "counts"
    assert found["signin.consent"] == "stop"
    assert found["signin.anticoagulant"] == "depends"
    assert found["signout.bruising"] == "flags"  # a large bruise is a flag a person reads
    assert "signout.pain_during" not in found
    assert signout["items"]


def test_a_register_check_that_raises_a_flag_cannot_be_removed_but_an_own_check_can():
    definition = default()

    with pytest.raises(editing.EditRefused, match="how the clinic hears of that event"):
        editing.remove_item(definition, "signout.bruising", protected(definition))

    definition, own = editing.add_own_item(
        definition,
        phase_id="signout",
        version=2,
        text="Couch wiped down.",
        reason="Clinic policy.",
        taken=(),
        change=CHANGE,
    )
    edited = editing.remove_item(definition, own, protected(definition))
    assert own not in editing.link_ids(edited)


def test_a_register_item_outside_the_baseline_can_be_removed():
    definition = default()

    edited = editing.remove_item(definition, "signout.pain_during", protected(definition))

    assert "signout.pain_during" not in editing.link_ids(edited)
    assert "signout.pain_during" in editing.link_ids(definition), "the definition given is kept"
    editing.check(edited)


def test_a_phase_cannot_be_left_empty():
    definition = default()
    definition["phases"][0]["items"] = []

    with pytest.raises(editing.EditRefused, match="no item left"):
        editing.check(definition)


def test_two_items_with_one_link_id_are_refused():
    definition = default()
    twin = copy.deepcopy(definition["phases"][0]["items"][0])
    definition["phases"][1]["items"].append(twin)

    with pytest.raises(editing.EditRefused, match="same linkId"):
        editing.check(definition)


# --- rewording -----------------------------------------------------------------------------


def test_rewording_keeps_the_link_id_and_the_answer_codes_and_records_the_old_words():
    definition = default()
    before = item(definition, "signout.bleeding")

    edited = editing.reword_item(
        definition, "signout.bleeding", "  Bleeding at the needle   sites, if any. ", CHANGE
    )

    after = item(edited, "signout.bleeding")
    assert after["text"] == "Bleeding at the needle sites, if any."
    assert after["options"] == before["options"] and after["type"] == before["type"]
    assert after["changes"] == [
        {
            "action": "edit",
            "by": "Alan Admin",
            "by_id": 7,
            "at": "2026-12-06T10:00:00+00:00",
            "previous": before["text"],
            "text": "Bleeding at the needle sites, if any.",
        }
    ]
    assert item(definition, "signout.bleeding")["text"] == before["text"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least 3"),
        ("ok", "at least 3"),
        ("x" * 301, "at most 300"),
        ("Tab\x00here", "cannot be saved"),
    ],
)
def test_words_outside_the_limits_are_refused(text, message):
    with pytest.raises(editing.EditRefused, match=message) as refused:
        editing.reword_item(default(), "signout.bleeding", text, CHANGE)

    assert refused.value.field == "text"


def test_three_and_three_hundred_characters_are_accepted():
    for text in ("Yes", "y" * 300):
        edited = editing.reword_item(default(), "signout.bleeding", text, CHANGE)
        assert item(edited, "signout.bleeding")["text"] == text


def test_rewording_an_item_that_is_not_there_is_refused():
    with pytest.raises(editing.EditRefused, match="not in the draft"):
        editing.reword_item(default(), "signout.nothing", "New words here", CHANGE)


# --- adding --------------------------------------------------------------------------------


def test_the_catalogue_lists_the_register_items_a_draft_lacks():
    assert editing.catalogue(default(), REGISTER) == []
    assert [s["linkId"] for s in editing.catalogue(only_bleeding(), REGISTER)] == [
        "signout.pain_during",
        "signout.bruising",
    ]


def test_a_register_item_goes_where_the_register_puts_it_with_its_sources():
    definition = only_bleeding()

    edited = editing.add_from_register(definition, REGISTER, "signout.bruising", CHANGE)

    order = phase_ids(edited, "signout")
    assert order.index("signout.bruising") == order.index("signout.bleeding") + 1
    added = item(edited, "signout.bruising")
    assert added["sources"] and all("citation" in s for s in added["sources"])
    assert added["changes"][0]["by"] == "Alan Admin"
    editing.check(edited)
    template_from_definition(edited)


def test_adding_an_item_the_draft_has_or_the_register_lacks_is_refused():
    for link_id in ("signout.bleeding", "signout.made_up"):
        with pytest.raises(editing.EditRefused, match="from the list"):
            editing.add_from_register(default(), REGISTER, link_id, CHANGE)


def test_an_own_item_needs_words_a_step_and_a_reason_and_gets_a_fresh_link_id():
    taken = ["signout.own_v5_1", "signout.own_v5_4", "signin.own_v5_9", "signout.own_v3_7"]

    edited, link_id = editing.add_own_item(
        default(),
        phase_id="signout",
        version=5,
        text="Couch wiped with a disinfectant wipe.",
        reason="Clinic infection-control policy, section 4.",
        taken=taken,
        change=CHANGE,
    )

    assert link_id == "signout.own_v5_5"
    added = item(edited, link_id)
    assert added["type"] == "boolean" and added["expected"] is True and added["required"]
    assert added["why"] == "Clinic infection-control policy, section 4."
    assert "Alan Admin" in added["sources"][0]["citation"]
    assert phase_ids(edited, "signout")[-1] == link_id
    editing.check(edited)
    assert template_from_definition(edited).items_by_id[link_id].text.startswith("Couch")


@pytest.mark.parametrize(
    ("phase", "text", "reason", "field"),
    [
        ("nowhere", "Couch wiped.", "Policy says so.", "phase"),
        ("signout", "", "Policy says so.", "text"),
        ("signout", "Couch wiped.", "", "reason"),
        ("signout", "Couch wiped.", "r" * 301, "reason"),
    ],
)
def test_an_own_item_without_its_step_words_or_reason_is_refused(phase, text, reason, field):
    with pytest.raises(editing.EditRefused) as refused:
        editing.add_own_item(
            default(),
            phase_id=phase,
            version=5,
            text=text,
            reason=reason,
            taken=(),
            change=CHANGE,
        )

    assert refused.value.field == field


def test_a_fresh_link_id_never_repeats_one_in_the_draft_itself():
    definition = default()
    definition["phases"][0]["items"].append({**definition["phases"][0]["items"][0]})
    definition["phases"][0]["items"][-1]["linkId"] = "signin.own_v4_2"

    assert editing.fresh_link_id("signin", 4, editing.link_ids(definition)) == "signin.own_v4_3"
    assert editing.fresh_link_id("signin", 5, editing.link_ids(definition)) == "signin.own_v5_1"


def test_a_step_holds_at_most_thirty_items():
    definition = default()
    for n in range(30 - len(phase_ids(definition, "timeout"))):
        definition, _ = editing.add_own_item(
            definition,
            phase_id="timeout",
            version=2,
            text=f"Check number {n}.",
            reason="Policy.",
            taken=(),
            change=CHANGE,
        )
    editing.check(definition)
    definition, _ = editing.add_own_item(
        definition,
        phase_id="timeout",
        version=2,
        text="One too many.",
        reason="Policy.",
        taken=(),
        change=CHANGE,
    )

    with pytest.raises(editing.EditRefused, match="at most 30 items"):
        editing.check(definition)


# --- moving --------------------------------------------------------------------------------


def test_moving_swaps_an_item_with_its_neighbour_within_its_step():
    definition = default()
    order = phase_ids(definition, "timeout")

    down = editing.move_item(definition, order[0], "down")
    up = editing.move_item(down, order[0], "up")

    assert phase_ids(down, "timeout")[:2] == [order[1], order[0]]
    assert phase_ids(up, "timeout") == order


def test_moving_past_the_ends_of_a_step_is_refused():
    definition = default()
    order = phase_ids(definition, "timeout")

    with pytest.raises(editing.EditRefused, match="first"):
        editing.move_item(definition, order[0], "up")
    with pytest.raises(editing.EditRefused, match="last"):
        editing.move_item(definition, order[-1], "down")
    with pytest.raises(editing.EditRefused):
        editing.move_item(definition, order[1], "sideways")


def test_a_conditional_item_cannot_move_above_the_question_it_follows():
    definition = default()
    # The bleeding precaution is asked after the anticoagulant question, just above it.
    moved = editing.move_item(definition, "signin.bleeding_precaution", "up")

    with pytest.raises(editing.EditRefused, match="must come before it"):
        editing.check(moved)


# --- comparing -----------------------------------------------------------------------------


def test_a_comparison_names_what_is_added_removed_reworded_and_moved():
    current = default()
    draft = editing.remove_item(current, "signout.pain_during", protected(current))
    draft = editing.reword_item(draft, "signout.bleeding", "Any bleeding at the sites.", CHANGE)
    draft = editing.move_item(draft, "timeout.hand_hygiene", "down")
    draft, own = editing.add_own_item(
        draft,
        phase_id="signin",
        version=2,
        text="Allergy checked.",
        reason="Policy.",
        taken=(),
        change=CHANGE,
    )

    found = editing.compare(current, draft)

    assert found.added == (own,)
    assert found.removed == ("signout.pain_during",)
    assert found.reworded == (
        (
            "signout.bleeding",
            item(current, "signout.bleeding")["text"],
            "Any bleeding at the sites.",
        ),
    )
    assert set(found.moved) == {"timeout.hand_hygiene", "timeout.needle_lot"}


def test_a_copy_compares_as_no_change():
    assert editing.compare(default(), default()).is_empty


def test_the_activity_log_says_what_an_edit_did_to_which_item():
    assert describe_event(
        "template.edit", {"version": 3, "change": "reword", "linkId": "signout.bleeding"}
    ) == ("Draft template edited: version 3, reworded signout.bleeding")
    assert describe_event("template.create", {"version": 3, "copied_from": 2}) == (
        "Draft template created: version 3, a copy of 2"
    )


def test_a_check_whose_answer_drives_a_rule_keeps_its_words():
    definition = default()

    fixed = (
        "signin.consent",
        "signout.needles_used",
        "signout.fit_to_leave",
        "signin.anticoagulant",
    )
    for link_id in fixed:
        with pytest.raises(editing.EditRefused, match="its words cannot change"):
            editing.reword_item(definition, link_id, "The opposite question.", CHANGE)
    # A kept check that only raises a flag may still be said more clearly.
    edited = editing.reword_item(definition, "signout.bleeding", "Any bleeding.", CHANGE)
    assert item(edited, "signout.bleeding")["text"] == "Any bleeding."
    # A list a precaution reads keeps its meaning in its options.
    edited = editing.reword_item(definition, "signin.regions", "Where needles go.", CHANGE)
    assert item(edited, "signin.regions")["text"] == "Where needles go."
