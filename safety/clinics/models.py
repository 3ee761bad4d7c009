"""Clinics and their patients."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from safety import languages
from safety.clinics import rules
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
    __table_args__ = (CheckConstraint(languages.SQL_CHECK, name="language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: IANA zone name; times are stored in UTC and shown in this zone.
    timezone: Mapped[str] = mapped_column(String(64))
    #: Local hours the working day starts and ends; a session unsigned after the end is overdue.
    workday_start_hour: Mapped[int] = mapped_column(default=8)
    workday_end_hour: Mapped[int] = mapped_column(default=19)
    #: ISO weekdays the clinic works (Monday is 1): "12345" is Monday to Friday. Escalations
    #: nobody acknowledged count working hours on these days only.
    working_days: Mapped[str] = mapped_column(String(7), default="12345")
    #: The duty address: emergency alerts, and any escalation nobody acknowledged in time,
    #: go here (DESIGN §4). Required.
    duty_email: Mapped[str] = mapped_column(String(254))
    #: The on-call mobile: an emergency answer, and an urgent one nobody acknowledged in time,
    #: are also texted here, so they reach a person when nobody reads the duty address (out
    #: of hours). Optional; texts need an SMS gateway (README).
    duty_phone: Mapped[str | None] = mapped_column(String(32))
    #: The number patients call, shown as a tap-to-call link on their advice pages.
    phone: Mapped[str | None] = mapped_column(String(32))
    #: ISO 3166-1 alpha-2; the emergency number patients are told follows it.
    country: Mapped[str | None] = mapped_column(String(2))
    #: The language mail to the duty address is written in (DESIGN §11): whoever holds the
    #: duty phone that day reads it, so it is the clinic's working language, not one person's.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def zone(self) -> ZoneInfo:
        return zone_for(self.timezone)

    def __repr__(self) -> str:
        return f"<Clinic {self.id}>"


class Patient(db.Model):
    __tablename__ = "patients"
    __table_args__ = (CheckConstraint(languages.SQL_CHECK, name="language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    #: "given family" without accents or case (`rules.search_key`), what a name search matches;
    #: kept by `_keep_search_name` on every write, whoever writes the names.
    #: Text, not String(201): folding can lengthen a name ("ß" becomes "ss").
    search_name: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: Optional: tells two patients of one name apart in the picker (issue 17).
    birth_date: Mapped[date | None] = mapped_column(Date())
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    #: The language the patient is written to in: reminders, form and advice (DESIGN §11).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    #: The patient agreed to be contacted after treatment.
    is_followup_consent: Mapped[bool] = mapped_column(default=False)
    #: Set when the patient stops all messages; nothing more is sent after it.
    opted_out_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The one-time key of the form that added the patient (migration 0021): the same form
    #: sent again (a double tap) is this patient, whatever else two forms have in common.
    form_key: Mapped[str | None] = mapped_column(String(43), unique=True, index=True)

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def audit_chain(self) -> int:
        """The audit chain its events go on: its clinic's."""
        return self.clinic_id

    def __repr__(self) -> str:  # never the name: reprs end up in logs
        return f"<Patient {self.id}>"


@event.listens_for(Patient, "before_insert")
@event.listens_for(Patient, "before_update")
def _keep_search_name(_mapper, _connection, patient: Patient) -> None:
    patient.search_name = rules.search_key(patient.given_name, patient.family_name)
