"""Pure account rules: password strength, lockout and login-session lifetime."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

MIN_PASSWORD_LENGTH = 12
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
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        problems.append("This password is too common or too easy to guess.")
    local = email.split("@")[0].lower()
    context = [local, *re.split(r"[._+-]", local)] + [p.lower() for p in name.split()]
    if any(len(word) >= 4 and word in lowered for word in context):
        problems.append("Do not use your name or email address in your password.")
    return problems


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
