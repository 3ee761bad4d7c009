"""Append-only, hash-chained audit events: one chain per clinic, and a system chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safety.dbtypes import JSONText, UTCDateTime, utcnow
from safety.extensions import db


class AuditEvent(db.Model):
    """One audited action. Triggers refuse UPDATE and DELETE; `hash` chains it to the previous
    event of its chain."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain_id", "seq"),
        Index("ix_audit_events_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The clinic whose chain the event is on; 0 is the system chain (accounts, templates,
    #: tokens, exports across clinics, and every event written before chains were per clinic).
    chain_id: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Position in its chain, 1-based, without gaps.
    seq: Mapped[int]
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
    """The end of one chain (the row id is the chain id): writers lock it to append in turn.

    A clinic's head row is made by its first event; the system chain's (0) by the migrations.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
