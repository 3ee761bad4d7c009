"""Account use cases: sign-in with throttling, login sessions, passwords, users.

One file of about 730 lines because these share one account row and one transaction: a
sign-in reads the throttle, checks the password, clears the throttle and opens the login
session; a password change, a deactivation and a role change end those sessions and revoke
tokens. The second factor, invitations and clinic memberships build on them and have files of
their own (second_factor.py, invitations.py, clinics.py); the throttle's device cookie and
buckets are the next candidates to move out if this grows.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from safety import languages
from safety.addresses import is_email_address
from safety.audit import services as audit
from safety.auth import policy, rules
from safety.auth.models import (
    ApiToken,
    ClinicMembership,
    LoginSession,
    LoginThrottle,
    Role,
    User,
)
from safety.clinics.models import Clinic
from safety.dbtypes import utcnow
from safety.errors import SAME_ACT_WINDOW, Conflict, DomainError, NotFound, RecordedRefusal
from safety.extensions import db, take_turns_on
from safety.ids import is_id
from safety.languages import N_, Listed, Said

#: One answer for every refused sign-in (wrong password, unknown address, deactivated account,
#: throttled client), so the answer never tells a stranger which addresses have accounts.
LOGIN_FAILED = N_(
    "That email and password do not match an active account. After several tries, "
    "wait a few minutes before trying again."
)
#: A signature refused after too many wrong passwords at the signing form itself.
LOCKED = "Too many failed attempts: this account is locked for a while. Try again later."
#: What the device cookie's signature is bound to, so no other signed value passes for one.
DEVICE_SALT = "needlesafe-device"


@cache
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hasher() -> PasswordHasher:
    """Return the argon2id hasher with this environment's cost (config.py says why this cost)."""
    config = current_app.config
    return _hasher(
        config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_COST"], config["ARGON2_PARALLELISM"]
    )


@cache
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_cost, parallelism).hash(secrets.token_hex(16))


def spend_a_password_check(password: str) -> None:
    """Do the work of one password check that always fails.

    A refusal that skipped the hash (unknown address, throttled client) would answer faster
    than a wrong password and so tell a stranger which addresses have accounts.
    """
    config = current_app.config
    dummy = _dummy_hash(
        config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_COST"], config["ARGON2_PARALLELISM"]
    )
    with contextlib.suppress(VerificationError, InvalidHashError):
        hasher().verify(dummy, password)


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


