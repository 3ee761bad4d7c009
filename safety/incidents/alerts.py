"""The clinic lead hears of an urgent post-exposure step left untouched (DESIGN §10).

The reminder worker runs `alert_untouched_steps` on every pass: each urgent step that passed
its time untouched alerts once (a unique row per step, so two workers never both send), by an
outbox message per clinic lead, or to the clinic's duty address when there is no lead. The
worker sends a lead's undeliverable alert on to the duty address; one nobody could receive
shows on the incident.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from safety.audit import services as audit
from safety.auth.models import Role, User
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup.models import OutboxMessage, OutboxStatus, Purpose
from safety.incidents import rules
from safety.incidents.models import Incident, IncidentAlert

#: Alerts are looked for on incidents reported this recently: the longest urgent step is due
#: hours after the injury, so anything older has alerted already or was reported late.
ALERT_WINDOW = timedelta(days=7)


def undelivered_alerts(incident: Incident) -> int:
    """Return how many of the incident's alerts could not be delivered to anyone."""
    return db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.incident_id == incident.id,
            OutboxMessage.recipient_id.is_(None),
            OutboxMessage.status == OutboxStatus.FAILED,
        )
    )


def clinic_leads(clinic_id: int) -> list[User]:
    """Return the enabled clinic leads of a clinic."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.lead_clinic_id == clinic_id,
                User.is_enabled.is_(True),
                User.role == Role.PRACTITIONER,
            )
            .order_by(User.id)
        )
    )


def alert_untouched_steps(*, now: datetime | None = None) -> int:
    """Alert the clinic lead about every urgent post-exposure step left untouched past its
    time, once per step, through the outbox; returns how many steps alerted. The caller
    commits; the reminder worker runs this on every pass.

    With no clinic lead (or none enabled) the alert goes to the clinic's duty address: a red
    flag is never only stored.
    """
    now = now or utcnow()
    incidents = db.session.scalars(
        select(Incident)
        .where(
            Incident.kind == rules.Kind.SHARPS_INJURY,
            Incident.signed_dt >= now - ALERT_WINDOW,
        )
        .options(selectinload(Incident.steps), selectinload(Incident.alerts))
        .order_by(Incident.id)
    ).all()
    alerted = 0
    for incident in incidents:
        due = rules.steps_to_alert(
            incident.occurred_dt,
            {s.step for s in incident.steps},
            {a.step for a in incident.alerts},
            now,
            rules.steps_for(incident.is_used_on_patient),
        )
        fresh: list[str] = []
        for step in due:
            try:
                with db.session.begin_nested():  # another worker may alert the same step
                    db.session.add(
                        IncidentAlert(incident_id=incident.id, step=step.id, alerted_dt=now)
                    )
            except IntegrityError:
                continue
            fresh.append(step.id)
        if not fresh:
            continue
        # One message per lead for the steps that fell due in this pass: it lists them all.
        recipients = [lead.id for lead in clinic_leads(incident.clinic_id)] or [None]
        for recipient in recipients:
            db.session.add(
                OutboxMessage(
                    purpose=Purpose.INCIDENT_ALERT,
                    incident_id=incident.id,
                    recipient_id=recipient,
                    next_attempt_dt=now,
                    created_dt=now,
                )
            )
        for step_id in fresh:
            audit.record(
                "incident.step_alert",
                obj=incident,
                details={"step": step_id, "to_leads": recipients != [None]},
                now=now,
            )
        alerted += len(fresh)
    db.session.flush()
    return alerted
