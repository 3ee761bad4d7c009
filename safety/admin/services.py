"""Administration use cases: accounts, clinics and template imports, as an administrator sees them.

The changes themselves live with their feature (auth, clinics, risks); this module adds what
the administration pages need around them: lists, the administrator's own guards, uploads and
the audit history of each object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from safety import languages
from safety.admin import rules
from safety.audit.models import AuditEvent
from safety.auth import invitations, policy
from safety.auth import rules as auth_rules
from safety.auth import services as auth
from safety.auth.models import Role, User
from safety.clinics.models import Clinic
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, Forbidden
from safety.extensions import db
from safety.languages import N_, Said
from safety.risks import importer, translations
from safety.risks import rules as risk_rules
from safety.risks import services as risks
from safety.risks.models import TemplateVersion

#: How many events the history lists show.
HISTORY_LIMIT = 100


# --- users ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRow:
    user: User
    is_locked: bool
    #: Invited and no password chosen yet: the list says so instead of "Active".
    is_invited: bool = False
    #: Whether that invitation's link still works.
    is_invitation_open: bool = False


def list_users(*, now: datetime | None = None) -> list[UserRow]:
    """Return every account with whether it is locked, administrators first."""
    now = now or utcnow()
    order = {Role.ADMIN.value: 0, Role.COMPLIANCE.value: 1, Role.PRACTITIONER.value: 2}
    users = db.session.scalars(select(User).order_by(User.name, User.id)).unique().all()
    waiting = invitations.waiting(users, now=now)
    rows = [
        UserRow(
            u,
            auth_rules.is_locked(u.locked_until_dt, now),
            is_invited=u.id in waiting,
            is_invitation_open=waiting.get(u.id, False),
        )
        for u in users
    ]
    return sorted(rows, key=lambda row: (not row.user.is_enabled, order.get(row.user.role, 3)))


def user_is_locked(user: User, *, now: datetime | None = None) -> bool:
    return auth_rules.is_locked(user.locked_until_dt, now or utcnow())


def invite_account(
    *,
    email: str,
    name: str,
    role: str,
    clinic_id: int | None,
    actor: User,
    language: str = "en",
    now: datetime | None = None,
) -> tuple[User, str]:
    """Invite a person: create their account (no password yet) and its first link.

    `language` is the one they read: the invitation e-mail is written in it and their pages
    follow it until they choose another.

    Only practitioners keep a clinic, which must exist. Returns the account and the link's
    secret, for the e-mail that goes out after the commit.
    """
    errors: dict[str, str] = {}
    if role != Role.PRACTITIONER:
        clinic_id = None
    elif clinic_id is not None and db.session.get(Clinic, clinic_id) is None:
        errors["clinic"] = N_("Choose a clinic from the list.")
        clinic_id = None
    if role not in set(Role):
        errors["role"] = N_("Choose a role from the list.")
    if not languages.is_language(language):
        errors["language"] = N_("Choose one of the languages in the list.")
    try:
        user, secret = invitations.invite(
            email=email, name=name, role=role, clinic_id=clinic_id, actor=actor, now=now
        )
    except DomainError as exc:
        raise DomainError(exc.message, {**exc.errors, **errors}) from None
    if errors:  # create_user refuses these itself; never keep an account made from bad input
        raise DomainError(N_("The account was not created."), errors)
    user.language = language
    return user, secret


def deactivate_account(user_id: int, *, actor: User, now: datetime | None = None) -> User:
    """Deactivate another account and end its sessions; administrators keep their own."""
    user = auth.held_user(user_id)
    if not policy.can_deactivate(actor, user):
        raise Forbidden(
            "You cannot deactivate your own account. Ask another administrator to do it."
        )
    if not user.is_enabled:
        raise Conflict(N_("This account is already deactivated."))
    return auth.deactivate_user(user.id, actor=actor, now=now)


# --- clinics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicRow:
    clinic: Clinic
    practitioners: int


def list_clinics() -> list[ClinicRow]:
    """Return every clinic with how many active practitioners work there."""
    clinics = db.session.scalars(select(Clinic).order_by(Clinic.name)).all()
    counts: dict[int, int] = {}
    for clinic_id in db.session.scalars(
        select(User.clinic_id).where(
            User.role == Role.PRACTITIONER, User.is_enabled.is_(True), User.clinic_id.is_not(None)
        )
    ):
        counts[clinic_id] = counts.get(clinic_id, 0) + 1
    return [ClinicRow(c, counts.get(c.id, 0)) for c in clinics]


def clinic_options() -> list[tuple[int, str]]:
    """Return (id, name) of every clinic, for the practitioner's clinic field."""
    return [
        tuple(row)
        for row in db.session.execute(select(Clinic.id, Clinic.name).order_by(Clinic.name))
    ]


# --- templates -----------------------------------------------------------------------------


