"""Invitations: an administrator invites a person by e-mail; the person chooses their password.

Nobody but the person ever knows the password: the administrator no longer types one and hands
it over. The link carries a random secret of which only the SHA-256 is stored; it expires and
works once. The account exists from the invitation on (its role and clinic set by the
administrator) with a password nobody knows, so it cannot be signed in to before the link is
used. `flask users create` stays for the first administrator.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from safety.audit import services as audit
from safety.auth import rules
from safety.auth import services as accounts
from safety.auth.models import Invitation, User
from safety.dbtypes import utcnow
from safety.errors import SAME_ACT_WINDOW, Conflict, DomainError
from safety.extensions import db, take_turns_on
from safety.hashing import sha256_hex
from safety.languages import N_, Listed

#: One answer for a link that is unknown, used or expired: it never says which.
LINK_REFUSED = N_(
    "This invitation link has expired or was already used. Ask your administrator to send "
    "you a new one."
)


def invite(
    *,
    email: str,
    name: str,
    role: str,
    clinic_id: int | None,
    actor: User,
    now: datetime | None = None,
) -> tuple[User, str]:
    """Create an invited account and its first link; return the account and the link's secret."""
    now = now or utcnow()
    user = accounts.create_user(
        email=email,
        name=name,
        role=role,
        clinic_id=clinic_id,
        # Nobody knows this password: the account opens only through the invitation link.
        password=secrets.token_urlsafe(32),
        check_strength=False,
        actor=actor,
        now=now,
    )
    user.password_changed_dt = now
    return user, _issue(user, actor=actor, now=now)


def issue(
    user: User, *, actor: User, replaces: int | None = None, now: datetime | None = None
) -> str | None:
    """Issue a new link for an account that has not chosen its password; earlier links end.

    `replaces` is the invitation the administrator's page showed. Returns the new link's
    secret to mail, or None when that one was replaced by this administrator a moment ago
    (`SAME_ACT_WINDOW`): the click is a second one (a double click once mailed two links, the
    first of them already dead), the link just sent is the one to use, and
    nothing more is mailed. Two clicks at once take turns on the account."""
    now = now or utcnow()
    take_turns_on(User, user.id)
    if has_accepted(user):
        raise Conflict(N_("This person has already chosen their password: they can sign in."))
    newest = latest(user)
    if (
        replaces is not None
        and newest is not None
        and newest.id != replaces
        and newest.created_by_id == actor.id
        and now - newest.created_dt < SAME_ACT_WINDOW
    ):
        return None
    return _issue(user, actor=actor, now=now)


def _issue(user: User, *, actor: User, now: datetime) -> str:
    db.session.execute(
        update(Invitation)
        .where(Invitation.user_id == user.id, Invitation.used_dt.is_(None))
        .values(used_dt=now)
    )
    secret = secrets.token_urlsafe(32)
    hours = current_app.config["INVITATION_HOURS"]
    invitation = Invitation(
        user_id=user.id,
        token_hash=sha256_hex(secret),
        created_by_id=actor.id,
        created_dt=now,
        expires_dt=now + timedelta(hours=hours),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        "user.invite", actor=actor, obj=user, details={"invitation": invitation.id}, now=now
    )
    return secret


def has_accepted(user: User) -> bool:
    """Whether the person has chosen their password (or was created with one, unasked)."""
    first = db.session.scalar(
        select(func.min(Invitation.created_dt)).where(Invitation.user_id == user.id)
    )
    return _chose_password(user, first)


def _chose_password(user: User, first_invited: datetime | None) -> bool:
    """An account never invited was made with a password; an invited one has chosen its own
    once the password changed after its first invitation."""
    return first_invited is None or user.password_changed_dt > first_invited


def waiting(users: Iterable[User], *, now: datetime | None = None) -> dict[int, bool]:
    """Of these accounts, those whose person has not chosen a password yet, each with whether
    a link still works (`has_accepted` and `is_open` for a whole list, in two statements)."""
    now = now or utcnow()
    first = {
        user_id: created
        for user_id, created in db.session.execute(
            select(Invitation.user_id, func.min(Invitation.created_dt)).group_by(Invitation.user_id)
        )
    }
    open_ = set(
        db.session.scalars(
            select(Invitation.user_id).where(
                Invitation.used_dt.is_(None), Invitation.expires_dt > now
            )
        )
    )
    return {
        user.id: user.id in open_ for user in users if not _chose_password(user, first.get(user.id))
    }


def latest(user: User) -> Invitation | None:
    """The newest invitation of an account, for the administrator's page."""
    return db.session.scalar(
        select(Invitation).where(Invitation.user_id == user.id).order_by(Invitation.id.desc())
    )


def is_open(invitation: Invitation | None, *, now: datetime | None = None) -> bool:
    """Whether an invitation's link still works."""
    return (
        invitation is not None
        and invitation.used_dt is None
        and (now or utcnow()) < invitation.expires_dt
    )


def find_open(secret: str, *, now: datetime | None = None) -> Invitation:
    """Return the unused, unexpired invitation a link names, or refuse with one answer."""
    now = now or utcnow()
    if not secret or len(secret) > 100:
        raise DomainError(LINK_REFUSED)
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.token_hash == sha256_hex(secret))
    )
    if not is_open(invitation, now=now) or not invitation.user.is_enabled:
        raise DomainError(LINK_REFUSED)
    return invitation


def accept(secret: str, password: str, *, now: datetime | None = None) -> User:
    """Set the invited person's own password through the link, which then never works again."""
    now = now or utcnow()
    invitation = find_open(secret, now=now)
    user = invitation.user
    problems = rules.password_problems(password, email=user.email, name=user.name)
    if problems:
        raise DomainError(N_("Check the fields below."), {"password": Listed(problems, " ")})
    hashed = accounts.hash_password(password)  # slow: before any lock is taken
    # The account before the link, as "Send a new invitation" takes them: the other order
    # deadlocked with it on PostgreSQL, and the newcomer got an error page (a review).
    take_turns_on(User, user.id)
    # Conditional, so two submissions of the same link cannot both set a password.
    claimed = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.used_dt.is_(None))
        .values(used_dt=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise DomainError(LINK_REFUSED)
    user.password_hash = hashed
    user.password_changed_dt = now
    audit.record(
        "user.invitation_accepted",
        actor=user,
        obj=user,
        details={"invitation": invitation.id},
        now=now,
    )
    return user
