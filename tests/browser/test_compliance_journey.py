"""A compliance officer at a desktop works through the review area in a real browser: the
dashboard, filtered records, one record with a flag to acknowledge, a needle lot trace, and the
CSV download of the records."""

from __future__ import annotations

import csv
import io
import re

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect
from sqlalchemy import select

from safety.checklists.models import Flag
from safety.extensions import db

from .conftest import DESKTOP

pytestmark = pytest.mark.browser

ALL_PHASES = ("signin", "timeout", "signout")


@pytest.fixture
def review_world(make_clinic, make_user, make_patient, make_session):
    """Harbour Physio with a record that bled (a flag) on lot LOT-RECALL-1 and a clean one on
    another lot; Lakeside Physio with a clean record on the recalled lot; a compliance officer."""
    harbour = make_clinic("Harbour Physio")
    lakeside = make_clinic("Lakeside Physio", timezone="America/Toronto")
    ada = make_user("practitioner", clinic=harbour, name="Ada Author")
    olga = make_user("practitioner", clinic=lakeside, name="Olga Other")
    officer = make_user("compliance", name="Cora Compliance")
    bled = make_session(
        ada,
        phases=ALL_PHASES,
        sign=True,
        patient=make_patient(ada, given_name="Pat", family_name="Harbourside"),
        overrides={
            "timeout.needle_lot": ["LOT-RECALL-1"],
            "signout.bleeding": ["prolonged"],
            "signout.bleeding.note": ["Pressure for six minutes."],
        },
    )
    make_session(
        ada,
        phases=ALL_PHASES,
        sign=True,
        patient=make_patient(ada, given_name="Quinn", family_name="Quayside"),
        overrides={"timeout.needle_lot": ["LOT-OTHER-2"]},
    )
    make_session(
        olga,
        phases=ALL_PHASES,
        sign=True,
        patient=make_patient(olga, given_name="Lara", family_name="Lakeshore"),
        overrides={"timeout.needle_lot": ["LOT-RECALL-1"]},
    )
    return officer, bled.id, harbour.id


def test_a_compliance_officer_reviews_acknowledges_traces_and_exports(journey, review_world):
    officer, bled_id, harbour_id = review_world
    page = journey.page(DESKTOP)

    journey.log_in(page, officer.email, PASSWORD)

    expect(page.get_by_role("heading", name="Compliance dashboard")).to_be_visible()
    expect(page.locator(".tile", has_text="Open flags").locator(".figure")).to_have_text("1")
    journey.check(page, "dashboard")

    # Records, filtered to one clinic with flags.
    # One navigation: the top bar marks the page; there is no second tab bar.
    expect(page.get_by_role("navigation", name="Review")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").locator("[aria-current=page]")).to_have_text(
        "Dashboard"
    )
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Records").click()
    expect(page.get_by_role("heading", name="Records", exact=True)).to_be_visible()
    expect(page.locator("p.count")).to_have_text("3 records match.")
    journey.check(page, "records")
    page.get_by_label("Clinic").select_option(label="Harbour Physio")
    page.get_by_label("Flags").select_option(label="Any flag")
    page.get_by_role("button", name="Show records").click()
    expect(page.locator("p.count")).to_have_text("1 record matches.")
    rows = page.locator("table.records tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Pat Harbourside")
    journey.check(page, "records-filtered")

    # The record, and its flag acknowledged from there.
    rows.first.get_by_role("link", name=f"#{bled_id}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pat Harbourside")
    flag_item = page.locator(".flag-item")
    expect(flag_item).to_contain_text("Open.")
    journey.check(page, "record")
    flag_item.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_have_text("Flag acknowledged.")
    expect(flag_item).to_contain_text("Acknowledged by Cora Compliance")
    expect(flag_item.get_by_role("button", name="Acknowledge")).to_have_count(0)
    journey.check(page, "record-acknowledged")
    db.session.expire_all()
    flag = db.session.scalars(select(Flag).where(Flag.session_id == bled_id)).one()
    assert flag.status == "acknowledged"

    # The queue shows it acknowledged, still waiting for a resolution.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Flags").click()
    row = page.locator(f'tr[id="flag-{flag.id}"]')
    expect(row).to_contain_text("Acknowledged")
    expect(row.get_by_role("link", name=re.compile("^Resolve"))).to_be_visible()
    journey.check(page, "flags-queue")

    # Trace the lot across both clinics.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Lot trace").click()
    expect(page.get_by_role("heading", name="Needle lot trace")).to_be_visible()
    journey.check(page, "lot-trace-form")
    page.get_by_label("Lot number").fill("LOT-RECALL-1")
    page.get_by_role("button", name="Trace the lot").click()
    expect(page.locator("p.count")).to_contain_text("2 sessions match")
    trace = page.locator("table tbody tr")
    expect(trace).to_have_count(2)
    expect(page.locator("table tbody")).to_contain_text("Pat Harbourside")
    expect(page.locator("table tbody")).to_contain_text("Lara Lakeshore")
    journey.check(page, "lot-trace")

    # Download the filtered records as CSV and read it.
    page.goto(f"/review/records?clinic={harbour_id}")
    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download the signed records as CSV").click()
    download = waiting.value
    assert download.suggested_filename.endswith(".csv")
    people, keys = download.path().read_text(encoding="utf-8-sig").split("\n", 1)
    assert "Needle lots" in people  # the first row names the columns for people
    *rows, checkpoint = csv.DictReader(io.StringIO(keys))
    assert checkpoint["record_id"] == "NeedleSafe audit checkpoint"
    assert len(rows) == 2
    assert {r["signout.bleeding"] for r in rows} == {"prolonged", "none"}
    assert {r["timeout.needle_lot"] for r in rows} == {"LOT-RECALL-1", "LOT-OTHER-2"}
    assert (
        int(next(r for r in rows if r["signout.bleeding"] == "prolonged")["record_id"]) == bled_id
    )


def test_a_signed_record_prints_without_the_navigation(journey, review_world):
    """The print view is a paper record: no navigation, no buttons, just the record."""
    officer, bled_id, _ = review_world
    page = journey.page(DESKTOP)
    journey.log_in(page, officer.email, PASSWORD)

    page.goto(f"/review/records/{bled_id}/print")
    journey.check(page, "print-view")
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pat Harbourside")
    expect(page.locator("main form")).to_have_count(0)
    page.pdf(path=journey.artifact("print-view.pdf"))
