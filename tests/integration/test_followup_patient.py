"""The patient's answer against a real database: recorded once, escalated to a person by
urgency (a flag, alerts to the practitioner or the clinic), and the 72-hour check planned when
the soreness calls for it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from followup_helpers import (
    NEAR_LUNG,
    answer,
    count,
    deliver_first_check,
    followups_of,
    messages,
    outbox_of,
    signer,
    token_of,
)
from sqlalchemy import select

from safety.auth import services as auth_services
from safety.checklists.models import Flag
from safety.extensions import db
from safety.followup import rules
from safety.followup.models import OutboxMessage, PatientResponse
from safety.followup.schedule import treated_at
from safety.followup.worker import work_once


@pytest.fixture
def signed(make_session, make_user):
    return signer(make_session, make_user())


def test_the_48_hour_reminder_is_cancelled_when_the_24_hour_check_was_answered(signed):
    session = signed()
    due, token = deliver_first_check(session)
    answer(token, {}, now=due + timedelta(hours=1))
    reminder = outbox_of(session.id)[1]
    assert reminder.is_reminder

    work_once("worker", now=reminder.next_attempt_dt + timedelta(minutes=1))

    assert outbox_of(session.id)[1].status == "cancelled"
    assert len(messages()) == 1


def test_soreness_of_4_or_more_schedules_a_72_hour_check(signed):
    session = signed()
    due, token = deliver_first_check(session)

    answer(token, {"soreness": ["4"]}, now=due + timedelta(hours=1))

    later = [f for f in followups_of(session.id) if f.kind == "72h"]
    assert len(later) == 1
    expected = rules.due_72h(treated_at(session), session.clinic.zone)
    assert later[0].due_dt == expected
    [row] = [r for r in outbox_of(session.id) if r.followup_id == later[0].id]
    assert (row.status, row.next_attempt_dt) == ("pending", expected)
    assert work_once("worker", now=expected) == {"sent": 1}
    assert "Hello Ada" in messages()[-1].body


def test_soreness_not_improving_at_72_hours_goes_to_the_practitioners_review_queue(signed):
    session = signed()
    due, token = deliver_first_check(session)
    answer(token, {"soreness": ["5"], "trend": ["same"]}, now=due + timedelta(hours=1))
    later = rules.due_72h(treated_at(session), session.clinic.zone)
    work_once("worker", now=later)
    token_72h = token_of(messages()[-1])

    outcome = answer(token_72h, {"soreness": ["3"], "trend": ["same"]}, now=later)

    assert (outcome.level, outcome.followup_kind) == (rules.REVIEW, "72h")
    flag = db.session.scalars(select(Flag).where(Flag.kind == "review")).one()
    assert (flag.severity, flag.status, flag.session_id) == ("medium", "open", session.id)
    assert "72-hour soreness check" in flag.message
    # A review goes to the queue; it does not page the practitioner.
    assert not db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "practitioner_alert")
    ).all()
    # Only the 24 h answer plans a 72 h check.
    assert [f.kind for f in followups_of(session.id)].count("72h") == 1


def test_a_calm_24_hour_answer_schedules_no_72_hour_check(signed):
    session = signed()
    due, token = deliver_first_check(session)
    outcome = answer(token, {}, now=due + timedelta(hours=1))
    assert outcome.level == rules.NONE
    assert [f.kind for f in followups_of(session.id)] == ["24h", "7d"]
    assert count(Flag) == 0


def test_an_emergency_answer_raises_a_critical_flag_and_alerts_the_practitioner(signed):
    session = signed(NEAR_LUNG)
    due, token = deliver_first_check(session)
    answered = due + timedelta(hours=1)

    outcome = answer(token, {"chest": ["yes"]}, now=answered)

    assert outcome.level == rules.EMERGENCY
    response = db.session.scalars(select(PatientResponse)).one()
    assert response.escalation == "emergency"
    flag = db.session.scalars(select(Flag).where(Flag.kind == "emergency")).one()
    assert (flag.severity, flag.status, flag.session_id) == ("critical", "open", session.id)
    assert flag.response_id == response.id
    [alert] = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "practitioner_alert")
    ).all()
    assert (alert.flag_id, alert.status, alert.next_attempt_dt) == (flag.id, "pending", answered)

    assert work_once("worker", now=answered) == {"sent": 2}  # the practitioner and duty address

    delivered = next(m for m in messages() if m.outbox_id == alert.id)
    assert delivered.outbox_id == alert.id
    assert delivered.recipient == session.practitioner.email
    assert f"http://localhost/sessions/{session.id}" in delivered.body
    assert "emergency" in delivered.subject.lower()
    whole = f"{delivered.subject}\n{delivered.body}"
    for private in ("Ada", "Lovelace", "ada@example.org"):
        assert private not in whole


def test_an_emergency_answer_also_alerts_the_clinic_when_it_has_an_alert_address(signed):
    session = signed()
    session.clinic.duty_email = "duty@clinic.test"
    db.session.commit()
    due, token = deliver_first_check(session)

    answer(token, {"bleeding": ["wont_stop"]}, now=due)
    work_once("worker", now=due)

    recipients = {m.recipient for m in messages()[1:]}
    assert recipients == {session.practitioner.email, "duty@clinic.test"}


def test_a_deactivated_practitioners_alert_goes_to_the_clinics_address_instead(signed):
    session = signed()
    session.clinic.duty_email = "duty@clinic.test"
    db.session.commit()
    due, token = deliver_first_check(session)
    auth_services.deactivate_user(session.practitioner_id, actor=None)
    db.session.commit()

    answer(token, {"bruising": ["large"]}, now=due)
    work_once("worker", now=due)

    assert [m.recipient for m in messages()[1:]] == ["duty@clinic.test"]


def test_with_the_practitioner_gone_a_same_day_answer_still_reaches_the_duty_address(signed):
    session = signed()
    due, token = deliver_first_check(session)
    auth_services.deactivate_user(session.practitioner_id, actor=None)
    db.session.commit()

    answer(token, {"signs": ["pus"]}, now=due)
    work_once("worker", now=due)

    assert [m.recipient for m in messages()[1:]] == [session.clinic.duty_email]
    flag = db.session.scalars(select(Flag)).one()
    assert (flag.kind, flag.status) == ("same_day", "open")


def test_a_same_day_answer_alerts_the_practitioner_and_a_review_answer_only_queues(signed):
    urgent = signed()
    due, urgent_token = deliver_first_check(urgent)
    _, calm_token = deliver_first_check(signed())

    assert answer(urgent_token, {"signs": ["pus"]}, now=due).level == rules.SAME_DAY
    assert answer(calm_token, {"soreness": ["8"]}, now=due).level == rules.REVIEW

    flags = {f.kind: f for f in db.session.scalars(select(Flag))}
    assert {k: f.severity for k, f in flags.items()} == {"same_day": "high", "review": "medium"}
    alerts = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "practitioner_alert")
    ).all()
    assert [a.flag_id for a in alerts] == [flags["same_day"].id]
