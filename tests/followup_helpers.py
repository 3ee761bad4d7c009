"""Signed sessions with follow-ups, and what the outbox and the development backend hold, for
the follow-up tests (scheduling, the patient's answer, the worker)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from conftest import saved
from sqlalchemy import func, select

from safety.checklists.models import TreatmentSession
from safety.clinics import services as clinics
from safety.extensions import db
from safety.followup import patient as followup_patient
from safety.followup.models import DevMessage, FollowUp, OutboxMessage
from safety.followup.worker import work_once

ALL_PHASES = ("signin", "timeout", "signout")
#: An uneventful answer to the 24-hour check: tests change the one answer they are about.
CALM = {
    "soreness": ["2"],
    "trend": ["better"],
    "bleeding": ["none"],
    "bruising": ["none"],
    "numbness": ["no"],
    "fainted": ["no"],
    "needle_found": ["no"],
    "chest": ["no"],
}
#: The same answers as single form values, for a session that needled away from the chest
#: (its form asks nothing about the chest).
CALM_FIELDS = {name: values[0] for name, values in CALM.items() if name != "chest"}
#: Sign in answers for needling the shoulder girdle: the follow-ups then ask about the chest.
NEAR_LUNG = {
    "signin.regions": ["shoulder", "lumbar"],
    "signin.lung_precaution": ["25 mm needles, angled onto the scapula"],
    "signin.lung_risk": ["none"],
    "signin.position": ["prone"],
}
TOKEN = re.compile(r"/f/([A-Za-z0-9_-]+)\n")


def signer(make_session, practitioner) -> Callable[..., TreatmentSession]:
    """Return a function that signs a clean checklist for a patient who agreed to email."""

    def sign(overrides: dict | None = None, patient=None) -> TreatmentSession:
        return make_session(
            practitioner, phases=ALL_PHASES, overrides=overrides, sign=True, patient=patient
        )

    return sign


def add_patient(practitioner, *, email: str | None, phone: str | None, consent: bool = True):
    """Register Grace Hopper with the contacts given, for a test about how she is reached."""
    patient = clinics.add_patient(
        practitioner,
        given_name="Grace",
        family_name="Hopper",
        email=email,
        phone=phone,
        is_followup_consent=consent,
    )
    return saved(patient)


def outbox_of(session_id: int) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .join(FollowUp, OutboxMessage.followup_id == FollowUp.id)
            .where(FollowUp.session_id == session_id)
            .order_by(OutboxMessage.id)
        )
    )


def followups_of(session_id: int) -> list[FollowUp]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(FollowUp).where(FollowUp.session_id == session_id).order_by(FollowUp.id)
        )
    )


def first_check(session_id: int) -> OutboxMessage:
    return next(r for r in outbox_of(session_id) if not r.is_reminder)


def messages() -> list[DevMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(DevMessage).order_by(DevMessage.id)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def token_of(message: DevMessage) -> str:
    match = TOKEN.search(message.body)
    assert match, message.body
    return match.group(1)


def deliver_first_check(session: TreatmentSession):
    """Run the worker when the 24 h check is due; return that moment and the patient's token."""
    due = first_check(session.id).next_attempt_dt
    assert work_once("worker", now=due) == {"sent": 1}
    return due, token_of(messages()[-1])


def deliver_first_checks(*sessions: TreatmentSession):
    """Run the worker once all their 24 h checks are due; return that moment and each patient's
    token, in order. Sessions signed a moment apart fall due together in the clinic's quiet
    hours, so delivering one check at its time may send the others too."""
    due = max(first_check(s.id).next_attempt_dt for s in sessions)
    assert work_once("worker", now=due) == {"sent": len(sessions)}
    sent_for = {row.id: row.followup.session_id for s in sessions for row in outbox_of(s.id)}
    tokens = {sent_for.get(m.outbox_id): token_of(m) for m in messages()}
    return due, [tokens[s.id] for s in sessions]


def answer(token: str, changes: dict, *, now) -> followup_patient.Outcome:
    """Answer the form as CALM but for `changes`, and commit as the route does."""
    outcome = followup_patient.answer(token, {**CALM, **changes}, now=now)
    db.session.commit()
    return outcome


def three_at_once(app, job: Callable[[], None]) -> list[BaseException]:
    """Run a job in three threads released together, each in its own app context (its own
    connection); return what any of them raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                job()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors
