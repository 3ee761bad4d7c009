"""Append events to the audit chain inside the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from safety.audit import rules
from safety.audit.models import AuditChainHead, AuditEvent
from safety.dbtypes import utcnow
from safety.extensions import db


def record(
    action: str,
    *,
    actor=None,
    obj=None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append an audit event to the chain in the current transaction.

    The first statement updates the chain head, which takes its row lock on PostgreSQL and the
    write lock on SQLite: concurrent writers append one at a time, so the chain never forks.
    """
    if obj is not None:
        object_type = object_type or obj.__tablename__
        object_id = obj.id
    now = (now or utcnow()).astimezone(UTC)
    seq, prev_hash = db.session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(last_seq=AuditChainHead.last_seq + 1)
        .returning(AuditChainHead.last_seq, AuditChainHead.last_hash)
    ).one()
    payload = rules.event_payload(
        seq=seq,
        created_dt=now,
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=details or {},
    )
    event_hash = rules.chain_hash(prev_hash, payload)
    event = AuditEvent(
        seq=seq,
        created_dt=now,
        actor_id=payload["actor_id"],
        action=action,
        object_type=object_type,
        object_id=payload["object_id"],
        details=payload["details"],
        prev_hash=prev_hash,
        hash=event_hash,
    )
    db.session.add(event)
    db.session.execute(
        update(AuditChainHead).where(AuditChainHead.id == 1).values(last_hash=event_hash)
    )
    db.session.flush()
    return event
