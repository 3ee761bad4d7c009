"""A follow-up check that nothing will send reaches a person, on a real database.

A review found the 48-hour chest check of a patient whose email address was removed at the desk
(a mobile number put in its place) left "scheduled" for ever: the worker dropped its message
for want of an address, the check was never sent, so no silence flag was raised, and nobody
called a patient needled near the lung. The same when a message was stopped behind the
application. Now such a check reads failed, and a chest check is on the practitioner's list to
call; any other check is on the flags queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from followup_helpers import (
    NEAR_LUNG,
    deliver_first_check,
    followups_of,
    messages,
    outbox_of,
    signer,
    three_at_once,
)
from smtp_capture import free_port
from sqlalchemy import select, update

from safety.audit.models import AuditEvent
from safety.checklists.models import Flag
from safety.clinics import services as clinics
from safety.extensions import db
from safety.followup import escalations, rules
from safety.followup.models import OutboxMessage, OutboxStatus
from safety.followup.worker import work_once

MOBILE = "+447700900123"


@pytest.fixture
def practitioner(make_user):
    return make_user("practitioner", name="Ada Author")


@pytest.fixture
def near_lung(make_session, practitioner):
    """A session needled near the lung, signed, whose 24-hour check went out by email, as
    its chest and 7-day checks are to go."""
    session = signer(make_session, practitioner)(NEAR_LUNG)
    assert {f.channel for f in followups_of(session.id)} == {"email"}
    deliver_first_check(session)
    return session


def check(session_id: int, kind: str):
    return next(f for f in followups_of(session_id) if f.kind == kind)


def flags() -> list[Flag]:
    db.session.expire_all()
    return list(db.session.scalars(select(Flag).order_by(Flag.id)))


def stop_its_messages(followup_id: int) -> None:
    """Cancel a check's messages as an insider with the database would (or a path that
    forgot the check): the check itself still reads scheduled."""
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.followup_id == followup_id)
        .values(status=OutboxStatus.CANCELLED)
    )
    db.session.commit()


def remove_email_at_the_desk(practitioner, session) -> None:
    """The desk corrects the patient's details: a mobile number instead of the email."""
    patient = session.patient
    clinics.update_patient(
        practitioner,
        patient.id,
        given_name=patient.given_name,
        family_name=patient.family_name,
        email=None,
        phone=MOBILE,
        is_followup_consent=True,
        language=patient.language,
    )
    db.session.commit()


def test_a_chest_check_whose_address_was_removed_goes_on_the_practitioners_list_to_call(
    near_lung, practitioner
):
    remove_email_at_the_desk(practitioner, near_lung)
    chest = check(near_lung.id, rules.Kind.DAY_2)

    counts = work_once("worker", now=chest.due_dt)

    assert counts.get("not_sent") == 1
    assert check(near_lung.id, rules.Kind.DAY_2).status == rules.Status.FAILED
    [flag] = flags()
    assert (flag.kind, flag.followup_id) == (rules.NO_ANSWER, chest.id)
    assert "could not be sent" in flag.message
    assert "Call the patient to ask about chest pain" in flag.message
    assert [f.id for f in escalations.waiting_for(practitioner)] == [flag.id]
    unsent = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "followup.unsent")
    ).one()
    assert (unsent.object_id, unsent.details) == (
        str(chest.id),
        {"kind": "48h", "why": rules.NO_ADDRESS},
    )
    # Told once: the next passes find nothing more to say.
    assert work_once("worker", now=chest.due_dt + timedelta(minutes=1)).get("not_sent") is None
    assert len(flags()) == 1


def test_nobody_calling_about_it_sends_it_on_to_the_duty_address(near_lung, practitioner):
    remove_email_at_the_desk(practitioner, near_lung)
    chest = check(near_lung.id, rules.Kind.DAY_2)
    work_once("worker", now=chest.due_dt)

    # Past the working hours a silence waits for its practitioner, whatever the day.
    counts = work_once("worker", now=chest.due_dt + timedelta(days=4))

    assert counts.get("escalated") == 1
    mail = messages()[-1]
    assert mail.recipient == near_lung.clinic.duty_email
    # The duty address reads what happened: not a patient who did not answer, but a check
    # that never reached them, whose contact details may be wrong (a review).
    assert "never reached the patient" in mail.subject
    assert "never reached them" in mail.body and "check the contact details" in mail.body
    assert "did not answer" not in mail.body


def test_a_later_check_whose_address_was_removed_goes_on_the_flags_queue(near_lung, practitioner):
    remove_email_at_the_desk(practitioner, near_lung)
    week = check(near_lung.id, rules.Kind.DAY_7)
    work_once("worker", now=check(near_lung.id, rules.Kind.DAY_2).due_dt)

    work_once("worker", now=week.due_dt)

    assert check(near_lung.id, rules.Kind.DAY_7).status == rules.Status.FAILED
    queued = [f for f in flags() if f.followup_id == week.id]
    assert [(f.kind, f.message) for f in queued] == [
        (rules.REMINDER_FAILED, rules.CHECK_NOT_SENT[rules.NO_ADDRESS])
    ]
    # Not a call to make: the practitioner's list holds the chest check only.
    assert {f.followup_id for f in escalations.waiting_for(practitioner)} == {
        check(near_lung.id, rules.Kind.DAY_2).id
    }


