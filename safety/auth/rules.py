"""Pure account rules: password strength, lockout, sign-in throttling, the second factor and
login-session lifetime."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime, timedelta

import pyotp

from safety.languages import N_, Said

MIN_PASSWORD_LENGTH = 12
#: The password every demo account shares (`flask demo seed`). Outside demo mode an account
#: that signs in with it is refused: it is printed in the README (DESIGN §12).
DEMO_PASSWORD = "needlesafe-demo"
MAX_PASSWORD_LENGTH = 256

#: Passwords seen most often in breaches, plus the product's own words (NIST SP 800-63B §5.1.1.2).
COMMON_PASSWORDS = frozenset(
    """
123456789012 1234567890123 password1234 password12345 passwordpassword qwertyuiop12
qwertyuiopas iloveyou1234 letmein12345 welcome12345 administrator adminadmin123
changeme1234 abc123abc123 111111111111 000000000000 123123123123 trustno1trustno1
needlesafe123 needlesafe-demo needlesafe2024 needlesafe2025 needlesafe2026
physiotherapy physiotherapist dryneedling12 acupuncture1 football1234 baseball1234
sunshine1234 princess1234 monkey123456 dragon123456 master123456 superman1234
    """.split()
)


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    """Return why a new password is too weak; empty when it is acceptable."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(Said(N_("Use at least %(min)s characters."), min=MIN_PASSWORD_LENGTH))
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(Said(N_("Use at most %(max)s characters."), max=MAX_PASSWORD_LENGTH))
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        problems.append(N_("This password is too common or too easy to guess."))
    local = email.split("@")[0].lower()
    context = [local, *re.split(r"[._+-]", local)] + [p.lower() for p in name.split()]
    if any(len(word) >= 4 and word in lowered for word in context):
        problems.append(N_("Do not use your name or email address in your password."))
    return problems


def is_demo_password(password: str) -> bool:
    return hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode())


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    """Return whether an account is still locked after repeated failures."""
    return locked_until is not None and now < locked_until


def after_failure(
    failures: int, *, max_failures: int, lockout: timedelta, now: datetime
) -> tuple[int, datetime | None]:
    """Return the failure count and lock time after one more failed attempt."""
    failures += 1
    if failures >= max_failures:
        return 0, now + lockout
    return failures, None


#: The bucket of every client without this account's device cookie, taken together: it bounds
#: guessing spread over many addresses, while the owner's browser (its own bucket) is untouched.
UNTRUSTED = "untrusted"


def throttle_buckets(*, client: str, device: str | None) -> list[str]:
    """Return the throttle buckets a sign-in attempt counts against.

    A browser holding this account's device cookie (it signed in to the account before) has a
    bucket of its own and nothing else, so a stranger's guessing never slows the owner (OWASP
    "device cookies"). Any other client counts against its address and against the shared
    untrusted bucket.
    """
    if device:
        return [f"device:{device}"]
    return [f"addr:{client}", UNTRUSTED]


def bucket_label(bucket: str) -> str:
    """Describe a throttle bucket for an administrator."""
    kind, _, value = bucket.partition(":")
    if kind == "addr":
        return Said(N_("Address %(address)s"), address=value)
    if kind == "device":
        return N_("A browser that signed in to this account before")
    return N_("Every other client together")


def throttle_delay(
    failures: int, *, free: int, first: timedelta, cap: timedelta
) -> timedelta | None:
    """Return how long a bucket waits after `failures` consecutive failures (None: no wait).

    The first `free` failures cost nothing (typos); each one after doubles the wait, up to `cap`,
    so guessing slows down fast while no one can hold an account shut for longer than `cap`.
    """
    if failures < free:
        return None
    return min(first * 2 ** min(failures - free, 20), cap)


def session_end_reason(
    created: datetime,
    last_seen: datetime,
    now: datetime,
    *,
    idle_timeout: timedelta,
    absolute_lifetime: timedelta,
) -> str | None:
    """Return why a login session is over ("idle" or "expired"), or None while it is valid."""
    if now - created >= absolute_lifetime:
        return "expired"
    if now - last_seen >= idle_timeout:
        return "idle"
    return None


# --- second factor (TOTP, RFC 6238) ------------------------------------------------------------

#: Seconds per code, as every authenticator app uses by default.
TOTP_STEP = 30
#: Steps accepted either side of now: a phone's clock a little off, or a code typed as it turned.
TOTP_WINDOW = 1
RECOVERY_CODE_COUNT = 10
#: Letters and digits that cannot be mistaken for one another when read off paper.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def totp_step(now: datetime) -> int:
    return int(now.timestamp()) // TOTP_STEP


def accepted_totp_step(
    secret: str, code: str, now: datetime, *, last_step: int | None, window: int = TOTP_WINDOW
) -> int | None:
    """Return the time step a code belongs to, if it is valid now and newer than the last used.

    Refusing any step up to the last accepted one makes each code work once (RFC 6238 §5.2),
    even within its window.
    """
    code = re.sub(r"\s", "", code or "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp_step(now)
    for step in range(current - window, current + window + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Return fresh recovery codes, written as two groups of five for reading off paper."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalise_recovery_code(code: str) -> str:
    """Read a recovery code as typed: any case, with or without the dash and spaces."""
    return re.sub(r"[\s-]", "", (code or "").lower())
