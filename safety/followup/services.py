"""Follow-up use cases: schedule at signing, deliver through the outbox, take patient answers."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from safety.audit import services as audit
from safety.checklists.models import Flag, TreatmentSession
from safety.clinics.models import Patient
from safety.dbtypes import utcnow
from safety.errors import DomainError, NotFound
from safety.extensions import db
from safety.followup import rules
from safety.followup.backends import Backend, DeliveryError, Outgoing, backend_for
from safety.followup.models import FollowUp, OutboxMessage, PatientLink, PatientResponse

log = logging.getLogger(__name__)

#: Rows sent per commit; small enough to finish well inside a lease.
BATCH = 100
PATIENT_REMINDER = "patient_reminder"
PRACTITIONER_ALERT = "practitioner_alert"
CLINIC_ALERT = "clinic_alert"


# --- scheduling -------------------------------------------------------------------------------


def schedule_for_signed_session(session: TreatmentSession, *, now: datetime) -> list[FollowUp]:
    """Write the follow-ups of a just-signed session in the signing transaction.

    Only when the patient agreed, chose a channel at sign out, has a contact for it and has
    not opted out.
    """
    patient: Patient = session.patient
    channel = (session.answers or {}).get("signout.followup")
    if channel not in {"email", "sms"} or not patient.is_followup_consent:
        return []
    if patient.opted_out_dt is not None or not (
        patient.email if channel == "email" else patient.phone
    ):
        return []
    zone = session.clinic.zone
    with_day7 = "bloodborne_infection" in session.template_version.definition.get("kinds", [])
    followups: dict[str, FollowUp] = {}
    for plan in rules.plan_at_signing(session.signed_dt, zone, with_day7=with_day7):
        followup = followups.get(plan.kind)
        if followup is None:
            followup = FollowUp(
                session_id=session.id,
                kind=plan.kind,
                channel=channel,
                due_dt=plan.due,
                created_dt=now,
            )
            db.session.add(followup)
            db.session.flush()
            followups[plan.kind] = followup
        db.session.add(
            OutboxMessage(
                purpose=PATIENT_REMINDER,
                followup_id=followup.id,
                is_reminder=plan.is_reminder,
                next_attempt_dt=plan.due,
                created_dt=now,
            )
        )
    db.session.flush()
    audit.record(
        "followup.schedule",
        obj=session,
        details={"kinds": sorted(followups), "channel": channel},
        now=now,
    )
    return list(followups.values())


# --- patient links ----------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(followup: FollowUp, *, now: datetime) -> str:
    """Create a fresh patient link and return its token (stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        PatientLink(
            followup_id=followup.id,
            token_hash=_hash_token(token),
            created_dt=now,
            expires_dt=now + rules.LINK_LIFETIME,
        )
    )
    return token


def find_link(token: str, *, now: datetime, for_answer: bool = True) -> PatientLink:
    """Return the link for a token, or NotFound for anything forged, expired, used or revoked.

    The same answer for every failure, so a link never reveals whether a patient exists.
    """
    if not (20 <= len(token) <= 100) or not token.replace("-", "").replace("_", "").isalnum():
        raise NotFound()
    link = db.session.scalar(
        select(PatientLink).where(PatientLink.token_hash == _hash_token(token))
    )
    if link is None or link.revoked_dt is not None:
        raise NotFound()
    if for_answer and (link.used_dt is not None or now >= link.expires_dt):
        raise NotFound()
    if for_answer and link.followup.status in {"answered", "cancelled"}:
        raise NotFound()
    return link


def revoke_links(followup_id: int, *, actor, now: datetime | None = None) -> int:
    """Revoke every open link of a follow-up (e.g. sent to the wrong address)."""
    now = now or utcnow()
    result = db.session.execute(
        update(PatientLink)
        .where(PatientLink.followup_id == followup_id, PatientLink.revoked_dt.is_(None))
        .values(revoked_dt=now)
    )
    audit.record(
        "followup.revoke_links",
        actor=actor,
        object_type="followups",
        object_id=followup_id,
        now=now,
    )
    return result.rowcount


@dataclass(frozen=True)
class Outcome:
    level: str
    followup_kind: str


