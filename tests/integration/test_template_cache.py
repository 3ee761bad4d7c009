"""A session's checklist is built once per published version and read without its document.

Every page of a session reads its pinned checklist; building it from the version's JSON, and
sending and decoding that JSON (about 40 KB), cost a tenth of a practitioner's request. These
tests hold what makes the saving safe: a published version's checklist is the one its document
says, the pages' queries leave the document in the database, and a draft (which the editor
changes) is built again from what it says now.
"""

from __future__ import annotations

from sqlalchemy import inspect

from safety.checklists import services
from safety.extensions import db
from safety.risks import services as risks


def test_a_session_page_reads_its_checklist_without_loading_the_version_document(
    make_user, make_patient
):
    practitioner = make_user("practitioner")
    started = services.start_session(practitioner, patient_id=make_patient(practitioner).id)
    db.session.commit()
    first, session_id = services.template_for(started), started.id
    db.session.expunge_all()

    for page in (False, True):
        practitioner = db.session.merge(practitioner)
        session = services.get_session(practitioner, session_id, page=page)
        template = services.template_for(session)
        assert template is first  # built once for this app, not per request
        assert "definition" in inspect(session.template_version).unloaded
        db.session.expunge_all()

    [listed] = services.sessions_for_today(db.session.merge(practitioner))
    assert services.template_for(listed) is first
    assert "definition" in inspect(listed.template_version).unloaded


def test_the_kept_checklist_is_the_one_the_published_document_says(make_user, make_patient):
    practitioner = make_user("practitioner")
    session_id = services.start_session(practitioner, patient_id=make_patient(practitioner).id).id
    db.session.commit()
    db.session.expunge_all()

    session = services.get_session(db.session.merge(practitioner), session_id)
    kept = services.template_for(session)
    version = session.template_version
    assert kept == risks.rules.template_from_definition(version.definition)


def test_a_draft_is_built_again_from_what_it_says_now(make_user):
    admin = make_user("admin")
    definition = risks.default_definition()
    draft = risks.new_version(definition, source_text=None, actor=admin)
    db.session.commit()
    before = risks.typed(draft)

    draft.definition = {**definition, "title": "Dry needling, as edited"}
    db.session.commit()

    assert before.title != "Dry needling, as edited"
    assert risks.typed(draft).title == "Dry needling, as edited"
