"""Database triggers keep signed records, phase entries, needle packs, patient responses, audit
events and published templates final.

Every statement here is raw SQL through the session, so neither the ORM nor the services stand
between the statement and the database: what refuses it is the trigger the migration created,
on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from safety.audit.models import AuditEvent
from safety.checklists.models import PhaseEntry
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup.models import FollowUp, PatientResponse
from safety.packs.models import SessionPack
from safety.risks import services as risks

ALL_PHASES = ("signin", "timeout", "signout")


GUARDED_TABLES = (
    "audit_events",
    "phase_entries",
    "patient_responses",
    "treatment_sessions",
    "template_versions",
)


def assert_triggers_in_force() -> None:
    """Fail clearly when a guard is missing or disabled before the test even starts."""
    if db.engine.dialect.name == "postgresql":
        state = dict(
            db.session.execute(
                text(
                    "SELECT tgrelid::regclass::text, tgenabled FROM pg_trigger "
                    "WHERE NOT tgisinternal AND tgname IN ('audit_events_append_only', "
                    "'phase_entries_append_only', 'patient_responses_append_only', "
                    "'treatment_sessions_signed', 'template_versions_published')"
                )
            ).all()
        )
        disabled = {t: s for t, s in state.items() if s != "O"}
        assert set(state) >= set(GUARDED_TABLES), state
        assert not disabled, f"immutability triggers disabled by an earlier test: {disabled}"
    else:
        names = set(
            db.session.scalars(text("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'"))
        )
        assert names >= set(GUARDED_TABLES)


@pytest.fixture
def rows(make_user, make_session) -> dict[str, int]:
    """Ids of one row of each kind: a signed session, entries, a patient's answer, an audit
    event, templates."""
    assert_triggers_in_force()
    practitioner = make_user()
    signed = make_session(practitioner, phases=ALL_PHASES, sign=True)
    unsigned = make_session(practitioner, phases=("signin",))
    signed_entry = db.session.scalar(
        db.select(PhaseEntry.id).where(
            PhaseEntry.session_id == signed.id, PhaseEntry.phase == "timeout"
        )
    )
    unsigned_entry = db.session.scalar(
        db.select(PhaseEntry.id).where(PhaseEntry.session_id == unsigned.id)
    )
    audit_event = db.session.scalar(db.select(AuditEvent.id).order_by(AuditEvent.seq).limit(1))
    followup = db.session.scalars(
        db.select(FollowUp).where(FollowUp.session_id == signed.id).limit(1)
    ).one()
    response = PatientResponse(
        followup_id=followup.id,
        session_id=signed.id,
        answers={"soreness": 3, "trend": "better", "signs": [], "chest": "no"},
        escalation="none",
        created_dt=utcnow(),
    )
    db.session.add(response)
    db.session.commit()
    pack = db.session.scalar(db.select(SessionPack.id).where(SessionPack.session_id == signed.id))
    superseded = make_session(practitioner, phases=ALL_PHASES)
    superseded_pack = db.session.scalar(
        db.select(SessionPack.id).where(SessionPack.session_id == superseded.id)
    )
    db.session.execute(
        text("UPDATE session_packs SET superseded = :yes WHERE id = :id"),
        {"yes": True, "id": superseded_pack},
    )
    db.session.commit()
    assert signed_entry and unsigned_entry and audit_event and pack and superseded_pack
    return {
        "signed_session": signed.id,
        "unsigned_session": unsigned.id,
        "signed_entry": signed_entry,
        "unsigned_entry": unsigned_entry,
        "audit_event": audit_event,
        "patient_response": response.id,
        "published_template": signed.template_version_id,
        "pack": pack,
        "superseded_pack": superseded_pack,
    }


def snapshot(table: str, row_id: int) -> dict[str, Any] | None:
    row = db.session.execute(
        text(f"SELECT * FROM {table} WHERE id = :id"), {"id": row_id}
    ).mappings()
    found = row.one_or_none()
    return dict(found) if found is not None else None


def assert_refused(statement: str, row_id: int) -> None:
    parameters = {"id": row_id}
    parameters.update({k: k == "yes" for k in ("yes", "no") if f":{k}" in statement})
    with pytest.raises(DatabaseError, match="immutable"):
        db.session.execute(text(statement), parameters)
    db.session.rollback()


REFUSED = [
    pytest.param(
        "treatment_sessions",
        "signed_session",
        "UPDATE treatment_sessions SET needle_lot = 'FORGED-LOT' WHERE id = :id",
        id="signed-session-needle-lot",
    ),
    pytest.param(
        "treatment_sessions",
        "signed_session",
        "UPDATE treatment_sessions SET content_hash = 'f00d' WHERE id = :id",
        id="signed-session-content-hash",
    ),
    pytest.param(
        "treatment_sessions",
        "signed_session",
        "UPDATE treatment_sessions SET answers = '{}' WHERE id = :id",
        id="signed-session-answers",
    ),
    pytest.param(
        "treatment_sessions",
        "signed_session",
        "UPDATE treatment_sessions SET signed_dt = NULL, signed_by_id = NULL, "
        "content_hash = NULL WHERE id = :id",
        id="signed-session-unsign",
    ),
    pytest.param(
        "treatment_sessions",
        "signed_session",
        "DELETE FROM treatment_sessions WHERE id = :id",
        id="signed-session-delete",
    ),
    pytest.param(
        "phase_entries",
        "signed_entry",
        "UPDATE phase_entries SET answers = '{}' WHERE id = :id",
        id="signed-session-entry-update",
    ),
    pytest.param(
        "phase_entries",
        "signed_entry",
        "DELETE FROM phase_entries WHERE id = :id",
        id="signed-session-entry-delete",
    ),
    pytest.param(
        "phase_entries",
        "unsigned_entry",
        "UPDATE phase_entries SET submitted_dt = started_dt "
        "FROM treatment_sessions WHERE phase_entries.id = :id "
        "AND treatment_sessions.id = phase_entries.session_id",
        id="unsigned-session-entry-backdate",
    ),
    pytest.param(
        "phase_entries",
        "unsigned_entry",
        "DELETE FROM phase_entries WHERE id = :id",
        id="unsigned-session-entry-delete",
    ),
    pytest.param(
        "patient_responses",
        "patient_response",
        "UPDATE patient_responses SET escalation = 'emergency' WHERE id = :id",
        id="patient-response-escalation",
    ),
    pytest.param(
        "patient_responses",
        "patient_response",
        "UPDATE patient_responses SET answers = '{}' WHERE id = :id",
        id="patient-response-answers",
    ),
    pytest.param(
        "patient_responses",
        "patient_response",
        "DELETE FROM patient_responses WHERE id = :id",
        id="patient-response-delete",
    ),
    pytest.param(
        "audit_events",
        "audit_event",
        "UPDATE audit_events SET action = 'session.view' WHERE id = :id",
        id="audit-event-update",
    ),
    pytest.param(
        "audit_events",
        "audit_event",
        "DELETE FROM audit_events WHERE id = :id",
        id="audit-event-delete",
    ),
    pytest.param(
        "template_versions",
        "published_template",
        "UPDATE template_versions SET definition = '{}' WHERE id = :id",
        id="published-template-definition",
    ),
    pytest.param(
        "template_versions",
        "published_template",
        "UPDATE template_versions SET published_dt = NULL WHERE id = :id",
        id="published-template-unpublish",
    ),
    pytest.param(
        "template_versions",
        "published_template",
        "DELETE FROM template_versions WHERE id = :id",
        id="published-template-delete",
    ),
    pytest.param(
        "session_packs",
        "pack",
        "UPDATE session_packs SET lot_key = 'FORGED-LOT' WHERE id = :id",
        id="pack-lot-key",
    ),
    pytest.param(
        "session_packs",
        "pack",
        "DELETE FROM session_packs WHERE id = :id",
        id="pack-delete",
    ),
    # The one change a pack may have is being marked superseded (0013), and nothing beside it.
    pytest.param(
        "session_packs",
        "pack",
        "UPDATE session_packs SET superseded = :yes, lot_key = 'FORGED-LOT' WHERE id = :id",
        id="pack-superseded-and-re-keyed",
    ),
    pytest.param(
        "session_packs",
        "pack",
        "UPDATE session_packs SET superseded = :yes, session_id = session_id + 1 WHERE id = :id",
        id="pack-superseded-and-moved",
    ),
    pytest.param(
        "session_packs",
        "superseded_pack",
        "UPDATE session_packs SET superseded = :no WHERE id = :id",
        id="pack-un-superseded",
    ),
]


@pytest.mark.parametrize(("table", "row", "statement"), REFUSED)
def test_the_database_refuses_to_change_a_final_row(rows, table, row, statement):
    before = snapshot(table, rows[row])
    assert before is not None

    assert_refused(statement, rows[row])

    assert snapshot(table, rows[row]) == before


def test_deleting_the_whole_audit_trail_is_refused(rows):
    count = db.session.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
    assert count > 0

    with pytest.raises(DatabaseError, match="immutable"):
        db.session.execute(text("DELETE FROM audit_events"))
    db.session.rollback()

    assert db.session.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == count


def test_a_current_pack_can_be_marked_superseded_once_and_nothing_else(rows):
    # What a resubmitted Time out does to the packs it replaces (migration 0013).
    before = snapshot("session_packs", rows["pack"])
    db.session.execute(
        text("UPDATE session_packs SET superseded = :yes WHERE id = :id"),
        {"yes": True, "id": rows["pack"]},
    )
    db.session.commit()

    after = snapshot("session_packs", rows["pack"])
    assert bool(after.pop("superseded")) and not before.pop("superseded")
    assert after == before
    assert_refused("UPDATE session_packs SET superseded = :yes WHERE id = :id", rows["pack"])


def test_an_unsigned_session_can_still_be_updated(rows):
    db.session.execute(
        text("UPDATE treatment_sessions SET needle_lot = 'LOT-NEW' WHERE id = :id"),
        {"id": rows["unsigned_session"]},
    )
    db.session.commit()

    assert snapshot("treatment_sessions", rows["unsigned_session"])["needle_lot"] == "LOT-NEW"


def test_a_draft_template_can_still_be_edited_until_it_is_published(rows):
    draft, _ = risks.create_draft_from_text("Risks\n- Bleeding at the sites.", actor=None)
    db.session.commit()

    db.session.execute(
        text("UPDATE template_versions SET title = 'Reviewed draft' WHERE id = :id"),
        {"id": draft.id},
    )
    db.session.commit()

    assert snapshot("template_versions", draft.id)["title"] == "Reviewed draft"


def test_a_change_to_a_signed_session_through_the_orm_is_refused_on_flush(rows):
    from safety.checklists.models import TreatmentSession

    session = db.session.get(TreatmentSession, rows["signed_session"])
    before = snapshot("treatment_sessions", session.id)
    session.needle_lot = "FORGED-LOT"

    with pytest.raises(DatabaseError, match="immutable"):
        db.session.flush()
    db.session.rollback()

    assert snapshot("treatment_sessions", rows["signed_session"]) == before
