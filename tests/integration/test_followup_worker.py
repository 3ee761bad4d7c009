"""The outbox worker against a real database: due messages claimed under a lease, sent once,
retried with back-off, marked failed and flagged after the last attempt, and never sent twice by
two workers or by one that came back after its lease ran out."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from followup_helpers import (
    NEAR_LUNG,
    answer,
    deliver_first_check,
    first_check,
    followups_of,
    messages,
    outbox_of,
    signer,
)
from smtp_capture import free_port
from sqlalchemy import func, select, update

from safety.audit.models import AuditEvent
from safety.auth import services as auth_services
from safety.checklists.models import Flag
from safety.clinics.models import Patient
from safety.extensions import db
from safety.followup import rules
from safety.followup.backends import OutboxBackend, Outgoing
from safety.followup.models import OutboxMessage
from safety.followup.worker import claim, deliver_batch, work_once


class RecordingBackend:
    """A backend that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def send(self, message: Outgoing) -> None:
        self.sent.append(message)

    def close(self) -> None:
        pass


@pytest.fixture
def signed(make_session, make_user):
    return signer(make_session, make_user())


# --- sending what is due ---------------------------------------------------------------------


def test_the_worker_sends_nothing_before_a_reminder_is_due(signed):
    session = signed()
    due = first_check(session.id).next_attempt_dt

    assert work_once("worker", now=due - timedelta(seconds=1)) == {}

    assert messages() == []
    assert {r.status for r in outbox_of(session.id)} == {"pending"}


def test_a_due_reminder_is_sent_through_the_outbox_backend_and_marked_sent(signed):
    session = signed()
    due = first_check(session.id).next_attempt_dt

    assert work_once("worker", now=due) == {"sent": 1}

    [message] = messages()
    assert message.recipient == "ada@example.org"
    assert message.channel == "email"
    assert "Hello Ada" in message.body
    assert re.search(r"http://localhost/f/[A-Za-z0-9_-]{40,}\n", message.body)
    row = first_check(session.id)
    assert (row.status, row.attempts, row.sent_dt, row.lease_until_dt) == ("sent", 1, due, None)
    assert message.outbox_id == row.id
    assert followups_of(session.id)[0].status == "sent"
    # The 48 h reminder and the 7-day check are not due yet.
    assert [r.status for r in outbox_of(session.id)] == ["sent", "pending", "pending"]
    assert db.session.scalar(
        select(func.count()).where(
            AuditEvent.action == "reminder.sent", AuditEvent.object_id == str(row.id)
        )
    )


def test_a_due_reminder_is_sent_only_once_however_often_the_worker_runs(signed):
    session = signed()
    due = first_check(session.id).next_attempt_dt
    work_once("worker", now=due)
    assert work_once("worker", now=due + timedelta(minutes=5)) == {}
    assert work_once("other", now=due + timedelta(hours=1)) == {}
    assert len(messages()) == 1


def test_the_message_id_is_derived_from_the_outbox_row_id(signed):
    session = signed()
    row = first_check(session.id)
    backend = RecordingBackend()

    ids = claim("worker", now=row.next_attempt_dt)
    deliver_batch(ids, backend, worker="worker", now=row.next_attempt_dt)

    [outgoing] = backend.sent
    assert outgoing.outbox_id == row.id
    assert outgoing.message_id == rules.message_id(row.id, "localhost")


def test_the_48_hour_reminder_goes_out_when_the_24_hour_check_is_unanswered(signed):
    session = signed()
    deliver_first_check(session)
    reminder = outbox_of(session.id)[1]

    assert work_once("worker", now=reminder.next_attempt_dt) == {"sent": 1}

    assert "a gentle reminder" in messages()[-1].body


