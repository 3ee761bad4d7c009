"""Verify what patients answered: each answer held to the event that recorded it, and each
flag an answer (or anything else) raised still there.

A patient's answer is insert-only (a trigger refuses changes), but someone who drops the
trigger could make "large bruising" read "none" and delete the flag it raised; the record page
would then say "no escalation". The answer's event signs a hash of every answer, the level and
the time (`followup.rules.response_content`); answers recorded before it did are held to the
level their event names.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from safety.audit.models import AuditEvent
from safety.checklists.models import Flag
from safety.followup.models import PatientResponse
from safety.followup.rules import response_content
from safety.hashing import hashed_time
from safety.integrity.reader import BATCH, sha

PR = PatientResponse


def verify_responses(db_: Connection | Session) -> str | None:
    """Name the first patient answer that differs from its event, or a flag that vanished."""
    return _verify_answers(db_) or _verify_flags_exist(db_)


def _verify_answers(db_: Connection | Session) -> str | None:
    signed: dict[int, tuple[str | None, str | None, int]] = {}
    for object_id, escalation, content_hash, event_id in db_.execute(
        select(
            AuditEvent.object_id,
            AuditEvent.details["escalation"].as_string(),
            AuditEvent.details["content_hash"].as_string(),
            AuditEvent.id,
        ).where(
            AuditEvent.action == "followup.response",
            AuditEvent.object_type == PR.__tablename__,
        )
    ):
        answer_id = int(object_id) if object_id and object_id.isdecimal() else -1
        if answer_id in signed:
            return (
                f"patient answer {answer_id} is recorded twice on the audit chain "
                f"(event id {event_id})"
            )
        signed[answer_id] = (escalation, content_hash, event_id)
    rows = db_.execute(
        select(PR.id, PR.followup_id, PR.answers, PR.escalation, PR.created_dt)
        .order_by(PR.id)
        .execution_options(yield_per=BATCH)
    )
    for answer_id, followup_id, answers, escalation, created in rows:
        found = signed.pop(answer_id, None)
        if found is None:
            return (
                f"patient answer {answer_id} has no event on the audit chain: it was added "
                "behind the application's back"
            )
        level, content_hash, event_id = found
        if escalation != level:
            return (
                f"patient answer {answer_id} was altered: it is escalated as {escalation!r}, "
                f"event {event_id} recorded {level!r}"
            )
        if content_hash is None:
            continue  # recorded before its event signed the answers
        if isinstance(answers, str):
            answers = json.loads(answers)
        content = response_content(
            followup_id=followup_id,
            answers=answers,
            escalation=escalation,
            created=hashed_time(created),
        )
        if sha(content) != content_hash:
            return (
                f"patient answer {answer_id} was altered: what the patient answered is not "
                f"what event {event_id} recorded"
            )
    if signed:
        answer_id, (_, _, event_id) = min(signed.items())
        return f"patient answer {answer_id} (audit event id {event_id}) is missing"
    return None


def _verify_flags_exist(db_: Connection | Session) -> str | None:
    raised = {
        int(object_id): event_id
        for object_id, event_id in db_.execute(
            select(AuditEvent.object_id, AuditEvent.id).where(
                AuditEvent.action == "flag.raise", AuditEvent.object_type == Flag.__tablename__
            )
        )
        if object_id and object_id.isdecimal()
    }
    if not raised:
        return None
    there = set(db_.execute(select(Flag.id).where(Flag.id.in_(raised))).scalars())
    if missing := sorted(raised.keys() - there):
        return f"flag {missing[0]} (raised by audit event id {raised[missing[0]]}) is missing"
    return None
