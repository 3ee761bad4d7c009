"""What staff read of follow-ups: a record's timeline and the escalations waiting for them.

Reads only: nothing here writes, so the record page and the practitioner's list can ask as
often as they render.
"""

from __future__ import annotations

from sqlalchemy import select

from safety.checklists.models import Flag, FlagStatus, Severity, TreatmentSession
from safety.extensions import db
from safety.followup import rules
from safety.followup.models import FollowUp, PatientResponse


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
                Flag.status == FlagStatus.OPEN,
            )
            .order_by((Flag.severity == Severity.CRITICAL).desc(), Flag.created_dt)
        )
    )
