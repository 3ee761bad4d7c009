"""Clinics and their patients."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from safety.dbtypes import UTCDateTime, utcnow
from safety.extensions import db


@cache
def zone_for(name: str) -> ZoneInfo:
    """Return the zone of an IANA name, read from disk once per process.

    ZoneInfo keeps only its last 8 zones strongly; with 20 clinic zones every overdue check
    read the zone files again (2 ms per call).
    """
    return ZoneInfo(name)


class Clinic(db.Model):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: IANA zone name; times are stored in UTC and shown in this zone.
    timezone: Mapped[str] = mapped_column(String(64))
    #: Local hours the working day starts and ends; a session unsigned after the end is overdue.
    workday_start_hour: Mapped[int] = mapped_column(default=8)
    workday_end_hour: Mapped[int] = mapped_column(default=19)
    #: Where practitioner alerts go when the practitioner cannot be reached (optional).
    alert_email: Mapped[str | None] = mapped_column(String(254))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def zone(self) -> ZoneInfo:
        return zone_for(self.timezone)

    def __repr__(self) -> str:
        return f"<Clinic {self.id}>"


class Patient(db.Model):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    #: The patient agreed to be contacted after treatment.
    is_followup_consent: Mapped[bool] = mapped_column(default=False)
    #: Set when the patient stops all messages; nothing more is sent after it.
    opted_out_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def __repr__(self) -> str:  # never the name: reprs end up in logs
        return f"<Patient {self.id}>"
