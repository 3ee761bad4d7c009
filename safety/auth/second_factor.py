"""The second factor: enrol an authenticator app (TOTP), check its codes and recovery codes.

The secret is personal: it lives in the user's phone app, never in the tablet the clinic
shares (DESIGN §6.1). The server keeps it encrypted with a key from the environment, and keeps
the recovery codes only as hashes. Failed codes count against the same per-(account, client)
throttle as failed passwords, so the six digits cannot be guessed faster than a password.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import delete, select, update

from safety.audit import services as audit
from safety.auth import rules
from safety.auth import services as accounts
from safety.auth.models import RecoveryCode, User
from safety.dbtypes import utcnow
from safety.errors import SAME_ACT_WINDOW, Conflict, DomainError, RecordedRefusal
from safety.extensions import db, take_turns_on
from safety.languages import N_

#: One answer for every refused code, like the password's.
CODE_REFUSED = N_(
    "That code did not work. Enter the 6-digit code your authenticator app shows now, "
    "or one of your recovery codes. After several tries, wait a few minutes."
)
#: An account that has an app signs in with its code; it never sets up another on the way.
SIGN_IN_WITH_CODE = N_("Sign in with the code from your app.")
ENROL_REFUSED = N_(
    "That code does not match. Check the app shows NeedleSafe with your address, and enter "
    "the 6 digits it shows now."
)
JUST_SET_UP = N_(
    "Your app is set up: the button was pressed twice. Its recovery codes were shown once, "
    "on the page of the first press. If you did not write them down, set the app up again "
    "from Two-step sign-in, once signed in, to get new ones."
)


def _fernet() -> Fernet:
    """Return the cipher for TOTP secrets: MFA_ENCRYPTION_KEY, or a key derived from SECRET_KEY."""
    config = current_app.config
    material = (config.get("MFA_ENCRYPTION_KEY") or config["SECRET_KEY"]).encode()
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"needlesafe totp secrets"
    ).derive(material)
    return Fernet(base64.urlsafe_b64encode(key))


def _seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def _open(sealed: str) -> str | None:
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def _code_hash(code: str) -> str:
    return hashlib.sha256(rules.normalise_recovery_code(code).encode()).hexdigest()


# --- enrolment ---------------------------------------------------------------------------------


def pending_secret(user: User) -> str:
    """Return the secret being enrolled, making one if none is waiting for confirmation."""
    secret = _open(user.totp_pending_enc) if user.totp_pending_enc else None
    if secret is None:
        secret = pyotp.random_base32()
        user.totp_pending_enc = _seal(secret)
        db.session.flush()
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(
        name=user.email, issuer_name=current_app.config["MFA_ISSUER"]
    )


def qr_code(uri: str) -> str:
    """Render the address as an SVG QR code (a data: URI), drawn here: no service sees it."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def confirm_enrolment(user: User, code: str, *, now: datetime | None = None) -> list[str]:
    """Turn the pending secret on once the app shows a matching code; return recovery codes.

    The codes are returned once, to be shown once; only their hashes are kept. Enrolling again
    (a new phone) replaces the secret and every earlier recovery code.
    """
    now = now or utcnow()
    # Two presses at once take turns: each had set the app up and made its own recovery
    # codes, so one page showed codes the other had already replaced (a review).
    take_turns_on(User, user.id)
    db.session.refresh(user)
    secret = _open(user.totp_pending_enc) if user.totp_pending_enc else None
    if secret is None:
        if _just_set_up(user, code, now):
            raise DomainError(N_("The app was set up a moment ago."), {"code": JUST_SET_UP})
        raise DomainError(N_("Start again: the setup has expired."), {"code": ENROL_REFUSED})
    step = rules.accepted_totp_step(secret, code, now, last_step=None)
    if step is None:
        audit.record("auth.mfa_enrol_failed", actor=user, obj=user, now=now)
        raise RecordedRefusal(N_("The app was not set up."), {"code": ENROL_REFUSED})
    replaced = user.totp_enrolled_dt is not None
    user.totp_secret_enc = user.totp_pending_enc
    user.totp_pending_enc = None
    user.totp_enrolled_dt = now
    user.totp_last_step = step
    codes = _replace_recovery_codes(user, now=now)
    audit.record("auth.mfa_enrol", actor=user, obj=user, details={"replaced": replaced}, now=now)
    return codes


def _just_set_up(user: User, code: str, now: datetime) -> bool:
    """Whether this code set the account's app up a moment ago (`SAME_ACT_WINDOW`): the button
    pressed twice, whose recovery codes were on the first press's page."""
    if user.totp_enrolled_dt is None or now - user.totp_enrolled_dt >= SAME_ACT_WINDOW:
        return False
    secret = _open(user.totp_secret_enc) if user.totp_secret_enc else None
    return secret is not None and (
        rules.accepted_totp_step(secret, code, now, last_step=None) == user.totp_last_step
    )


