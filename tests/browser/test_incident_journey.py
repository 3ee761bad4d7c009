"""A practitioner stuck by a used needle reports it from the session on the tablet, by touch:
the lot comes from the session's pack, the post-exposure steps open at once and are ticked with
their times; every page is axe clean. The clinic lead then reads who was injured."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect
from sqlalchemy import select

from safety.auth.models import User
from safety.extensions import db
from safety.incidents.models import Incident, IncidentStep

from .conftest import TABLET

pytestmark = pytest.mark.browser

LOT = "LOT-4455Z"


@pytest.fixture
def stuck(make_clinic, make_user, make_session):
    """A practitioner with a signed session whose pack's lot is LOT-4455Z, and a clinic lead."""
    clinic = make_clinic("Harbour Physio")
    practitioner = make_user("practitioner", clinic=clinic, name="Ada Author")
    lead = make_user("practitioner", clinic=clinic, name="Lena Lead")
    lead = db.session.get(User, lead.id)
    lead.lead_clinic_id = lead.clinic_id
    db.session.commit()
    session = make_session(
        practitioner,
        phases=("signin", "timeout", "signout"),
        overrides={"timeout.needle_lot": [LOT]},
        sign=True,
    )
    return practitioner.email, lead.email, session.id


def choice(page, name: str, value: str):
    return page.locator(f'label.choice:has(input[name="{name}"][value="{value}"])')


def test_a_needlestick_is_reported_from_the_session_on_a_tablet(journey, stuck):
    email, lead_email, session_id = stuck
    page = journey.page(TABLET)
    journey.log_in(page, email, PASSWORD)

    page.goto(f"/sessions/{session_id}")
    journey.check(page, "record")
    page.get_by_role("link", name="Report a needlestick").tap()

    expect(page.get_by_role("heading", level=1)).to_have_text("Report needlestick or sharps injury")
    expect(page.locator("#device_lot")).to_have_value(LOT)
    journey.check(page, "report")
    page.locator("#work_area").fill("Treatment room 2")
    choice(page, "device_purpose", "removing").tap()
    choice(page, "how", "patient_moved").tap()
    choice(page, "body_site", "finger").tap()
    page.locator("#description").fill("Patient moved as I removed the last needle.")
    # Forgetting the password is explained beside it, and nothing is saved.
    page.get_by_role("button", name="Sign and report").tap()
    expect(page.locator("#password-error")).to_contain_text("password")
    journey.check(page, "report-refused")
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign and report").tap()

    expect(page.get_by_role("heading", name="Post-exposure steps")).to_be_visible()
    journey.check(page, "steps")
    page.locator("#step-wash").get_by_role("button", name="Tick: done").tap()
    expect(page.locator("#step-wash .done")).to_contain_text("Done")
    journey.check(page, "step-ticked")

    db.session.expire_all()
    incident = db.session.scalars(select(Incident)).one()
    assert (incident.session_id, incident.device_lot, incident.how) == (
        session_id,
        LOT,
        "patient_moved",
    )
    assert db.session.scalars(select(IncidentStep.step)).all() == ["wash"]
    # The practitioner's own view keeps the name private; the clinic lead reads it.
    expect(page.locator("dl.facts")).to_contain_text("Kept private")
    lead_page = journey.page(TABLET)
    journey.log_in(lead_page, lead_email, PASSWORD)
    lead_page.goto(f"/incidents/{incident.id}")
    expect(lead_page.locator("dl.facts")).to_contain_text("Ada Author")
    journey.check(lead_page, "lead-view")
