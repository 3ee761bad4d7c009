"""A chest check nobody answered after needling near the lung goes to the treating
practitioner's list, once, to call the patient (a clinical review found such a silence went to
nobody): the worker finds it on its pass, on a real database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from followup_helpers import (
    NEAR_LUNG,
    answer,
    followups_of,
    messages,
    signer,
    three_at_once,
    token_of,
)
from sqlalchemy import select, update

from safety.audit import services as audit
from safety.audit.models import AuditEvent
from safety.auth import services as auth_services
from safety.checklists.models import Flag
from safety.extensions import db
from safety.followup import escalations, rules
from safety.followup.models import DevMessage, OutboxMessage, Purpose
from safety.followup.worker import work_once
from safety.integrity.flags import verify_flags


@pytest.fixture
def practitioner(make_user):
    return make_user("practitioner", name="Ada Author")


@pytest.fixture
def chest_check_sent(make_session, practitioner):
    """A session near the lung whose 48-hour chest check went out; returns it and its due."""
    session = signer(make_session, practitioner)(NEAR_LUNG)
    chest = next(f for f in followups_of(session.id) if f.kind == rules.Kind.DAY_2)
    work_once("worker", now=chest.due_dt)
    db.session.expire_all()
    assert db.session.get(type(chest), chest.id).status == rules.Status.SENT
    return session, chest.due_dt


def duty_mail() -> list[DevMessage]:
    """What the development outbox delivered to a clinic's duty address."""
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(DevMessage)
            .join(OutboxMessage, OutboxMessage.id == DevMessage.outbox_id)
            .where(OutboxMessage.purpose == Purpose.DUTY_ESCALATION)
        )
    )


def silences() -> list[Flag]:
    db.session.expire_all()
    return list(db.session.scalars(select(Flag).where(Flag.kind == rules.NO_ANSWER)))


def silence_raised(due) -> Flag:
    """Run the worker 12 hours after the chest check went out; return the silence it raised."""
    work_once("worker", now=due + timedelta(hours=12))
    [flag] = silences()
    return flag


def test_an_unanswered_chest_check_reaches_the_practitioners_list_once(
    chest_check_sent, practitioner
):
    session, due = chest_check_sent

    assert work_once("worker", now=due + timedelta(hours=11)).get("unanswered") is None
    counts = work_once("worker", now=due + timedelta(hours=12))
    work_once("worker", now=due + timedelta(hours=13))

    assert counts["unanswered"] == 1
    [flag] = silences()
    assert flag.session_id == session.id
    assert "call the patient" in flag.message
    assert [f.id for f in escalations.waiting_for(practitioner)] == [flag.id]
    raised = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "flag.raise")).one()
    assert raised.details["kind"] == rules.NO_ANSWER
    # It is the practitioner's to follow up by phone: nothing goes to the duty address yet.
    work_once("worker", now=due + timedelta(hours=12, minutes=1))
    assert duty_mail() == []
    assert db.session.get(Flag, flag.id).escalated_dt is None


def test_calling_the_patient_takes_it_off_the_list(chest_check_sent, practitioner):
    _session, due = chest_check_sent
    flag = silence_raised(due)

    escalations.record_handling(practitioner, flag.id, action="called", note="Breathing fine.")
    db.session.commit()

    assert escalations.waiting_for(practitioner) == []


def test_an_answered_chest_check_is_no_silence(chest_check_sent):
    _session, due = chest_check_sent
    [chest_message] = [m for m in messages() if "one more question" in (m.subject or "")]
    token = token_of(chest_message)
    answer(token, {"chest": ["no"]}, now=due + timedelta(hours=2))

    work_once("worker", now=due + timedelta(hours=12))

    assert silences() == []


def test_a_silence_older_than_the_link_is_history_not_a_call_to_make(chest_check_sent):
    _session, due = chest_check_sent

    work_once("worker", now=due + rules.LINK_LIFETIME + timedelta(hours=1))

    assert silences() == []


@pytest.mark.real_commits  # workers in threads, each on its own connection, find one silence
def test_workers_finding_the_same_silence_at_once_flag_it_once(app, chest_check_sent):
    _session, due = chest_check_sent
    db.session.commit()

    def sweep() -> None:
        escalations.flag_unanswered_chest_checks(now=due + timedelta(hours=12))
        db.session.commit()

    assert three_at_once(app, sweep) == []
    assert len(silences()) == 1


