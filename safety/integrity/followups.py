"""Verify the follow-ups: each check a signature scheduled is still there, and a check reads
answered exactly when the patient's answer (held to its own event, responses.py) is there.

A follow-up's status is meant to change (sent, answered, failed, cancelled), so no trigger
guards it, and nothing held it: an insider's review marked a 24-hour check answered with no
answer, which stopped its reminders and the silence flag of a chest check, and deleted a
7-day check, and verify said intact; the dashboard's response rate rose with it.

What it does not hold yet: when a check was sent or why it was cancelled (the reminder and
opt-out events name the outbox and the patient, not the check's status).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.orm import Session

from safety.audit.models import AuditEvent
from safety.checklists.models import TreatmentSession
from safety.followup.models import FollowUp, PatientResponse
from safety.followup.rules import Kind, Status

SCHEDULE = "followup.schedule"


def verify_followups(db_: Connection | Session) -> str | None:
    """Name the first follow-up answered without an answer (or not answered with one), or a
    check its schedule event lists that is missing."""
    # One answer per check (a unique key): answered exactly when the answer is there, at its
    # time.
    first = db_.scalar(
        select(func.min(FollowUp.id))
        .outerjoin(PatientResponse, PatientResponse.followup_id == FollowUp.id)
        .where(
            or_(
                and_(FollowUp.status == Status.ANSWERED, PatientResponse.id.is_(None)),
                and_(
                    PatientResponse.id.is_not(None),
                    or_(
                        FollowUp.status != Status.ANSWERED,
                        FollowUp.answered_dt.is_distinct_from(PatientResponse.created_dt),
                    ),
                ),
            )
        )
    )
    if first is not None:
        return (
            f"follow-up {first} reads answered without the patient's answer, or the other way round"
        )
    return _scheduled(db_)


def _scheduled(db_: Connection | Session) -> str | None:
    """Each check a session's followup.schedule event lists has its row (the 72-hour check
    comes later, from an answer, so it is counted apart)."""
    is_schedule = and_(
        AuditEvent.action == SCHEDULE, AuditEvent.object_type == TreatmentSession.__tablename__
    )
    dialect = (db_ if isinstance(db_, Connection) else db_.connection()).dialect.name
    listed = (
        func.json_array_length(AuditEvent.details["kinds"])
        if dialect == "postgresql"
        else func.json_array_length(AuditEvent.details, "$.kinds")
    )
    scheduled, rows = db_.execute(
        select(
            select(func.coalesce(func.sum(listed), 0)).where(is_schedule).scalar_subquery(),
            select(func.count())
            .select_from(FollowUp)
            .where(FollowUp.kind != Kind.DAY_3)
            .scalar_subquery(),
        )
    ).one()
    if scheduled == rows:
        return None
    # Rare: find the session, one reading of both.
    expected: Counter = Counter()
    for object_id, details in db_.execute(
        select(AuditEvent.object_id, AuditEvent.details).where(is_schedule)
    ):
        for kind in (details or {}).get("kinds", []):
            expected[(object_id, kind)] += 1
    found = Counter(
        (str(session_id), kind)
        for session_id, kind in db_.execute(
            select(FollowUp.session_id, FollowUp.kind).where(FollowUp.kind != Kind.DAY_3)
        )
    )
    if missing := sorted(expected - found):
        session_id, kind = missing[0]
        return f"the {kind} follow-up its schedule event lists for session {session_id} is missing"
    session_id, kind = sorted(found - expected)[0]
    return f"session {session_id} has a {kind} follow-up its schedule event does not list"