def account_key(email: str) -> str:
    """Name an address typed at sign-in for throttling, without storing what was typed."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=DEVICE_SALT)


def new_device_cookie(email: str) -> str:
    """Return a signed device cookie for a browser that has just signed in to this account."""
    return _device_serializer().dumps({"a": account_key(email), "d": secrets.token_urlsafe(16)})


def device_of(cookie: str | None, email: str) -> str | None:
    """Return the device id a browser's cookie holds for this account, or None.

    A cookie for another account, forged, or older than DEVICE_COOKIE_DAYS counts for nothing:
    the browser is throttled like any other client.
    """
    if not cookie:
        return None
    max_age = current_app.config["DEVICE_COOKIE_DAYS"] * 86400
    try:
        value = _device_serializer().loads(cookie, max_age=max_age)
    except BadData:
        return None
    if not isinstance(value, dict) or value.get("a") != account_key(email):
        return None
    device = value.get("d")
    return device if isinstance(device, str) and 0 < len(device) <= 64 else None


def authenticate(
    email: str,
    password: str,
    *,
    client: str = "unknown",
    device: str | None = None,
    now: datetime | None = None,
) -> User:
    """Check a sign-in; refuse every failure with the same answer after the same work.

    `client` is the client's address (behind trusted proxies, the forwarded one) and `device`
    the id of this account's device cookie, if the browser holds one: failures are throttled
    per (account, client) with growing waits (`rules.throttle_buckets`), never by a hard lock
    on the account that a stranger could set off.
    """
    now = now or utcnow()
    key = account_key(email)
    buckets = rules.throttle_buckets(client=client, device=device)
    user = find_user(email)
    if is_throttled(key, buckets, now):
        spend_a_password_check(password)
        _audit_failure(user, "throttled", client, now)
        raise RecordedRefusal(LOGIN_FAILED)
    if user is None:
        spend_a_password_check(password)
        reason = "unknown_account"
    elif not password_matches(user, password):
        reason = "bad_password"
    elif not user.is_enabled:
        reason = "deactivated"
    elif not current_app.config["DEMO_MODE"] and rules.is_demo_password(password):
        # A development database copied into production keeps its demo accounts.
        reason = "demo_account"
    else:
        reason = None
    if reason is not None:
        count_failure(key, buckets, user, client, now)
        _audit_failure(user, reason, client, now)
        raise RecordedRefusal(LOGIN_FAILED)
    if not user.has_second_factor:
        # With a second factor the sign-in is not over: a right password must not wipe the
        # failures of someone guessing the code behind it.
        clear_throttles(key, buckets)
    # The password is at hand only now: a hash made with other parameters (older, or stronger
    # or weaker than configured) is replaced, so a change of cost reaches every active account.
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _audit_failure(user: User | None, reason: str, client: str, now: datetime) -> None:
    audit.record(
        "auth.login_failed",
        actor=user,
        obj=user,
        details={"reason": reason, "client": client},
        now=now,
    )


def is_throttled(key: str, buckets: list[str], now: datetime) -> bool:
    until = db.session.scalars(
        select(LoginThrottle.blocked_until_dt).where(
            LoginThrottle.account_key == key, LoginThrottle.bucket.in_(buckets)
        )
    ).all()
    return any(rules.is_locked(u, now) for u in until)


def count_failure(
    key: str, buckets: list[str], user: User | None, client: str, now: datetime
) -> None:
    """Add one failure to each bucket, in one statement each, so simultaneous failures all count."""
    config = current_app.config
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for bucket in buckets:
        db.session.execute(
            insert(LoginThrottle)
            .values(account_key=key, bucket=bucket, failures=0, last_failure_dt=now)
            .on_conflict_do_nothing(index_elements=["account_key", "bucket"])
        )
        row = db.session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.account_key == key, LoginThrottle.bucket == bucket)
            .values(failures=LoginThrottle.failures + 1, last_failure_dt=now)
            .returning(LoginThrottle.id, LoginThrottle.failures)
        ).one()
        free = (
            config["LOGIN_UNTRUSTED_MAX_FAILURES"]
            if bucket == rules.UNTRUSTED
            else config["LOGIN_MAX_FAILURES"]
        )
        delay = rules.throttle_delay(
            row.failures,
            free=free,
            first=config["LOGIN_THROTTLE_FIRST"],
            cap=config["LOGIN_LOCKOUT"],
        )
        if delay is None:
            continue
        db.session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.id == row.id)
            .values(blocked_until_dt=now + delay)
        )
        audit.record(
            "auth.throttled",
            actor=None,
            obj=user,
            details={
                "bucket": bucket.split(":")[0],
                "client": client,
                "failures": row.failures,
                "seconds": int(delay.total_seconds()),
            },
            now=now,
        )


def clear_throttles(key: str, buckets: list[str]) -> None:
    """Forget the failures of the buckets a successful sign-in came through."""
    db.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.account_key == key, LoginThrottle.bucket.in_(buckets)
        )
    )


def active_throttles(user: User, *, now: datetime | None = None) -> list[LoginThrottle]:
    """Return the sign-in throttles holding clients back from this account now."""
    now = now or utcnow()
    rows = db.session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.account_key == account_key(user.email))
        .order_by(LoginThrottle.last_failure_dt.desc())
    ).all()
    return [r for r in rows if rules.is_locked(r.blocked_until_dt, now)]


@dataclass(frozen=True)
class SignIn:
    """The result of a right password: a login session, or the second-factor step still due."""

    user: User
    #: The browser's new login session; None while a second factor is due.
    login: LoginSession | None
    #: "code" (enter the app's code), "enrol" (the role requires an app not yet set up), or None.
    next_step: str | None = None


def sign_in(
    email: str,
    password: str,
    *,
    client: str = "unknown",
    device: str | None = None,
    required_roles: Collection[str] = (),
    now: datetime | None = None,
) -> SignIn:
    """Check a password; open a login session unless a second factor is still due."""
    user = authenticate(email, password, client=client, device=device, now=now)
    if user.has_second_factor:
        return SignIn(user, None, "code")
    if policy.needs_second_factor(user, required_roles):
        return SignIn(user, None, "enrol")
    return SignIn(user, start_login_session(user, now=now))


def register_failure(user: User, *, now: datetime) -> None:
    """Count a wrong password at a signed-in form (signature, addendum, password change).

    Only the signed-in holder of a session reaches these forms, so this lock cannot be set off
    by a stranger; it stops someone at an unattended tablet from guessing the password there.
    """
    config = current_app.config
    user.failed_login_count, locked_until = rules.after_failure(
        user.failed_login_count,
        max_failures=config["LOGIN_MAX_FAILURES"],
        lockout=config["LOGIN_LOCKOUT"],
        now=now,
    )
    if locked_until is not None:
        user.locked_until_dt = locked_until


def check_password_again(
    user: User,
    password: str,
    *,
    action: str,
    refused: str,
    wrong: str,
    now: datetime,
    field: str = "password",
    **audited: Any,
) -> None:
    """Check the password a signed-in person enters again to sign (a checklist, an addendum, an
    incident), to replace their authenticator app or to change the password itself; refuse a
    wrong one or a locked account (beside the form's `field`).

    Each refusal is audited as `action` with its reason and counts towards the lock
    (`register_failure`), so the caller commits it (RecordedRefusal): the lock stops someone at
    an unattended tablet guessing, and no form of these is a way round it. A right password
    clears the count. `audited` names the event's object (obj=, or object_type= and clinic_id=).
    """
    if rules.is_locked(user.locked_until_dt, now):
        audit.record(action, actor=user, details={"reason": "locked"}, now=now, **audited)
        raise RecordedRefusal(refused, {field: LOCKED})
    if not password_matches(user, password):
        register_failure(user, now=now)
        audit.record(action, actor=user, details={"reason": "bad_password"}, now=now, **audited)
        locked = rules.is_locked(user.locked_until_dt, now)
        raise RecordedRefusal(refused, {field: LOCKED if locked else wrong})
    user.failed_login_count = 0


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


def signed_in_account(
    user_id: int, login_id: str | None
) -> tuple[User | None, LoginSession | None]:
    """Return the account a session cookie names, with its browser's login session.

    Every signed-in request reads both (the account, then `check_login_session`): one
    statement loads them together, and while the caller holds the login session the second
    read finds it in the database session's identity map (which holds objects weakly).
    Whether that login session is still valid is decided there, not here."""
    if login_id:
        found = db.session.execute(
            select(User, LoginSession)
            .join(LoginSession, LoginSession.user_id == User.id)
            .where(User.id == user_id, LoginSession.id == login_id)
        ).first()
        if found is not None:
            return found.User, found.LoginSession
    return db.session.get(User, user_id), None


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
    """Change a password after checking the current one; every session of the user ends.

    The current password is checked as a signature's is, lock included: guessing it here at
    an unattended tablet once went on after the lock, and a right guess took the account (a
    review).
    """
    now = now or utcnow()
    # Two taps on Change at once take turns. The second then found its "current" password
    # already replaced, and was counted a failed attempt towards the lock (a review): the
    # same new password set by this account a moment ago is that change.
    take_turns_on(User, user.id)
    db.session.refresh(user)
    if (
        now - user.password_changed_dt < SAME_ACT_WINDOW
        and current != new
        and password_matches(user, new)
    ):
        return
    check_password_again(
        user,
        current,
        action="auth.password_change_failed",
        refused=N_("Check the fields below."),
        wrong=N_("That is not your current password."),
        now=now,
        field="current_password",
        obj=user,
    )
    problems = rules.password_problems(new, email=user.email, name=user.name)
    if problems:
        raise DomainError(N_("Check the fields below."), {"new_password": Listed(problems, " ")})
    user.password_hash = hash_password(new)
    user.password_changed_dt = now
    end_all_login_sessions(user, "password_changed", now=now)
    audit.record("auth.password_changed", actor=user, obj=user, now=now)


def set_language(user: User, language: str, *, now: datetime | None = None) -> None:
    """Change the language a member of staff reads the interface in."""
    if not languages.is_language(language):
        message = N_("Choose one of the languages in the list.")
        raise DomainError(message, {"language": message})
    take_turns_on(User, user.id)  # taps at once: the second finds it set, and records nothing
    db.session.refresh(user)
    if user.language != language:
        before, user.language = user.language, language
        audit.record(
            "user.language",
            actor=user,
            obj=user,
            details={"from": before, "to": language},
            now=now,
        )


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
        errors["role"] = Said(N_("Choose one of: %(roles)s."), roles=", ".join(Role))
    if role == Role.PRACTITIONER and clinic_id is None:
        errors["clinic"] = N_("A practitioner belongs to a clinic.")
    if not name.strip():
        errors["name"] = N_("Enter the printed name used in signatures.")
    if not is_email_address(email):
        errors["email"] = N_("Enter one email address, like name@example.com.")
    elif db.session.scalar(select(func.count()).where(User.email == email)):
        errors["email"] = N_("An account with this email already exists.")
    if check_strength and (problems := rules.password_problems(password, email=email, name=name)):
        errors["password"] = Listed(problems, " ")
    if errors:
        raise DomainError(N_("The account was not created."), errors)
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
    if clinic_id is not None:
        db.session.add(
            ClinicMembership(user_id=user.id, clinic_id=clinic_id, created_dt=user.created_dt)
        )
        db.session.flush()
    audit.record("user.create", actor=actor, obj=user, details={"role": role}, now=now)
    return user


def deactivate_user(user_id: int, *, actor: User | None, now: datetime | None = None) -> User:
    """Deactivate an account and end all of its sessions at once."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No such user."))
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