def import_risk_section(
    *,
    text: str | None,
    filename: str | None,
    data: bytes | None,
    actor: User,
    now: datetime | None = None,
) -> TemplateVersion:
    """Turn a pasted or uploaded risk section into a persisted draft template.

    Errors name the field they belong to: "file" for an upload, "text" for pasted text.
    """
    has_text = bool(text and text.strip())
    if data is not None and has_text:
        raise DomainError(
            "The draft was not created.",
            {"file": "Choose a file or paste the text, not both. Clear one and try again."},
        )
    field = "file" if data is not None else "text"
    try:
        source = (
            rules.read_upload(filename or "", data)
            if data is not None
            else rules.check_source(text or "")
        )
        result = importer.parse_risk_section(source, risk_rules.load_register().synonyms)
    except (rules.SourceError, importer.NoRiskSectionError, importer.TextTooLongError) as exc:
        raise DomainError(N_("The draft was not created."), {field: exc.args[0]}) from None
    if not result.statements:
        raise DomainError(
            N_("The draft was not created."),
            {
                field: Said(
                    N_(
                        "The section under '%(heading)s' is empty: add the risks as sentences "
                        "or bullet lines below the heading."
                    ),
                    heading=result.heading,
                )
            },
        )
    draft, _ = risks.create_draft_from_text(source, actor=actor, now=now, result=result)
    return draft


@dataclass(frozen=True)
class TemplateReview:
    version: TemplateVersion
    template: risk_rules.Template
    kinds: list[str]
    current: TemplateVersion | None
    added: list[str]
    removed: list[str]
    #: Items with words lacking a translation: practitioners would read them untranslated.
    untranslated: list[translations.Untranslated]


def review_template(template_id: int) -> TemplateReview:
    """Return a template version with what it would change against the current one."""
    version = risks.get_template(template_id)
    current = risks.current_template()
    added, removed = ([], [])
    if current is not None and current.id != version.id:
        added, removed = rules.compare_items(current.definition, version.definition)
    template = risk_rules.template_from_definition(version.definition)
    return TemplateReview(
        version=version,
        template=template,
        kinds=list(version.definition.get("kinds", [])),
        current=current,
        added=added,
        removed=removed,
        untranslated=translations.untranslated(template),
    )


# --- history -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    when: datetime
    actor: str
    action: str
    what: str
    subject: str
    url_args: tuple[str, dict[str, Any]] | None


def history(
    *, object_type: str | None = None, object_id: int | None = None, limit: int = HISTORY_LIMIT
) -> list[HistoryRow]:
    """Return the latest administration events, of one object or of all, newest first."""
    actor = aliased(User)
    query = (
        select(AuditEvent, actor.name)
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .where(or_(*(AuditEvent.action.startswith(p) for p in rules.ADMIN_ACTION_PREFIXES)))
        # Newest first by time: since each clinic has its own chain, sequence numbers of
        # different chains say nothing about which came first.
        .order_by(AuditEvent.created_dt.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    if object_type is not None:
        query = query.where(
            AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id)
        )
    rows = db.session.execute(query).all()
    if object_type == TemplateVersion.__tablename__:
        # SQLite may give a new draft the id of a discarded one: its history starts after that.
        cut = next((i for i, (e, _) in enumerate(rows) if e.action == "template.discard"), None)
        rows = rows[:cut]
    subjects = _subjects(event for event, _ in rows)
    result = []
    for event, name in rows:
        details = event.details or {}
        subject, url_args = subjects.get((event.object_type, event.object_id), ("", None))
        if event.object_type == TemplateVersion.__tablename__ and "version" in details:
            # Still right once discarded.
            subject = Said(N_("Template version %(version)s"), version=details["version"])
        result.append(
            HistoryRow(
                when=event.created_dt,
                actor=name or Said(N_("System")),
                action=event.action,
                what=rules.describe_event(event.action, details),
                subject=subject,
                url_args=url_args,
            )
        )
    return result


def _subjects(events: Iterable[AuditEvent]) -> dict[tuple[str, str], tuple[str, Any]]:
    """Name the objects of events in bulk: an account's email, a clinic, a template version."""
    wanted: dict[str, set[int]] = {}
    for event in events:
        if event.object_type and event.object_id and event.object_id.isdecimal():
            wanted.setdefault(event.object_type, set()).add(int(event.object_id))
    found: dict[tuple[str, str], tuple[str, Any]] = {}
    if ids := wanted.get(User.__tablename__):
        for user_id, email in db.session.execute(
            select(User.id, User.email).where(User.id.in_(ids))
        ):
            found[(User.__tablename__, str(user_id))] = (
                email,
                ("admin.user", {"user_id": user_id}),
            )
    if ids := wanted.get(Clinic.__tablename__):
        for clinic_id, name in db.session.execute(
            select(Clinic.id, Clinic.name).where(Clinic.id.in_(ids))
        ):
            found[(Clinic.__tablename__, str(clinic_id))] = (
                name,
                ("admin.clinic_edit", {"clinic_id": clinic_id}),
            )
    if ids := wanted.get(TemplateVersion.__tablename__):
        for template_id, version in db.session.execute(
            select(TemplateVersion.id, TemplateVersion.version).where(TemplateVersion.id.in_(ids))
        ):
            found[(TemplateVersion.__tablename__, str(template_id))] = (
                f"Template version {version}",
                ("admin.template_review", {"template_id": template_id}),
            )
    return found
