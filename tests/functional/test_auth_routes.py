"""Signing in and out, lockout and throttling, server-side session lifetime, password change,
deactivation and the security headers, all through the routes with CSRF on."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from argon2 import PasswordHasher
from conftest import PASSWORD, csrf_token, login, post_form
from sqlalchemy import func, select, update

from safety.audit.models import AuditEvent
from safety.auth import services
from safety.auth.models import LoginSession, LoginThrottle, User
from safety.dbtypes import utcnow
from safety.extensions import db

COOKIE = "needlesafe_session"
NEW_PASSWORD = "plinth-lantern-orchard-42"
LONG = "x" * 10_000


@pytest.fixture
def user(make_user):
    return make_user("practitioner", email="grace@clinic.test", name="Grace Hopper")


def is_signed_in(client) -> bool:
    """Open a practitioner page: signed-in browsers see it, others are sent to sign in."""
    response = client.get("/sessions/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/auth/login"
    return False


def login_sessions(user_id: int) -> list[LoginSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)))


def set_times(user_id: int, **values) -> None:
    """Move a user's open login sessions in time, as if the browser had waited."""
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.ended_dt.is_(None))
        .values(**values)
    )
    db.session.commit()


def audit_actions(action: str) -> int:
    return db.session.scalar(select(func.count()).where(AuditEvent.action == action))


def page_text(response) -> str:
    return response.get_data(as_text=True)


# --- signing in ----------------------------------------------------------------------------


def test_the_right_password_signs_a_practitioner_in_to_todays_sessions(client, user):
    response = login(client, user)

    assert response.status_code == 302
    assert client.get("/").headers["Location"] == "/sessions/"
    page = client.get("/sessions/")
    assert page.status_code == 200
    assert "Signed in as Grace Hopper." in page_text(page)
    assert [s.ended_dt for s in login_sessions(user.id)] == [None]
    assert audit_actions("auth.login") == 1


def stored_hash(user_id: int) -> str:
    db.session.expire_all()
    return db.session.get(User, user_id).password_hash


def test_signing_in_rehashes_a_password_stored_with_other_argon2_parameters(app, client, user):
    # As after a change of ARGON2_* settings: the hash was made with another cost.
    old = PasswordHasher(time_cost=3, memory_cost=2048, parallelism=2).hash(PASSWORD)
    db.session.execute(update(User).where(User.id == user.id).values(password_hash=old))
    db.session.commit()

    assert login(client, user).status_code == 302

    new = stored_hash(user.id)
    config = app.config
    assert new != old
    assert new.startswith(
        f"$argon2id$v=19$m={config['ARGON2_MEMORY_COST']},t={config['ARGON2_TIME_COST']},"
        f"p={config['ARGON2_PARALLELISM']}$"
    )
    post_form(client, "/auth/logout")
    assert login(client, user).status_code == 302
    assert is_signed_in(client)


def test_a_wrong_password_never_rehashes_the_stored_one(client, user):
    old = PasswordHasher(time_cost=3, memory_cost=2048, parallelism=2).hash(PASSWORD)
    db.session.execute(update(User).where(User.id == user.id).values(password_hash=old))
    db.session.commit()

    assert login(client, user, "not-the-password-at-all").status_code == 401
    assert stored_hash(user.id) == old


def test_a_hash_made_with_the_configured_parameters_is_kept_at_sign_in(client, user):
    before = stored_hash(user.id)

    assert login(client, user).status_code == 302
    assert stored_hash(user.id) == before


