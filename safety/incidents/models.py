"""Incidents and what follows them: the injured person kept apart, post-exposure steps, reports
to outside bodies, signed addenda, and the alerts an untouched urgent step sent.

An incident is signed when it is reported, so every table here except the alerts is
insert-only: database triggers refuse UPDATE and DELETE (migration 0012), and a correction is
a signed addendum.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safety.dbtypes import UTCDateTime, utcnow
from safety.extensions import db


class Incident(db.Model):
    """A signed report of a sharps injury, an adverse event or a near miss. Insert-only."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("kind IN ('sharps_injury', 'adverse_event', 'near_miss')", name="kind"),
        CheckConstraint(
            "grade IS NULL OR grade IN ('mild', 'significant', 'serious')", name="grade"
        ),
        # The compliance list and the sharps log read a clinic's incidents by date.
        Index("ix_incidents_clinic_occurred", "clinic_id", "occurred_dt"),
        Index("ix_incidents_kind_occurred", "kind", "occurred_dt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    #: A `rules.Kind`.
    kind: Mapped[str] = mapped_column(String(20))
    #: The session it happened in (and, for a sharps injury, the source patient's session).
    session_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    occurred_dt: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Room or work area (OSHA 1910.1030(h)(5)(i)(B)).
    work_area: Mapped[str] = mapped_column(String(200))
    #: What happened, in the reporter's words.
    description: Mapped[str] = mapped_column(Text)
    #: What was done about it at the time.
    action_taken: Mapped[str | None] = mapped_column(Text)
    #: Sharps injuries: device type and brand (OSHA 1910.1030(h)(5)(i)(A)), GTIN and lot from
    #: the session's pack when there is one, what it was used for, how it happened
    #: ((h)(5)(i)(C)) and the body site, as `rules` codes.
    device_type: Mapped[str | None] = mapped_column(String(40))
    device_brand: Mapped[str | None] = mapped_column(String(200))
    device_gtin: Mapped[str | None] = mapped_column(String(14))
    device_lot: Mapped[str | None] = mapped_column(String(64))
    device_purpose: Mapped[str | None] = mapped_column(String(40))
    how: Mapped[str | None] = mapped_column(String(40))
    body_site: Mapped[str | None] = mapped_column(String(40))
    #: Whether the device had been used on a patient (a source-patient assessment is needed).
    is_used_on_patient: Mapped[bool | None] = mapped_column()
    #: Adverse events and near misses: what happened and, for an adverse event, its grade.
    event_type: Mapped[str | None] = mapped_column(String(40))
    grade: Mapped[str | None] = mapped_column(String(20))
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: Printed name, time and meaning of the reporter's signature (Part 11 §11.50).
    signer_name: Mapped[str] = mapped_column(String(200))
    signature_meaning: Mapped[str] = mapped_column(String(200))
    signed_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: SHA-256 of the canonical signed content, the injured person's identity included.
    content_hash: Mapped[str] = mapped_column(String(64))

    clinic = relationship("Clinic")
    session = relationship("TreatmentSession")
    reported_by = relationship("User")
    person: Mapped[InjuredPerson | None] = relationship(back_populates="incident", uselist=False)
    steps: Mapped[list[IncidentStep]] = relationship(
        back_populates="incident", order_by="IncidentStep.id"
    )
    reports: Mapped[list[ExternalReport]] = relationship(
        back_populates="incident", order_by="ExternalReport.id"
    )
    addenda: Mapped[list[IncidentAddendum]] = relationship(
        back_populates="incident", order_by="IncidentAddendum.id"
    )
    alerts: Mapped[list[IncidentAlert]] = relationship(
        back_populates="incident", order_by="IncidentAlert.id"
    )

    @property
    def audit_chain(self) -> int:
        """The audit chain its events go on: its clinic's."""
        return self.clinic_id

    def __repr__(self) -> str:
        return f"<Incident {self.id} {self.kind}>"


class InjuredPerson(db.Model):
    """Who was injured, kept apart from the report: only the clinic lead and compliance read
    it, and no export carries it. Insert-only."""

    __tablename__ = "incident_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Job title or role, e.g. "Physiotherapist".
    job: Mapped[str | None] = mapped_column(String(200))

    incident: Mapped[Incident] = relationship(back_populates="person")

    def __repr__(self) -> str:  # never the name: reprs end up in logs
        return f"<InjuredPerson of incident {self.incident_id}>"


class IncidentStep(db.Model):
    """One post-exposure step ticked, with the time it was done. Insert-only, once per step."""

    __tablename__ = "incident_steps"
    __table_args__ = (UniqueConstraint("incident_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    #: A `rules.STEPS` id.
    step: Mapped[str] = mapped_column(String(40))
    #: When the step was done, as the person ticking it said.
    done_dt: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="steps")
    recorded_by = relationship("User")


class ExternalReport(db.Model):
    """A report made outside the clinic (device regulator, professional body). Insert-only."""

    __tablename__ = "incident_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    #: A `rules.REPORT_BODIES` code.
    body: Mapped[str] = mapped_column(String(40))
    reported_on: Mapped[date] = mapped_column(Date)
    #: The reference the body gave.
    reference: Mapped[str] = mapped_column(String(100))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="reports")


class IncidentAddendum(db.Model):
    """A signed correction to an incident; the report stays as it was. Insert-only."""

    __tablename__ = "incident_addenda"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    signer_name: Mapped[str] = mapped_column(String(200))
    signature_meaning: Mapped[str] = mapped_column(String(200))
    signed_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: SHA-256 over the addendum and the incident's own content hash.
    content_hash: Mapped[str] = mapped_column(String(64))

    incident: Mapped[Incident] = relationship(back_populates="addenda")


class IncidentAlert(db.Model):
    """An urgent post-exposure step left untouched past its time, sent to the clinic lead once."""

    __tablename__ = "incident_alerts"
    __table_args__ = (UniqueConstraint("incident_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    step: Mapped[str] = mapped_column(String(40))
    alerted_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="alerts")
