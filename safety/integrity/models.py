"""Runs of `flask audit verify`, kept so the dashboard can say when the records were last proved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from safety.dbtypes import UTCDateTime, utcnow
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
