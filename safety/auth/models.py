"""Accounts, roles and server-side login sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safety import languages
from safety.dbtypes import UTCDateTime, utcnow
from safety.extensions import db
from safety.languages import N_


class Role(StrEnum):
    """What a person does here; the access policy (auth/policy.py) reads it, pages name it."""

    PRACTITIONER = "practitioner"
    COMPLIANCE = "compliance"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        """The role as a list or a choice names it ("Compliance officer"), marked for gettext."""
        return ROLE_LABELS[self]

    @property
    def noun(self) -> str:
        """The role as a sentence names a person ("invited as a compliance officer")."""
        return ROLE_NOUNS[self]


#: Each role's name, once: the administration pages and the invitation mail read these.
ROLE_LABELS = {
    Role.PRACTITIONER: N_("Practitioner"),
    Role.COMPLIANCE: N_("Compliance officer"),
    Role.ADMIN: N_("Administrator"),
}
ROLE_NOUNS = {
    Role.PRACTITIONER: N_("a practitioner"),
    Role.COMPLIANCE: N_("a compliance officer"),
    Role.ADMIN: N_("an administrator"),
}


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('practitioner', 'compliance', 'admin')", name="role"),
        CheckConstraint(
            "role != 'practitioner' OR clinic_id IS NOT NULL", name="practitioner_clinic"
        ),
        CheckConstraint(languages.SQL_CHECK, name="language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Sign-in name, stored lower-case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: Printed name shown in the signature manifestation.
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    #: The interface language (safety.languages), chosen in the profile.
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    #: A practitioner's clinic; compliance officers and administrators work across clinics.
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"), index=True)
    #: argon2id hash (PHC string).
    password_hash: Mapped[str] = mapped_column(String(255))
    #: The clinic this practitioner leads: its lead reads the identity on its sharps injury
    #: reports and is alerted when an urgent post-exposure step is left untouched (DESIGN §10).
    #: A clinic, not a flag: a practitioner who works at several clinics leads only this one,
    #: whichever they work at now.
    lead_clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    #: Deactivated accounts cannot sign in and lose their sessions at once.
    is_enabled: Mapped[bool] = mapped_column(default=True)
    #: Consecutive failed sign-ins (and signature attempts); reset by a success.
    failed_login_count: Mapped[int] = mapped_column(default=0)
    #: Sign-in is refused until this time after too many failures.
    locked_until_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_changed_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The authenticator app's TOTP secret (RFC 6238), encrypted with a key from the
    #: environment (safety.auth.secrets); None until enrolment is confirmed with a code.
    totp_secret_enc: Mapped[str | None] = mapped_column(String(255))
    #: A secret shown for enrolment and not yet confirmed with a code from the app.
    totp_pending_enc: Mapped[str | None] = mapped_column(String(255))
    #: When the second factor was enrolled; None: the account signs in with a password alone.
    totp_enrolled_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last 30-second step whose code was accepted: a code works once (RFC 6238 §5.2).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    clinic = relationship("Clinic", lazy="joined", foreign_keys=[clinic_id])
    lead_clinic = relationship("Clinic", foreign_keys=[lead_clinic_id])

    @property
    def has_second_factor(self) -> bool:
        return self.totp_enrolled_dt is not None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.is_enabled

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class LoginSession(db.Model):
    """One signed-in browser. Ending it on the server signs that browser out at its next request."""

    __tablename__ = "login_sessions"

    #: Random identifier kept in the signed session cookie.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: signed_out, idle, expired, password_changed, deactivated
    end_reason: Mapped[str | None] = mapped_column(String(30))


class ApiToken(db.Model):
    """A read-only bearer token for the FHIR API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: First characters of the token, so a person can tell tokens apart when revoking.
    prefix: Mapped[str] = mapped_column(String(12))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The token is refused from this time on (`flask tokens create --days`, default 90).
    expires_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User")


class LoginThrottle(db.Model):
    """Failed sign-ins of one account from one client, and how long that client must wait.

    Throttling is per (account, client) rather than per account, so a stranger guessing at an
    address slows only themselves: the owner's own browser keeps its allowance (DESIGN §6.1).
    The account is named by a hash of the address typed, so unknown addresses are throttled
    exactly like real ones and no typed address is stored.
    """

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("account_key", "bucket"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the normalised e-mail address typed at sign-in.
    account_key: Mapped[str] = mapped_column(String(64))
    #: Who is throttled: "addr:<client address>", "device:<id>" or "untrusted" (every client
    #: without this account's device cookie together).
    bucket: Mapped[str] = mapped_column(String(120))
    #: Consecutive failures; a success from this bucket clears the row.
    failures: Mapped[int] = mapped_column(default=0)
    #: Sign-in from this bucket is refused (with the usual answer) until this time.
    blocked_until_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failure_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RecoveryCode(db.Model):
    """One of an account's one-time recovery codes; only its SHA-256 is stored.

    Ten are shown once at enrolment. Each lets its holder past the second factor once, for
    when the phone is lost; using one is audited.
    """

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Set when the code is used; a used code never works again.
    used_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Invitation(db.Model):
    """A one-time link that lets an invited person choose their own password.

    Only the SHA-256 of the link's secret is stored; the link expires (72 hours by default) and
    works once. A new invitation for the same account ends the earlier ones.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The administrator who sent it.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_dt: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Set when the password was chosen through it (or when a newer invitation replaced it).
    used_dt: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User", foreign_keys=[user_id])


class ClinicMembership(db.Model):
    """A clinic a practitioner works at; one who works at several chooses among them.

    `User.clinic_id` is the clinic the practitioner works at now: every clinic-scoped rule
    reads it (auth.policy.working_clinic_id), and another clinic's records stay "not found"
    until they switch to it.
    """

    __tablename__ = "clinic_memberships"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), primary_key=True)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
