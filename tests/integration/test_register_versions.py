"""Register versions reach installations that run: a newer register is published over the
template of an older one (`flask risks publish-default`, `publish_default`)."""

from __future__ import annotations

import pytest
from conftest import login, post_form

from safety.errors import Conflict
from safety.extensions import db
from safety.risks import editor
from safety.risks import rules as risk_rules
from safety.risks import services as risks


def editor_page(app, admin, current) -> str:
    """The template editor as an administrator opens it on a copy of `current`."""
    draft_id = editor.copy_version(current.id, actor=None).id
    db.session.commit()
    client = app.test_client()
    assert login(client, admin).status_code == 302
    page = client.get(f"/admin/templates/{draft_id}/edit")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_an_installation_on_register_version_2_gets_version_3_with_its_stops_and_count(app):
    """The stops at "No" to authorisation and to sterile packs, and "no more used than
    opened", came as register version 3: written into version 2 in place, they would have
    reached only a new installation, since one already on version 2 was up to date."""
    risks.publish_default(via="test", register_version=2)
    db.session.commit()
    old = risk_rules.template_from_definition(risks.current_template().definition)
    assert old.items_by_id["timeout.needles_sterile"].stop is None

    current, published = risks.publish_default(via="test", register_version=3)

    assert published and current.definition["register_version"] == 3
    new = risk_rules.template_from_definition(current.definition)
    assert new.items_by_id["signin.authorised"].stop is not None
    assert new.items_by_id["timeout.needles_sterile"].stop is not None
    assert len(new.count_checks) == len(old.count_checks) + 1
    assert risks.publish_default(via="test", register_version=3)[1] is False  # up to date


def test_an_edited_version_2_template_is_carried_forward_with_the_clinics_own_items(app):
    """Rebuilt from the register, the clinic's own check and its rewording were dropped when
    an operator ran publish-default after upgrading, as README says to."""
    published, _ = risks.publish_default(via="test", register_version=2)
    draft = editor.copy_version(published.id, actor=None)
    own = editor.add_own_item(
        draft.id, phase_id="timeout", text="Couch paper changed.", reason="Clinic rule", actor=None
    )
    editor.reword_item(draft.id, "signin.identity", "Name and date of birth checked.", actor=None)
    risks.publish(draft.id, actor=None)
    db.session.commit()

    current, published_now = risks.publish_default(via="test", register_version=3)

    assert published_now and current.definition["register_version"] == 3
    carried = risk_rules.template_from_definition(current.definition)
    assert own in carried.items_by_id
    assert carried.items_by_id["signin.identity"].text == "Name and date of birth checked."
    assert carried.items_by_id["timeout.needles_sterile"].stop is not None
    assert carried.items_by_id["signin.authorised"].stop is not None
    assert len(carried.count_checks) == 3
    # Each stop added says so in the item's history, beside the clinic's own rewording.
    items = {i["linkId"]: i for p in current.definition["phases"] for i in p["items"]}
    assert [c["action"] for c in items["timeout.needles_sterile"]["changes"]][-1] == "stop"
    assert [c["action"] for c in items["signin.identity"]["changes"]] == ["reword"]


def test_a_draft_begun_before_the_upgrade_is_published_with_the_upgrades_rules(app):
    """A copy of version 2 begun before publish-default brought version 3, then published:
    it once brought version 2's rules back (no stop at a pack not sterile)."""
    published, _ = risks.publish_default(via="test", register_version=2)
    draft = editor.copy_version(published.id, actor=None)
    own = editor.add_own_item(
        draft.id, phase_id="timeout", text="Couch paper changed.", reason="Clinic rule", actor=None
    )
    risks.publish_default(via="test", register_version=3)  # the upgrade: version 3 is current
    db.session.commit()

    preview = editor.publish_preview(draft.id)
    assert preview.template.items_by_id["timeout.needles_sterile"].stop is not None
    live = editor.publish_as_seen(draft.id, preview.fingerprint, actor=None)
    db.session.commit()

    assert live.definition["register_version"] == 3
    current = risk_rules.template_from_definition(risks.current_template().definition)
    assert own in current.items_by_id
    assert current.items_by_id["timeout.needles_sterile"].stop is not None
    assert len(current.count_checks) == 3