def test_a_late_answer_takes_the_silence_off_the_list_and_verify_holds_it(
    chest_check_sent, practitioner
):
    """A patient who answers "no" after the silence was flagged once left "call the patient"
    on the list (a clinical review)."""
    _session, due = chest_check_sent
    work_once("worker", now=due + timedelta(hours=12))
    [chest_message] = [m for m in messages() if "one more question" in (m.subject or "")]

    answer(token_of(chest_message), {"chest": ["no"]}, now=due + timedelta(hours=14))

    [flag] = silences()
    assert flag.status == "resolved"
    assert "answered the chest check after all" in flag.resolution_note
    assert escalations.waiting_for(practitioner) == []
    assert verify_flags(db.session) is None


def test_the_silence_counts_from_when_the_message_went_out_not_when_it_was_due(
    make_session, practitioner
):
    """A chest check held up 13 hours (a mail outage) was once flagged a minute after it
    finally went out."""
    session = signer(make_session, practitioner)(NEAR_LUNG)
    chest = next(f for f in followups_of(session.id) if f.kind == rules.Kind.DAY_2)
    went_out = chest.due_dt + timedelta(hours=13)
    work_once("worker", now=went_out)

    work_once("worker", now=went_out + timedelta(minutes=1))
    assert silences() == []

    work_once("worker", now=went_out + rules.CHEST_SILENCE)
    assert len(silences()) == 1


def test_a_silence_first_found_days_later_is_history_not_a_call(chest_check_sent):
    """A worker first run after an upgrade, or stopped for days, once put every unanswered
    chest check of the past week on the list at once."""
    _session, due = chest_check_sent

    work_once("worker", now=due + rules.CHEST_SILENCE_ENDS + timedelta(minutes=1))

    assert silences() == []


def test_the_silence_is_listed_above_an_older_answer_that_waits_for_review(
    chest_check_sent, practitioner
):
    """A call about the chest comes before reading a remark (a clinical review found it below
    review answers two weeks old)."""
    _session, due = chest_check_sent
    [first_check] = [m for m in messages() if "one more question" not in (m.subject or "")][:1]
    answer(token_of(first_check), {"other": ["Stiff, but fine."]}, now=due)
    work_once("worker", now=due + timedelta(hours=12))

    kinds = [flag.kind for flag in escalations.waiting_for(practitioner)]

    assert kinds == [rules.NO_ANSWER, rules.REVIEW]


def test_a_silence_moved_off_its_chest_check_is_named_by_verify(chest_check_sent):
    _session, due = chest_check_sent
    flag = silence_raised(due)
    assert verify_flags(db.session) is None

    db.session.execute(update(Flag).where(Flag.id == flag.id).values(followup_id=None))
    db.session.commit()

    assert verify_flags(db.session) == (
        f"flag {flag.id} is not on the follow-up its flag.raise event recorded"
    )


def _working_hours_after(raised, hours: int, clinic):
    return rules.add_working_hours(
        raised,
        hours,
        clinic.zone,
        day_start_hour=clinic.workday_start_hour,
        day_end_hour=clinic.workday_end_hour,
        working_days=clinic.working_days,
    )


def test_a_silence_nobody_called_about_goes_to_the_duty_address_once(
    chest_check_sent, practitioner
):
    """The practitioner may be on leave: two working hours after the silence reached their
    list with nobody recording a call, the clinic's duty address is told (a clinical review
    found a silence could wait on an absent practitioner's list for ever)."""
    session, due = chest_check_sent
    flag = silence_raised(due)
    deadline = _working_hours_after(
        flag.created_dt, rules.SILENCE_ACK_WORKING_HOURS, session.clinic
    )

    work_once("worker", now=deadline - timedelta(minutes=1))
    assert duty_mail() == []
    work_once("worker", now=deadline + timedelta(minutes=1))
    work_once("worker", now=deadline + timedelta(hours=3))

    [mail] = duty_mail()
    assert mail.recipient == session.clinic.duty_email
    assert "chest check nobody answered" in mail.subject
    assert "nobody has recorded calling them for 2 working hours" in mail.body
    assert f"/sessions/{session.id}" in mail.body
    assert session.patient.family_name not in mail.body + mail.subject  # no patient details
    # It stays on the practitioner's list: the duty address is told, the call is still owed.
    assert [f.id for f in escalations.waiting_for(practitioner)] == [flag.id]


