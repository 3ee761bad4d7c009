"""An administrator edits a copy of the checklist in use: rewords an item, removes one, moves
one, adds the clinic's own check, previews the checklist as a practitioner will see it, reads
the confirmation (what changes, for which clinics, which items lack a translation) and
publishes; the new version is the one in use. Without JavaScript too: every step is a form."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect

from safety.extensions import db
from safety.risks import services as risks

from .conftest import DESKTOP, PHONE, TABLET

pytestmark = pytest.mark.browser


@pytest.fixture
def setting(make_clinic, make_user):
    make_clinic("Harbour Physio", timezone="Europe/London")
    make_clinic("Lakeshore Sports Clinic", timezone="America/Toronto")
    admin = make_user("admin", name="Alan Admin")
    current = risks.ensure_current_template()
    db.session.commit()
    return admin, current.version


@pytest.mark.parametrize(
    ("device", "javascript"),
    [(DESKTOP, True), (TABLET, True), (PHONE, False)],
    ids=["desktop", "tablet", "phone-no-script"],
)
def test_an_administrator_edits_a_copy_previews_and_publishes_through_the_confirmation(
    journey, setting, device, javascript
):
    admin, version = setting
    page = journey.page(device, javascript=javascript)
    journey.log_in(page, admin.email, PASSWORD)

    page.goto("/admin/templates")
    page.get_by_role("button", name=f"Edit a copy of version {version}").click()
    expect(page.get_by_role("heading", name=f"Edit draft version {version + 1}")).to_be_visible()
    journey.check(page, "editor")

    bleeding = page.locator("#item-signout\\.bleeding")
    bleeding.locator("summary", has_text="Reword").click()
    bleeding.get_by_label("New words").fill("Any bleeding at the needle sites.")
    bleeding.get_by_role("button", name="Save the new words").click()
    expect(page.get_by_role("status")).to_contain_text("its linkId and answers stay the same")
    expect(page.locator("#item-signout\\.bleeding .item-words")).to_have_text(
        "Any bleeding at the needle sites."
    )

    page.locator("#item-signout\\.pain_during").get_by_role("button", name="Remove").click()
    expect(page.locator("#item-signout\\.pain_during")).to_have_count(0)

    page.locator("#item-timeout\\.hand_hygiene").get_by_role("button", name="Move down").click()
    expect(page.locator("#phase-timeout + ol > li").nth(1)).to_have_id("item-timeout.hand_hygiene")

    page.get_by_label("Step").select_option("signout")
    page.get_by_label("The check, as the practitioner reads it").fill("ok")
    page.get_by_label("Why it is needed, or its source").fill("Clinic policy, section 7.")
    page.get_by_role("button", name="Add the check").click()
    expect(page.get_by_role("alert")).to_contain_text("Write at least 3 characters")
    journey.check(page, "editor-refused")
    page.get_by_label("The check, as the practitioner reads it").fill("Couch wiped down.")
    page.get_by_role("button", name="Add the check").click()
    expect(page.locator(f"#item-signout\\.own_v{version + 1}_1")).to_contain_text(
        "Couch wiped down."
    )
    journey.check(page, "editor-edited")

    page.get_by_role("link", name="Preview as a practitioner").click()
    expect(page.get_by_text("Any bleeding at the needle sites.")).to_be_visible()
    expect(page.get_by_text("Couch wiped down.")).to_be_visible()
    expect(page.get_by_role("radio").first).to_be_disabled()
    journey.check(page, "preview")

    page.get_by_role("link", name="Review and publish").click()
    expect(page.get_by_role("heading", name=f"Publish version {version + 1}?")).to_be_visible()
    clinics = page.locator("ul.clinics")
    expect(clinics).to_contain_text("Harbour Physio")
    expect(clinics).to_contain_text("Lakeshore Sports Clinic")
    changes = page.locator("dl.changes")
    expect(changes).to_contain_text("Couch wiped down.")
    expect(changes).to_contain_text("signout.pain_during")
    expect(changes).to_contain_text("becomes “Any bleeding at the needle sites.”")
    expect(page.get_by_text("2 items lack a translation")).to_be_visible()
    journey.check(page, "confirm")
    page.get_by_role("button", name=f"Publish version {version + 1}").click()

    expect(page.get_by_role("status").first).to_contain_text(f"Version {version + 1} is published")
    page.goto("/admin/templates")
    current_row = page.locator("tr", has=page.get_by_text("Current", exact=True))
    expect(current_row).to_contain_text(f"Version {version + 1}")
    journey.check(page, "published")
