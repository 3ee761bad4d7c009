"""Append-only, hash-chained audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from safety.dbtypes import JSONText, UTCDateTime, utcnow
from safety.extensions import db


class AuditEvent(db.Model):
    """One audited action. Triggers refuse UPDATE and DELETE; `hash` chains it to the previous."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Position in the chain, 1-based, without gaps.
    seq: Mapped[int] = mapped_column(unique=True)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Dotted verb, e.g. ``session.sign`` or ``auth.login_failed``.
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    #: Non-clinical details only: never patient names or contact details.
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(db.Model):
    """The single row writers lock to append to the chain one at a time."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
