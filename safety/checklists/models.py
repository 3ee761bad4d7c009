"""Treatment sessions, their phase entries, signatures and flags."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

# The flag's enums are pure rules; they are imported from here too, beside the model.
from safety.checklists.rules import FlagStatus, Severity  # noqa: F401
from safety.dbtypes import JSONDocument, JSONText, UTCDateTime, utcnow
from safety.extensions import db
from safety.hashing import sha256_hex


class TreatmentSession(db.Model):
    """One needling session and, once signed, its immutable checklist record.

    Database triggers refuse UPDATE and DELETE of a row whose `signed_dt` is set.
    """

    __tablename__ = "treatment_sessions"
    __table_args__ = (
        Index("ix_treatment_sessions_clinic_date", "clinic_id", "session_date", "id"),
        Index("ix_treatment_sessions_practitioner_date", "practitioner_id", "session_date"),
        # Each patient's last visit in one probe, for the picker (migration 0018).
        Index("ix_treatment_sessions_patient_date", "patient_id", "session_date"),
        # The lot trace, newest first, without reading the table (migration 0006).
        Index("ix_treatment_sessions_lot", "needle_lot", "session_date", "id"),
        # The review's keyset order, and every column the dashboard aggregates (migration 0002).
        Index("ix_treatment_sessions_date", "session_date", "id"),
        Index(
            "ix_treatment_sessions_outcomes",
            "session_date",
            "clinic_id",
            "signed_dt",
            "bleeding",
            "bruising",
            "reaction",
            "pain_during",
        ),
        CheckConstraint(
            "signed_dt IS NULL OR (content_hash IS NOT NULL AND signed_by_id IS NOT NULL)",
            name="signature_complete",
        ),
        CheckConstraint(
            "cancelled_dt IS NULL OR (signed_dt IS NULL AND cancelled_by_id IS NOT NULL "
            "AND cancel_reason IS NOT NULL)",
            name="cancellation_complete",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: The template version pinned when the session started; later versions never change it.
    template_version_id: Mapped[int] = mapped_column(ForeignKey("template_versions.id"))
    #: Calendar date of the session in the clinic's time zone.
    session_date: Mapped[date] = mapped_column(Date)
    started_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Needle lot from the Time out phase, kept as a column so a lot trace is an index lookup.
    #: Byte order on PostgreSQL (migration 0004): a prefix trace is a range on the index, which
    #: a collation that ignores punctuation would cut short.
    needle_lot: Mapped[str | None] = mapped_column(
        String(64).with_variant(String(64, collation="C"), "postgresql")
    )
    #: Final answers (linkId -> value) and deviation notes, frozen at signing.
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    notes: Mapped[dict[str, str] | None] = mapped_column(JSONDocument)
    signed_dt: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Printed name of the signer at the time of signing (Part 11 §11.50).
    signer_name: Mapped[str | None] = mapped_column(String(200))
    #: Meaning of the signature, shown with it.
    signature_meaning: Mapped[str | None] = mapped_column(String(200))
    #: SHA-256 of the canonical signed content; binds the signature to the record.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    #: Outcomes copied from the answers at signing, so dashboards aggregate plain columns.
    bleeding: Mapped[str | None] = mapped_column(String(20))
    bruising: Mapped[str | None] = mapped_column(String(20))
    reaction: Mapped[str | None] = mapped_column(String(20))
    pain_during: Mapped[int | None] = mapped_column()
    #: Open flags at signing time, so record lists filter without a join.
    flag_count: Mapped[int] = mapped_column(default=0)
    #: Set when a started session is cancelled (started by mistake, or consent refused): a
    #: cancelled session is never signed, never overdue, and (a trigger sees to it) final.
    cancelled_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Why, in the practitioner's words; its SHA-256 is on the audit chain.
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    clinic = relationship("Clinic")
    patient = relationship("Patient")
    practitioner = relationship("User", foreign_keys=[practitioner_id])
    cancelled_by = relationship("User", foreign_keys=[cancelled_by_id])
    template_version = relationship("TemplateVersion")
    entries: Mapped[list[PhaseEntry]] = relationship(
        back_populates="session", order_by="PhaseEntry.id"
    )
    flags: Mapped[list[Flag]] = relationship(back_populates="session", order_by="Flag.id")
    addenda: Mapped[list[Addendum]] = relationship(back_populates="session", order_by="Addendum.id")

    @property
    def is_signed(self) -> bool:
        return self.signed_dt is not None

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_dt is not None

    @property
    def is_final(self) -> bool:
        """Signed or cancelled: nothing about the session changes any more."""
        return self.is_signed or self.is_cancelled

    @property
    def audit_chain(self) -> int:
        """The audit chain its events go on: its clinic's."""
        return self.clinic_id

    def __repr__(self) -> str:
        return f"<TreatmentSession {self.id}>"