def test_the_48_hour_check_goes_out_as_one_more_question_not_as_the_first_message_again(signed):
    """After needling near the lung the 48-hour check can arrive beside the 24-hour check's
    reminder; the worker sends it with a subject and words of its own."""
    session = signed(overrides=NEAR_LUNG)
    deliver_first_check(session)
    chest = next(
        r for r in outbox_of(session.id) if r.followup is not None and r.followup.kind == "48h"
    )

    work_once("worker", now=chest.next_attempt_dt)

    sent = next(m for m in messages() if m.outbox_id == chest.id)
    assert "one more question, two days after your appointment" in sent.subject
    assert "Please answer it even if you answered us yesterday" in sent.body
    first = messages()[0]
    assert first.subject != sent.subject


def test_an_alert_already_queued_when_the_practitioner_leaves_is_redirected_to_the_clinic(
    signed,
):
    session = signed()
    due, token = deliver_first_check(session)
    answer(token, {"signs": ["pus"]}, now=due)
    session.clinic.duty_email = "duty@clinic.test"
    auth_services.deactivate_user(session.practitioner_id, actor=None)
    db.session.commit()

    work_once("worker", now=due)

    assert [m.recipient for m in messages()[1:]] == ["duty@clinic.test"]


# --- retries and failure ---------------------------------------------------------------------


def test_delivery_backs_off_and_after_the_last_attempt_is_marked_failed_and_flagged(app, signed):
    app.config.update(REMINDER_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    session = signed()
    row_id = first_check(session.id).id
    now = first_check(session.id).next_attempt_dt

    for attempt, minutes in enumerate(rules.BACKOFF_MINUTES, start=1):
        assert work_once("worker", now=now) == {"retry": 1}
        row = db.session.get(OutboxMessage, row_id)
        assert (row.status, row.attempts, row.lease_until_dt) == ("pending", attempt, None)
        assert row.next_attempt_dt == now + timedelta(minutes=minutes)
        assert "mail server" in row.last_error
        # Nothing is tried again before the back-off has passed.
        assert work_once("worker", now=row.next_attempt_dt - timedelta(seconds=1)) == {}
        now = row.next_attempt_dt

    assert work_once("worker", now=now) == {"failed": 1}

    row = db.session.get(OutboxMessage, row_id)
    assert (row.status, row.attempts) == ("failed", rules.MAX_ATTEMPTS)
    assert followups_of(session.id)[0].status == "failed"
    flag = db.session.scalars(select(Flag).where(Flag.kind == "reminder_failed")).one()
    assert (flag.session_id, flag.followup_id, flag.status) == (
        session.id,
        row.followup_id,
        "open",
    )
    assert db.session.scalar(
        select(func.count()).where(
            AuditEvent.action == "reminder.failed", AuditEvent.object_id == str(row_id)
        )
    )
    assert work_once("worker", now=now + timedelta(hours=1)) == {}


def test_a_practitioner_alert_that_cannot_be_delivered_is_flagged_too(app, signed):
    session = signed(NEAR_LUNG)
    due, token = deliver_first_check(session)
    answer(token, {"chest": ["yes"]}, now=due)
    app.config.update(REMINDER_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    alert = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "practitioner_alert")
    ).one()
    alert_id, now = alert.id, due

    for _ in range(rules.MAX_ATTEMPTS):
        work_once("worker", now=now)
        now = db.session.get(OutboxMessage, alert_id).next_attempt_dt

    db.session.expire_all()
    assert db.session.get(OutboxMessage, alert_id).status == "failed"
    failed = db.session.scalars(select(Flag).where(Flag.kind == "reminder_failed")).one()
    assert (failed.session_id, failed.followup_id) == (session.id, None)


# --- leases: a worker killed mid-send, two workers at once ----------------------------------


def test_a_row_claimed_by_a_worker_that_died_is_sent_by_another_once_the_lease_ends(app, signed):
    session = signed()
    row = first_check(session.id)
    due, row_id = row.next_attempt_dt, row.id
    lease = timedelta(seconds=app.config["REMINDER_LEASE_SECONDS"])

    assert claim("worker-a", now=due) == [row_id]
    # worker-a is killed here: it never sends and never releases the row.

    assert claim("worker-b", now=due + lease - timedelta(seconds=1)) == []
    assert work_once("worker-b", now=due + lease - timedelta(seconds=1)) == {}
    assert messages() == []

    later = due + lease + timedelta(seconds=1)
    assert claim("worker-b", now=later) == [row_id]
    assert deliver_batch([row_id], OutboxBackend(), worker="worker-b", now=later) == {"sent": 1}

    # worker-a coming back to life with its stale claim sends nothing.
    assert deliver_batch([row_id], OutboxBackend(), worker="worker-a", now=later) == {"skipped": 1}
    assert [m.outbox_id for m in messages()] == [row_id]
    assert db.session.get(OutboxMessage, row_id).status == "sent"


