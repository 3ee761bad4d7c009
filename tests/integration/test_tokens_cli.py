"""`flask tokens create|revoke|list`: FHIR API tokens for compliance officers.

A token is printed once and stored only as its SHA-256 with a short prefix; it can be revoked
by that prefix or by its id; every issue and revocation is audited.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from safety.audit.models import AuditEvent
from safety.auth import services as auth
from safety.auth.models import ApiToken
from safety.extensions import db
from safety.fhir import tokens as api_tokens


@pytest.fixture
def officer(make_user):
    return make_user("compliance", email="officer@needlesafe.test")


def create(runner, email: str):
    return runner.invoke(args=["tokens", "create", "--user", email])


def tokens() -> list[ApiToken]:
    db.session.expire_all()
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id)))


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_create_prints_the_token_alone_on_stdout_once(runner, officer):
    result = create(runner, officer.email)

    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("nst_")
    assert len(secret) >= 40
    assert "\n" not in secret
    assert "shown only this once" in result.stderr


def test_only_the_hash_and_a_short_prefix_are_stored(runner, officer):
    secret = create(runner, officer.email).stdout.strip()

    (token,) = tokens()
    assert token.user_id == officer.id
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:12]
    stored = [str(getattr(token, c.key)) for c in ApiToken.__table__.columns]
    assert not any(secret in value for value in stored)


def test_each_token_is_different(runner, officer):
    first = create(runner, officer.email).stdout.strip()
    second = create(runner, officer.email).stdout.strip()

    assert first != second
    assert len(tokens()) == 2


def test_the_email_is_matched_whatever_its_case(runner, officer):
    result = create(runner, "  OFFICER@NeedleSafe.test ")

    assert result.exit_code == 0, result.output
    assert len(tokens()) == 1


def test_an_unknown_email_is_refused_clearly(runner, officer):
    result = create(runner, "nobody@needlesafe.test")

    assert result.exit_code == 1
    assert "No account has the email nobody@needlesafe.test" in result.stderr
    assert result.stdout == ""
    assert tokens() == []


@pytest.mark.parametrize("role", ["practitioner", "admin"])
def test_a_user_who_is_not_a_compliance_officer_is_refused(runner, make_user, role):
    user = make_user(role)

    result = create(runner, user.email)

    assert result.exit_code == 1
    assert "Only compliance officers hold FHIR API tokens" in result.stderr
    assert f"is a{'n' if role == 'admin' else ''} {role}" in result.stderr
    assert tokens() == []


def test_a_deactivated_compliance_officer_is_refused(runner, officer):
    auth.deactivate_user(officer.id, actor=None)
    db.session.commit()

    result = create(runner, officer.email)

    assert result.exit_code == 1
    assert "deactivated" in result.stderr
    assert tokens() == []


def test_creating_a_token_is_audited_without_the_secret(runner, officer):
    secret = create(runner, officer.email).stdout.strip()

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "token.create"))
    assert event.details == {"user": officer.id, "prefix": secret[:12], "days": 90}
    assert secret not in str(event.details)


def test_revoke_by_prefix_ends_the_token_at_once(runner, officer):
    secret = create(runner, officer.email).stdout.strip()
    assert api_tokens.authenticate(f"Bearer {secret}").user_id == officer.id
    db.session.rollback()

    result = runner.invoke(args=["tokens", "revoke", secret[:12]])

    assert result.exit_code == 0, result.output
    assert f"Revoked token {tokens()[0].id}" in result.stdout
    assert tokens()[0].revoked_dt is not None
    with pytest.raises(api_tokens.TokenRefused):
        api_tokens.authenticate(f"Bearer {secret}")
    assert audit_actions()[-1] == "token.revoke"


def test_revoke_by_id_leaves_other_tokens_alone(runner, officer):
    create(runner, officer.email)
    create(runner, officer.email)
    first, second = tokens()

    result = runner.invoke(args=["tokens", "revoke", str(second.id)])

    assert result.exit_code == 0, result.output
    first, second = tokens()
    assert first.revoked_dt is None
    assert second.revoked_dt is not None


@pytest.mark.parametrize("key", ["nst_unknown1", "999", "99999999999999999999"])
def test_revoking_an_unknown_token_fails_clearly(runner, officer, key):
    create(runner, officer.email)

    result = runner.invoke(args=["tokens", "revoke", key])

    assert result.exit_code == 1
    assert "No token has the id" in result.stderr
    assert tokens()[0].revoked_dt is None


def test_revoking_twice_says_it_was_already_revoked(runner, officer):
    secret = create(runner, officer.email).stdout.strip()
    runner.invoke(args=["tokens", "revoke", secret[:12]])

    result = runner.invoke(args=["tokens", "revoke", secret[:12]])

    assert result.exit_code == 1
    assert "already revoked" in result.stderr
    assert audit_actions().count("token.revoke") == 1


def test_list_shows_every_token_without_its_secret(runner, officer):
    first = create(runner, officer.email).stdout.strip()
    second = create(runner, officer.email).stdout.strip()
    runner.invoke(args=["tokens", "revoke", first[:12]])

    result = runner.invoke(args=["tokens", "list"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert first[:12] in lines[1] and "revoked" in lines[1]
    assert second[:12] in lines[2] and "active" in lines[2] and "never" in lines[2]
    assert officer.email in lines[2]
    assert first not in result.stdout and second not in result.stdout


def test_list_says_when_there_are_no_tokens(runner):
    result = runner.invoke(args=["tokens", "list"])

    assert result.exit_code == 0
    assert result.stdout.strip() == "No tokens."


# --- expiry ----------------------------------------------------------------------------------


def test_a_token_lasts_ninety_days_by_default_and_is_refused_from_its_expiry_on(runner, officer):
    secret = create(runner, officer.email).stdout.strip()
    (token,) = tokens()
    header = f"Bearer {secret}"

    assert token.expires_dt - token.created_dt == timedelta(days=90)
    assert api_tokens.authenticate(header, now=token.expires_dt - timedelta(seconds=1))
    with pytest.raises(api_tokens.TokenRefused, match="expired"):
        api_tokens.authenticate(header, now=token.expires_dt)


def test_days_sets_a_tokens_life_and_list_shows_when_it_expires(runner, officer):
    result = runner.invoke(args=["tokens", "create", "--user", officer.email, "--days", "7"])

    assert result.exit_code == 0, result.output
    (token,) = tokens()
    assert token.expires_dt - token.created_dt == timedelta(days=7)
    listing = runner.invoke(args=["tokens", "list"]).output
    assert "expires" in listing
    assert f"{token.expires_dt:%Y-%m-%d %H:%M}" in listing


@pytest.mark.parametrize("days", ["0", "-1", "367"])
def test_a_token_life_out_of_range_is_refused_and_nothing_is_issued(runner, officer, days):
    result = runner.invoke(args=["tokens", "create", "--user", officer.email, "--days", days])

    assert result.exit_code == 1
    assert "between 1 and 366 days" in result.stderr
    assert tokens() == []
