"""The template editor's use cases against the database: a copy of the version in use, edits
that keep linkIds and record who changed what, refusals that store nothing, the audit event
of each edit, and what the confirmation before publishing says."""

from __future__ import annotations

import pytest
from factories import CLEAN_PHASES
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.checklists.models import Flag
from safety.errors import Conflict
from safety.extensions import db
from safety.risks import editing, editor
from safety.risks import services as risks
from safety.risks.models import TemplateVersion


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
    )


def stored(template_id: int) -> dict:
    """The definition as the database holds it now."""
    return db.session.get(TemplateVersion, template_id, populate_existing=True).definition


def item(definition: dict, link_id: str) -> dict:
    [found] = [i for _, i in editing.items(definition) if i["linkId"] == link_id]
    return found


@pytest.fixture
def admin(make_user):
    return make_user("admin", name="Alan Admin")


@pytest.fixture
def current(app):
    template = risks.ensure_current_template()
    db.session.commit()
    return template


@pytest.fixture
def draft(current, admin):
    copy = editor.copy_version(current.id, actor=admin)
    db.session.commit()
    return copy


def test_a_copy_of_the_version_in_use_is_a_draft_with_the_same_items(current, admin):
    copy = editor.copy_version(current.id, actor=admin)
    db.session.commit()

    assert not copy.is_published and copy.version == current.version + 1
    assert editing.link_ids(copy.definition) == editing.link_ids(current.definition)
    assert copy.definition["copied_from"] == current.version
    [created] = [e for e in events("template.create") if e.object_id == str(copy.id)]
    assert created.details == {"version": copy.version, "copied_from": current.version}
    assert created.actor_id == admin.id
    assert risks.current_template().id == current.id, "the version in use is unchanged"


def test_a_draft_is_edited_itself_not_copied(draft, admin):
    with pytest.raises(Conflict, match="draft already"):
        editor.copy_version(draft.id, actor=admin)


def test_removing_a_baseline_item_is_refused_and_stores_nothing(draft, admin):
    before, audited = stored(draft.id), count(AuditEvent)

    with pytest.raises(editor.EditError, match="baseline"):
        editor.remove_item(draft.id, "signin.consent", actor=admin)
    db.session.rollback()

    assert stored(draft.id) == before
    assert count(AuditEvent) == audited


def test_removing_an_item_outside_the_baseline_is_stored_and_audited(draft, admin):
    editor.remove_item(draft.id, "signout.pain_during", actor=admin)
    db.session.commit()

    assert "signout.pain_during" not in editing.link_ids(stored(draft.id))
    [event] = events("template.edit")
    assert event.details == {
        "version": draft.version,
        "change": "remove",
        "linkId": "signout.pain_during",
    }
    assert event.actor_id == admin.id and event.object_id == str(draft.id)


def test_rewording_keeps_the_link_id_and_records_the_old_words_who_and_when(draft, admin, current):
    old = item(current.definition, "signout.bleeding")

    editor.reword_item(
        draft.id, "signout.bleeding", "Any bleeding at the needle sites.", actor=admin
    )
    db.session.commit()

    after = item(stored(draft.id), "signout.bleeding")
    assert after["text"] == "Any bleeding at the needle sites."
    assert after["options"] == old["options"] and after["type"] == old["type"]
    [change] = after["changes"]
    assert change["previous"] == old["text"]
    assert (change["by"], change["by_id"], change["action"]) == ("Alan Admin", admin.id, "reword")
    assert change["at"].startswith(str(db.session.get(TemplateVersion, draft.id).created_dt.year))
    [event] = events("template.edit")
    assert event.details["previous"] == old["text"]
    assert event.details["text"] == "Any bleeding at the needle sites."
    assert item(stored(current.id), "signout.bleeding")["text"] == old["text"]


def test_a_published_version_is_never_edited(current, admin):
    with pytest.raises(Conflict, match="Edit a copy"):
        editor.reword_item(current.id, "signout.bleeding", "Changed words.", actor=admin)


def test_an_own_item_never_takes_a_link_id_another_version_used(draft, admin):
    first = editor.add_own_item(
        draft.id, phase_id="signout", text="Couch wiped.", reason="Policy 4.", actor=admin
    )
    risks.publish(draft.id, actor=admin)
    second_draft = editor.copy_version(draft.id, actor=admin)
    editor.remove_item(second_draft.id, first, actor=admin)

    second = editor.add_own_item(
        second_draft.id, phase_id="signout", text="Floor checked.", reason="Policy 5.", actor=admin
    )
    db.session.commit()

    assert (first, second) == (
        f"signout.own_v{draft.version}_1",
        f"signout.own_v{second_draft.version}_1",
    )
    added = item(stored(second_draft.id), second)
    assert added["provenance"] == ["Policy 5."] and added["changes"][0]["reason"] == "Policy 5."


