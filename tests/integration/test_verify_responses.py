"""`flask audit verify` holds what patients answered to the events that recorded it.

An insider's review changed a patient's "large bruising" to "none", dropped its escalation and
deleted the flag it raised, and verify said intact while the record read "no escalation".
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from followup_helpers import answer, deliver_first_check, deliver_first_checks, signer
from insider import guards_off
from sqlalchemy import select, text, update

from safety.checklists.models import Flag
from safety.extensions import db
from safety.followup.models import PatientResponse
from safety.integrity.verify import verify


@pytest.fixture
def answered(make_session, make_user) -> PatientResponse:
    """A patient's same-day answer (a large bruise), with the flag it raised."""
    session = signer(make_session, make_user())()
    due, token = deliver_first_check(session)
    answer(token, {"bruising": ["large"]}, now=due + timedelta(hours=1))
    return db.session.scalars(select(PatientResponse)).one()


def verified() -> str | None:
    db.session.expire_all()
    return verify().problem


def test_an_untouched_answer_verifies(answered):
    assert verified() is None


def test_an_answer_rewritten_behind_the_applications_back_is_named(answered):
    calm = {**answered.answers, "bruising": "none"}
    with guards_off():
        db.session.execute(
            text("UPDATE patient_responses SET answers = :a WHERE id = :id"),
            {"a": json.dumps(calm), "id": answered.id},
        )

    assert verified() == (
        f"patient answer {answered.id} was altered: what the patient answered is not what "
        f"event {event_id(answered.id)} recorded"
    )


def test_an_escalation_dropped_and_its_flag_deleted_are_named(answered):
    flag_id = db.session.scalars(select(Flag.id)).one()
    with guards_off():
        db.session.execute(
            text("UPDATE patient_responses SET escalation = 'none' WHERE id = :id"),
            {"id": answered.id},
        )
    assert "it is escalated as 'none'" in verified()

    with guards_off():
        db.session.execute(
            text("UPDATE patient_responses SET escalation = 'same_day' WHERE id = :id"),
            {"id": answered.id},
        )
        db.session.execute(text("DELETE FROM outbox WHERE flag_id = :f"), {"f": flag_id})
        db.session.execute(text("DELETE FROM flags WHERE id = :f"), {"f": flag_id})
    assert verified() == f"flag {flag_id}, raised on the audit chain, is missing"


def test_an_answer_deleted_or_added_behind_the_applications_back_is_named(answered):
    answer_id, recorded_by = answered.id, event_id(answered.id)
    with guards_off():
        db.session.execute(
            text("UPDATE flags SET response_id = NULL WHERE response_id = :id"),
            {"id": answer_id},
        )
        db.session.execute(
            text("DELETE FROM patient_responses WHERE id = :id"), {"id": answered.id}
        )
    assert verified() == f"patient answer {answer_id} (audit event id {recorded_by}) is missing"


def event_id(answer_id: int) -> int:
    return db.session.execute(
        text("SELECT id FROM audit_events WHERE action = 'followup.response' AND object_id = :o"),
        {"o": str(answer_id)},
    ).scalar_one()


def test_a_flag_marked_handled_or_resolved_behind_the_applications_back_is_named(answered):
    """An insider's review wrote "Acknowledged by ... What was done: Called patient" on a flag
    nobody had touched; the record page showed it."""
    flag_id = db.session.scalars(select(Flag.id)).one()
    db.session.execute(
        text(
            "UPDATE flags SET status = 'resolved', acknowledged_dt = created_dt, "
            "resolved_dt = created_dt, resolution_note = 'Called patient.' WHERE id = :f"
        ),
        {"f": flag_id},
    )
    db.session.commit()

    assert verified() == f"flag {flag_id} is marked acknowledged with no event on the audit chain"


def test_a_flag_escalated_handled_and_resolved_through_the_application_verifies(
    answered, make_user
):
    from safety.followup import escalations
    from safety.review import flags

    flag = db.session.scalars(select(Flag)).one()
    escalations.escalate_unacknowledged(now=flag.created_dt + timedelta(days=7))
    escalations.record_handling(flag.session.practitioner, flag.id, action="called", note="Ok.")
    flags.resolve_flag(make_user("compliance"), flag.id, "Seen in clinic.")
    db.session.commit()

    assert db.session.get(Flag, flag.id).escalated_dt is not None
    assert verified() is None


def test_a_flags_handling_moved_in_time_is_named(answered):
    """An insider moves "the practitioner called" to before the answer went to the duty
    address, so the record reads as if the escalation was never needed."""
    from safety.followup import escalations

    flag = db.session.scalars(select(Flag)).one()
    escalations.escalate_unacknowledged(now=flag.created_dt + timedelta(days=7))
    called = flag.created_dt + timedelta(days=8)
    escalations.record_handling(
        flag.session.practitioner, flag.id, action="called", note="", now=called
    )
    db.session.commit()
    assert verified() is None

    handled_early = flag.created_dt + timedelta(minutes=5)
    db.session.execute(update(Flag).where(Flag.id == flag.id).values(handled_dt=handled_early))
    db.session.commit()

    assert verified() == (
        f"flag {flag.id} is marked handled at a time no event on the audit chain has"
    )


