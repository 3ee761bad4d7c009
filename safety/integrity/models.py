"""What verify and the checkpoints keep in the database: verification runs, the database's copy
of each signed checkpoint, and each chain's Merkle frontier.

The checkpoint store outside the database is the evidence (an insider can rewrite these
tables); the copies here let the record page say which checkpoint holds a record, and the next
checkpoint start from the last one's frontiers instead of rereading every event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safety.auth.models import User
from safety.dbtypes import JSONText, UTCDateTime, utcnow
from safety.extensions import db


class VerificationRun(db.Model):
    """One run of `flask audit verify`, so the dashboard shows when it last ran and its result."""

    __tablename__ = "verification_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    events: Mapped[int] = mapped_column(default=0)
    records: Mapped[int] = mapped_column(default=0)
    is_intact: Mapped[bool] = mapped_column(default=False)
    #: The first break found, if any.
    problem: Mapped[str | None] = mapped_column(String(500))
    #: How many signed checkpoints the database was held to, and the newest of them.
    checkpoints: Mapped[int] = mapped_column(default=0, server_default="0")
    checkpoint_number: Mapped[int | None]


class VerificationRequest(db.Model):
    """A compliance officer's "Verify now": waiting until a worker starts it, then running,
    then finished with the run it recorded (or why it could not run)."""

    __tablename__ = "verification_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When a worker took it, and which (host:pid), so a second worker leaves it alone.
    started_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker: Mapped[str | None] = mapped_column(String(100))
    finished_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    run_id: Mapped[int | None] = mapped_column(ForeignKey("verification_runs.id"))
    #: Why verify could not run at all (a break it found is the run's `problem`).
    failure: Mapped[str | None] = mapped_column(String(200))

    run: Mapped[VerificationRun | None] = relationship()
    requested_by: Mapped[User] = relationship()


class Checkpoint(db.Model):
    """The database's copy of one signed checkpoint (the store's line, as signed)."""

    __tablename__ = "audit_checkpoints"

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Events on every chain together.
    events: Mapped[int]
    root: Mapped[str] = mapped_column(String(64))
    #: The signed checkpoint as canonical JSON, exactly as the store holds it.
    body: Mapped[str] = mapped_column(Text)
    #: When it went to the compliance officers as the day's last checkpoint.
    mailed_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CheckpointHead(db.Model):
    """A chain that moved in a checkpoint: its size and root then. A record signed at event s
    of chain c is in the first checkpoint with a row for c of size >= s."""

    __tablename__ = "audit_checkpoint_heads"
    __table_args__ = (Index("ix_audit_checkpoint_heads_chain_size", "chain_id", "size"),)

    number: Mapped[int] = mapped_column(ForeignKey("audit_checkpoints.number"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int]
    root: Mapped[str] = mapped_column(String(64))


class ChainFrontier(db.Model):
    """The right edge of a chain's Merkle tree at the last checkpoint (merkle.Frontier)."""

    __tablename__ = "audit_chain_frontiers"

    chain_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    size: Mapped[int]
    peaks: Mapped[list[Any]] = mapped_column(JSONText)