def answer(token: str, form, *, now: datetime | None = None) -> Outcome:
    """Record a patient's answer once, escalate it, and plan the 72 h check when needed.

    An emergency answer is never sent back for the questions left out: a patient with chest
    pain who skipped the bruising question must reach someone now, so what they did answer
    is recorded and escalated, and the missing answers simply stay missing.
    """
    now = now or utcnow()
    link = find_link(token, now=now)
    read = rules.read_form(form)
    followup = link.followup
    session = followup.session
    level = rules.escalation(followup.kind, read.answers)
    if read.errors and level != rules.EMERGENCY:
        raise DomainError("Please answer the questions marked below.", read.errors)
    response = PatientResponse(
        followup_id=followup.id,
        session_id=session.id,
        answers=read.answers,
        escalation=level,
        created_dt=now,
    )
    db.session.add(response)
    link.used_dt = now
    followup.status = "answered"
    followup.answered_dt = now
    try:
        db.session.flush()
    except IntegrityError:  # the same form sent twice at once: the first answer stands
        db.session.rollback()
        raise NotFound() from None
    audit.record(
        "followup.response",
        obj=response,
        details={"followup": followup.id, "kind": followup.kind, "escalation": level},
        now=now,
    )
    # The unanswered-check reminder is no longer needed.
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.followup_id == followup.id, OutboxMessage.status == "pending")
        .values(status="cancelled")
    )
    if level != rules.NONE:
        flag = Flag(
            session_id=session.id,
            kind=level,
            severity=rules.SEVERITY[level],
            link_id=None,
            message=_flag_message(level, followup.kind),
            response_id=response.id,
            created_dt=now,
        )
        db.session.add(flag)
        db.session.flush()
        if level in {rules.EMERGENCY, rules.SAME_DAY}:
            purposes = _alert_purposes(level, session)
            for purpose in purposes:
                db.session.add(
                    OutboxMessage(
                        purpose=purpose, flag_id=flag.id, next_attempt_dt=now, created_dt=now
                    )
                )
        audit.record("flag.raise", obj=flag, details={"kind": level}, now=now)
    if followup.kind == "24h" and rules.needs_72h(read.answers):
        due = rules.due_72h(session.signed_dt, session.clinic.zone)
        later = FollowUp(
            session_id=session.id, kind="72h", channel=followup.channel, due_dt=due, created_dt=now
        )
        db.session.add(later)
        db.session.flush()
        db.session.add(
            OutboxMessage(
                purpose=PATIENT_REMINDER,
                followup_id=later.id,
                next_attempt_dt=max(due, now),
                created_dt=now,
            )
        )
    return Outcome(level, followup.kind)


def _flag_message(level: str, kind: str) -> str:
    return {
        rules.EMERGENCY: f"Emergency answer on the {kind} follow-up: chest pain, "
        "breathlessness or bleeding that will not stop.",
        rules.SAME_DAY: f"Same-day answer on the {kind} follow-up: infection signs "
        "or a large or spreading bruise.",
        rules.REVIEW: f"Review: strong or lasting soreness on the {kind} follow-up.",
    }[level]


def opt_out(token: str, *, now: datetime | None = None) -> None:
    """Stop every message to the patient a link belongs to; nothing more is sent."""
    now = now or utcnow()
    link = find_link(token, now=now, for_answer=False)
    session = link.followup.session
    patient = session.patient
    if patient.opted_out_dt is None:
        patient.opted_out_dt = now
        patient.is_followup_consent = False
    pending = (
        select(FollowUp.id).join(TreatmentSession).where(TreatmentSession.patient_id == patient.id)
    )
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.followup_id.in_(pending), OutboxMessage.status == "pending")
        .values(status="cancelled")
    )
    db.session.execute(
        update(FollowUp)
        .where(FollowUp.id.in_(pending), FollowUp.status.in_(["scheduled", "sent"]))
        .values(status="cancelled")
    )
    audit.record("patient.opt_out", obj=patient, now=now)


