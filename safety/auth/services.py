"""Account use cases: sign-in with lockout, login sessions, passwords, users."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import func, select, update

from safety.audit import services as audit
from safety.auth import policy, rules
from safety.auth.models import ApiToken, LoginSession, Role, User
from safety.clinics.models import Clinic
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, NotFound, RecordedRefusal
from safety.extensions import db
from safety.ids import is_id

#: One message for every failed sign-in, so it never tells which part was wrong.
LOGIN_FAILED = "That email and password do not match an active account."
LOCKED = "Too many failed attempts: this account is locked for a while. Try again later."


@cache
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hasher() -> PasswordHasher:
    """Return the argon2id hasher with this environment's cost (config.py says why this cost)."""
    config = current_app.config
    return _hasher(
        config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_COST"], config["ARGON2_PARALLELISM"]
    )


def hash_password(password: str) -> str:
    return hasher().hash(password)


def password_matches(user: User, password: str) -> bool:
    """Check a password against a user's hash without raising."""
    try:
        return hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def authenticate(email: str, password: str, *, now: datetime | None = None) -> User:
    """Sign a user in, counting failures and locking the account after too many."""
    now = now or utcnow()
    user = find_user(email)
    if user is None:
        # Spend the same time as a real check, so timing does not reveal which emails exist.
        hasher().hash(password)
        audit.record("auth.login_failed", details={"reason": "unknown_account"}, now=now)
        raise RecordedRefusal(LOGIN_FAILED)
    if rules.is_locked(user.locked_until_dt, now):
        audit.record(
            "auth.login_failed", actor=user, obj=user, details={"reason": "locked"}, now=now
        )
        raise RecordedRefusal(LOCKED)
    if not password_matches(user, password) or not user.is_enabled:
        reason = "bad_password" if user.is_enabled else "deactivated"
        register_failure(user, now=now)
        audit.record("auth.login_failed", actor=user, obj=user, details={"reason": reason}, now=now)
        raise RecordedRefusal(
            LOCKED if rules.is_locked(user.locked_until_dt, now) else LOGIN_FAILED
        )
    user.failed_login_count = 0
    user.locked_until_dt = None
    # The password is at hand only now: a hash made with other parameters (older, or stronger
    # or weaker than configured) is replaced, so a change of cost reaches every active account.
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def sign_in(email: str, password: str, *, now: datetime | None = None):
    """Check a sign-in and open a login session for the browser; returns (user, session)."""
    user = authenticate(email, password, now=now)
    return user, start_login_session(user, now=now)


def register_failure(user: User, *, now: datetime) -> None:
    """Count a failed password check (sign-in or signature) towards the lockout."""
    config = current_app.config
    user.failed_login_count, locked_until = rules.after_failure(
        user.failed_login_count,
        max_failures=config["LOGIN_MAX_FAILURES"],
        lockout=config["LOGIN_LOCKOUT"],
        now=now,
    )
    if locked_until is not None:
        user.locked_until_dt = locked_until


def start_login_session(user: User, *, now: datetime | None = None) -> LoginSession:
    """Open a server-side session for a browser that has just signed in."""
    now = now or utcnow()
    login = LoginSession(
        id=secrets.token_urlsafe(32), user_id=user.id, created_dt=now, last_seen_dt=now
    )
    db.session.add(login)
    db.session.flush()
    audit.record("auth.login", actor=user, obj=user, now=now)
    return login


def check_login_session(
    session_id: str | None,
    user_id: int,
    *,
    idle_timeout: timedelta,
    absolute_lifetime: timedelta,
    now: datetime | None = None,
) -> bool:
    """Return whether a browser's login session is still valid, ending it if it has lapsed."""
    if not session_id:
        return False
    now = now or utcnow()
    login = db.session.get(LoginSession, session_id)
    if login is None or login.user_id != user_id or login.ended_dt is not None:
        return False
    reason = rules.session_end_reason(
        login.created_dt,
        login.last_seen_dt,
        now,
        idle_timeout=idle_timeout,
        absolute_lifetime=absolute_lifetime,
    )
    if reason:
        login.ended_dt, login.end_reason = now, reason
        return False
    if now - login.last_seen_dt > timedelta(seconds=30):
        login.last_seen_dt = now
    return True


def end_login_session(session_id: str, user: User, *, now: datetime | None = None) -> None:
    """Sign one browser out on the server."""
    now = now or utcnow()
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.ended_dt.is_(None))
        .values(ended_dt=now, end_reason="signed_out")
    )
    audit.record("auth.logout", actor=user, obj=user, now=now)


def end_all_login_sessions(user: User, reason: str, *, now: datetime | None = None) -> int:
    """End every open session of a user, so every browser is signed out at its next request."""
    result = db.session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.ended_dt.is_(None))
        .values(ended_dt=now or utcnow(), end_reason=reason)
    )
    return result.rowcount


def change_password(user: User, current: str, new: str, *, now: datetime | None = None) -> None:
    """Change a password after checking the current one; every session of the user ends."""
    now = now or utcnow()
    if not password_matches(user, current):
        register_failure(user, now=now)
        raise RecordedRefusal(
            "Check the fields below.", {"current_password": "That is not your current password."}
        )
    problems = rules.password_problems(new, email=user.email, name=user.name)
    if problems:
        raise DomainError("Check the fields below.", {"new_password": " ".join(problems)})
    user.password_hash = hash_password(new)
    user.password_changed_dt = now
    end_all_login_sessions(user, "password_changed", now=now)
    audit.record("auth.password_changed", actor=user, obj=user, now=now)