def _replace_recovery_codes(user: User, *, now: datetime) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = rules.new_recovery_codes()
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_code_hash(c), created_dt=now) for c in codes
    )
    db.session.flush()
    return codes


def recovery_codes_left(user: User) -> int:
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_dt.is_(None)
            )
        ).all()
    )


# --- sign-in -----------------------------------------------------------------------------------


def check_code(
    user: User,
    code: str,
    *,
    client: str = "unknown",
    device: str | None = None,
    now: datetime | None = None,
) -> None:
    """Accept a current TOTP code or an unused recovery code, or refuse and count the failure.

    Each TOTP code works once and each recovery code once; a refusal counts against the same
    throttle as a wrong password, and a throttled client is refused whatever it types.
    """
    now = now or utcnow()
    key = accounts.account_key(user.email)
    buckets = rules.throttle_buckets(client=client, device=device)
    if accounts.is_throttled(key, buckets, now):
        audit.record(
            "auth.mfa_failed",
            actor=user,
            obj=user,
            details={"reason": "throttled", "client": client},
            now=now,
        )
        raise RecordedRefusal(CODE_REFUSED, {"code": CODE_REFUSED})
    if _accept_totp(user, code, now) or _use_recovery_code(user, code, now):
        accounts.clear_throttles(key, buckets)
        return
    accounts.count_failure(key, buckets, user, client, now)
    audit.record(
        "auth.mfa_failed",
        actor=user,
        obj=user,
        details={"reason": "bad_code", "client": client},
        now=now,
    )
    raise RecordedRefusal(CODE_REFUSED, {"code": CODE_REFUSED})


def _accept_totp(user: User, code: str, now: datetime) -> bool:
    secret = _open(user.totp_secret_enc) if user.totp_secret_enc else None
    if secret is None:
        return False
    step = rules.accepted_totp_step(secret, code, now, last_step=user.totp_last_step)
    if step is None:
        return False
    # Conditional, so two requests with the same code cannot both pass (one step, once).
    moved = db.session.execute(
        update(User)
        .where(
            User.id == user.id,
            (User.totp_last_step.is_(None)) | (User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(user)
    return moved.rowcount == 1


def _use_recovery_code(user: User, code: str, now: datetime) -> bool:
    normalised = rules.normalise_recovery_code(code)
    if len(normalised) != 10:
        return False
    used = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _code_hash(normalised),
            RecoveryCode.used_dt.is_(None),
        )
        .values(used_dt=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        return False
    audit.record(
        "auth.mfa_recovery_used",
        actor=user,
        obj=user,
        details={"left": recovery_codes_left(user)},
        now=now,
    )
    return True


def sign_in_with_code(
    user: User,
    code: str,
    *,
    client: str = "unknown",
    device: str | None = None,
    now: datetime | None = None,
):
    """Finish a sign-in whose password was right: check the code, open the login session."""
    check_code(user, code, client=client, device=device, now=now)
    return accounts.start_login_session(user, now=now)


def enrol(
    user: User,
    code: str,
    *,
    start_session: bool,
    password: str | None = None,
    now: datetime | None = None,
):
    """Confirm enrolment; when it was the last step of a sign-in, open the login session too.

    Returns the recovery codes (to show once) and the new login session, if one was opened.
    A sign-in never ends by setting up an app on an account that has one: its code is due.
    Replacing the app in use (a new phone) asks for the password first: a browser left signed
    in must not be enough to take the second factor over.
    """
    if user.has_second_factor:
        if start_session:
            raise DomainError(SIGN_IN_WITH_CODE, {"code": SIGN_IN_WITH_CODE})
        accounts.check_password_again(
            user,
            password or "",
            action="auth.mfa_replace_failed",
            refused=N_("Your app was not replaced."),
            wrong=N_("That password is not right. Enter your own password."),
            now=now or utcnow(),
            obj=user,
        )
    codes = confirm_enrolment(user, code, now=now)
    login = accounts.start_login_session(user, now=now) if start_session else None
    return codes, login


# --- administration ----------------------------------------------------------------------------


def reset(user_id: int, *, actor: User, now: datetime | None = None) -> User:
    """Remove an account's second factor (a lost phone and no recovery code left).

    The person signs in with their password next and, where their role requires it, enrols a
    new app at once. Every session of theirs ends, and the reset is audited under the admin.
    """
    now = now or utcnow()
    user = accounts.held_user(user_id)
    if user.totp_enrolled_dt is None and user.totp_pending_enc is None:
        raise Conflict(N_("This account has no second factor to reset."))
    user.totp_secret_enc = user.totp_pending_enc = None
    user.totp_enrolled_dt = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    ended = accounts.end_all_login_sessions(user, "mfa_reset", now=now)
    audit.record(
        "user.mfa_reset", actor=actor, obj=user, details={"sessions_ended": ended}, now=now
    )
    return user
