"""Verify what every session says, signed or not: its start held to its session.create event,
and the phase entries of a session never signed held to their session.phase_submit events.

A signed record is held to its content hash and signing event (records.py); everything before
the signature was held by nothing. An insider's review found, verify saying intact each time:
a signed record's start moved a day back; an open or cancelled session moved to another
patient or practitioner; a session put in with no event at all; and, with no trigger to drop
(entries are refused UPDATE and DELETE, not INSERT), a Sign in saying "consented" added to a
session cancelled because the patient refused, or a cancelled session's Time out deleted so
the record read as if no needle went in.

Events written before 2026-12-08 name no patient and carry no entry hash: those sessions are
held to their start, practitioner, clinic and entries, not to the patient or the answers.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Connection,
    Integer,
    String,
    and_,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from safety.audit.models import AuditEvent
from safety.audit.rules import SYSTEM_CHAIN
from safety.checklists.models import PhaseEntry, TreatmentSession
from safety.checklists.rules import entry_hash
from safety.risks.models import TemplateVersion

TS = TreatmentSession
CREATE = "session.create"
SUBMIT = "session.phase_submit"


def verify_starts(db_: Connection | Session) -> str | None:
    """Hold every session to its session.create event: started when the event was written
    (`start_session`'s one `now`), by the event's actor, on its clinic's chain; and every
    session to have one (its patient and checklist: `verify_unsigned`)."""
    is_create = and_(AuditEvent.action == CREATE, AuditEvent.object_type == TS.__tablename__)
    # min() lets PostgreSQL hash-join the million rows (as the signing events' check does).
    first = db_.scalar(
        select(func.min(AuditEvent.id))
        .outerjoin(TS, TS.id == cast(AuditEvent.object_id, Integer))
        .where(
            is_create,
            or_(
                TS.started_dt.is_distinct_from(AuditEvent.created_dt),
                TS.practitioner_id.is_distinct_from(AuditEvent.actor_id),
                and_(AuditEvent.chain_id != SYSTEM_CHAIN, AuditEvent.chain_id != TS.clinic_id),
            ),
        )
    )
    if first is not None:
        return _start_problem(db_, first)
    events, sessions = db_.execute(
        select(
            select(func.count()).where(is_create).scalar_subquery(),
            select(func.count()).select_from(TS).scalar_subquery(),
        )
    ).one()
    if events == sessions:
        return None
    unstarted = db_.scalar(
        select(func.min(TS.id)).where(
            ~select(AuditEvent.id)
            .where(is_create, AuditEvent.object_id == cast(TS.id, String))
            .exists()
        )
    )
    if unstarted is not None:
        return (
            f"session {unstarted} has no session.create event on the audit chain: it was put "
            "there behind the application's back"
        )
    return f"the audit chain records {events} session starts for {sessions} sessions"


def _start_problem(db_: Connection | Session, event_id: int) -> str:
    """Say how the session of a session.create event differs from it."""
    row = db_.execute(
        select(
            AuditEvent.object_id,
            AuditEvent.chain_id,
            AuditEvent.seq,
            TS.started_dt,
            TS.started_dt == AuditEvent.created_dt,
            TS.practitioner_id == AuditEvent.actor_id,
            or_(AuditEvent.chain_id == SYSTEM_CHAIN, AuditEvent.chain_id == TS.clinic_id),
        )
        .outerjoin(TS, TS.id == cast(AuditEvent.object_id, Integer))
        .where(AuditEvent.id == event_id)
    ).one()
    record_id, chain, seq, started, same_time, same_practitioner, same_clinic = row
    event = f"audit event {seq} of chain {chain}"
    if started is None:
        return f"session {record_id}, started by {event}, is missing"
    if not same_time:
        return f"session {record_id} does not start at the time {event} started it"
    if not same_practitioner:
        return f"session {record_id} is not the practitioner's who started it ({event})"
    return f"session {record_id} is not at the clinic whose chain started it ({event})"


def verify_unsigned(db_: Connection | Session) -> str | None:
    """Hold every session never signed (open or cancelled) to its events: the patient and the
    checklist version its session.create event names, and its phase entries to their
    session.phase_submit events (each entry its event and each event its entry, with the
    session, phase, time, author and, where the event holds their hash, the answers).

    A signed record's are in its content hash. Few sessions are never signed, so their rows
    and events are compared here; each comparison reads its rows and events in one statement,
    so a phase saved or a record signed meanwhile is read with its event or not at all (a
    review's practitioners saving while verify read named honest entries as missing)."""
    return _unsigned_starts(db_) or _unsigned_entries(db_)


def _unsigned_starts(db_: Connection | Session) -> str | None:
    started = db_.execute(
        select(TS.id, TS.patient_id, TemplateVersion.version, AuditEvent.details, AuditEvent.seq)
        .join(TemplateVersion, TemplateVersion.id == TS.template_version_id)
        .join(
            AuditEvent,
            and_(
                AuditEvent.action == CREATE,
                AuditEvent.object_type == TS.__tablename__,
                AuditEvent.object_id == cast(TS.id, String),
            ),
        )
        .where(TS.signed_dt.is_(None))
        .order_by(TS.id)
    )
    for session_id, patient_id, version, details, seq in started:
        details = details or {}
        if details.get("patient", patient_id) != patient_id:
            return f"session {session_id} is not for the patient its start (seq {seq}) names"
        if details.get("template", version) != version:
            return f"session {session_id} is not on the checklist its start (seq {seq}) names"
    return None


def _unsigned_entries(db_: Connection | Session) -> str | None:
    unsigned = select(TS.id).where(TS.signed_dt.is_(None))
    entries = select(
        literal_column("'entry'"),
        PhaseEntry.id,
        cast(PhaseEntry.session_id, String),
        PhaseEntry.phase,
        PhaseEntry.submitted_dt,
        PhaseEntry.answers,
        PhaseEntry.notes,
        PhaseEntry.author_id,
        cast(null(), Integer),
    ).where(PhaseEntry.session_id.in_(unsigned))
    events = select(
        literal_column("'event'"),
        cast(null(), Integer),
        AuditEvent.object_id,
        cast(null(), String),
        AuditEvent.created_dt,
        AuditEvent.details,
        cast(null(), JSON),
        AuditEvent.actor_id,
        AuditEvent.seq,
    ).where(
        AuditEvent.action == SUBMIT,
        AuditEvent.object_type == TS.__tablename__,
        AuditEvent.object_id.in_(select(cast(TS.id, String)).where(TS.signed_dt.is_(None))),
    )
    recorded: dict[int, tuple] = {}
    saved: list[tuple] = []
    for what, entry_id, session_id, phase, at, document, notes, who, seq in db_.execute(
        union_all(entries, events)
    ):
        if what == "entry":
            saved.append((entry_id, session_id, phase, at, document, notes, who))
        elif isinstance((document or {}).get("entry"), int):
            recorded[document["entry"]] = (session_id, document, at, who, seq)
    for entry_id, session_id, phase, submitted, answers, notes, author in sorted(saved):
        found = recorded.pop(entry_id, None)
        if found is None:
            return (
                f"phase entry {entry_id} of session {session_id} has no session.phase_submit "
                "event on the audit chain: it was added behind the application's back"
            )
        object_id, details, created, actor, seq = found
        said = details.get("phase")
        if (object_id, said, created, actor) != (session_id, phase, submitted, author):
            return (
                f"phase entry {entry_id} of session {session_id} is not the {said} of "
                f"session {object_id} its event (seq {seq}) recorded"
            )
        if "entry_hash" in details and details["entry_hash"] != entry_hash(answers, notes):
            return (
                f"the answers of phase entry {entry_id} of session {session_id} are not the "
                "ones its event recorded"
            )
    if recorded:
        entry_id, (object_id, _, _, _, seq) = min(recorded.items())
        return (
            f"phase entry {entry_id} of session {object_id}, recorded by its event (seq {seq}), "
            "is missing"
        )
    return None
