"""A compliance officer at a desktop, whose role requires a second factor, signs in for the
first time: the password, then setting up an authenticator app from the QR page (the key as
text, as a phone would read it), the recovery codes shown once; then signs out and back in
with a code from the app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from conftest import PASSWORD
from playwright.sync_api import expect

from .conftest import DESKTOP

pytestmark = pytest.mark.browser


def test_a_compliance_officer_sets_up_an_authenticator_and_signs_in_with_a_code(
    app, journey, make_user
):
    app.config["MFA_REQUIRED_ROLES"] = frozenset({"compliance", "admin"})
    officer = make_user("compliance", name="Cora Compliance")
    page = journey.page(DESKTOP)

    journey.log_in(page, officer.email, PASSWORD)

    expect(page.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
    expect(
        page.get_by_role("img", name="QR code for setting up the authenticator app")
    ).to_be_visible()
    journey.check(page, "enrol")
    secret = page.locator("code.secret").inner_text().strip()
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from the app").fill("000000")
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("alert")).to_contain_text("That code does not match")
    journey.check(page, "enrol-refused")
    page.get_by_label("Code from the app").fill(totp.now())
    page.get_by_role("button", name="Turn on two-step sign-in").click()

    expect(page.get_by_role("heading", name="Two-step sign-in is on")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    journey.check(page, "recovery-codes")
    page.get_by_role("link", name="I have kept my codes: continue").click()
    expect(page.get_by_role("heading", name="Compliance dashboard")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    journey.log_in(page, officer.email, PASSWORD)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    journey.check(page, "code")
    # The next step's code: the current one was spent on the set-up.
    page.get_by_label("Code").fill(totp.at(datetime.now(UTC) + timedelta(seconds=30)))
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Compliance dashboard")).to_be_visible()
    assert journey.problems == []