def link_context(token: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Return what the patient form may show: first name, clinic, appointment date, kind."""
    link = find_link(token, now=now or utcnow())
    session = link.followup.session
    return {
        "first_name": session.patient.given_name,
        "clinic": session.clinic.name,
        "appointment": session.session_date,
        "kind": link.followup.kind,
    }


# --- the worker -------------------------------------------------------------------------------


def claim(
    worker: str, *, now: datetime, limit: int = 50, lease: timedelta | None = None
) -> list[int]:
    """Claim due outbox rows under a lease; committed so other workers skip them.

    On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED so concurrent workers
    take different rows; the lease condition is repeated in the UPDATE so a row another
    worker claimed in the meantime is not taken twice. SQLite has one writer at a time.
    """
    lease = lease or timedelta(seconds=current_app.config["REMINDER_LEASE_SECONDS"])
    free = and_(
        OutboxMessage.status == "pending",
        OutboxMessage.next_attempt_dt <= now,
        or_(OutboxMessage.lease_until_dt.is_(None), OutboxMessage.lease_until_dt < now),
    )
    candidates = (
        select(OutboxMessage.id)
        .where(free)
        .order_by(OutboxMessage.next_attempt_dt, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(db.session.scalars(candidates))
    if not ids:
        db.session.commit()
        return []
    claimed = db.session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), free)
        .values(lease_until_dt=now + lease, leased_by=worker)
        .returning(OutboxMessage.id)
    ).all()
    db.session.commit()
    return sorted(claimed)


def _alert_purposes(level: str, session: TreatmentSession) -> list[str]:
    """Who is alerted: the practitioner, and the clinic's duty address for an emergency.

    A practitioner who has left (deactivated) cannot act on an alert, so the clinic's address
    takes it instead. With no one to write to, the flag still heads the compliance queue.
    """
    purposes = []
    practitioner_here = session.practitioner.is_enabled
    if practitioner_here:
        purposes.append(PRACTITIONER_ALERT)
    if session.clinic.alert_email and (level == rules.EMERGENCY or not practitioner_here):
        purposes.append(CLINIC_ALERT)
    return purposes


def _domain() -> str:
    return urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"


def _compose(row: OutboxMessage, *, now: datetime) -> Outgoing | None:
    """Build the message for a claimed row, or None when it is no longer needed."""
    base = current_app.config["BASE_URL"].rstrip("/")
    mid = rules.message_id(row.id, _domain())
    if row.purpose in {PRACTITIONER_ALERT, CLINIC_ALERT}:
        flag = db.session.get(Flag, row.flag_id)
        session = flag.session
        message = rules.practitioner_alert(
            level=flag.kind, clinic=session.clinic.name, link=f"{base}/sessions/{session.id}"
        )
        to = (
            session.practitioner.email
            if row.purpose == PRACTITIONER_ALERT and session.practitioner.is_enabled
            else session.clinic.alert_email  # the practitioner left after the answer came in
        )
        if not to:
            return None
        return Outgoing(row.id, "email", to, message.subject, message.text, mid)
    followup = row.followup
    session = followup.session
    patient = session.patient
    if followup.status in {"answered", "cancelled"} or patient.opted_out_dt is not None:
        return None
    token = issue_link(followup, now=now)
    message = rules.patient_message(
        first_name=patient.given_name,
        clinic=session.clinic.name,
        appointment=session.session_date,
        link=f"{base}/f/{token}",
        stop_link=f"{base}/f/{token}/stop",
        is_reminder=row.is_reminder,
    )
    recipient = patient.email if followup.channel == "email" else patient.phone
    if not recipient:
        return None
    return Outgoing(row.id, followup.channel, recipient, message.subject, message.text, mid)


def deliver(outbox_id: int, backend: Backend, *, worker: str, now: datetime | None = None) -> str:
    """Send one claimed row and record the outcome; returns sent, cancelled, retry or failed."""
    counts = deliver_batch([outbox_id], backend, worker=worker, now=now)
    return next(iter(counts), "skipped")


def deliver_batch(
    ids: list[int], backend: Backend, *, worker: str, now: datetime | None = None
) -> dict[str, int]:
    """Send a batch of claimed rows over one connection and record each outcome.

    Links are committed before any message carrying them leaves. A send failure stops the
    batch: that row backs off, the rest are released unattempted, so an unreachable server
    never holds rows past their lease.
    """
    now = now or utcnow()
    counts: dict[str, int] = {}

    def count(outcome: str, n: int = 1) -> None:
        counts[outcome] = counts.get(outcome, 0) + n

    prepared: list[Outgoing] = []
    rows = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .options(
            joinedload(OutboxMessage.followup)
            .joinedload(FollowUp.session)
            .options(joinedload(TreatmentSession.patient), joinedload(TreatmentSession.clinic))
        )
        .order_by(OutboxMessage.id)
    ).all()
    for row in rows:
        if row.status != "pending" or row.leased_by != worker:
            count("skipped")
            continue
        outgoing = _compose(row, now=now)
        if outgoing is None:
            row.status, row.lease_until_dt = "cancelled", None
            count("cancelled")
            continue
        prepared.append(outgoing)
    count("skipped", len(ids) - len(rows))
    db.session.commit()
    sent: list[Outgoing] = []
    failure: tuple[int, str] | None = None
    for index, outgoing in enumerate(prepared):
        try:
            backend.send(outgoing)
        except DeliveryError as exc:
            failure = (index, str(exc))
            break
        sent.append(outgoing)
    _mark_sent(sent, now=now)
    db.session.commit()
    count("sent", len(sent))
    if failure is not None:
        index, error = failure
        count(_record_failure(prepared[index].outbox_id, error, now=now))
        rest = [o.outbox_id for o in prepared[index + 1 :]]
        if rest:
            db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(rest), OutboxMessage.leased_by == worker)
                .values(lease_until_dt=None)
            )
            db.session.commit()
            count("released", len(rest))
    return {k: v for k, v in counts.items() if v}


def _mark_sent(sent: list[Outgoing], *, now: datetime) -> None:
    """Record a batch of deliveries: the rows, their follow-ups and one audit event each."""
    if not sent:
        return
    ids = [o.outbox_id for o in sent]
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(
            status="sent",
            sent_dt=now,
            attempts=OutboxMessage.attempts + 1,
            lease_until_dt=None,
        )
    )
    followups = select(OutboxMessage.followup_id).where(OutboxMessage.id.in_(ids))
    db.session.execute(
        update(FollowUp)
        .where(FollowUp.id.in_(followups), FollowUp.status == "scheduled")
        .values(status="sent")
    )
    audit.record_many(
        [
            audit.Entry(
                action="reminder.sent",
                object_type="outbox",
                object_id=str(o.outbox_id),
                details={"channel": o.channel},
            )
            for o in sent
        ],
        now=now,
    )


def _record_failure(outbox_id: int, error: str, *, now: datetime) -> str:
    row = db.session.get(OutboxMessage, outbox_id)
    row.attempts += 1
    row.last_error = error[:500]
    row.lease_until_dt = None
    wait = rules.backoff(row.attempts)
    if wait is not None:
        row.next_attempt_dt = now + wait
        log.warning("reminder %s attempt %s failed; retrying in %s", row.id, row.attempts, wait)
        db.session.commit()
        return "retry"
    row.status = "failed"
    session_id = (
        row.followup.session_id
        if row.followup is not None
        else db.session.get(Flag, row.flag_id).session_id
    )
    flag = Flag(
        session_id=session_id,
        kind="reminder_failed",
        severity="medium",
        message=f"A follow-up message could not be delivered after {row.attempts} attempts.",
        followup_id=row.followup_id,
        created_dt=now,
    )
    db.session.add(flag)
    if row.followup is not None and row.followup.status == "scheduled":
        row.followup.status = "failed"
    audit.record(
        "reminder.failed",
        obj=row,
        object_type="outbox",
        details={"attempts": row.attempts},
        now=now,
    )
    db.session.commit()
    log.error("reminder %s failed after %s attempts", row.id, row.attempts)
    return "failed"


def work_once(worker: str, *, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Claim and deliver what is due now; returns counts per outcome."""
    now = now or utcnow()
    backend = backend_for(current_app.config)
    counts: dict[str, int] = {}
    try:
        ids = claim(worker, now=now, limit=limit)
        for start in range(0, len(ids), BATCH):
            for outcome, n in deliver_batch(
                ids[start : start + BATCH], backend, worker=worker, now=now
            ).items():
                counts[outcome] = counts.get(outcome, 0) + n
    finally:
        backend.close()
    return counts


# --- what practitioners and compliance see ---------------------------------------------------


def timeline(session: TreatmentSession) -> list[tuple[FollowUp, PatientResponse | None]]:
    """Return a session's follow-ups in due order, each with the patient's answer if any."""
    followups = db.session.scalars(
        select(FollowUp)
        .where(FollowUp.session_id == session.id)
        .order_by(FollowUp.due_dt, FollowUp.id)
    ).all()
    responses = {
        r.followup_id: r
        for r in db.session.scalars(
            select(PatientResponse).where(PatientResponse.session_id == session.id)
        )
    }
    return [(f, responses.get(f.id)) for f in followups]


def open_escalations(actor) -> list[Flag]:
    """Return unacknowledged emergency and same-day flags on the practitioner's own sessions."""
    return list(
        db.session.scalars(
            select(Flag)
            .join(TreatmentSession)
            .where(
                TreatmentSession.practitioner_id == actor.id,
                Flag.kind.in_([rules.EMERGENCY, rules.SAME_DAY]),
                Flag.status == "open",
            )
            .order_by((Flag.severity == "critical").desc(), Flag.created_dt)
        )
    )
