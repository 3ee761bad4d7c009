"""The second factor through the routes, CSRF on: enrolment right after the password for the
roles that need it, codes from an authenticator app (each once), recovery codes (each once),
failures throttled like passwords, the gate in front of every page, and an administrator's
reset. Codes are computed as the phone would, from the secret the enrolment page shows."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pyotp
import pytest
from conftest import PASSWORD, login, post_form
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.auth.models import LoginSession, RecoveryCode, User
from safety.extensions import db

REQUIRED = frozenset({"compliance", "admin"})


@pytest.fixture
def required(app):
    app.config["MFA_REQUIRED_ROLES"] = REQUIRED
    return app


@pytest.fixture
def officer(make_user):
    return make_user("compliance", email="olive@office.test", name="Olive Officer")


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def path_of(response) -> str:
    return urlparse(response.headers.get("Location", "")).path


def actions(action: str) -> int:
    return db.session.scalar(select(func.count()).where(AuditEvent.action == action))


def signed_in_sessions(user_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(func.count()).where(LoginSession.user_id == user_id, LoginSession.ended_dt.is_(None))
    )


def shown_secret(client) -> str:
    page = client.get("/auth/two-step")
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in page.get_data(as_text=True)
    return re.search(r'<code class="secret">([A-Z2-7]+)</code>', text_of(page)).group(1)


def enrol(client) -> tuple[str, list[str]]:
    """Set up the app as the person would: read the secret, type the code it shows now."""
    secret = shown_secret(client)
    done = post_form(client, "/auth/two-step", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, text_of(done)
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", text_of(done))
    return secret, codes


def next_code(secret: str) -> str:
    """The code of the window's next step: valid now, and newer than the one enrolment used."""
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))


def test_a_compliance_officer_sets_up_the_app_right_after_the_password_and_reaches_nothing_else(
    required, client, officer
):
    response = login(client, officer)

    assert response.status_code == 302
    assert path_of(response) == "/auth/two-step"
    assert path_of(client.get("/review/")) == "/auth/login"
    assert signed_in_sessions(officer.id) == 0

    secret, codes = enrol(client)

    assert len(codes) == len(set(codes)) == 10
    assert client.get("/review/").status_code == 200
    assert signed_in_sessions(officer.id) == 1
    assert actions("auth.mfa_enrol") == 1
    stored = set(db.session.scalars(select(RecoveryCode.code_hash)))
    assert stored == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes}
    user = db.session.get(User, officer.id)
    assert secret not in (user.totp_secret_enc or "")


def test_a_password_alone_cannot_set_up_another_app_on_an_account_that_has_one(
    required, app, client, officer
):
    """Someone who knows the password but not the phone: the setup page once showed them a new
    secret, took a code from their own app, replaced the owner's app and recovery codes, and
    signed them in. Now it sends them to the code the owner's app shows."""
    login(client, officer)
    secret, codes = enrol(client)
    post_form(client, "/auth/logout")
    attacker = app.test_client()
    assert path_of(login(attacker, officer)) == "/auth/code"

    page = attacker.get("/auth/two-step")
    assert path_of(page) == "/auth/code"
    tried = post_form(attacker, "/auth/two-step", {"code": "123456"})
    assert path_of(tried) == "/auth/code"

    assert path_of(attacker.get("/review/")) == "/auth/login"
    assert signed_in_sessions(officer.id) == 0
    assert actions("auth.mfa_enrol") == 1
    # The owner's app and recovery codes still work.
    owner = app.test_client()
    login(owner, officer)
    assert path_of(post_form(owner, "/auth/code", {"code": next_code(secret)})) == "/"


def test_replacing_the_app_in_use_asks_for_the_password_first(required, client, officer):
    """A browser left signed in once let anyone at it set up their own app over the owner's
    (and take the recovery codes); a new phone now needs the password, as a signature does."""
    login(client, officer)
    old_secret, _ = enrol(client)
    new_secret = shown_secret(client)
    code = pyotp.TOTP(new_secret).now()

    without = post_form(client, "/auth/two-step", {"code": code})
    wrong = post_form(client, "/auth/two-step", {"code": code, "password": "not-my-password"})

    assert without.status_code == wrong.status_code == 400
    assert 'id="password-error"' in wrong.get_data(as_text=True)
    assert actions("auth.mfa_enrol") == 1
    assert db.session.get(User, officer.id).failed_login_count == 1
    assert actions("auth.mfa_replace_failed") == 1
    replaced = post_form(client, "/auth/two-step", {"code": code, "password": PASSWORD})
    assert replaced.status_code == 200
    assert actions("auth.mfa_enrol") == 2
    assert db.session.get(User, officer.id).failed_login_count == 0  # the right one clears it
    # The old phone's codes no longer sign in; the new one's do.
    post_form(client, "/auth/logout")
    login(client, officer)
    assert post_form(client, "/auth/code", {"code": next_code(old_secret)}).status_code == 401
    assert path_of(post_form(client, "/auth/code", {"code": next_code(new_secret)})) == "/"


def test_a_locked_account_cannot_replace_its_app_even_with_the_right_password(
    required, app, client, officer
):
    """The lock that stops guessing at a signature stops it here too: a browser left signed
    in could otherwise keep guessing the password to take the second factor over."""
    login(client, officer)
    enrol(client)
    new_secret = shown_secret(client)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post_form(client, "/auth/two-step", {"code": "123456", "password": "guess-again-42"})

    locked = post_form(
        client,
        "/auth/two-step",
        {"code": pyotp.TOTP(new_secret).now(), "password": PASSWORD},
    )

    assert locked.status_code == 400
    assert "locked" in text_of(locked)
    assert actions("auth.mfa_enrol") == 1


