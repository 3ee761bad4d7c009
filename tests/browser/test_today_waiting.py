"""The Today page with patients waiting (issue 17): the urgent answers come first, yet the
practitioner still reaches "Start a session" on a tablet, and records what they did from a
folded form that works without JavaScript."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from followup_helpers import ALL_PHASES
from playwright.sync_api import expect
from sqlalchemy import select

from safety.checklists.models import Flag
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup import patient as followup_patient
from safety.followup.models import FollowUp

from .conftest import TABLET

pytestmark = pytest.mark.browser

WAITING = 4


@pytest.fixture
def waiting(make_clinic, make_user, make_patient, make_session):
    """A practitioner with four patients whose answers said their bleeding will not stop."""
    practitioner = make_user("practitioner", clinic=make_clinic("Harbour Physio"))
    for _ in range(WAITING):
        session = make_session(
            practitioner, phases=ALL_PHASES, sign=True, patient=make_patient(practitioner)
        )
        followup = db.session.scalars(
            select(FollowUp).where(FollowUp.session_id == session.id, FollowUp.kind == "24h")
        ).one()
        token = followup_patient.issue_link(followup, now=utcnow())
        followup_patient.answer(token, {"bleeding": ["wont_stop"]})
        db.session.commit()
    return practitioner


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no-script"])
def test_with_four_patients_waiting_start_a_session_is_within_reach_on_a_tablet(
    journey, waiting, javascript
):
    page = journey.page(TABLET, javascript=javascript)
    journey.log_in(page, waiting.email, PASSWORD)
    page.goto("/sessions/")

    expect(page.get_by_role("heading", name="Patients who need you now")).to_be_visible()
    assert page.locator(".escalations li").count() == WAITING
    start = page.get_by_role("heading", name="Start a session for")
    # Four answers with their forms open once put it 3,700 px down; now 1,500.
    assert start.bounding_box()["y"] < 1.5 * TABLET["viewport"]["height"]
    journey.check(page, "today-four-waiting")

    first = page.locator(".escalations li").first
    said = first.get_by_text("still bleeding after 10 minutes of firm pressure")
    expect(said).to_be_hidden()
    first.get_by_text("What the patient answered").tap()
    expect(said).to_be_visible()
    expect(first.get_by_role("button", name="Record and remove from this list")).to_be_hidden()
    first.get_by_text("Record what you did").tap()
    first.locator('label.choice:has(input[value="called"])').tap()
    first.get_by_role("button", name="Record and remove from this list").tap()

    expect(page.locator(".escalations li")).to_have_count(WAITING - 1)
    db.session.expire_all()
    handled = db.session.scalars(select(Flag).where(Flag.handled_dt.is_not(None))).all()
    assert [flag.handled_action for flag in handled] == ["called"]