def test_a_chest_check_stopped_behind_the_application_is_told_with_nothing_to_explain_it(
    near_lung, practitioner
):
    chest = check(near_lung.id, rules.Kind.DAY_2)
    # An insider with the database stops the message; the check still reads scheduled.
    stop_its_messages(chest.id)

    work_once("worker", now=chest.due_dt)

    [flag] = [f for f in flags() if f.followup_id == chest.id]
    assert flag.message == rules.CHEST_CHECK_NOT_SENT[rules.STOPPED]
    assert [f.id for f in escalations.waiting_for(practitioner)] == [flag.id]


def test_a_chest_check_that_could_not_be_delivered_goes_on_the_practitioners_list(
    app, near_lung, practitioner
):
    chest = check(near_lung.id, rules.Kind.DAY_2)
    [row] = [r for r in outbox_of(near_lung.id) if r.followup_id == chest.id]
    # Its earlier attempts failed: the last is due an hour on, after the 24-hour check's
    # reminder went.
    row.attempts, row.next_attempt_dt = rules.MAX_ATTEMPTS - 1, chest.due_dt + timedelta(hours=1)
    db.session.commit()
    assert work_once("worker", now=chest.due_dt) == {"sent": 1}
    app.config.update(REMINDER_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())

    assert work_once("worker", now=row.next_attempt_dt) == {"failed": 1}

    [flag] = flags()
    assert (flag.kind, flag.message) == (
        rules.NO_ANSWER,
        rules.CHEST_CHECK_NOT_SENT[rules.UNDELIVERED],
    )
    assert [f.id for f in escalations.waiting_for(practitioner)] == [flag.id]
    assert check(near_lung.id, rules.Kind.DAY_2).status == rules.Status.FAILED


def test_a_check_still_waiting_in_the_outbox_is_not_told_as_unsent(near_lung):
    chest = check(near_lung.id, rules.Kind.DAY_2)

    # A pass that claims nothing (a backlog, other workers holding it) leaves it on its way.
    assert work_once("worker", now=chest.due_dt + timedelta(hours=3), limit=0) == {}

    assert check(near_lung.id, rules.Kind.DAY_2).status == rules.Status.SCHEDULED
    assert flags() == []


def test_a_chest_check_found_unsent_days_later_is_history_for_the_queue(near_lung, practitioner):
    remove_email_at_the_desk(practitioner, near_lung)
    chest = check(near_lung.id, rules.Kind.DAY_2)

    work_once("worker", now=chest.due_dt + rules.CHEST_SILENCE_ENDS + timedelta(hours=1))

    [flag] = [f for f in flags() if f.followup_id == chest.id]
    assert flag.kind == rules.REMINDER_FAILED
    assert escalations.waiting_for(practitioner) == []


@pytest.mark.real_commits  # workers in threads, each on its own connection, find one check
def test_workers_finding_the_same_unsent_check_at_once_tell_it_once(app, near_lung, practitioner):
    remove_email_at_the_desk(practitioner, near_lung)
    chest = check(near_lung.id, rules.Kind.DAY_2)
    stop_its_messages(chest.id)
    due = chest.due_dt  # read here: the threads have sessions of their own

    def sweep() -> None:
        escalations.fail_unsendable_checks(now=due)
        db.session.commit()

    assert three_at_once(app, sweep) == []
    assert len([f for f in flags() if f.followup_id == chest.id]) == 1


def test_a_check_an_older_version_dropped_long_ago_is_marked_but_flags_nobody(
    near_lung, practitioner
):
    """The first pass after an upgrade found every check the old worker had dropped, months
    back, and put each on the flags queue (a review)."""
    remove_email_at_the_desk(practitioner, near_lung)
    week = check(near_lung.id, rules.Kind.DAY_7)

    counts = work_once("worker", now=week.due_dt + rules.LINK_LIFETIME + timedelta(days=90))

    assert counts.get("not_sent") == 2  # the chest check and the 7-day check
    assert {f.status for f in followups_of(near_lung.id) if f.kind != "24h"} == {"failed"}
    assert flags() == []


def test_a_check_of_a_patient_who_said_no_more_messages_is_cancelled_and_told_to_nobody(
    near_lung,
):
    """Signed as the desk recorded the withdrawal, the check escaped the cancel: it was told
    as "stopped, and nothing on record says why" when the record says why (a review)."""
    chest = check(near_lung.id, rules.Kind.DAY_2)
    patient = near_lung.patient
    patient.is_followup_consent = False
    stop_its_messages(chest.id)

    work_once("worker", now=chest.due_dt)

    assert check(near_lung.id, rules.Kind.DAY_2).status == rules.Status.CANCELLED
    assert flags() == []
