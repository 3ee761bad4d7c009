"""Verify the follow-ups: each check a signature scheduled is still there, and a check reads
answered exactly when the patient's answer (held to its own event, responses.py) is there.

A follow-up's status is meant to change (sent, answered, failed, cancelled), so no trigger
guards it, and nothing held it: an insider's review marked a 24-hour check answered with no
answer, which stopped its reminders and the silence flag of a chest check, and deleted a
7-day check, and verify said intact; the dashboard's response rate rose with it.

Since 2026-12-08 a schedule event names each check by its id, which pins it to its session
and kind. What it does not hold yet: when a check was sent or why it was cancelled (the reminder and
opt-out events name the outbox and the patient, not the check's status), nor a 72-hour check
made before 2026-12-08 (no event listed it).
"""

from __future__ import annotations

from sqlalchemy import Connection, Integer, String, and_, cast, func, or_, select, true
from sqlalchemy.orm import Session

from safety.audit.models import AuditEvent
from safety.checklists.models import TreatmentSession
from safety.followup.models import FollowUp, PatientResponse
from safety.followup.rules import Kind, Status
from safety.integrity.reader import dialect_of

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
    """Each session's checks are the ones its followup.schedule events list, kind for kind:
    its signature's, and each 72-hour check an answer asked for (listed since 2026-12-08; one
    made before the first such event is not held). Compared as (session, kind) pairs both
    ways in SQL: a chest check turned into a second 7-day check, read intact while only the
    totals were compared, is named (a review)."""
    is_schedule = and_(
        AuditEvent.action == SCHEDULE, AuditEvent.object_type == TreatmentSession.__tablename__
    )
    dialect = dialect_of(db_)
    kinds = _each(dialect, "kinds", "value")
    listed = _scheduling(is_schedule, kinds, AuditEvent.object_id.label("session"), kinds.c.value)
    # A 72-hour check's event names it alone, by its id: found without expanding every list
    # (on PostgreSQL that reading alone was 2 of this check's 8 s on a million records).
    since = db_.scalar(
        select(func.min(AuditEvent.created_dt)).where(
            is_schedule,
            AuditEvent.details[("followups", Kind.DAY_3.value)].as_string().is_not(None),
        )
    )
    held = [FollowUp.kind != Kind.DAY_3]
    if since is not None:
        held = [or_(FollowUp.kind != Kind.DAY_3, FollowUp.created_dt >= since)]
    rows = select(cast(FollowUp.session_id, String), FollowUp.kind).where(*held)
    if missing := db_.execute(_first(listed.except_(rows))).first():
        session_id, kind = missing
        return f"the {kind} follow-up its schedule event lists for session {session_id} is missing"
    # Every listed pair has its row, and a pair is listed once: as many rows as pairs leaves
    # no room for another.
    listed_count, row_count = db_.execute(
        select(
            select(func.count()).select_from(listed.subquery()).scalar_subquery(),
            select(func.count()).select_from(rows.subquery()).scalar_subquery(),
        )
    ).one()
    if listed_count == row_count:
        return _by_id(db_, dialect, is_schedule)
    if extra := db_.execute(_first(rows.except_(listed))).first():
        session_id, kind = extra
        return f"session {session_id} has a {kind} follow-up its schedule event does not list"
    return f"the follow-ups are {row_count} where their schedule events list {listed_count}"


def _each(dialect: str, key: str, *names: str):
    """What a schedule event lists under `key`, one row each: an array's values, or an
    object's keys and values (`names`), joined to the event it is in."""
    if dialect == "postgresql":
        field = AuditEvent.details[key]
        listed = (
            func.json_each_text(field) if "key" in names else func.json_array_elements_text(field)
        )
        return listed.table_valued(*names)
    return func.json_each(AuditEvent.details, f"$.{key}").table_valued(*names)


def _scheduling(is_schedule, each, *columns):
    """The schedule events' `columns` beside each row of `each` (`_each`)."""
    return select(*columns).select_from(AuditEvent).join(each, true()).where(is_schedule)


def _by_id(db_: Connection | Session, dialect: str, is_schedule) -> str | None:
    """Each check a schedule event names by its id (since 2026-12-08) is that check: of that
    session and that kind. Kinds swapped within a session, or answered checks swapped between
    records with their answers, keep every (session, kind) pair (a review)."""
    named = _each(dialect, "followups", "key", "value")
    listed = _scheduling(
        is_schedule,
        named,
        AuditEvent.object_id.label("session"),
        named.c.key.label("kind"),
        cast(named.c.value, String).label("followup"),
    )
    rows = select(cast(FollowUp.session_id, String), FollowUp.kind, cast(FollowUp.id, String))
    differ = listed.except_(rows).subquery()
    first = select(differ).order_by(cast(differ.c.followup, Integer)).limit(1)
    if moved := db_.execute(first).first():
        session_id, kind, followup_id = moved
        return (
            f"follow-up {followup_id} is not the {kind} check of session {session_id} its "
            "schedule event named"
        )
    return None


def _first(pairs):
    """The first of some (session, kind) pairs, by session and kind, so a report names the
    same one on either database."""
    differ = pairs.subquery()
    session, kind = differ.c
    return select(differ).order_by(cast(session, Integer), kind).limit(1)