def test_a_refused_own_item_says_which_field_and_stores_nothing(draft, admin):
    before = stored(draft.id)

    with pytest.raises(editor.EditError) as refused:
        editor.add_own_item(draft.id, phase_id="signout", text="ok", reason="Policy.", actor=admin)
    db.session.rollback()

    assert set(refused.value.errors) == {"text"}
    assert stored(draft.id) == before


def test_the_confirmation_names_every_change_every_clinic_and_the_missing_translations(
    draft, admin, make_clinic
):
    make_clinic("Lakeshore Sports Clinic")
    make_clinic("Harbour Physio")
    editor.remove_item(draft.id, "signout.pain_during", actor=admin)
    editor.reword_item(draft.id, "signout.bleeding", "Any bleeding at the sites.", actor=admin)
    editor.move_item(draft.id, "timeout.hand_hygiene", "down", actor=admin)
    own = editor.add_own_item(
        draft.id, phase_id="signin", text="Allergies asked.", reason="Policy.", actor=admin
    )
    db.session.commit()

    preview = editor.publish_preview(draft.id)

    assert preview.clinics == ["Harbour Physio", "Lakeshore Sports Clinic"]
    assert preview.comparison.added == (own,)
    assert preview.comparison.removed == ("signout.pain_during",)
    assert [r[0] for r in preview.comparison.reworded] == ["signout.bleeding"]
    assert "timeout.hand_hygiene" in preview.comparison.moved
    assert preview.texts["signout.pain_during"], "a removed item is named by its words"
    assert {m.link_id for m in preview.untranslated} == {own, "signout.bleeding"}


def test_the_confirmation_is_for_drafts_only(current):
    with pytest.raises(Conflict):
        editor.publish_preview(current.id)


def test_moving_an_item_is_audited_and_a_conditional_item_stays_below_its_question(draft, admin):
    with pytest.raises(editor.EditError, match="must come before it"):
        editor.move_item(draft.id, "signin.bleeding_precaution", "up", actor=admin)
    db.session.rollback()

    editor.move_item(draft.id, "signin.bleeding_precaution", "down", actor=admin)
    db.session.commit()

    [event] = events("template.edit")
    assert event.details["change"] == "move" and event.details["direction"] == "down"


def test_a_session_on_a_published_edit_asks_the_own_check_and_flags_a_no(
    draft, admin, make_clinic, make_user, make_session
):
    own = editor.add_own_item(
        draft.id, phase_id="signout", text="Couch wiped down.", reason="Policy 7.", actor=admin
    )
    editor.remove_item(draft.id, "signout.pain_during", actor=admin)
    risks.publish(draft.id, actor=admin)
    db.session.commit()
    pia = make_user("practitioner", clinic=make_clinic("Harbour Physio"), name="Pia Physio")

    session = make_session(
        pia,
        phases=list(CLEAN_PHASES),
        overrides={own: ["no"], f"{own}.note": ["Wipes ran out."]},
        sign=True,
    )

    assert session.template_version_id == draft.id and session.signed_dt is not None
    [flag] = db.session.scalars(select(Flag).where(Flag.session_id == session.id)).all()
    assert flag.link_id == own and "Couch wiped down." in flag.message


def test_an_imported_draft_gains_a_register_item_it_lacked_with_its_sources(current, admin):
    draft, _ = risks.create_draft_from_text(
        "## Risks\n- Bleeding at the needle sites.\n", actor=admin
    )
    db.session.commit()
    assert "signout.pain_during" not in editing.link_ids(draft.definition)
    view = editor.editor_view(draft.id)
    assert "signout.pain_during" in [link_id for link_id, *_ in view.catalogue]

    editor.add_from_register(draft.id, "signout.pain_during", actor=admin)
    db.session.commit()

    added = item(stored(draft.id), "signout.pain_during")
    assert added["sources"] and added["changes"][0]["action"] == "add"
    [event] = events("template.edit")
    assert event.details == {
        "version": draft.version,
        "change": "add",
        "linkId": "signout.pain_during",
    }
    assert "signout.pain_during" not in [
        link_id for link_id, *_ in editor.editor_view(draft.id).catalogue
    ]
