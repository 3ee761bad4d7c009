"""A compliance officer asks for a verification from the desk and watches it finish: the
page updates itself while the worker runs it, with no reload by hand and no script."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from factories import CLEAN_PHASES
from playwright.sync_api import expect

from safety.extensions import db
from safety.integrity import requests as verification

from .conftest import DESKTOP

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(make_clinic, make_user, make_session):
    harbour = make_clinic("Harbour Physio", timezone="Europe/London")
    ada = make_user("practitioner", clinic=harbour, name="Ada Author")
    make_session(ada, phases=list(CLEAN_PHASES), sign=True)
    return make_user("compliance", name="Cora Compliance")


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no-script"])
def test_verify_now_runs_in_the_worker_and_the_page_shows_the_result(
    app, journey, desk, javascript
):
    # The page's own reload, sooner than production's 5 s, so the journey does not sit idle.
    app.config["VERIFY_PAGE_REFRESH_SECONDS"] = 1
    page = journey.page(DESKTOP, javascript=javascript)
    journey.log_in(page, desk.email, PASSWORD)

    page.goto("/review/")
    page.get_by_role("link", name="Verify now").click()
    expect(page.get_by_role("heading", name="Audit verification")).to_be_visible()
    journey.check(page, "verification")
    page.get_by_role("button", name="Verify now").click()
    expect(page.get_by_text("Waiting for the worker")).to_be_visible()
    journey.check(page, "verification-waiting")
    # Nothing changed yet: the page reloads itself and still waits.
    with page.expect_navigation():
        pass
    expect(page.get_by_text("Waiting for the worker")).to_be_visible()

    # The worker's pass (`flask reminders work` runs it after the reminders).
    taken = verification.run_next("browser-test:1")
    assert taken is not None and taken.run_id is not None
    db.session.remove()

    # The page reloads itself within its refresh interval and shows the result.
    expect(page.get_by_role("cell", name="intact", exact=False)).to_be_visible(timeout=12_000)
    expect(page.get_by_role("button", name="Verify now")).to_be_visible()
    journey.check(page, "verification-done")