def find_user_by_id(user_id: int) -> User | None:
    """Return an account by id, or None (also for an id no row can have)."""
    return db.session.get(User, user_id) if is_id(user_id) else None


def get_user(user_id: int) -> User:
    """Return an account by id, or raise NotFound."""
    user = find_user_by_id(user_id)
    if user is None:
        raise NotFound(N_("No such user."))
    return user


def held_user(user_id: int) -> User:
    """Return an account by id as it is now, held until the transaction ends: an
    administrator's two clicks at once take turns, and the second sees what the first did
    (each had checked the old state and written its own event, a review)."""
    user = get_user(user_id)
    take_turns_on(User, user.id)
    db.session.refresh(user)
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
    user = held_user(user_id)
    errors: dict[str, str] = {}
    if role not in set(Role):
        errors["role"] = N_("Choose a role from the list.")
    elif not policy.can_change_role_to(actor, user, role):
        errors["role"] = (
            "You cannot remove your own administrator role. Ask another administrator to do it."
        )
    if role == Role.PRACTITIONER:
        if clinic_id is None:
            errors["clinic"] = N_("A practitioner belongs to a clinic: choose one.")
        elif db.session.get(Clinic, clinic_id) is None:
            errors["clinic"] = N_("Choose a clinic from the list.")
    else:
        clinic_id = None
    if not errors and (user.role, user.clinic_id) == (role, clinic_id):
        errors["role"] = N_("Nothing to change: the account already has this role and clinic.")
    if errors:
        raise DomainError(N_("The role was not changed."), errors)
    old_role, old_clinic_id = user.role, user.clinic_id
    user.role, user.clinic_id = role, clinic_id
    user.lead_clinic_id = None  # leading a clinic never carries over to another role
    if clinic_id is None:
        # Only practitioners work at clinics.
        db.session.execute(delete(ClinicMembership).where(ClinicMembership.user_id == user.id))
    elif db.session.get(ClinicMembership, (user.id, clinic_id)) is None:
        db.session.add(ClinicMembership(user_id=user.id, clinic_id=clinic_id))
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
    user = held_user(user_id)
    if user.is_enabled:
        raise Conflict(N_("This account is already active."))
    user.is_enabled = True
    audit.record("user.reactivate", actor=actor, obj=user, now=now)
    return user