def test_a_silence_the_practitioner_called_about_goes_nowhere_else(chest_check_sent, practitioner):
    _session, due = chest_check_sent
    flag = silence_raised(due)
    escalations.record_handling(practitioner, flag.id, action="called", note="Breathing fine.")
    db.session.commit()

    work_once("worker", now=due + timedelta(days=4))

    assert duty_mail() == []


def test_a_silence_of_a_practitioner_who_left_goes_to_the_duty_address_at_once(
    chest_check_sent, practitioner
):
    """Nobody else has it on their list, and a disabled account will not call: the duty
    address is told on the pass that finds the silence, not two working hours later."""
    _session, due = chest_check_sent
    practitioner.is_enabled = False
    db.session.commit()

    work_once("worker", now=due + timedelta(hours=12))

    [flag] = silences()
    [mail] = duty_mail()
    assert "chest check nobody answered" in mail.subject
    assert db.session.get(Flag, flag.id).escalated_dt == due + timedelta(hours=12)


def test_a_silence_the_practitioner_saw_before_leaving_still_goes_to_the_duty_address(
    chest_check_sent, practitioner
):
    """Acknowledged, then the account disabled: nobody will call, so it goes on at once, and
    the duty address reads why."""
    session, due = chest_check_sent
    flag = silence_raised(due)
    flag.status, flag.acknowledged_dt = "acknowledged", due + timedelta(hours=12)
    flag.acknowledged_by_id = practitioner.id
    audit.record("flag.acknowledge", actor=practitioner, obj=flag, now=flag.acknowledged_dt)
    practitioner.is_enabled = False
    db.session.commit()

    work_once("worker", now=due + timedelta(hours=13))

    [mail] = duty_mail()
    assert "no longer treats patients here: nobody else has this patient on their list" in mail.body
    assert "for 2 working hours" not in mail.body


def test_a_silence_found_after_a_week_is_not_mailed_to_the_duty_address(chest_check_sent):
    """The first pass after an upgrade (or days without a worker) must not mail every old
    silence: what happened weeks ago is history, not a call to make now."""
    _session, due = chest_check_sent
    flag = silence_raised(due)
    flag.created_dt = due - timedelta(days=30)  # a silence flagged before this release
    db.session.commit()

    work_once("worker", now=due + timedelta(days=1))

    assert duty_mail() == []


@pytest.mark.real_commits  # workers in threads, each on its own connection, find one deadline
def test_workers_escalating_at_once_send_one_mail(app, chest_check_sent, practitioner):
    """A review had three workers send one silence to the duty address three times."""
    _session, due = chest_check_sent
    work_once("worker", now=due + timedelta(hours=12))
    practitioner.is_enabled = False  # due at once
    db.session.commit()

    def work() -> None:
        work_once(f"worker-{threading.get_ident()}", now=due + timedelta(hours=13))

    assert three_at_once(app, work) == []
    db.session.expire_all()
    duty = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == Purpose.DUTY_ESCALATION)
    ).all()
    assert len(duty) == 1


def test_a_silence_of_a_practitioner_moved_to_another_role_goes_on_at_once(
    chest_check_sent, practitioner, make_user
):
    """A practitioner made compliance officer loses their list: nobody would call."""
    _session, due = chest_check_sent
    admin = make_user("admin")
    auth_services.change_role(practitioner.id, role="compliance", clinic_id=None, actor=admin)
    db.session.commit()

    work_once("worker", now=due + timedelta(hours=12))

    [mail] = duty_mail()
    assert "no longer treats patients here: nobody else has this patient on their list" in mail.body


def test_the_duty_address_reads_that_the_practitioners_calls_found_no_reply(
    chest_check_sent, practitioner
):
    session, due = chest_check_sent
    flag = silence_raised(due)
    for minutes in (5, 50):
        escalations.record_no_reply(
            practitioner, flag.id, now=flag.created_dt + timedelta(minutes=minutes)
        )
    db.session.commit()
    deadline = _working_hours_after(
        flag.created_dt, rules.SILENCE_ACK_WORKING_HOURS, session.clinic
    )

    work_once("worker", now=deadline + timedelta(minutes=1))

    [mail] = duty_mail()
    assert "the practitioner's calls since (2) found no reply" in mail.body
    assert "nobody has recorded calling them" not in mail.body
