"""The outbox worker: claim due messages, compose them, send them, record what happened.

Rows are written by the transaction that caused them (`schedule`, `patient`); this module is the
only one that takes them out. Several workers may run against one database: a row is claimed
under a lease, so a crash or an SMTP outage delays a message but never loses it nor sends it
twice; failures back off (`rules.backoff`) and after the last attempt the message is marked
failed and flagged for a person. Unlike the use cases it commits itself, batch by batch,
because a message must never leave before the link it carries is stored.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import joinedload

from safety import i18n
from safety.audit import services as audit
from safety.checklists.models import Flag, Severity, TreatmentSession
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup import rules, texts
from safety.followup.backends import Backend, DeliveryError, Outgoing, backend_for
from safety.followup.escalations import (
    escalate_unacknowledged,
    fail_unsendable_checks,
    flag_unanswered_chest_checks,
    practitioner_gone,
    raise_not_sent,
)
from safety.followup.models import FollowUp, OutboxMessage, OutboxStatus, Purpose
from safety.followup.patient import CLOSED, issue_link
from safety.followup.rules import Status
from safety.incidents import rules as incident_rules
from safety.incidents.alerts import alert_untouched_steps
from safety.incidents.models import Incident

log = logging.getLogger(__name__)

#: Rows sent per commit; small enough to finish well inside a lease.
BATCH = 100


def work_once(
    worker: str,
    *,
    now: datetime | None = None,
    budget: float | None = None,
    limit: int | None = None,
) -> dict[str, int]:
    """Deliver what is due, batch by batch, until nothing is; returns counts per outcome.

    A pass also ends when its time budget (REMINDER_WORK_BUDGET_SECONDS) is spent, so a cron
    run once a minute does not overlap the next by much, and at the first failed send: the
    server is likely down, and the rows it released would only be claimed again at once.
    `limit` caps the rows of this pass (benchmarks). Without `now` each batch is claimed at
    the current time, so a long drain never hands out leases that have already run out.
    """
    backend = backend_for(current_app.config)
    if budget is None:
        budget = current_app.config["REMINDER_WORK_BUDGET_SECONDS"]
    deadline = time.monotonic() + budget
    counts: dict[str, int] = {}

    def add(batch: dict[str, int]) -> None:
        for outcome, n in batch.items():
            counts[outcome] = counts.get(outcome, 0) + n

    # Chest checks nobody answered: to the practitioner's list, to call the patient (and on to
    # the duty address in this very pass when the practitioner's account is disabled).
    if silent := flag_unanswered_chest_checks(now=now or utcnow()):
        counts["unanswered"] = silent
    # Overdue escalations before sending: their messages are then due in this very pass.
    if escalated := escalate_unacknowledged(now=now or utcnow()):
        counts["escalated"] = escalated
    # Urgent post-exposure steps left untouched after a sharps injury: to the clinic lead.
    if step_alerts := alert_untouched_steps(now=now):
        counts["step_alerts"] = step_alerts
    db.session.commit()
    claimed = 0
    try:
        while limit is None or claimed < limit:
            moment = now or utcnow()
            size = BATCH if limit is None else min(BATCH, limit - claimed)
            ids = claim(worker, now=moment, limit=size)
            if not ids:
                break
            claimed += len(ids)
            batch = deliver_batch(ids, backend, worker=worker, now=moment)
            add(batch)
            if "retry" in batch or "failed" in batch:
                break
            if len(ids) < size:  # nothing else was due, or other workers hold it
                break
            if time.monotonic() >= deadline:
                counts["budget_spent"] = 1
                break
    finally:
        backend.close()
    # Checks that nothing will send any more, including those whose message this pass
    # dropped for want of an address: a person is told now, not never.
    if unsendable := fail_unsendable_checks(now=now or utcnow()):
        counts["not_sent"] = unsendable
    db.session.commit()
    return counts


# --- claiming ---------------------------------------------------------------------------------


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
        OutboxMessage.status == OutboxStatus.PENDING,
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


# --- composing --------------------------------------------------------------------------------


def _domain() -> str:
    return urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"


def _compose(row: OutboxMessage, *, now: datetime) -> Outgoing | None:
    """Build the message for a claimed row, or None when it is no longer needed."""
    base = current_app.config["BASE_URL"].rstrip("/")
    mid = rules.message_id(row.id, _domain())
    if row.purpose == Purpose.DUTY_ESCALATION:
        flag = db.session.get(Flag, row.flag_id)
        clinic = flag.session.clinic
        message = rules.duty_escalation(
            level=flag.kind,
            clinic=clinic.name,
            link=f"{base}/sessions/{flag.session_id}",
            say=i18n.translator(clinic.language),
            practitioner_gone=practitioner_gone(flag.session),
            calls=flag.call_attempts,
            not_sent=flag.message in rules.CHEST_CHECK_NOT_SENT.values(),
        )
        return Outgoing(
            row.id, "email", clinic.duty_email, message.subject, message.text, mid, clinic.id
        )
    if row.purpose == Purpose.INCIDENT_ALERT:
        return _compose_step_alert(row, base, mid)
    if row.purpose in {Purpose.ON_CALL_ALERT, Purpose.ON_CALL_ESCALATION}:
        return _compose_on_call_text(row, base, mid)
    if row.purpose in {Purpose.PRACTITIONER_ALERT, Purpose.CLINIC_ALERT}:
        flag = db.session.get(Flag, row.flag_id)
        session = flag.session
        to_practitioner = row.purpose == Purpose.PRACTITIONER_ALERT and not practitioner_gone(
            session
        )
        message = rules.practitioner_alert(
            level=flag.kind,
            clinic=session.clinic.name,
            link=f"{base}/sessions/{session.id}",
            # The practitioner reads it in their language; the duty address in the clinic's.
            say=i18n.translator(
                session.practitioner.language if to_practitioner else session.clinic.language
            ),
        )
        to = (
            session.practitioner.email
            if to_practitioner
            else session.clinic.duty_email  # the practitioner left after the answer came in
        )
        if not to:
            return None
        return Outgoing(row.id, "email", to, message.subject, message.text, mid, session.clinic_id)
    followup = row.followup
    session = followup.session
    patient = session.patient
    # Nothing to a patient who stopped the messages or withdrew consent at the desk (whose
    # messages that cancelled), whatever is still waiting.
    if followup.status in CLOSED or patient.opted_out_dt or not patient.is_followup_consent:
        return None
    token = issue_link(followup, now=now)
    message = rules.patient_message(
        first_name=patient.given_name,
        clinic=session.clinic.name,
        appointment=session.session_date,
        link=f"{base}/f/{token}",
        stop_link=f"{base}/f/{token}/stop",
        is_reminder=row.is_reminder,
        kind=followup.kind,
        said=texts.for_language(patient.language),
    )
    recipient = patient.email if followup.channel == "email" else patient.phone
    if not recipient:
        return None
    return Outgoing(
        row.id, followup.channel, recipient, message.subject, message.text, mid, session.clinic_id
    )


def _compose_on_call_text(row: OutboxMessage, base: str, mid: str) -> Outgoing | None:
    """The text to the clinic's on-call mobile; None once someone has acknowledged the answer
    (handling and resolving it acknowledge it too: nobody is woken for what a person already
    has in hand), or once the clinic has no mobile any more."""
    flag = db.session.get(Flag, row.flag_id)
    clinic = flag.session.clinic
    if not clinic.duty_phone or flag.acknowledged_dt:
        return None
    message = rules.on_call_text(
        level=flag.kind,
        clinic=clinic.name,
        link=f"{base}/sessions/{flag.session_id}",
        escalated=row.purpose == Purpose.ON_CALL_ESCALATION,
        say=i18n.translator(clinic.language),
    )
    return Outgoing(row.id, "sms", clinic.duty_phone, message.subject, message.text, mid, clinic.id)


def _compose_step_alert(row: OutboxMessage, base: str, mid: str) -> Outgoing | None:
    """The clinic lead's alert about the untouched urgent steps; None once every step that
    alerted is ticked. A lead who left is replaced by the duty address."""
    incident = db.session.get(Incident, row.incident_id)
    clinic = incident.clinic
    done = {s.step for s in incident.steps}
    waiting = [incident_rules.STEPS_BY_ID[a.step] for a in incident.alerts if a.step not in done]
    if not waiting:
        return None
    lead = row.recipient
    to_lead = lead is not None and lead.is_enabled
    message = incident_rules.step_alert(
        steps=waiting,
        clinic=clinic.name,
        link=f"{base}/incidents/{incident.id}",
        say=i18n.translator(lead.language if to_lead else clinic.language),
    )
    to = lead.email if to_lead else clinic.duty_email
    return Outgoing(row.id, "email", to, message.subject, message.text, mid, clinic.id)


# --- delivering -------------------------------------------------------------------------------


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
        if row.status != OutboxStatus.PENDING or row.leased_by != worker:
            count("skipped")
            continue
        outgoing = _compose(row, now=now)
        if outgoing is None:
            row.status, row.lease_until_dt = OutboxStatus.CANCELLED, None
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
            status=OutboxStatus.SENT,
            sent_dt=now,
            attempts=OutboxMessage.attempts + 1,
            lease_until_dt=None,
        )
    )
    followups = select(OutboxMessage.followup_id).where(OutboxMessage.id.in_(ids))
    db.session.execute(
        update(FollowUp)
        .where(FollowUp.id.in_(followups), FollowUp.status == Status.SCHEDULED)
        .values(status=Status.SENT)
    )
    audit.record_many(
        [
            audit.Entry(
                action="reminder.sent",
                object_type="outbox",
                object_id=str(o.outbox_id),
                details={"channel": o.channel},
                chain=o.clinic_id or 0,
            )
            for o in sent
        ],
        now=now,
    )


# --- failures ---------------------------------------------------------------------------------


def _record_failure(outbox_id: int, error: str, *, now: datetime) -> str:
    """Back a failed row off, or after its last attempt mark it failed and flag it."""
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
    row.status = OutboxStatus.FAILED
    if row.incident_id is not None:
        # A red flag is never only stored: a lead's alert that cannot be delivered goes to the
        # clinic's duty address; one the duty address cannot take shows on the incident.
        if row.recipient_id is not None:
            db.session.add(
                OutboxMessage(
                    purpose=Purpose.INCIDENT_ALERT,
                    incident_id=row.incident_id,
                    next_attempt_dt=now,
                    created_dt=now,
                )
            )
        audit.record(
            "reminder.failed",
            obj=row,
            object_type="outbox",
            details={
                "attempts": row.attempts,
                "incident": row.incident_id,
                "to_duty_address": row.recipient_id is not None,
            },
            now=now,
        )
        db.session.commit()
        log.error("incident alert %s failed after %s attempts", row.id, row.attempts)
        return "failed"
    audit.record(
        "reminder.failed",
        obj=row,
        object_type="outbox",
        details={"attempts": row.attempts},
        now=now,
    )
    followup = row.followup
    if followup is not None and followup.status == Status.SCHEDULED:
        followup.status = Status.FAILED
        # A chest check that could not be delivered is a call to make, on the practitioner's
        # list; any other check's failure goes to the flags queue below.
        if raise_not_sent(followup, rules.UNDELIVERED, now=now) is not None:
            db.session.commit()
            log.error("reminder %s failed after %s attempts", row.id, row.attempts)
            return "failed"
    flag = Flag(
        session_id=followup.session_id
        if followup is not None
        else db.session.get(Flag, row.flag_id).session_id,
        kind=rules.REMINDER_FAILED,
        severity=Severity.MEDIUM,
        message=f"A follow-up message could not be delivered after {row.attempts} attempts.",
        followup_id=row.followup_id,
        created_dt=now,
    )
    db.session.add(flag)
    db.session.flush()
    audit.record("flag.raise", obj=flag, details=flag.raise_details, now=now)
    db.session.commit()
    log.error("reminder %s failed after %s attempts", row.id, row.attempts)
    return "failed"
