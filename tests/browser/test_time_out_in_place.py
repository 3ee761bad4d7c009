"""Time out saves in place on a tablet (issue 17): the Sign out page replaces it without a page
load, enhanced as a loaded page is; a refusal comes back in place with nothing saved; and
without JavaScript the same form posts and loads the next page as before."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect
from sqlalchemy import select

from safety.checklists.models import PhaseEntry, TreatmentSession
from safety.extensions import db

from .conftest import TABLET
from .test_packs_journey import TIME_OUT, field, timeout_saved

pytestmark = pytest.mark.browser


@pytest.fixture
def at_time_out(make_clinic, make_user, make_patient, make_session):
    practitioner = make_user("practitioner", clinic=make_clinic("Harbour Physio"))
    session = make_session(practitioner, phases=("signin",), patient=make_patient(practitioner))
    return practitioner, session.id


def open_time_out(journey, practitioner, session_id, *, javascript=True):
    page = journey.page(TABLET, javascript=javascript)
    journey.log_in(page, practitioner.email, PASSWORD)
    page.goto(f"/sessions/{session_id}/phase/timeout")
    page.wait_for_load_state("load")
    loads = []
    page.on("load", lambda _page: loads.append(page.url))
    return page, loads


def answer_time_out(page, lot="SJ-40812", expiry="2031-01-31"):
    for name, value in TIME_OUT.items():
        page.locator(f'label.choice:has(input[name="{name}"][value="{value}"])').tap()
    field(page, "timeout.needle_lot").fill(lot)
    field(page, "timeout.needle_expiry").fill(expiry)


def test_saving_time_out_shows_sign_out_without_a_page_load_and_it_works_as_if_loaded(
    journey, at_time_out
):
    practitioner, session_id = at_time_out
    page, loads = open_time_out(journey, practitioner, session_id)
    answer_time_out(page)

    page.get_by_role("button", name="Save Time out").tap()

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out")
    expect(page).to_have_url(f"{journey.base_url}/sessions/{session_id}/phase/signout")
    expect(page.get_by_text("Time out saved.")).to_be_visible()
    assert timeout_saved(session_id)
    assert loads == []
    # Sign out's own script ran: its counts have their - and + buttons.
    expect(page.get_by_role("button", name="One more, Needles opened")).to_be_visible()
    journey.check(page, "sign-out-in-place")
    # Back loads Time out from the server, as it is now saved.
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Time out")
    expect(field(page, "timeout.needle_lot")).to_have_value("SJ-40812")


def test_a_time_out_the_server_refuses_comes_back_in_place_and_saves_nothing(journey, at_time_out):
    practitioner, session_id = at_time_out
    page, loads = open_time_out(journey, practitioner, session_id)
    answer_time_out(page)
    field(page, "timeout.needle_lot").fill("")  # the lot is required: only the server says so

    page.get_by_role("button", name="Save Time out").tap()

    expect(page.locator('[id="timeout.needle_lot-error"]')).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Time out")
    assert not timeout_saved(session_id)
    assert loads == []
    # As on a loaded page, the summary has the focus and its link leads to the field.
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    summary.get_by_role("link").first.click()
    expect(field(page, "timeout.needle_lot")).to_be_focused()
    # The refused page is enhanced again: fixing it saves in place as well.
    field(page, "timeout.needle_lot").fill("SJ-40812")
    page.get_by_role("button", name="Save Time out").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out")
    db.session.expire_all()
    saved = db.session.scalars(
        select(PhaseEntry).where(PhaseEntry.session_id == session_id, PhaseEntry.phase == "timeout")
    ).all()
    assert len(saved) == 1 and loads == []


def test_without_javascript_time_out_posts_and_loads_sign_out(journey, at_time_out):
    practitioner, session_id = at_time_out
    page, loads = open_time_out(journey, practitioner, session_id, javascript=False)
    for name, value in TIME_OUT.items():
        page.locator(f'input[name="{name}"][value="{value}"]').check()
    field(page, "timeout.needle_lot").fill("SJ-40812")
    field(page, "timeout.needle_expiry").fill("2031-01-31")

    page.get_by_role("button", name="Save Time out").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out")
    assert timeout_saved(session_id)
    for _ in range(50):  # the load event reaches this listener a moment after the heading
        if loads:
            break
        page.wait_for_timeout(100)
    assert len(loads) == 1


def test_a_time_out_that_stops_the_session_shows_the_stop_in_place_and_it_is_cancelled_there(
    journey, at_time_out
):
    """No sterile pack to hand: the save goes where a loaded page goes (the record, stopped at
    Time out, with nothing to sign and the pack to report) and its cancel form works as on a
    loaded page."""
    practitioner, session_id = at_time_out
    page, loads = open_time_out(journey, practitioner, session_id)
    answer_time_out(page)
    page.locator('label.choice:has(input[name="timeout.needles_sterile"][value="no"])').tap()
    expect(page.locator("#answered-count")).to_have_text(
        "An answer above stops the session at Time out: read what it says before you save."
    )

    page.get_by_role("button", name="Save Time out").tap()

    expect(page.get_by_role("heading", name="The session stopped at Time out")).to_be_visible()
    expect(page).to_have_url(f"{journey.base_url}/sessions/{session_id}")
    expect(page.get_by_role("heading", name="Sign the checklist")).to_have_count(0)
    expect(page.get_by_role("link", name="Report the pack as a near miss")).to_be_visible()
    assert timeout_saved(session_id)
    assert loads == []
    journey.check(page, "stopped-at-time-out-in-place")
    field(page, "cancel-reason").fill("No sterile pack to hand.")
    page.get_by_role("button", name="Cancel the session").tap()

    expect(page.get_by_role("heading", name="Today at Harbour Physio")).to_be_visible()
    db.session.expire_all()
    record = db.session.get(TreatmentSession, session_id)
    assert record.is_cancelled and record.cancel_reason == "No sterile pack to hand."