def test_the_editor_shows_why_a_carried_item_now_stops(app, make_user):
    risks.publish_default(via="test", register_version=2)
    current, _ = risks.publish_default(via="test")

    page = editor_page(app, make_user("admin"), current)

    assert "now stops the session at its unsafe answer" in page


def test_a_clinic_on_version_3_gets_version_4_where_a_broken_needle_is_a_critical_flag(app):
    """A needle not intact on removal was a deviation like any other (high, no incident
    offered): a fragment may be left in the patient, and the device may need reporting (a
    clinical review). The clinic's own rewording and items are kept."""
    from safety.checklists import rules as checklist_rules
    from safety.incidents.rules import incident_from_flag

    published, _ = risks.publish_default(via="test", register_version=3)
    draft = editor.copy_version(published.id, actor=None)
    editor.reword_item(draft.id, "signin.identity", "Name and date of birth checked.", actor=None)
    risks.publish(draft.id, actor=None)
    db.session.commit()
    before = risk_rules.template_from_definition(risks.current_template().definition)
    [deviation] = checklist_rules.flags_for(before, {"signout.needles_intact": False})
    assert (deviation.kind, deviation.severity) == ("deviation", "high")

    current, published_now = risks.publish_default(via="test", register_version=4)

    assert published_now and current.definition["register_version"] == 4
    after = risk_rules.template_from_definition(current.definition)
    assert after.items_by_id["signin.identity"].text == "Name and date of birth checked."
    [broken] = checklist_rules.flags_for(after, {"signout.needles_intact": False})
    assert (broken.kind, broken.severity) == ("broken_needle", "critical")
    assert incident_from_flag(broken.kind, broken.message)["event_type"] == (
        "retained_or_broken_needle"
    )
    items = {i["linkId"]: i for p in current.definition["phases"] for i in p["items"]}
    assert items["signout.needles_intact"]["changes"][-1]["action"] == "flag"
    assert risks.publish_default(via="test", register_version=4)[1] is False  # up to date now


#: What version 5 stops at, at Sign in: (linkId, the stopping answer).
STOPS_BEFORE_NEEDLING = [("signin.identity", False), ("signin.skin_ok", False)]
PLAIN_SKIN = "The skin at the planned needle sites is intact, with no sign of infection."


def test_a_clinic_on_version_4_gets_version_5_with_stops_before_needling_and_plain_words(app):
    """Patient or sites not confirmed and infected or broken skin were deviations read at
    signing, after the needling they should have prevented (a clinical review): now each stops
    the session at Sign in. The register's double
    negatives ("No infection or broken skin" answered "Yes") take plain words where the clinic
    kept the register's; words the clinic chose stay."""
    from safety.checklists import rules as checklist_rules

    published, _ = risks.publish_default(via="test", register_version=4)
    draft = editor.copy_version(published.id, actor=None)
    ours = "Sharps straight into the bin, below its line."
    editor.reword_item(draft.id, "signout.sharps_safe", ours, actor=None)
    risks.publish(draft.id, actor=None)
    db.session.commit()
    before = risk_rules.template_from_definition(risks.current_template().definition)
    assert all(before.items_by_id[link_id].stop is None for link_id, _ in STOPS_BEFORE_NEEDLING)

    current, published_now = risks.publish_default(via="test", register_version=5)

    assert published_now and current.definition["register_version"] == 5
    after = risk_rules.template_from_definition(current.definition)
    for link_id, answer in STOPS_BEFORE_NEEDLING:
        assert after.items_by_id[link_id].stop.answer == answer
        assert checklist_rules.stopped_by(after, {link_id: answer}).link_id == link_id
    assert after.items_by_id["signin.skin_ok"].text == PLAIN_SKIN
    assert after.items_by_id["signout.sharps_safe"].text == ours
    items = {i["linkId"]: i for p in current.definition["phases"] for i in p["items"]}
    reworded, stopped = items["signin.skin_ok"]["changes"][-2:]
    assert (reworded["action"], reworded["by"], reworded["register_version"]) == (
        "reword",
        "NeedleSafe",
        5,
    )
    assert reworded["previous"] == "No infection or broken skin at the planned needle sites."
    assert stopped["action"] == "stop"
    assert [c["action"] for c in items["signout.sharps_safe"]["changes"]] == ["reword"]
    assert risks.publish_default(via="test", register_version=5)[1] is False  # up to date now