def test_an_open_answer_made_to_read_acknowledged_or_of_a_milder_kind_is_named(answered):
    """Either change stops the answer's escalation to the duty address."""
    flag_id = db.session.scalars(select(Flag.id)).one()
    db.session.execute(
        text("UPDATE flags SET status = 'acknowledged' WHERE id = :f"), {"f": flag_id}
    )
    db.session.commit()
    assert verified() == f"flag {flag_id} is acknowledged with no event on the audit chain"

    db.session.execute(
        text("UPDATE flags SET status = 'open', kind = 'review' WHERE id = :f"), {"f": flag_id}
    )
    db.session.commit()
    assert verified() == f"flag {flag_id} is not of the kind its flag.raise event recorded"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("severity = 'low'", "is not of the severity"),
        ("session_id = :other", "is not on the session"),
    ],
)
def test_an_answers_flag_moved_to_another_record_or_made_milder_is_named(
    answered, make_session, make_user, change, said
):
    """A code review moved a patient's flag onto another practitioner's session, where the
    treating practitioner never sees it, and verify said intact."""
    other = make_session(make_user()).id
    flag_id = db.session.scalars(select(Flag.id)).one()
    db.session.execute(
        text(f"UPDATE flags SET {change} WHERE id = :f"), {"f": flag_id, "other": other}
    )
    db.session.commit()

    assert verified() == f"flag {flag_id} {said} its flag.raise event recorded"


def test_an_answer_moved_to_another_patients_record_is_named(answered, make_session, make_user):
    """The record pages and the export find an answer by its session, which its event did not
    sign: a large bruise moved onto another patient's record read intact (an insider's
    review)."""
    other = make_session(make_user()).id
    with guards_off():
        db.session.execute(
            update(PatientResponse)
            .where(PatientResponse.id == answered.id)
            .values(session_id=other)
        )

    assert verified() == (
        f"patient answer {answered.id} is on another record than the follow-up it answers"
    )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            "resolved_by_id = :other",
            "flag {id} is marked resolved by someone its event does not name",
        ),
        (
            "handled_by_id = :other",
            "flag {id} is marked handled by someone its event does not name",
        ),
        (
            "acknowledged_by_id = :other",
            "flag {id} is marked acknowledged by someone its event does not name",
        ),
        (
            # At the note's own length: the length alone was all its event held.
            "resolution_note = 'Nothing was needed; the patient is fine now.'",
            "the resolution note of flag {id} is not the one its flag.resolve event recorded",
        ),
        (
            "handled_note = 'Left a message only.'",
            "the note on what was done about flag {id} is not the one its flag.handled event "
            "recorded",
        ),
    ],
    ids=["who resolved", "who handled", "who acknowledged", "resolution note", "handled note"],
)
def test_who_worked_a_flag_and_what_they_wrote_rewritten_is_named(
    answered, make_user, change, said
):
    """Who is accountable for an urgent answer, and what they wrote they did: an insider's
    review put another name on them, and rewrote a note at its own length, and verify said
    intact."""
    from safety.followup import escalations
    from safety.review import flags

    flag = db.session.scalars(select(Flag)).one()
    escalations.record_handling(
        flag.session.practitioner, flag.id, action="called", note="Called; X-ray arranged."
    )
    note = "Patient called, X-ray arranged, GP informed."
    flags.resolve_flag(make_user("compliance"), flag.id, note)
    db.session.commit()
    assert verified() is None
    other = make_user("compliance").id

    db.session.execute(
        text(f"UPDATE flags SET {change} WHERE id = :f"), {"f": flag.id, "other": other}
    )
    db.session.commit()

    assert verified() == said.format(id=flag.id)


def test_an_older_answer_moved_with_its_checks_state_to_another_check_is_named(
    make_session, make_user, monkeypatch
):
    """An answer recorded before its event held a hash of it is still named by its event's
    "followup": moved with its check's answered state onto another patient's check, it read
    intact (a review)."""
    from followup_helpers import followups_of

    from safety.audit import services as audit
    from safety.followup.models import FollowUp

    practitioner = make_user()
    first, second = signer(make_session, practitioner)(), signer(make_session, practitioner)()
    due, (token, _) = deliver_first_checks(first, second)
    real = audit.record

    def as_older_versions_did(action, **kw):
        if action == "followup.response":
            kw["details"] = {k: v for k, v in kw["details"].items() if k != "content_hash"}
        return real(action, **kw)

    monkeypatch.setattr(audit, "record", as_older_versions_did)
    answer(token, {}, now=due + timedelta(hours=1))
    monkeypatch.setattr(audit, "record", real)
    response = db.session.scalars(select(PatientResponse)).one()
    asked, other = followups_of(first.id)[0], followups_of(second.id)[0]
    assert verified() is None

    with guards_off():
        db.session.execute(
            update(PatientResponse)
            .where(PatientResponse.id == response.id)
            .values(followup_id=other.id, session_id=second.id)
        )
        db.session.execute(
            update(FollowUp).where(FollowUp.id == asked.id).values(status="sent", answered_dt=None)
        )
        db.session.execute(
            update(FollowUp)
            .where(FollowUp.id == other.id)
            .values(status="answered", answered_dt=response.created_dt)
        )

    assert verified() == (
        f"patient answer {response.id} is not on the follow-up its event "
        f"{event_id(response.id)} recorded"
    )
