"""Pure account rules: password strength, lockout after failures and login-session lifetime."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safety.auth.rules import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    UNTRUSTED,
    accepted_totp_step,
    after_failure,
    is_locked,
    new_recovery_codes,
    normalise_recovery_code,
    password_problems,
    session_end_reason,
    throttle_buckets,
    throttle_delay,
    totp_step,
)

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
EMAIL = "maria.lopez@harbourphysio.example"
NAME = "Maria Lopez"

#: No example database: these properties are cheap and need no replay between runs.
no_database = settings(database=None)


def end_reason(created: datetime, last_seen: datetime, now: datetime = NOW) -> str | None:
    return session_end_reason(
        created, last_seen, now, idle_timeout=IDLE, absolute_lifetime=ABSOLUTE
    )


# password_problems


@pytest.mark.parametrize(
    "password",
    ["correct-horse-battery-staple", "Plinth lamp 4 evening tea", "tall-Cedar-rain-2031"],
)
def test_a_long_uncommon_passphrase_is_accepted(password):
    assert password_problems(password, email=EMAIL, name=NAME) == []


@pytest.mark.parametrize("password", ["", "short", "elevenchars"])
def test_a_short_password_is_refused(password):
    problems = password_problems(password)

    assert f"Use at least {MIN_PASSWORD_LENGTH} characters." in problems


def test_a_password_of_exactly_the_minimum_length_is_long_enough():
    assert password_problems("tiger-lily-7") == []


def test_an_over_long_password_is_refused():
    problems = password_problems("ab-cd-ef-" * 40)

    assert f"Use at most {MAX_PASSWORD_LENGTH} characters." in problems


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "Password1234",
        "QWERTYUIOP12",
        "needlesafe-demo",
        "physiotherapy",
        "aaaaaaaaaaaaaaaa",
        "abababababababab",
        "121212121212",
    ],
)
def test_a_common_or_repetitive_password_is_refused(password):
    problems = password_problems(password)

    assert "This password is too common or too easy to guess." in problems


@pytest.mark.parametrize(
    ("password", "email", "name"),
    [
        ("maria-loves-running", "", NAME),
        ("running-with-LOPEZ-9", "", NAME),
        ("my-maria.lopez-pass", EMAIL, ""),
        ("sam.kent-secret-99", "sam.kent@example.com", ""),
    ],
)
def test_a_password_containing_the_name_or_email_is_refused(password, email, name):
    problems = password_problems(password, email=email, name=name)

    assert "Do not use your name or email address in your password." in problems


def test_short_name_parts_do_not_make_a_password_personal():
    assert password_problems("tall-cedar-rain-al", name="Al Li", email="al@example.com") == []


# lockout


def test_failures_below_the_threshold_are_counted_without_locking():
    failures, locked_until = 0, None

    for expected in range(1, MAX_FAILURES):
        failures, locked_until = after_failure(
            failures, max_failures=MAX_FAILURES, lockout=LOCKOUT, now=NOW
        )
        assert (failures, locked_until) == (expected, None)


def test_the_failure_at_the_threshold_locks_the_account_and_resets_the_count():
    failures, locked_until = after_failure(
        MAX_FAILURES - 1, max_failures=MAX_FAILURES, lockout=LOCKOUT, now=NOW
    )

    assert locked_until == NOW + LOCKOUT
    assert failures == 0


@pytest.mark.parametrize("max_failures", [1, 3, 10])
def test_it_takes_exactly_the_threshold_of_failures_to_lock(max_failures):
    failures, locked_until, attempts = 0, None, 0
    while locked_until is None:
        attempts += 1
        failures, locked_until = after_failure(
            failures, max_failures=max_failures, lockout=LOCKOUT, now=NOW
        )

    assert attempts == max_failures


@pytest.mark.parametrize(
    ("locked_until", "now", "locked"),
    [
        (None, NOW, False),
        (NOW + LOCKOUT, NOW, True),
        (NOW + LOCKOUT, NOW + LOCKOUT - timedelta(seconds=1), True),
        (NOW + LOCKOUT, NOW + LOCKOUT, False),
        (NOW + LOCKOUT, NOW + LOCKOUT + timedelta(minutes=1), False),
    ],
)
def test_an_account_is_locked_only_until_the_lockout_ends(locked_until, now, locked):
    assert is_locked(locked_until, now) is locked


# session_end_reason


def test_an_active_session_is_valid():
    assert end_reason(NOW - timedelta(hours=2), NOW - timedelta(minutes=5)) is None


@pytest.mark.parametrize("idle", [timedelta(minutes=30), timedelta(minutes=31), timedelta(hours=3)])
def test_a_session_idle_for_thirty_minutes_ends(idle):
    assert end_reason(NOW - timedelta(hours=4), NOW - idle) == "idle"


def test_a_session_idle_for_just_under_thirty_minutes_is_valid():
    assert end_reason(NOW - timedelta(hours=4), NOW - timedelta(minutes=29, seconds=59)) is None


@pytest.mark.parametrize(
    "age", [timedelta(hours=12), timedelta(hours=12, seconds=1), timedelta(days=3)]
)
def test_a_session_older_than_twelve_hours_expires_even_if_busy(age):
    assert end_reason(NOW - age, NOW - timedelta(seconds=10)) == "expired"


def test_a_session_just_under_twelve_hours_old_and_in_use_is_valid():
    assert end_reason(NOW - timedelta(hours=11, minutes=59), NOW - timedelta(minutes=1)) is None


ages = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))


@no_database
@given(age=ages, since_seen=ages)
def test_a_session_is_never_valid_beyond_its_absolute_lifetime(age, since_seen):
    created = NOW - age
    last_seen = max(created, NOW - since_seen)

    reason = end_reason(created, last_seen)

    if age >= ABSOLUTE:
        assert reason == "expired"
    elif NOW - last_seen >= IDLE:
        assert reason == "idle"
    else:
        assert reason is None


@no_database
@given(age=st.timedeltas(min_value=timedelta(0), max_value=ABSOLUTE - timedelta(microseconds=1)))
def test_a_session_in_constant_use_stays_valid_until_its_absolute_lifetime(age):
    assert end_reason(NOW - age, NOW) is None


# sign-in throttling


FIRST, CAP = timedelta(seconds=30), timedelta(minutes=15)


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        (0, None),
        (4, None),
        (5, FIRST),
        (6, 2 * FIRST),
        (7, 4 * FIRST),
        (10, CAP),
        (10_000, CAP),
    ],
)
def test_the_wait_doubles_after_the_free_failures_up_to_the_cap(failures, wait):
    assert throttle_delay(failures, free=5, first=FIRST, cap=CAP) == wait


def test_a_browser_with_the_accounts_device_cookie_counts_only_against_itself():
    assert throttle_buckets(client="203.0.113.9", device="abc") == ["device:abc"]


def test_any_other_client_counts_against_its_address_and_the_shared_bucket():
    assert throttle_buckets(client="203.0.113.9", device=None) == [
        "addr:203.0.113.9",
        UNTRUSTED,
    ]


# second factor (TOTP, RFC 6238)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TOTP = pyotp.TOTP(SECRET)


def code_at(moment: datetime) -> str:
    return TOTP.at(moment)


def test_the_current_code_is_accepted_and_names_its_step():
    assert accepted_totp_step(SECRET, code_at(NOW), NOW, last_step=None) == totp_step(NOW)


@pytest.mark.parametrize("seconds", [-30, 30])
def test_a_code_one_step_either_side_of_now_is_accepted(seconds):
    then = NOW + timedelta(seconds=seconds)

    assert accepted_totp_step(SECRET, code_at(then), NOW, last_step=None) == totp_step(then)


@pytest.mark.parametrize("seconds", [-90, 90, 3600])
def test_a_code_outside_the_small_window_is_refused(seconds):
    then = NOW + timedelta(seconds=seconds)

    assert accepted_totp_step(SECRET, code_at(then), NOW, last_step=None) is None


def test_a_code_works_once_even_inside_its_window():
    step = accepted_totp_step(SECRET, code_at(NOW), NOW, last_step=None)
    later = NOW + timedelta(seconds=20)

    assert accepted_totp_step(SECRET, code_at(NOW), later, last_step=step) is None


def test_as_the_clock_moves_each_new_code_is_accepted_after_the_last():
    last = None
    for minute in range(5):
        moment = NOW + timedelta(minutes=minute)
        step = accepted_totp_step(SECRET, code_at(moment), moment, last_step=last)
        assert step is not None and (last is None or step > last)
        last = step


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_a_code_that_is_not_six_digits_is_refused(code):
    assert accepted_totp_step(SECRET, code, NOW, last_step=None) is None


def test_recovery_codes_are_ten_distinct_and_read_however_they_are_typed():
    codes = new_recovery_codes()

    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)
    assert normalise_recovery_code(" " + codes[0].upper().replace("-", " ")) == codes[0].replace(
        "-", ""
    )
