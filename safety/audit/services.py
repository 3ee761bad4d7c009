"""Append events to the audit chain inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update

from safety.audit import rules
from safety.audit.models import AuditChainHead, AuditEvent
from safety.dbtypes import utcnow
from safety.extensions import db


@dataclass(frozen=True)
class Entry:
    """One event to append: what happened, by whom, to what."""

    action: str
    actor_id: int | None = None
    object_type: str | None = None
    object_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def record(
    action: str,
    *,
    actor=None,
    obj=None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Append an audit event to the chain in the current transaction."""
    if obj is not None:
        object_type = object_type or obj.__tablename__
        object_id = obj.id
    entry = Entry(
        action=action,
        actor_id=actor.id if actor is not None else None,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=details or {},
    )
    record_many([entry], now=now)


def record_many(
    entries: list[Entry],
    *,
    now: datetime | None = None,
    write: Callable[[list[dict[str, Any]]], None] | None = None,
) -> None:
    """Append several events at once, in order, in the current transaction.

    The first statement reserves their sequence numbers on the chain head, which takes its row
    lock on PostgreSQL and the write lock on SQLite: concurrent writers append one at a time,
    so the chain never forks. `write` inserts the rows instead of the ORM (the bulk demo data
    streams millions of them with COPY).
    """
    if not entries:
        return
    db.session.flush()  # the objects the events name have their ids
    now = (now or utcnow()).astimezone(UTC)
    last_seq, prev_hash = db.session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(last_seq=AuditChainHead.last_seq + len(entries))
        .returning(AuditChainHead.last_seq, AuditChainHead.last_hash)
    ).one()
    rows = []
    for seq, entry in enumerate(entries, start=last_seq - len(entries) + 1):
        payload = rules.event_payload(
            seq=seq,
            created_dt=now,
            actor_id=entry.actor_id,
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            details=entry.details,
        )
        event_hash = rules.chain_hash(prev_hash, payload)
        rows.append(
            {
                "seq": seq,
                "created_dt": now,
                "actor_id": entry.actor_id,
                "action": entry.action,
                "object_type": entry.object_type,
                "object_id": entry.object_id,
                "details": entry.details,
                "prev_hash": prev_hash,
                "hash": event_hash,
            }
        )
        prev_hash = event_hash
    if write is None:
        db.session.execute(insert(AuditEvent), rows)
    else:
        write(rows)
    db.session.execute(
        update(AuditChainHead).where(AuditChainHead.id == 1).values(last_hash=prev_hash)
    )