def test_finishing_a_sign_in_never_sets_up_an_app_over_one_already_set_up(required, officer):
    from safety.auth import second_factor
    from safety.errors import DomainError

    user = db.session.get(User, officer.id)
    user.totp_enrolled_dt = datetime.now(UTC)
    # A setup under way, with the code its secret shows now: all that was missing is the owner.
    secret = second_factor.pending_secret(user)
    with pytest.raises(DomainError, match="code from your app"):
        second_factor.enrol(user, pyotp.TOTP(secret).now(), start_session=True)
    assert actions("auth.mfa_enrol") == 0
    assert signed_in_sessions(officer.id) == 0


def test_a_wrong_code_at_setup_is_refused_beside_the_field_and_turns_nothing_on(
    required, client, officer
):
    login(client, officer)
    shown_secret(client)

    response = post_form(client, "/auth/two-step", {"code": "000000"})

    assert response.status_code == 400
    assert 'id="code-error"' in response.get_data(as_text=True)
    assert db.session.get(User, officer.id).totp_enrolled_dt is None
    assert signed_in_sessions(officer.id) == 0


def test_after_enrolment_signing_in_asks_for_the_apps_code_and_each_code_works_once(
    required, app, client, officer
):
    login(client, officer)
    secret, _ = enrol(client)
    post_form(client, "/auth/logout")

    first = login(client, officer)
    assert path_of(first) == "/auth/code"
    assert path_of(client.get("/review/")) == "/auth/login"
    code = next_code(secret)
    assert path_of(post_form(client, "/auth/code", {"code": code})) == "/"
    assert client.get("/review/").status_code == 200

    again = app.test_client()
    login(again, officer)
    replay = post_form(again, "/auth/code", {"code": code})

    assert replay.status_code == 401
    assert path_of(again.get("/review/")) == "/auth/login"
    assert actions("auth.mfa_failed") == 1


def test_a_recovery_code_signs_in_once_and_its_use_is_audited(required, app, client, officer):
    login(client, officer)
    _, codes = enrol(client)
    post_form(client, "/auth/logout")

    login(client, officer)
    used = post_form(client, "/auth/code", {"code": codes[3].upper().replace("-", " ")})
    assert path_of(used) == "/"
    other = app.test_client()
    login(other, officer)
    again = post_form(other, "/auth/code", {"code": codes[3]})

    assert again.status_code == 401
    assert actions("auth.mfa_recovery_used") == 1
    [event] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.mfa_recovery_used")
    ).all()
    assert event.details["left"] == 9


def test_wrong_codes_are_throttled_like_wrong_passwords(required, app, client, officer):
    login(client, officer)
    secret, _ = enrol(client)
    post_form(client, "/auth/logout")
    login(client, officer)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert post_form(client, "/auth/code", {"code": "123456"}).status_code == 401

    right = post_form(client, "/auth/code", {"code": pyotp.TOTP(secret).now()})
    # A right password again must not wipe the count of codes guessed behind it.
    login(client, officer)
    still = post_form(client, "/auth/code", {"code": pyotp.TOTP(secret).now()})

    assert right.status_code == still.status_code == 401
    assert signed_in_sessions(officer.id) == 0
    assert actions("auth.throttled") >= 1


def test_a_practitioner_signs_in_with_a_password_alone_unless_they_chose_an_app(
    required, client, make_user
):
    practitioner = make_user("practitioner", email="pat@clinic.test")
    assert path_of(login(client, practitioner)) == "/"

    enrol(client)
    post_form(client, "/auth/logout")

    assert path_of(login(client, practitioner)) == "/auth/code"


def test_the_code_page_without_a_right_password_goes_back_to_sign_in(client, officer):
    assert path_of(client.get("/auth/code")) == "/auth/login"
    assert path_of(post_form(client, "/auth/code", {"code": "123456"})) == "/auth/login"
    assert path_of(client.get("/auth/two-step")) == "/auth/login"


def _gated_pages(app) -> list[str]:
    """Every page a GET without arguments reaches, but the sign-in and enrolment steps."""
    open_to_all = {"auth.enrol", "auth.logout", "auth.login", "auth.second_factor", "healthz"}
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods
        and not rule.arguments
        and rule.endpoint not in open_to_all
        and rule.endpoint != "static"
    )


def test_an_account_signed_in_before_its_role_required_an_app_reaches_no_page_until_set_up(
    app, client, officer
):
    login(client, officer)
    app.config["MFA_REQUIRED_ROLES"] = REQUIRED
    pages = _gated_pages(app)
    assert "/review/" in pages and "/auth/password" in pages

    answers = {page: client.get(page) for page in pages}

    assert {p: path_of(r) for p, r in answers.items()} == dict.fromkeys(pages, "/auth/two-step")
    enrol(client)
    assert client.get("/review/").status_code == 200


def test_an_administrator_resets_a_lost_phone_and_the_person_sets_up_again(
    required, app, client, officer, make_user
):
    login(client, officer)
    enrol(client)
    admin = make_user("admin", email="ada@office.test")
    admin_client = app.test_client()
    login(admin_client, admin)
    enrol(admin_client)

    response = post_form(admin_client, f"/admin/users/{officer.id}/two-step-reset")

    assert path_of(response) == f"/admin/users/{officer.id}"
    assert path_of(client.get("/review/")) == "/auth/login"
    assert signed_in_sessions(officer.id) == 0
    assert (
        db.session.scalar(
            select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == officer.id)
        )
        == 0
    )
    [event] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.mfa_reset")
    ).all()
    assert event.actor_id == admin.id
    assert path_of(login(client, officer)) == "/auth/two-step"