def test_the_editor_says_the_register_reworded_an_item_and_what_it_said(app, make_user):
    risks.publish_default(via="test", register_version=4)
    current, _ = risks.publish_default(via="test")

    page = editor_page(app, make_user("admin"), current)

    assert "reworded; it said “No infection or broken skin at the planned needle sites.”" in page


def test_the_editor_says_why_a_carried_item_now_raises_its_own_flag(app, make_user):
    published, _ = risks.publish_default(via="test", register_version=3)
    edited = editor.copy_version(published.id, actor=None)
    editor.reword_item(edited.id, "signin.identity", "Name and date of birth checked.", actor=None)
    risks.publish(edited.id, actor=None)
    current, _ = risks.publish_default(via="test")  # carried forward: the clinic's edit kept

    page = editor_page(app, make_user("admin"), current)

    assert "its unsafe answer now raises a flag of its own, critical" in page


def test_words_a_clinic_set_back_to_the_registers_stay_the_clinics(app):
    """A clinic that reworded an item and later set it back chose those words: carried to
    version 5, they are not reworded under the clinic's own later change."""
    published, _ = risks.publish_default(via="test", register_version=4)
    draft = editor.copy_version(published.id, actor=None)
    old_words = "No infection or broken skin at the planned needle sites."
    editor.reword_item(draft.id, "signin.skin_ok", "Skin fine.", actor=None)
    editor.reword_item(draft.id, "signin.skin_ok", old_words, actor=None)
    risks.publish(draft.id, actor=None)
    db.session.commit()

    current, _ = risks.publish_default(via="test")

    items = {i["linkId"]: i for p in current.definition["phases"] for i in p["items"]}
    assert items["signin.skin_ok"]["text"] == old_words
    assert [c["action"] for c in items["signin.skin_ok"]["changes"]] == ["reword", "reword", "stop"]


def test_a_clinic_on_version_3_goes_straight_to_the_current_version_with_every_later_rule(app):
    risks.publish_default(via="test", register_version=3)
    db.session.commit()

    current, published = risks.publish_default(via="test")

    assert published and current.definition["register_version"] == risk_rules.CURRENT_REGISTER
    after = risk_rules.template_from_definition(current.definition)
    assert after.items_by_id["signout.needles_intact"].flag == "critical"  # version 4
    assert after.items_by_id["signin.skin_ok"].stop is not None  # version 5
    assert after.items_by_id["signin.skin_ok"].text == PLAIN_SKIN
    assert after.items_by_id["signout.fit_to_leave"].flag == "critical"  # version 6


def test_a_clinic_on_version_5_gets_version_6_where_not_fit_to_leave_is_a_critical_flag(app):
    """A patient not fit to leave at the end of the session (a faint, breathlessness) was a
    deviation like a skipped tick, read among the others at signing (a clinical review): it is
    a safety event that heads the compliance queue and offers an adverse event report."""
    from safety.checklists import rules as checklist_rules
    from safety.incidents.rules import incident_from_flag

    risks.publish_default(via="test", register_version=5)
    db.session.commit()
    before = risk_rules.template_from_definition(risks.current_template().definition)
    [deviation] = checklist_rules.flags_for(before, {"signout.fit_to_leave": False})
    assert (deviation.kind, deviation.severity) == ("deviation", "high")

    current, published_now = risks.publish_default(via="test")

    assert published_now and current.definition["register_version"] == 6
    after = risk_rules.template_from_definition(current.definition)
    [unfit] = checklist_rules.flags_for(after, {"signout.fit_to_leave": False})
    assert (unfit.kind, unfit.severity) == ("not_fit_to_leave", "critical")
    report = incident_from_flag(unfit.kind, unfit.message)
    assert (report["kind"], report["event_type"]) == ("adverse_event", "other")
    items = {i["linkId"]: i for p in current.definition["phases"] for i in p["items"]}
    assert items["signout.fit_to_leave"]["changes"][-1]["action"] == "flag"
    assert risks.publish_default(via="test")[1] is False  # up to date now


