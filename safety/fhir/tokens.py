"""Bearer tokens of the FHIR read API: issued to compliance officers, stored only hashed.

A token is shown once when it is made; the database keeps its SHA-256 and a short prefix so a
person can tell tokens apart when revoking one. The holder's role is checked on every request,
so a role change or a deactivation takes effect at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from safety.audit import services as audit
from safety.auth import policy
from safety.auth import services as auth
from safety.auth.models import ApiToken, Role, User
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, Forbidden, NotFound
from safety.extensions import db
from safety.hashing import sha256_hex
from safety.ids import parse_id

TOKEN_PREFIX = "nst_"
#: Characters of a token kept in clear, so a person can tell tokens apart (api_tokens.prefix).
PREFIX_LENGTH = 12
#: Refresh a token's last-used time at most this often (seconds), not on every request.
LAST_USED_GRANULARITY = 300
#: How long a token works unless `flask tokens create --days` says otherwise.
DEFAULT_DAYS = 90
#: The longest life a token may be given: a forgotten script should not read records for ever.
MAX_DAYS = 366


class TokenRefused(Exception):
    """A request's bearer token does not grant access; `message` is for the client."""

    def __init__(self, message: str, *, is_missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.is_missing = is_missing


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the row, and the secret that is shown once and never stored."""

    token: ApiToken
    secret: str


def token_hash(secret: str) -> str:
    """Return the SHA-256 under which a token is stored."""
    return sha256_hex(secret)


def create_token(
    email: str,
    *,
    days: int = DEFAULT_DAYS,
    actor: User | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """Issue a read-only API token to a compliance officer for `days`; only its hash is kept."""
    now = now or utcnow()
    if not 1 <= days <= MAX_DAYS:
        raise DomainError(f"A token lasts between 1 and {MAX_DAYS} days.")
    user = auth.find_user(email)
    if user is None:
        raise NotFound(f"No account has the email {auth.normalise_email(email)}.")
    if not policy.can_hold_api_token(user):
        raise Forbidden(
            f"Only compliance officers hold FHIR API tokens; {user.email} is "
            f"{'an' if user.role == Role.ADMIN else 'a'} {user.role}."
        )
    if not user.is_enabled:
        raise Forbidden(f"The account {user.email} is deactivated.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        token_hash=token_hash(secret),
        prefix=secret[:PREFIX_LENGTH],
        created_dt=now,
        expires_dt=now + timedelta(days=days),
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "token.create",
        actor=actor,
        obj=token,
        details={"user": user.id, "prefix": token.prefix, "days": days},
        now=now,
    )
    return IssuedToken(token, secret)


def find_token(prefix_or_id: str) -> ApiToken:
    """Find one token by its id, its prefix or the whole secret."""
    key = prefix_or_id.strip()
    if key.isdecimal():
        token_id = parse_id(key)
        token = db.session.get(ApiToken, token_id) if token_id is not None else None
        if token is None:
            raise NotFound(f"No token has the id {key}.")
        return token
    if len(key) > PREFIX_LENGTH:
        token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(key)))
        if token is not None:
            return token
    matches = db.session.scalars(select(ApiToken).where(ApiToken.prefix == key)).all()
    if not matches:
        raise NotFound(f"No token has the id or prefix {key!r}.")
    if len(matches) > 1:
        ids = ", ".join(str(t.id) for t in matches)
        raise Conflict(f"Several tokens start with {key!r} (ids {ids}): revoke one by its id.")
    return matches[0]


def revoke_token(
    prefix_or_id: str, *, actor: User | None = None, now: datetime | None = None
) -> ApiToken:
    """Revoke a token at once: the next request that presents it is refused."""
    now = now or utcnow()
    token = find_token(prefix_or_id)
    if token.revoked_dt is not None:
        raise Conflict(
            f"Token {token.id} ({token.prefix}) was already revoked on "
            f"{token.revoked_dt:%Y-%m-%d %H:%M} UTC."
        )
    auth.revoke_api_token(token, actor=actor, now=now)
    return token


def list_tokens() -> list[ApiToken]:
    """Return every token, oldest first, with its holder."""
    return list(
        db.session.scalars(
            select(ApiToken).options(selectinload(ApiToken.user)).order_by(ApiToken.id)
        )
    )


def authenticate(authorization: str | None, *, now: datetime | None = None) -> ApiToken:
    """Return the live token an Authorization header presents, or refuse it.

    Only a compliance officer's enabled account with an unrevoked token gets through; the
    holder's role is checked on every request, so a role change takes effect at once.
    """
    now = now or utcnow()
    scheme, _, secret = (authorization or "").strip().partition(" ")
    if not authorization or not authorization.strip():
        raise TokenRefused("Send a bearer token: Authorization: Bearer <token>.", is_missing=True)
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or " " in secret or len(secret) > 200:
        raise TokenRefused("Send a bearer token: Authorization: Bearer <token>.")
    token = db.session.scalar(
        select(ApiToken)
        .where(ApiToken.token_hash == token_hash(secret))
        .options(selectinload(ApiToken.user))
    )
    if token is None or token.revoked_dt is not None:
        raise TokenRefused("The token is not valid or has been revoked.")
    if token.expires_dt is not None and now >= token.expires_dt:
        raise TokenRefused("The token has expired: ask for a new one.")
    user = token.user
    if not user.is_enabled or not policy.can_hold_api_token(user):
        raise TokenRefused("The token's account is not an active compliance officer.")
    if (
        token.last_used_dt is None
        or (now - token.last_used_dt).total_seconds() > LAST_USED_GRANULARITY
    ):
        token.last_used_dt = now
    return token
