"""Verify what patients answered: each answer held to the event that recorded it.

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
from safety.followup.models import FollowUp, PatientResponse
from safety.followup.rules import response_content
from safety.hashing import hashed_time
from safety.integrity.reader import sha, streamed

PR = PatientResponse


def verify_responses(db_: Connection | Session) -> str | None:
    """Name the first patient answer that differs from its event."""
    signed: dict[int, tuple[str | None, str | None, int, int | None]] = {}
    for object_id, escalation, content_hash, event_id, answered in db_.execute(
        select(
            AuditEvent.object_id,
            AuditEvent.details["escalation"].as_string(),
            AuditEvent.details["content_hash"].as_string(),
            AuditEvent.id,
            AuditEvent.details["followup"].as_integer(),
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
        signed[answer_id] = (escalation, content_hash, event_id, answered)
    query = (
        select(
            PR.id,
            PR.followup_id,
            PR.answers,
            PR.escalation,
            PR.created_dt,
            PR.session_id,
            FollowUp.session_id,
        )
        .outerjoin(FollowUp, FollowUp.id == PR.followup_id)
        .order_by(PR.id)
    )
    with streamed(db_, query) as rows:
        for answer_id, followup_id, answers, escalation, created, on, asked_on in rows:
            found = signed.pop(answer_id, None)
            if found is None:
                return (
                    f"patient answer {answer_id} has no event on the audit chain: it was added "
                    "behind the application's back"
                )
            # The record pages and the export find an answer by its session; the event signs
            # its follow-up. An emergency answer moved onto another patient's record read
            # intact (a review).
            if on != asked_on:
                return (
                    f"patient answer {answer_id} is on another record than the follow-up it answers"
                )
            level, content_hash, event_id, answered = found
            # Every version's event names the check answered: an older answer (no content
            # hash) moved with its check's state onto another patient's check read intact.
            if answered is not None and answered != followup_id:
                return (
                    f"patient answer {answer_id} is not on the follow-up its event {event_id} "
                    "recorded"
                )
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
        answer_id, (_, _, event_id, _) = min(signed.items())
        return f"patient answer {answer_id} (audit event id {event_id}) is missing"
    return None