def test_signing_in_ignores_the_case_and_spaces_of_the_email(client, user):
    response = post_form(
        client, "/auth/login", {"email": "  Grace@Clinic.TEST ", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert is_signed_in(client)


def test_a_wrong_password_is_refused_with_the_same_message_as_an_unknown_email(client, user):
    wrong = post_form(client, "/auth/login", {"email": user.email, "password": "not-it-at-all"})
    unknown = post_form(client, "/auth/login", {"email": "nobody@clinic.test", "password": "x"})

    assert wrong.status_code == unknown.status_code == 401
    message = "That email and password do not match an active account."
    assert message in page_text(wrong)
    assert message in page_text(unknown)
    assert not is_signed_in(client)
    assert audit_actions("auth.login_failed") == 2


def test_signing_in_without_a_csrf_token_is_refused(client, user):
    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 400
    assert not is_signed_in(client)
    assert login_sessions(user.id) == []


def form_token(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_the_forms_tokens_and_the_helpers_token_are_each_accepted_in_the_session_they_came_from(
    client, user
):
    """What a browser posts back is the token on the page. The other tests post the token
    `csrf_token` asks Flask-WTF for: in one signed-in session, both are accepted."""
    signed_in = client.post(
        "/auth/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": form_token(client, "/auth/login"),
        },
    )
    assert signed_in.status_code == 302
    assert is_signed_in(client)

    refused = client.post(
        "/auth/password",
        data={
            "current_password": "not-the-password",
            "new_password": "a-new-long-passphrase",
            "csrf_token": form_token(client, "/auth/password"),
        },
    )
    # Past the CSRF check: refused for the password, not as an expired form.
    assert "That is not your current password." in page_text(refused)
    assert "This form has expired" not in page_text(refused)

    signed_out = client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    assert signed_out.status_code == 302
    assert not is_signed_in(client)


STRANGER = {"REMOTE_ADDR": "203.0.113.9"}


def guess(client, email: str, *, times: int = 1, environ: dict | None = None) -> list[int]:
    """Post wrong passwords for an address; return the statuses."""
    return [
        post_form(
            client,
            "/auth/login",
            {"email": email, "password": "wrong-guess"},
            environ_overrides=environ or {},
        ).status_code
        for _ in range(times)
    ]


def without_csrf(response) -> str:
    return re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", page_text(response))


def test_a_client_that_keeps_guessing_waits_even_for_the_right_password(app, client, user):
    guess(client, user.email, times=app.config["LOGIN_MAX_FAILURES"])

    right = login(client, user)

    assert right.status_code == 401
    assert services.LOGIN_FAILED in html.unescape(page_text(right))
    assert not is_signed_in(client)
    assert login_sessions(user.id) == []
    assert audit_actions("auth.throttled") == 1


def test_one_failure_fewer_than_the_limit_costs_no_wait(app, client, user):
    guess(client, user.email, times=app.config["LOGIN_MAX_FAILURES"] - 1)

    assert login(client, user).status_code == 302


def test_a_throttled_client_signs_in_once_its_wait_has_passed(app, client, user):
    guess(client, user.email, times=app.config["LOGIN_MAX_FAILURES"])
    db.session.execute(
        update(LoginThrottle).values(blocked_until_dt=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()

    assert login(client, user).status_code == 302
    assert is_signed_in(client)


def test_the_waits_grow_with_each_further_failure(app, client, user):
    guess(client, user.email, times=app.config["LOGIN_MAX_FAILURES"])
    waits = []
    for _ in range(3):
        db.session.expire_all()
        row = db.session.scalars(
            select(LoginThrottle).where(LoginThrottle.bucket.like("addr:%"))
        ).one()
        waits.append(row.blocked_until_dt - row.last_failure_dt)
        db.session.execute(update(LoginThrottle).values(blocked_until_dt=None))
        db.session.commit()
        guess(client, user.email)

    assert waits[0] == app.config["LOGIN_THROTTLE_FIRST"]
    assert waits == sorted(waits) and waits[2] == 4 * waits[0]


def test_a_stranger_guessing_from_elsewhere_does_not_lock_the_owner_out(app, client, user):
    stranger = app.test_client()
    statuses = guess(stranger, user.email, times=8, environ=STRANGER)
    assert set(statuses) == {401}
    assert login(stranger, user, environ_overrides=STRANGER).status_code == 401

    assert login(client, user).status_code == 302
    assert is_signed_in(client)


def test_the_owners_browser_signs_in_while_strangers_guess_from_many_addresses(app, client, user):
    login(client, user)
    post_form(client, "/auth/logout")
    assert client.get_cookie("needlesafe_device", path="/auth/") is not None
    for n in range(app.config["LOGIN_UNTRUSTED_MAX_FAILURES"]):
        guess(app.test_client(), user.email, environ={"REMOTE_ADDR": f"198.51.100.{n + 1}"})

    new_browser = app.test_client()
    refused = login(new_browser, user, environ_overrides={"REMOTE_ADDR": "192.0.2.1"})
    owner = login(client, user)

    assert refused.status_code == 401
    assert owner.status_code == 302
    assert is_signed_in(client)


def test_a_device_cookie_of_another_account_gives_no_allowance(app, client, user, make_user):
    email = user.email
    other = make_user("practitioner", email="ada@clinic.test")
    assert login(client, other).status_code == 302
    post_form(client, "/auth/logout")
    guess(client, email, times=app.config["LOGIN_MAX_FAILURES"])

    refused = post_form(client, "/auth/login", {"email": email, "password": PASSWORD})

    assert refused.status_code == 401


def test_unknown_known_throttled_and_deactivated_accounts_get_one_answer_after_the_same_work(
    app, client, user, make_user, monkeypatch
):
    from argon2 import PasswordHasher

    checks = []
    real_verify = PasswordHasher.verify

    def counted(self, hash, password):
        checks.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    known = user.email
    gone = make_user("practitioner", email="gone@clinic.test").id
    make_user("practitioner", email="slow@clinic.test")
    db.session.execute(update(User).where(User.id == gone).values(is_enabled=False))
    db.session.commit()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post_form(client, "/auth/login", {"email": "slow@clinic.test", "password": "wrong"})

    answers = []
    for email, password in [
        (known, "wrong-password"),
        ("nobody@clinic.test", "wrong-password"),
        ("gone@clinic.test", PASSWORD),
        ("slow@clinic.test", PASSWORD),
    ]:
        checks.clear()
        response = post_form(client, "/auth/login", {"email": email, "password": password})
        page = without_csrf(response).replace(email, "EMAIL")
        answers.append((response.status_code, page, len(checks)))

    assert len(set(answers)) == 1
    assert answers[0][0] == 401
    assert answers[0][2] == 1


def test_too_many_sign_in_attempts_get_a_kind_429_page(app, client, user):
    statuses = [
        post_form(client, "/auth/login", {"email": f"guess{n}@clinic.test", "password": "x"})
        for n in range(10)
    ]
    assert {s.status_code for s in statuses} == {401}

    throttled = login(client, user)

    assert throttled.status_code == 429
    assert "Too many attempts" in page_text(throttled)
    assert "Please wait a minute before trying again." in page_text(throttled)
    assert not is_signed_in(client)


def test_the_sign_in_throttle_does_not_stop_reading_the_sign_in_page(client, user):
    for n in range(11):
        post_form(client, "/auth/login", {"email": f"guess{n}@clinic.test", "password": "x"})

    assert client.get("/auth/login").status_code == 200


@pytest.mark.parametrize(
    "form",
    [
        {"email": LONG + "@clinic.test", "password": PASSWORD},
        {"email": "grace@clinic.test", "password": LONG},
        {"email": "grace\x00@clinic.test", "password": PASSWORD},
        {"email": "", "password": ""},
    ],
    ids=["oversized email", "oversized password", "NUL in email", "empty"],
)
def test_odd_sign_in_input_is_refused_without_a_server_error(client, user, form):
    response = post_form(client, "/auth/login", form)

    assert response.status_code in (200, 400, 401)
    assert not is_signed_in(client)


def test_the_session_cookie_is_http_only_and_same_site(client, user):
    response = login(client, user)

    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


# --- signing out ---------------------------------------------------------------------------


def test_sign_out_is_post_only(client, user):
    login(client, user)

    response = client.get("/auth/logout")

    assert response.status_code == 405
    assert is_signed_in(client)


def test_sign_out_without_a_csrf_token_is_refused(client, user):
    login(client, user)

    response = client.post("/auth/logout")

    assert response.status_code == 400
    assert is_signed_in(client)


def test_sign_out_ends_the_server_session_so_a_replayed_cookie_is_signed_out(app, client, user):
    login(client, user)
    assert is_signed_in(client)
    stolen = client.get_cookie(COOKIE).value

    response = post_form(client, "/auth/logout")

    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/auth/login"
    assert not is_signed_in(client)
    [ended] = login_sessions(user.id)
    assert (ended.ended_dt is not None, ended.end_reason) == (True, "signed_out")
    replay = app.test_client()
    replay.set_cookie(COOKIE, stolen)
    assert not is_signed_in(replay)


def test_signing_out_one_browser_leaves_the_others_signed_in(app, client, user):
    tablet = app.test_client()
    login(client, user)
    login(tablet, user)

    post_form(client, "/auth/logout")

    assert not is_signed_in(client)
    assert is_signed_in(tablet)


# --- session lifetime ----------------------------------------------------------------------


def test_a_session_idle_for_more_than_30_minutes_is_signed_out(client, user):
    login(client, user)
    set_times(user.id, last_seen_dt=utcnow() - timedelta(minutes=31))

    assert not is_signed_in(client)
    assert [s.end_reason for s in login_sessions(user.id)] == ["idle"]


def test_a_session_idle_for_less_than_30_minutes_stays_signed_in(client, user):
    login(client, user)
    set_times(user.id, last_seen_dt=utcnow() - timedelta(minutes=29))

    assert is_signed_in(client)
    [current] = login_sessions(user.id)
    assert utcnow() - current.last_seen_dt < timedelta(minutes=1)


def test_a_session_ends_twelve_hours_after_sign_in_even_when_in_use(client, user):
    login(client, user)
    set_times(user.id, created_dt=utcnow() - timedelta(hours=12), last_seen_dt=utcnow())

    assert not is_signed_in(client)
    assert [s.end_reason for s in login_sessions(user.id)] == ["expired"]


def test_an_expired_session_stays_signed_out_with_the_old_cookie(app, client, user):
    login(client, user)
    cookie = client.get_cookie(COOKIE).value
    set_times(user.id, last_seen_dt=utcnow() - timedelta(minutes=31))
    assert not is_signed_in(client)

    replay = app.test_client()
    replay.set_cookie(COOKIE, cookie)

    assert not is_signed_in(replay)


# --- password change -----------------------------------------------------------------------


def change_password(client, current: str, new: str):
    return post_form(client, "/auth/password", {"current_password": current, "new_password": new})


def assert_message_beside(response, name: str, message: str) -> None:
    page = page_text(response)
    assert f'<p class="error" id="{name}-error">' in page
    error = page.split(f'id="{name}-error">', 1)[1].split("</p>", 1)[0]
    assert message in error
    control = page.split(f'id="{name}" name="{name}"', 1)[1].split(">", 1)[0]
    assert 'aria-invalid="true"' in control
    assert f'aria-describedby="{name}-error"' in control


def password_still_works(app, user, password: str) -> bool:
    return login(app.test_client(), user, password).status_code == 302


def test_a_wrong_current_password_is_named_beside_its_field(app, client, user):
    login(client, user)

    response = change_password(client, "not-my-password", NEW_PASSWORD)

    assert response.status_code == 400
    assert_message_beside(response, "current_password", "That is not your current password.")
    assert is_signed_in(client)
    assert password_still_works(app, user, PASSWORD)


def test_guessing_the_current_password_locks_the_form_as_a_signature_would(app, client, user):
    """Someone at an unattended tablet guessed on past the lock here, and a right guess set a
    new password and signed the owner out everywhere (an attacker's review)."""
    login(client, user)
    tries = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(tries):
        change_password(client, "a-wrong-guess", NEW_PASSWORD)

    right = change_password(client, PASSWORD, NEW_PASSWORD)

    assert right.status_code == 400
    assert_message_beside(right, "current_password", "locked for a while")
    assert is_signed_in(client)
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert services.password_matches(stored, PASSWORD)
    assert not services.password_matches(stored, NEW_PASSWORD)
    refused = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.password_change_failed")
    ).all()
    assert len(refused) == tries + 1
    assert {e.details["reason"] for e in refused} == {"bad_password", "locked"}


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short-one", "Use at least 12 characters."),
        ("password1234", "This password is too common or too easy to guess."),
        ("aaaaaaaaaaaaaaaa", "This password is too common or too easy to guess."),
        ("grace-hopper-rules", "Do not use your name or email address in your password."),
        (LONG, "256 characters"),
    ],
    ids=["short", "common", "repetitive", "own name", "10000 chars"],
)
def test_a_weak_new_password_is_refused_beside_its_field(app, client, user, new, message):
    login(client, user)

    response = change_password(client, PASSWORD, new)

    assert response.status_code == 400
    assert_message_beside(response, "new_password", message)
    assert is_signed_in(client)
    assert password_still_works(app, user, PASSWORD)


def test_changing_the_password_without_a_csrf_token_is_refused(app, client, user):
    login(client, user)

    response = client.post(
        "/auth/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert password_still_works(app, user, PASSWORD)


def test_a_password_change_ends_every_session_of_the_user(app, client, user):
    tablet = app.test_client()
    login(client, user)
    login(tablet, user)

    response = change_password(client, PASSWORD, NEW_PASSWORD)

    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/auth/login"
    assert not is_signed_in(client)
    assert not is_signed_in(tablet)
    assert {s.end_reason for s in login_sessions(user.id)} == {"password_changed"}
    assert not password_still_works(app, user, PASSWORD)
    assert password_still_works(app, user, NEW_PASSWORD)


def test_the_password_page_needs_a_signed_in_user(client):
    response = client.get("/auth/password")

    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/auth/login"


# --- deactivation --------------------------------------------------------------------------


def test_deactivating_an_account_signs_out_its_browsers_at_once(app, client, user, make_user):
    admin_id = make_user("admin").id
    login(client, user)
    assert is_signed_in(client)

    services.deactivate_user(user.id, actor=db.session.get(User, admin_id))
    db.session.commit()

    assert not is_signed_in(client)
    assert {s.end_reason for s in login_sessions(user.id)} == {"deactivated"}
    again = login(app.test_client(), user)
    assert again.status_code == 401
    assert "That email and password do not match an active account." in page_text(again)


# --- security headers ----------------------------------------------------------------------


def csp_directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    parts = (part.strip().split(None, 1) for part in policy.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


@pytest.mark.parametrize("signed_in", [False, True], ids=["signed out", "signed in"])
@pytest.mark.parametrize("address", ["/auth/login", "/sessions/", "/no-such-page"])
def test_every_page_carries_the_security_headers(client, user, address, signed_in):
    if signed_in:
        login(client, user)

    response = client.get(address)

    csp = csp_directives(response)
    assert csp["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert "default-src" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in {
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    }
    assert "Strict-Transport-Security" not in response.headers


def test_pages_served_over_https_ask_browsers_to_keep_using_https(client):
    response = client.get("/auth/login", base_url="https://localhost")

    hsts = response.headers["Strict-Transport-Security"]
    max_age = int(hsts.split("max-age=", 1)[1].split(";", 1)[0])
    assert max_age >= 365 * 24 * 3600


def test_signed_in_pages_are_not_kept_in_the_browser_cache(client, user):
    login(client, user)

    response = client.get("/sessions/")

    assert "no-store" in response.headers["Cache-Control"]


def test_the_csrf_token_is_tied_to_the_browser_session(app, client, user):
    other = app.test_client()
    token = csrf_token(other)
    # This browser has a session and a CSRF secret of its own: the token is refused for not
    # matching them, not for a missing session.
    client.get("/auth/login")

    response = client.post(
        "/auth/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )

    assert response.status_code == 400
    assert not is_signed_in(client)


# --- behind a proxy --------------------------------------------------------------------------


def behind_proxy(app, hops: int):
    from safety import _configure_proxy

    app.config["TRUSTED_PROXY_HOPS"] = hops
    _configure_proxy(app)
    return app.test_client()


def forwarded(address: str) -> dict:
    return {"headers": {"X-Forwarded-For": address}}


def test_behind_a_trusted_proxy_each_client_has_its_own_rate_limit(app, user):
    client = behind_proxy(app, 1)
    for _ in range(10):
        post_form(
            client,
            "/auth/login",
            {"email": "someone@clinic.test", "password": "x"},
            **forwarded("198.51.100.7"),
        )
    assert login(client, user, **forwarded("198.51.100.7")).status_code == 429

    other = login(client, user, **forwarded("198.51.100.8"))

    assert other.status_code == 302
    failure = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
    ).first()
    assert failure.details["client"] == "198.51.100.7"


def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(app, user):
    client = behind_proxy(app, 0)
    for n in range(10):
        post_form(
            client,
            "/auth/login",
            {"email": "someone@clinic.test", "password": "x"},
            **forwarded(f"198.51.100.{n}"),
        )

    assert login(client, user, **forwarded("198.51.100.200")).status_code == 429
    failure = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
    ).first()
    assert failure.details["client"] == "127.0.0.1"


# --- demo accounts -----------------------------------------------------------------------------


@pytest.fixture
def demo_account(make_user):
    from safety.auth.rules import DEMO_PASSWORD

    user = make_user("compliance", email="compliance@example.com")
    db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(password_hash=services.hash_password(DEMO_PASSWORD))
    )
    db.session.commit()
    return "compliance@example.com", DEMO_PASSWORD


def test_a_demo_account_cannot_sign_in_outside_demo_mode(app, client, demo_account):
    email, password = demo_account
    app.config["DEMO_MODE"] = False

    response = post_form(client, "/auth/login", {"email": email, "password": password})

    assert response.status_code == 401
    assert services.LOGIN_FAILED in html.unescape(page_text(response))
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
    ).one()
    assert event.details["reason"] == "demo_account"


def test_a_demo_account_signs_in_in_demo_mode(app, client, demo_account):
    email, password = demo_account

    response = post_form(client, "/auth/login", {"email": email, "password": password})

    assert response.status_code == 302


def test_production_start_up_warns_when_demo_accounts_exist(app, demo_account, caplog):
    from safety.demo.services import warn_about_demo_accounts

    assert warn_about_demo_accounts(app) == 1
    assert "1 demo accounts exist" in caplog.text
