"""A practitioner scans needle packs in a real browser, on a tablet: a hand scanner types a GS1
DataMatrix (with its GS keystroke and its closing Enter) into the lot field, and the page fills
the lot, the expiry and the GTIN before anything is saved; an expired pack scanned as a second
pack is refused on the spot, and the phase is not saved while it is there."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect
from sqlalchemy import select

from safety.checklists.models import PhaseEntry
from safety.extensions import db
from safety.packs.models import SessionPack

from .conftest import TABLET

pytestmark = pytest.mark.browser

GTIN = "09501101020917"
OTHER_GTIN = "07612345000022"
TIME_OUT = {
    "timeout.hand_hygiene": "yes",
    "timeout.needles_sterile": "yes",
    "timeout.opened_in_view": "yes",
    "timeout.guide_tubes": "single_use",
    "timeout.field_ready": "yes",
    "timeout.no_touch": "yes",
    "timeout.skin_prepared": "yes",
    "timeout.gloves": "worn",
}


def field(page, name: str):
    return page.locator(f'[id="{name}"]')


def scan(page, name: str, before_gs: str, after_gs: str) -> None:
    """Type as a keyboard-wedge scanner does: the characters, GS as Ctrl+], then Enter."""
    field(page, name).focus()
    page.keyboard.type(before_gs)
    page.keyboard.press("Control+BracketRight")
    page.keyboard.type(after_gs)
    page.keyboard.press("Enter")


def timeout_saved(session_id: int) -> bool:
    db.session.expire_all()
    return (
        db.session.scalar(
            select(PhaseEntry.id).where(
                PhaseEntry.session_id == session_id, PhaseEntry.phase == "timeout"
            )
        )
        is not None
    )


def time_out_page(journey, make_clinic, make_user, make_patient, make_session):
    """A practitioner's session after Sign in, its Time out page open on a tablet with every
    check but the pack answered as a clean session answers it."""
    practitioner = make_user("practitioner", clinic=make_clinic("Harbour Physio"))
    session = make_session(practitioner, phases=("signin",), patient=make_patient(practitioner))
    page = journey.page(TABLET)
    journey.log_in(page, practitioner.email, PASSWORD)
    page.goto(f"/sessions/{session.id}/phase/timeout")
    for name, value in TIME_OUT.items():
        page.locator(f'label.choice:has(input[name="{name}"][value="{value}"])').tap()
    return session, page


def test_a_scanned_pack_fills_lot_expiry_and_gtin_and_an_expired_one_is_refused_on_the_spot(
    journey, make_clinic, make_user, make_patient, make_session
):
    session, page = time_out_page(journey, make_clinic, make_user, make_patient, make_session)

    # GS1 DataMatrix: symbology prefix, GTIN, expiry 31 May 2030, lot, GS, serial.
    scan(page, "timeout.needle_lot", f"]d201{GTIN}17300531" + "10HW-2611A", "21S0042")

    expect(field(page, "timeout.needle_lot")).to_have_value("HW-2611A")
    expect(field(page, "timeout.needle_expiry")).to_have_value("2030-05-31")
    expect(field(page, "timeout.pack1.gtin")).to_have_value(GTIN)
    assert not timeout_saved(session.id)  # the scanner's Enter did not save the phase
    journey.check(page, "scanned-pack")

    # A second pack, out of date: refused beside its expiry the moment it is scanned. Its row
    # is folded until the practitioner opens "More packs" (most sessions open one pack).
    expect(field(page, "timeout.pack2.lot")).to_be_hidden()
    page.get_by_text("More packs opened for this session").tap()
    scan(page, "timeout.pack2.lot", f"]d201{GTIN}17010131" + "10OLD-1", "21S1")
    expect(field(page, "timeout.pack2.expiry")).to_have_value("2001-01-31")
    refusal = page.locator('[id="timeout.pack2.expiry-live"]')
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("expired")
    page.get_by_role("button", name="Save Time out").click()
    expect(field(page, "timeout.pack2.expiry")).to_be_focused()
    assert not timeout_saved(session.id)
    journey.check(page, "expired-second-pack")

    # An in-date second pack, typed over the expired one (its hidden serial goes with it):
    # the phase saves with both packs.
    field(page, "timeout.pack2.lot").fill("sj-40812")
    field(page, "timeout.pack2.gtin").fill("")
    field(page, "timeout.pack2.expiry").fill("2031-01-31")
    page.get_by_role("button", name="Save Time out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out")

    db.session.expire_all()
    packs = db.session.scalars(
        select(SessionPack).where(SessionPack.session_id == session.id).order_by("position")
    ).all()
    assert [(p.lot, p.lot_key, p.gtin, p.serial, p.expiry.isoformat()) for p in packs] == [
        ("HW-2611A", "HW-2611A", GTIN, "S0042", "2030-05-31"),
        ("sj-40812", "SJ-40812", None, None, "2031-01-31"),
    ]


def test_a_pack_scanned_over_another_takes_its_own_expiry_and_an_expired_one_is_refused(
    journey, make_clinic, make_user, make_patient, make_session
):
    """Scanned over an in-date pack, an expired pack once kept the first pack's expiry: the
    lot, GTIN and serial changed, the expiry stayed, and the expired pack saved as in date."""
    session, page = time_out_page(journey, make_clinic, make_user, make_patient, make_session)
    scan(page, "timeout.needle_lot", f"]d201{GTIN}17300531" + "10GOOD-1", "21S1")
    expect(field(page, "timeout.needle_expiry")).to_have_value("2030-05-31")

    # The wrong pack picked up: the practitioner selects the lot and scans the one in hand,
    # another product, out of date.
    field(page, "timeout.needle_lot").select_text()
    scan(page, "timeout.needle_lot", f"]d201{OTHER_GTIN}17251130" + "10OLDLOT", "21S2")

    expect(field(page, "timeout.needle_lot")).to_have_value("OLDLOT")
    expect(field(page, "timeout.needle_expiry")).to_have_value("2025-11-30")
    expect(field(page, "timeout.pack1.gtin")).to_have_value(OTHER_GTIN)
    expect(page.locator('[id="timeout.needle_expiry-live"]')).to_contain_text("expired")
    page.get_by_role("button", name="Save Time out").click()
    expect(field(page, "timeout.needle_expiry")).to_be_focused()
    assert not timeout_saved(session.id)
