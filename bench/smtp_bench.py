"""Reminder dispatch against a local SMTP server, compared with a bare smtplib loop.

10,000 due reminders are written to a fresh SQLite database; NeedleSafe's worker sends them
to an aiosmtpd server on localhost. The baseline sends the same 10,000 messages with a plain
smtplib loop over one connection, in the same run. Issue 4 asks for at least half its rate.
"""

from __future__ import annotations

import smtplib
import socket
import tempfile
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import insert, select

from config import TestingConfig
from safety import create_app
from safety.extensions import db

N = 10_000


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(app, n: int):
    """One signed session, then n due follow-up rows pointing at it, inserted in bulk."""
    from safety.auth import services as auth
    from safety.checklists import services as checklists
    from safety.clinics import services as clinics
    from safety.followup.models import FollowUp, OutboxMessage
    from tests.factories import CLEAN_PHASES

    clinic = clinics.create_clinic(
        name="Bench Clinic",
        timezone="Europe/London",
        duty_email="duty@clinic.test",
        phone="+44 20 7946 0000",
        country="GB",
    )
    user = auth.create_user(
        email="bench@clinic.test",
        name="Bench",
        role="practitioner",
        password="bench-password-long",
        clinic_id=clinic.id,
        check_strength=False,
    )
    patient = clinics.add_patient(
        user,
        given_name="Sam",
        family_name="Bench",
        email="sam@example.org",
        phone=None,
        is_followup_consent=True,
    )
    session = checklists.start_session(user, patient_id=patient.id)
    for phase, form in CLEAN_PHASES.items():
        checklists.submit_phase(user, session.id, phase, form)
    checklists.apply_signature(session, user, now=session.started_dt)
    db.session.execute(db.delete(OutboxMessage))
    db.session.commit()
    due = session.signed_dt + timedelta(days=1)
    db.session.execute(
        insert(FollowUp),
        [
            {
                "session_id": session.id,
                "kind": "24h",
                "channel": "email",
                "due_dt": due,
                "status": "scheduled",
                "created_dt": due,
            }
            for _ in range(n)
        ],
    )
    ids = db.session.scalars(select(FollowUp.id).order_by(FollowUp.id)).all()[-n:]
    db.session.execute(
        insert(OutboxMessage),
        [
            {
                "purpose": "patient_reminder",
                "followup_id": i,
                "is_reminder": False,
                "status": "pending",
                "attempts": 0,
                "next_attempt_dt": due,
                "created_dt": due,
            }
            for i in ids
        ],
    )
    db.session.commit()
    return due


def baseline(port: int, n: int) -> float:
    """Send n messages of the same shape with a bare smtplib loop over one connection."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for i in range(n):
            msg = EmailMessage()
            msg["From"] = "NeedleSafe <no-reply@localhost>"
            msg["To"] = "sam@example.org"
            msg["Subject"] = "Bench Clinic: how are you after your appointment?"
            msg["Message-ID"] = f"<baseline-{i}@localhost>"
            msg.set_content("Hello Sam, this is Bench Clinic.\n\nhttp://localhost/f/" + "x" * 43)
            conn.send_message(msg)
    return n / (time.perf_counter() - started)


def run(n: int = N) -> dict:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            config = type(
                "BenchConfig",
                (TestingConfig,),
                {
                    "SQLALCHEMY_DATABASE_URI": url,
                    "REMINDER_BACKEND": "smtp",
                    "MAIL_SERVER": "127.0.0.1",
                    "MAIL_PORT": port,
                },
            )
            app = create_app(config)
            with app.app_context():
                from flask_migrate import upgrade

                upgrade(directory=str(Path(__file__).resolve().parents[1] / "migrations"))
                due = prepare(app, n)
                from safety.followup.worker import work_once

                base_rate = baseline(port, n)
                sink.count = 0
                started = time.perf_counter()
                sent = 0
                while sent < n:
                    counts = work_once("bench", now=due + timedelta(minutes=1), limit=1000)
                    if not counts.get("sent"):
                        break
                    sent += counts["sent"]
                elapsed = time.perf_counter() - started
                db.session.remove()
                db.engine.dispose()
    finally:
        controller.stop()
    rate = sent / elapsed
    return {
        "messages": n,
        "delivered": sink.count,
        "baseline_per_s": round(base_rate),
        "needlesafe_per_s": round(rate),
        "ratio": round(rate / base_rate, 2),
        "passes": sink.count == n and rate >= 0.5 * base_rate,
    }


if __name__ == "__main__":
    print(run())