def test_an_item_that_gained_a_stop_in_a_clinics_words_can_take_the_registers_words_only(
    app, make_user
):
    """A clinic that reworded the skin check before version 5 kept its words, a double negative
    among them, with the stop; its words drive a rule now, so the editor refused any rewording,
    the register's plain words too (a clinical review)."""
    published, _ = risks.publish_default(via="test", register_version=4)
    draft = editor.copy_version(published.id, actor=None)
    theirs = "No broken or infected skin where we will needle."
    editor.reword_item(draft.id, "signin.skin_ok", theirs, actor=None)
    risks.publish(draft.id, actor=None)
    current, _ = risks.publish_default(via="test")  # carried forward: their words, the stop
    draft_id = editor.copy_version(current.id, actor=None).id
    db.session.commit()
    client = app.test_client()
    assert login(client, make_user("admin")).status_code == 302

    page = client.get(f"/admin/templates/{draft_id}/edit").get_data(as_text=True)
    assert "its words cannot change, except back to NeedleSafe" in page
    assert f"NeedleSafe says it: “{PLAIN_SKIN}”" in page
    assert "Use NeedleSafe’s words" in page
    with pytest.raises(editor.EditError, match="its words cannot change"):
        editor.reword_item(draft_id, "signin.skin_ok", "Skin checked.", actor=None)

    # The page's button posts the register's words as a rewording.
    used = post_form(
        client,
        f"/admin/templates/{draft_id}/edit/reword",
        {"item": "signin.skin_ok", "text": PLAIN_SKIN},
    )

    assert used.status_code == 302
    edited = risks.get_template(draft_id)
    items = {i["linkId"]: i for p in edited.definition["phases"] for i in p["items"]}
    assert items["signin.skin_ok"]["text"] == PLAIN_SKIN
    assert items["signin.skin_ok"]["changes"][-1]["previous"] == theirs
    # The register's words, as the register gives them: a later register rewords them again.
    assert items["signin.skin_ok"]["changes"][-1]["register_version"] == risk_rules.CURRENT_REGISTER
    assert "stop" in items["signin.skin_ok"]
    db.session.commit()
    page = client.get(f"/admin/templates/{draft_id}/edit").get_data(as_text=True)
    assert f"NeedleSafe says it: “{PLAIN_SKIN}”" not in page


def test_a_copy_of_an_older_template_cannot_reword_an_item_it_will_gain_a_stop_for(app):
    """A copy of a version 4 template let its skin check be reworded to the opposite, then
    gained version 5's stop at "No" when published: the session stopped at healthy skin and
    went on at infected skin (a review). The editor judges the copy as it would go live."""
    from safety.checklists import rules as checklist_rules

    old, _ = risks.publish_default(via="test", register_version=4)
    draft_id = editor.copy_version(old.id, actor=None).id
    risks.publish_default(via="test")  # the upgrade: the current register is in use
    db.session.commit()

    with pytest.raises(editor.EditError, match="its words cannot change"):
        editor.reword_item(
            draft_id, "signin.skin_ok", "Infected or broken skin at the sites.", actor=None
        )
    live = editor.publish_as_seen(
        draft_id, editor.publish_preview(draft_id).fingerprint, actor=None
    )
    after = risk_rules.template_from_definition(live.definition)
    assert after.items_by_id["signin.skin_ok"].text == PLAIN_SKIN
    assert checklist_rules.stopped_by(after, {"signin.skin_ok": True}) is None


def test_a_version_built_on_the_first_register_cannot_be_copied_once_a_later_one_is_in_use(app):
    """Nothing carries a version 1 template forward: a published copy of one brought back
    version 1's rules over the version in use (a review)."""
    old, _ = risks.publish_default(via="test", register_version=1)
    old_id = old.id
    risks.publish_default(via="test")
    db.session.commit()

    with pytest.raises(Conflict, match="built on the first checklist register"):
        editor.copy_version(old_id, actor=None)
