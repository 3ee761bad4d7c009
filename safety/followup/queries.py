"""What staff read of follow-ups: a record's timeline of checks and answers.

Reads only: nothing here writes, so the record page can ask as often as it renders. The
answers waiting for a practitioner are `escalations.waiting_for`, scoped by the policy.
"""

from __future__ import annotations

from sqlalchemy import select

from safety.checklists.models import TreatmentSession
from safety.extensions import db
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