@pytest.mark.real_commits  # two workers in threads, each on its own connection, race for one row
def test_two_workers_at_once_never_claim_the_same_row(app, signed):
    session = signed()
    followup_id = followups_of(session.id)[0].id
    moment = session.signed_dt + timedelta(hours=1)  # before the signed reminders are due
    db.session.add_all(
        OutboxMessage(purpose="patient_reminder", followup_id=followup_id, next_attempt_dt=moment)
        for _ in range(40)
    )
    db.session.commit()
    due_ids = set(
        db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.next_attempt_dt == moment))
    )
    assert len(due_ids) == 40

    claimed: dict[str, list[int]] = {"worker-a": [], "worker-b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(name: str) -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                for _ in range(200):
                    got = claim(name, now=moment + timedelta(seconds=1), limit=3)
                    claimed[name].extend(got)
                    if not got and not db.session.scalar(
                        select(func.count()).where(
                            OutboxMessage.next_attempt_dt == moment,
                            OutboxMessage.leased_by.is_(None),
                        )
                    ):
                        break
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(t.is_alive() for t in threads)
    assert errors == []
    a, b = claimed["worker-a"], claimed["worker-b"]
    assert set(a) & set(b) == set()
    assert len(a) + len(b) == len(set(a) | set(b)) == 40
    assert set(a) | set(b) == due_ids
    db.session.expire_all()
    leased = dict(
        db.session.execute(
            select(OutboxMessage.id, OutboxMessage.leased_by).where(OutboxMessage.id.in_(due_ids))
        ).all()
    )
    assert leased == {**dict.fromkeys(a, "worker-a"), **dict.fromkeys(b, "worker-b")}


@pytest.mark.real_commits  # three workers in threads, each on its own connection, drain one backlog
def test_three_workers_drain_a_backlog_together_and_send_each_message_exactly_once(app, signed):
    session = signed()
    followup_id = followups_of(session.id)[0].id
    moment = session.signed_dt + timedelta(hours=1)  # before the signed reminders are due
    db.session.add_all(
        OutboxMessage(purpose="patient_reminder", followup_id=followup_id, next_attempt_dt=moment)
        for _ in range(300)
    )
    db.session.commit()
    due_ids = set(
        db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.next_attempt_dt == moment))
    )
    counts: dict[str, dict[str, int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def work(name: str) -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                counts[name] = work_once(name, now=moment + timedelta(seconds=1))
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert sum(c.get("sent", 0) for c in counts.values()) == 300
    db.session.expire_all()
    sent = [m.outbox_id for m in messages() if m.outbox_id in due_ids]
    assert sorted(sent) == sorted(due_ids)  # every one, none twice
    statuses = db.session.scalars(
        select(OutboxMessage.status).where(OutboxMessage.id.in_(due_ids))
    ).all()
    assert set(statuses) == {"sent"}


def test_a_reminder_for_a_patient_who_opted_out_after_it_was_claimed_is_cancelled_not_sent(
    signed,
):
    session = signed()
    row = first_check(session.id)
    due, row_id = row.next_attempt_dt, row.id
    assert claim("worker", now=due) == [row_id]
    db.session.execute(
        update(Patient).where(Patient.id == session.patient_id).values(opted_out_dt=due)
    )
    db.session.commit()

    assert deliver_batch([row_id], OutboxBackend(), worker="worker", now=due) == {"cancelled": 1}
    assert messages() == []
    assert db.session.get(OutboxMessage, row_id).status == "cancelled"