class PhaseEntry(db.Model):
    """One submission of one phase, kept with its own time and author. Insert-only."""

    __tablename__ = "phase_entries"
    __table_args__ = (CheckConstraint("phase IN ('signin', 'timeout', 'signout')", name="phase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    phase: Mapped[str] = mapped_column(String(20))
    #: linkId -> answer for the items of this phase.
    answers: Mapped[dict[str, Any]] = mapped_column(JSONText)
    #: linkId -> note explaining an unexpected answer.
    notes: Mapped[dict[str, str]] = mapped_column(JSONText, default=dict)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    session: Mapped[TreatmentSession] = relationship(back_populates="entries")
    author = relationship("User")


class Flag(db.Model):
    """Something in a signed record that compliance should look at."""

    __tablename__ = "flags"
    __table_args__ = (
        CheckConstraint("severity IN ('critical', 'high', 'medium', 'low')", name="severity"),
        CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status"),
        CheckConstraint(
            "handled_action IS NULL OR handled_action IN ('called', 'advised', 'referred')",
            name="handled_action",
        ),
        Index("ix_flags_status_severity", "status", "severity"),
        # The patient answers still waiting for a practitioner (today page, escalation pass),
        # found without reading every flag ever raised (migration 0018).
        Index("ix_flags_kind_handled", "kind", "handled_dt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    #: count_discrepancy, deviation, prolonged_bleeding, large_bruise, reaction, ...
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    #: The checklist item that raised it.
    link_id: Mapped[str | None] = mapped_column(String(80))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=FlagStatus.OPEN.value)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The follow-up response that raised it (escalations), if any.
    response_id: Mapped[int | None] = mapped_column(ForeignKey("patient_responses.id"))
    #: The reminder whose delivery failed, if any.
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("followups.id"))
    acknowledged_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    #: When an emergency or same-day answer nobody acknowledged in time went to the clinic's
    #: duty address; such a flag heads the compliance queue.
    escalated_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: What the practitioner did about a patient's answer (called, advised, referred): the
    #: answer stays in their "needs you now" list until they say, whoever acknowledged it.
    handled_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    handled_action: Mapped[str | None] = mapped_column(String(20))
    handled_note: Mapped[str | None] = mapped_column(Text)
    #: Calls about it that found no reply: the patient is not reached, so it stays on the
    #: practitioner's list, saying how often and when they tried (migration 0022).
    call_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_attempt_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())

    session: Mapped[TreatmentSession] = relationship(back_populates="flags")
    #: The patient's answer behind an escalation, read by staff on the flag.
    response = relationship("PatientResponse")

    @property
    def audit_chain(self) -> int:
        return self.session.clinic_id

    @property
    def audit_details(self) -> dict[str, int | str]:
        """What its events record of it: the record it is on, its kind and severity, and the
        follow-up a silence is about, which verify holds the flag to (integrity/flags.py)."""
        said: dict[str, int | str] = {
            "session": self.session_id,
            "kind": self.kind,
            "severity": self.severity,
        }
        if self.followup_id is not None:
            said["followup"] = self.followup_id
        if self.response_id is not None:
            said["response"] = self.response_id
        return said

    @property
    def raise_details(self) -> dict[str, int | str]:
        """What its flag.raise event records: the above and a digest of its message, which
        verify holds the flag to. An insider's review reworded a missing needle's critical
        flag to "Nothing to see." and verify said intact."""
        return {**self.audit_details, "message_hash": sha256_hex(self.message)}


class Addendum(db.Model):
    """A signed correction to a signed record; the original stays as it was. Insert-only."""

    __tablename__ = "addenda"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: Why the correction is needed.
    reason: Mapped[str] = mapped_column(Text)
    #: The correction itself, in the practitioner's words.
    body: Mapped[str] = mapped_column(Text)
    signer_name: Mapped[str] = mapped_column(String(200))
    signature_meaning: Mapped[str] = mapped_column(String(200))
    signed_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: SHA-256 over the addendum and the record's own content hash.
    content_hash: Mapped[str] = mapped_column(String(64))

    session: Mapped[TreatmentSession] = relationship(back_populates="addenda")
    author = relationship("User")
