"""Patient follow-ups, their delivery outbox, patient links and responses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safety.dbtypes import JSONDocument, UTCDateTime, utcnow
from safety.extensions import db
from safety.followup.rules import Status


class FollowUp(db.Model):
    """One check-in with a patient after a session (24 h, 72 h, 7 days)."""

    __tablename__ = "followups"
    __table_args__ = (
        CheckConstraint("kind IN ('24h', '48h', '72h', '7d')", name="kind"),
        CheckConstraint(
            "status IN ('scheduled', 'sent', 'answered', 'failed', 'cancelled')", name="status"
        ),
        # The dashboard's response rate counts follow-ups by status over a due-date range.
        Index("ix_followups_status_due", "status", "due_dt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    #: email or sms, as the patient chose at sign out.
    channel: Mapped[str] = mapped_column(String(10))
    due_dt: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default=Status.SCHEDULED)
    answered_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    session = relationship("TreatmentSession")

    @property
    def audit_chain(self) -> int:
        """The audit chain its events go on: its session's clinic's."""
        return self.session.clinic_id


class PatientLink(db.Model):
    """A patient's link to one follow-up form: the token is stored only as its SHA-256."""

    __tablename__ = "patient_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    followup_id: Mapped[int] = mapped_column(ForeignKey("followups.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_dt: Mapped[datetime] = mapped_column(UTCDateTime())
    used_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())

    followup = relationship("FollowUp")


class OutboxStatus(StrEnum):
    """Where a message in the outbox stands: waiting (or backing off), or done one way."""

    PENDING = "pending"
    SENT = "sent"
    #: Every attempt was used up; a flag says so.
    FAILED = "failed"
    #: No longer needed: answered, opted out, or nobody left to write to.
    CANCELLED = "cancelled"


class Purpose(StrEnum):
    """Who an outbox message is for."""

    #: The 24 h check and its 48 h reminder, the 72 h and the 7-day checks.
    PATIENT_REMINDER = "patient_reminder"
    #: An escalated answer, to the practitioner who treated the patient.
    PRACTITIONER_ALERT = "practitioner_alert"
    #: An escalated answer, to the clinic's duty address.
    CLINIC_ALERT = "clinic_alert"
    #: An emergency or same-day answer nobody acknowledged in time, to the duty address.
    DUTY_ESCALATION = "duty_escalation"
    #: An urgent post-exposure step left untouched after a sharps injury, to the clinic lead.
    INCIDENT_ALERT = "incident_alert"
    #: An emergency answer, texted to the clinic's on-call mobile as well as the duty address.
    ON_CALL_ALERT = "on_call_alert"
    #: An emergency or same-day answer nobody acknowledged in time, texted to that mobile.
    ON_CALL_ESCALATION = "on_call_escalation"


class OutboxMessage(db.Model):
    """A message waiting to be delivered; written in the transaction that caused it.

    Workers claim due rows under a lease, send, and record the outcome, so a crash or an
    outage delays a message but never loses it.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'cancelled')", name="status"),
        Index("ix_outbox_due", "status", "next_attempt_dt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: A `Purpose`: the patient's reminder, or an alert to the practitioner or the clinic.
    purpose: Mapped[str] = mapped_column(String(30))
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("followups.id"), index=True)
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("flags.id"))
    #: The incident an incident alert is about, and the clinic lead it goes to (none: the
    #: clinic's duty address).
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: reminder for the 48 h nudge of an unanswered 24 h check.
    is_reminder: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_dt: Mapped[datetime] = mapped_column(UTCDateTime())
    #: A worker holds the row until this time; after it another worker may claim it.
    lease_until_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    followup = relationship("FollowUp")
    flag = relationship("Flag")
    incident = relationship("Incident")
    recipient = relationship("User")

    @property
    def audit_chain(self) -> int:
        """The clinic of the follow-up, the flag or the incident it is about."""
        if self.incident is not None:
            return self.incident.clinic_id
        return (self.followup or self.flag).session.clinic_id


class PatientResponse(db.Model):
    """What a patient answered on a follow-up form. Insert-only."""

    __tablename__ = "patient_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    followup_id: Mapped[int] = mapped_column(ForeignKey("followups.id"), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    #: emergency, same_day, review or none.
    escalation: Mapped[str] = mapped_column(String(20))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    followup = relationship("FollowUp")

    @property
    def audit_chain(self) -> int:
        return self.followup.session.clinic_id


class DevMessage(db.Model):
    """A message delivered by the development `outbox` backend, readable in the app."""

    __tablename__ = "dev_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