def unlock_user(user_id: int, *, actor: User, now: datetime | None = None) -> User:
    """Lift the signing lock and every sign-in throttle of an account, so it can sign in at once."""
    now = now or utcnow()
    user = held_user(user_id)
    throttles = active_throttles(user, now=now)
    if not rules.is_locked(user.locked_until_dt, now) and not throttles:
        raise Conflict(N_("This account is not locked."))
    details = {
        "locked_until": user.locked_until_dt.isoformat() if user.locked_until_dt else None,
        "throttles": len(throttles),
    }
    user.locked_until_dt = None
    user.failed_login_count = 0
    db.session.execute(
        delete(LoginThrottle).where(LoginThrottle.account_key == account_key(user.email))
    )
    audit.record("user.unlock", actor=actor, obj=user, details=details, now=now)
    return user


def set_clinic_lead(
    user_id: int, *, is_lead: bool, actor: User | None, now: datetime | None = None
) -> User:
    """Make a practitioner their clinic's lead, or stop: a lead reads who was injured on the
    clinic's sharps injury reports and is alerted about untouched urgent steps."""
    user = held_user(user_id)
    if user.role != Role.PRACTITIONER:
        raise Conflict(N_("Only a practitioner can lead their clinic."))
    if not user.is_enabled:
        raise Conflict(N_("This account is deactivated: reactivate it first."))
    if (user.lead_clinic_id is not None) == is_lead:
        raise Conflict(
            "This practitioner already leads the clinic."
            if is_lead
            else "This practitioner does not lead the clinic."
        )
    # The clinic they work at now; one who works at several switches to it first.
    clinic_id = user.clinic_id if is_lead else user.lead_clinic_id
    user.lead_clinic_id = user.clinic_id if is_lead else None
    db.session.flush()
    audit.record(
        "user.clinic_lead",
        actor=actor,
        obj=user,
        details={"is_lead": is_lead, "clinic_id": clinic_id},
        now=now,
    )
    return user