def create_user(
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    clinic_id: int | None = None,
    actor: User | None = None,
    check_strength: bool = True,
    now: datetime | None = None,
) -> User:
    """Create an account; practitioners belong to a clinic, weak passwords are refused."""
    email = normalise_email(email)
    errors: dict[str, str] = {}
    if role not in set(Role):
        errors["role"] = f"Choose one of: {', '.join(Role)}."
    if role == Role.PRACTITIONER and clinic_id is None:
        errors["clinic"] = "A practitioner belongs to a clinic."
    if not name.strip():
        errors["name"] = "Enter the printed name used in signatures."
    if "@" not in email:
        errors["email"] = "Enter an email address."
    elif db.session.scalar(select(func.count()).where(User.email == email)):
        errors["email"] = "An account with this email already exists."
    if check_strength and (problems := rules.password_problems(password, email=email, name=name)):
        errors["password"] = " ".join(problems)
    if errors:
        raise DomainError("The account was not created.", errors)
    user = User(
        email=email,
        name=name.strip(),
        role=role,
        clinic_id=clinic_id,
        password_hash=hash_password(password),
        created_dt=now or utcnow(),
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", actor=actor, obj=user, details={"role": role}, now=now)
    return user


def deactivate_user(user_id: int, *, actor: User | None, now: datetime | None = None) -> User:
    """Deactivate an account and end all of its sessions at once."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    user.is_enabled = False
    end_all_login_sessions(user, "deactivated", now=now)
    audit.record("user.deactivate", actor=actor, obj=user, now=now)
    revoke_api_tokens(user, "deactivated", actor=actor, now=now)
    return user


def revoke_api_tokens(
    user: User, reason: str, *, actor: User | None, now: datetime | None = None
) -> int:
    """Revoke every live API token of an account for good, each revocation audited.

    A token that only stopped working while its holder was deactivated would come back on
    reactivation: the scripts of someone who left would read records again.
    """
    now = now or utcnow()
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_dt.is_(None))
    ).all()
    for token in tokens:
        revoke_api_token(token, actor=actor, reason=reason, now=now)
    return len(tokens)


def revoke_api_token(
    token: ApiToken, *, actor: User | None, reason: str | None = None, now: datetime | None = None
) -> None:
    """End one API token now and audit it; the next request that presents it is refused."""
    now = now or utcnow()
    token.revoked_dt = now
    db.session.flush()
    details = {"user": token.user_id, "prefix": token.prefix}
    if reason:
        details["reason"] = reason
    audit.record("token.revoke", actor=actor, obj=token, details=details, now=now)


def get_user(user_id: int) -> User:
    """Return an account by id, or raise NotFound."""
    user = db.session.get(User, user_id) if is_id(user_id) else None
    if user is None:
        raise NotFound("No such user.")
    return user


def change_role(
    user_id: int,
    *,
    role: str,
    clinic_id: int | None,
    actor: User,
    now: datetime | None = None,
) -> User:
    """Change an account's role (and a practitioner's clinic); its sessions end at once.

    Compliance officers and administrators work across clinics, so they keep no clinic.
    An administrator cannot remove their own administrator role.
    """
    user = get_user(user_id)
    errors: dict[str, str] = {}
    if role not in set(Role):
        errors["role"] = "Choose a role from the list."
    elif user.id == actor.id and role != Role.ADMIN:
        errors["role"] = (
            "You cannot remove your own administrator role. Ask another administrator to do it."
        )
    if role == Role.PRACTITIONER:
        if clinic_id is None:
            errors["clinic"] = "A practitioner belongs to a clinic: choose one."
        elif db.session.get(Clinic, clinic_id) is None:
            errors["clinic"] = "Choose a clinic from the list."
    else:
        clinic_id = None
    if not errors and (user.role, user.clinic_id) == (role, clinic_id):
        errors["role"] = "Nothing to change: the account already has this role and clinic."
    if errors:
        raise DomainError("The role was not changed.", errors)
    old_role, old_clinic_id = user.role, user.clinic_id
    user.role, user.clinic_id = role, clinic_id
    db.session.flush()
    ended = end_all_login_sessions(user, "role_changed", now=now)
    audit.record(
        "user.role_change",
        actor=actor,
        obj=user,
        details={
            "old": old_role,
            "new": role,
            "old_clinic_id": old_clinic_id,
            "new_clinic_id": clinic_id,
            "sessions_ended": ended,
        },
        now=now,
    )
    if old_role == Role.COMPLIANCE and not policy.can_hold_api_token(user):
        revoke_api_tokens(user, "role_changed", actor=actor, now=now)
    return user


def reactivate_user(user_id: int, *, actor: User, now: datetime | None = None) -> User:
    """Let a deactivated account sign in again (with its existing password)."""
    user = get_user(user_id)
    if user.is_enabled:
        raise Conflict("This account is already active.")
    user.is_enabled = True
    audit.record("user.reactivate", actor=actor, obj=user, now=now)
    return user


def unlock_user(user_id: int, *, actor: User, now: datetime | None = None) -> User:
    """Lift a lockout after failed sign-ins, so the account can sign in at once."""
    now = now or utcnow()
    user = get_user(user_id)
    if not rules.is_locked(user.locked_until_dt, now):
        raise Conflict("This account is not locked.")
    details = {"locked_until": user.locked_until_dt.isoformat()}
    user.locked_until_dt = None
    user.failed_login_count = 0
    audit.record("user.unlock", actor=actor, obj=user, details=details, now=now)
    return user
