"""A real worker process killed while the mail server holds its message: nothing is lost.

`flask reminders work --once` runs as its own process against the test database and a real
SMTP server (aiosmtpd) that accepts the message but does not answer. The process is killed
with SIGKILL at that moment, so it can neither record the send nor release its lease. Once the
lease has run out, another worker sends the reminder again with the same Message-ID, which is
what lets the receiving side drop the duplicate.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from smtp_capture import Collector, free_port, send_mail_to
from sqlalchemy import select

from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup.models import FollowUp, OutboxMessage
from safety.followup.worker import work_once

ROOT = Path(__file__).resolve().parents[2]
ALL_PHASES = ("signin", "timeout", "signout")


class HoldingServer(Collector):
    """Keeps every message; while `holding` is set it does not answer the end of DATA."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.holding = threading.Event()
        self.holding.set()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append(envelope)
        self.arrived.set()
        while self.holding.is_set():
            await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"


@pytest.fixture
def mail(request, app):
    handler = HoldingServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()

    def stop() -> None:
        handler.holding.clear()
        controller.stop()

    request.addfinalizer(stop)
    send_mail_to(app, controller.port)
    return handler, controller.port


def due_now(session_id: int) -> int:
    """Bring the session's 24-hour check forward to now, so a real-time worker picks it up."""
    row = db.session.scalars(
        select(OutboxMessage)
        .join(FollowUp, OutboxMessage.followup_id == FollowUp.id)
        .where(FollowUp.session_id == session_id, OutboxMessage.is_reminder.is_(False))
        .order_by(OutboxMessage.id)
    ).first()
    row.next_attempt_dt = utcnow() - timedelta(minutes=1)
    db.session.commit()
    return row.id


def start_worker(database_url: str, port: int, instance: Path, base_url: str) -> subprocess.Popen:
    """Start a worker as its own process, configured like every worker of one deployment."""
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "NEEDLESAFE_ENV": "development",
        "NEEDLESAFE_INSTANCE": str(instance),
        "SECRET_KEY": "k" * 40,
        "DATABASE_URL": database_url,
        "REMINDER_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(port),
        "REMINDER_LEASE_SECONDS": "120",
        # The Message-ID's domain comes from BASE_URL, which every worker of a deployment shares.
        "BASE_URL": base_url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "reminders", "work", "--once"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.real_commits  # the worker runs in a process of its own
def test_a_worker_killed_mid_send_leaves_the_reminder_to_another_after_its_lease(
    app, mail, database_url, make_user, make_session, tmp_path
):
    handler, port = mail
    session = make_session(make_user(), phases=ALL_PHASES, sign=True)
    row_id = due_now(session.id)

    worker = start_worker(database_url, port, tmp_path, app.config["BASE_URL"])
    try:
        assert handler.arrived.wait(timeout=60), worker.stderr.read().decode()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.stderr.close()
    handler.holding.clear()

    db.session.expire_all()
    held = db.session.get(OutboxMessage, row_id)
    assert (held.status, held.sent_dt) == ("pending", None)
    assert held.leased_by and held.lease_until_dt > utcnow()

    # Another worker leaves the row alone while the dead worker's lease lasts...
    assert work_once("worker-b", now=utcnow()) == {}
    # ...and sends it once the lease is over.
    assert work_once("worker-b", now=held.lease_until_dt + timedelta(seconds=1)) == {"sent": 1}

    db.session.expire_all()
    sent = db.session.get(OutboxMessage, row_id)
    assert (sent.status, sent.leased_by) == ("sent", "worker-b")
    ids = [m["Message-ID"] for m in handler.messages()]
    assert len(ids) == 2 and ids[0] == ids[1], "the resend must carry the same Message-ID"
    assert str(row_id) in ids[0]
    later = sent.sent_dt + timedelta(hours=1)
    assert work_once("worker-c", now=later) == {}
