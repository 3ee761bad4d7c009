"""`flask reminders work --once`: what cron runs to deliver the reminders that are due."""

from __future__ import annotations

import signal
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup.models import DevMessage, FollowUp, OutboxMessage

ALL_PHASES = ("signin", "timeout", "signout")


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    """The worker installs SIGTERM/SIGINT handlers; give pytest its own back afterwards."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.fixture
def due_reminder(make_user, make_session) -> int:
    """A signed session whose 24 h check fell due a minute ago; returns its outbox id."""
    session = make_session(make_user(), phases=ALL_PHASES, sign=True)
    row_id = db.session.scalars(
        select(OutboxMessage.id)
        .join(FollowUp, OutboxMessage.followup_id == FollowUp.id)
        .where(FollowUp.session_id == session.id, OutboxMessage.is_reminder.is_(False))
        .order_by(OutboxMessage.id)
    ).first()
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(next_attempt_dt=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    return row_id


def outbox_row(row_id: int) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, row_id)


def test_work_once_delivers_the_due_reminders_and_exits_0(runner, due_reminder):
    result = runner.invoke(args=["reminders", "work", "--once"])

    assert result.exit_code == 0, result.output
    assert "sent=1" in result.output
    row = outbox_row(due_reminder)
    assert row.status == "sent"
    [message] = db.session.scalars(select(DevMessage)).all()
    assert message.outbox_id == due_reminder
    assert "http://localhost/f/" in message.body


def test_work_once_run_again_sends_nothing_more(runner, due_reminder):
    runner.invoke(args=["reminders", "work", "--once"])

    again = runner.invoke(args=["reminders", "work", "--once"])

    assert again.exit_code == 0, again.output
    assert again.output.strip() == ""
    assert len(db.session.scalars(select(DevMessage)).all()) == 1


def test_work_once_with_nothing_due_says_only_that_it_signed_a_checkpoint(
    runner, make_user, make_session
):
    make_session(make_user(), phases=ALL_PHASES, sign=True)  # due tomorrow, not now

    result = runner.invoke(args=["reminders", "work", "--once"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "signed audit checkpoint 1"
    assert db.session.scalars(select(DevMessage)).all() == []


def test_work_once_before_the_next_checkpoint_is_due_exits_0_quietly(
    runner, make_user, make_session
):
    make_session(make_user(), phases=ALL_PHASES, sign=True)
    runner.invoke(args=["reminders", "work", "--once"])

    again = runner.invoke(args=["reminders", "work", "--once"])

    assert again.exit_code == 0, again.output
    assert again.output.strip() == ""


def test_work_once_with_the_mail_server_down_exits_0_and_keeps_the_reminder(
    app, runner, due_reminder
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.config.update(REMINDER_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port)

    result = runner.invoke(args=["reminders", "work", "--once"])

    assert result.exit_code == 0, result.output
    assert "retry=1" in result.output
    row = outbox_row(due_reminder)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_dt > utcnow()


# --- a backlog: one pass drains it, within its time budget --------------------------------------


@pytest.fixture
def backlog(make_user, make_session) -> set[int]:
    """450 reminders that fell due a minute ago (more than the 200 a pass once sent at most)."""
    session = make_session(make_user(), phases=ALL_PHASES, sign=True)
    followup_id = db.session.scalars(
        select(FollowUp.id).where(FollowUp.session_id == session.id)
    ).first()
    due = utcnow() - timedelta(minutes=1)
    rows = [
        OutboxMessage(purpose="patient_reminder", followup_id=followup_id, next_attempt_dt=due)
        for _ in range(450)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return {row.id for row in rows}


def sent_outbox_ids() -> list[int]:
    return list(db.session.scalars(select(DevMessage.outbox_id)))


def test_work_once_drains_a_backlog_larger_than_the_old_200_in_one_run(runner, backlog):
    result = runner.invoke(args=["reminders", "work", "--once"])

    assert result.exit_code == 0, result.output
    assert "sent=450" in result.output
    assert "time budget spent" not in result.output
    assert sorted(sent_outbox_ids()) == sorted(backlog)
    assert {outbox_row(i).status for i in backlog} == {"sent"}


def test_work_once_stops_when_its_time_budget_is_spent_and_the_next_run_sends_the_rest_once(
    runner, backlog
):
    first = runner.invoke(args=["reminders", "work", "--once", "--budget", "0"])

    assert first.exit_code == 0, first.output
    assert "sent=100" in first.output  # one batch, then the budget is spent
    assert "time budget spent; what is still due goes out on the next pass" in first.output
    waiting = [outbox_row(i) for i in backlog if outbox_row(i).status == "pending"]
    assert len(waiting) == 350
    assert {row.lease_until_dt for row in waiting} == {None}  # free for any worker at once

    second = runner.invoke(args=["reminders", "work", "--once"])

    assert "sent=350" in second.output
    sent = sent_outbox_ids()
    assert len(sent) == len(set(sent)) == 450


def test_work_once_refuses_a_negative_time_budget(runner, backlog):
    result = runner.invoke(args=["reminders", "work", "--once", "--budget", "-1"])

    assert result.exit_code == 2
    assert "--budget" in result.output
    assert sent_outbox_ids() == []
