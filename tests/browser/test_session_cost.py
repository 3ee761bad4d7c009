"""What a clean session costs a practitioner on a portrait tablet: taps, typed characters, page
loads and page heights, counted in a real browser from the Today page to the signed record.

A clinic compares this with paper beside the patient, so the figures are the interface's own
acceptance test (issue 17). The count is honest about what a person does: picking from a
`<select>` is two taps (open, choose); a pack is scanned, so the scanner types it (counted as
the pack, not as typing); the password that signs the record is typed, and counted apart
because re-entering it is the signature's meaning, not the interface's cost. The figures are
written to test-artifacts/session-cost.json for the closing note.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect

from .conftest import ARTIFACTS, TABLET

pytestmark = pytest.mark.browser

#: A GS1 DataMatrix as a hand scanner sends it: GTIN, expiry (31 Dec 2030), lot, then GS + serial.
GTIN = "09501101020917"
SCAN_BEFORE_GS = f"]d201{GTIN}17301231" + "10LOT-2611A"
SCAN_AFTER_GS = "21S0042"

#: The clean answers tapped, phase by phase (no precaution to type: nothing calls for one).
SIGN_IN = {
    "signin.authorised": "yes",
    "signin.identity": "yes",
    "signin.consent": "yes",
    "signin.skin_ok": "yes",
    "signin.anticoagulant": "no",
    "signin.faint_history": "no",
    "signin.conditions": "none",
    "signin.regions": "lumbar",
}
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
COUNTS = {
    "signout.needles_opened": "6",
    "signout.needles_used": "6",
    "signout.needles_removed": "6",
    "signout.needles_disposed": "6",
}
PAIN = ("signout.pain_during", "2")
SIGN_OUT = {
    "signout.sharps_safe": "yes",
    "signout.needles_intact": "yes",
    "signout.bleeding": "none",
    "signout.bruising": "none",
    "signout.reactions": "none",
    "signout.fit_to_leave": "yes",
    "signout.hand_hygiene": "yes",
    "signout.aftercare": "yes",
    "signout.followup": "declined",
}

#: Before issue 17's interface work (commit 0d17431): 40 taps, 5 typed characters (+ the
#: password), 6 page loads, 16 scrolls, phase pages 3,111 / 3,993 / 3,830 px, sign 3,278 px.
#: After: one tap starts the patient's session from Today, pain is a tap, the scanner types into
#: the focused lot field, and Sign out saves and signs in one tap. What remains is one tap per
#: question (30), which this test keeps: the checklist is a challenge-response, and an "all as
#: expected" shortcut would let a practitioner confirm what they never checked. Issue 17's target
#: of 15 taps is therefore not met; see the closing note.
#: Then (branch tablet): Time out saves in place (static/phase-save.js), so Sign out needs no
#: page load of its own: 3 loads (Sign in, Time out, the signed record), the target. The server
#: round trips are the same four saves; Sign in to Time out stays a load because the camera
#: scan's permissions come with Time out's own page.
MAX_TAPS = 35
MAX_TYPED = 4  # the four needle counts (each can also be set with its - and + buttons)
MAX_PAGE_LOADS = 3
MAX_TIME_OUT_HEIGHT = 2_600


@dataclass
class Cost:
    """What the practitioner did, counted as it happens."""

    taps: int = 0
    typed: int = 0
    scanned: int = 0
    password: int = 0
    page_loads: int = 0
    pages: list[dict] = field(default_factory=list)

    @property
    def scrolls(self) -> int:
        """Screens below the first on each page: the scrolls a practitioner needs to reach the
        bottom of it."""
        return sum(max(0, math.ceil(p["height"] / p["screen"]) - 1) for p in self.pages)


def ids(page, name: str):
    return page.locator(f'[id="{name}"]')


class Practitioner:
    """A practitioner's hand on the tablet: every tap, keystroke and load is counted."""

    def __init__(self, page) -> None:
        self.page = page
        self.cost = Cost()
        page.on("load", self._loaded)

    def _loaded(self, _page) -> None:
        self.cost.page_loads += 1

    def measure(self, step: str) -> None:
        self.page.wait_for_load_state("load")
        if self.page.locator("form.checklist").count():
            # A phase shown in place has no load to wait for: wait for its script to have run
            # (it folds the items that do not apply), as a load waits for deferred scripts.
            expect(self.page.locator("#answered-count")).to_be_visible()
        height = self.page.evaluate("document.documentElement.scrollHeight")
        screen = self.page.viewport_size["height"]
        self.cost.pages.append({"step": step, "height": height, "screen": screen})

    def tap(self, locator) -> None:
        self.cost.taps += 1
        locator.tap()

    def type(self, locator, text: str) -> None:
        """Focus by a tap and type: each character counts."""
        self.tap(locator)
        locator.fill("")
        self.page.keyboard.type(text)
        self.cost.typed += len(text)

    def choose(self, name: str, value: str) -> None:
        """Answer an item the way its control asks: a tap on a pill, or typing a number."""
        choice = self.page.locator(f'label:has(input[name="{name}"][value="{value}"])')
        if choice.count():
            self.tap(choice.first)
        else:
            self.type(ids(self.page, name), value)

    def scan_pack(self) -> None:
        """A keyboard-wedge scanner types the pack's barcode into the lot field (a tap puts
        the caret there first, unless the page already did)."""
        lot = ids(self.page, "timeout.needle_lot")
        if not lot.evaluate("element => element === document.activeElement"):
            self.tap(lot)
        self.page.keyboard.type(SCAN_BEFORE_GS)
        self.page.keyboard.press("Control+BracketRight")
        self.page.keyboard.type(SCAN_AFTER_GS)
        self.page.keyboard.press("Enter")
        self.cost.scanned += len(SCAN_BEFORE_GS) + 1 + len(SCAN_AFTER_GS)
        expect(ids(self.page, "timeout.needle_expiry")).to_have_value("2030-12-31")

    def type_password(self) -> None:
        self.tap(ids(self.page, "password"))
        self.page.keyboard.type(PASSWORD)
        self.cost.password += len(PASSWORD)

    def sign(self) -> None:
        self.type_password()
        self.tap(self.page.get_by_role("button", name="Sign as Ada Author"))


def test_a_clean_session_for_a_known_patient_costs_few_taps_and_page_loads(
    journey, make_clinic, make_user, make_patient
):
    clinic = make_clinic("Harbour Physio")
    practitioner = make_user("practitioner", clinic=clinic, name="Ada Author")
    make_patient(practitioner, given_name="Pat", family_name="Harbourside")
    page = journey.page(TABLET)
    journey.log_in(page, practitioner.email, PASSWORD)
    expect(page.get_by_role("heading", name="Today at Harbour Physio")).to_be_visible()

    page.wait_for_load_state("load")  # the Today page's own load is not the session's
    hand = Practitioner(page)  # counting starts on the Today page
    hand.measure("today")
    journey.check(page, "today")
    quick = page.locator('button[name="patient_id"]', has_text="Pat Harbourside")
    if quick.count():
        hand.tap(quick.first)
    else:
        hand.tap(page.get_by_role("link", name="Start a session"))
        expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
        hand.measure("start")
        ids(page, "patient_id").select_option(label="Pat Harbourside")
        hand.cost.taps += 2  # open the list, choose the patient
        hand.tap(page.get_by_role("button", name="Start session"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    hand.measure("sign-in")
    journey.check(page, "sign-in")
    for name, value in SIGN_IN.items():
        hand.choose(name, value)
    hand.tap(page.get_by_role("button", name="Save Sign in"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Time out")
    hand.measure("time-out")
    journey.check(page, "time-out")
    hand.scan_pack()
    for name, value in TIME_OUT.items():
        hand.choose(name, value)
    hand.tap(page.get_by_role("button", name="Save Time out"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out")
    hand.measure("sign-out")
    journey.check(page, "sign-out")
    for name, value in COUNTS.items():
        hand.choose(name, value)
    hand.choose(*PAIN)
    for name, value in SIGN_OUT.items():
        hand.choose(name, value)
    sign_here = page.get_by_role("button", name="Save and sign as Ada Author")
    if sign_here.count():
        hand.type_password()
        hand.tap(sign_here)
    else:
        hand.tap(page.get_by_role("button", name="Save Sign out"))
        expect(page.get_by_role("heading", name="Sign the checklist")).to_be_visible()
        hand.measure("sign")
        journey.check(page, "sign")
        hand.sign()
    expect(page.get_by_role("heading", name="Signed record")).to_be_visible()
    hand.measure("signed")
    journey.check(page, "signed")

    figures = {**asdict(hand.cost), "scrolls": hand.cost.scrolls}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "session-cost.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("\nclean session on a 768x1024 tablet:", json.dumps(figures))
    assert hand.cost.taps <= MAX_TAPS, figures
    assert hand.cost.typed <= MAX_TYPED, figures
    assert hand.cost.page_loads <= MAX_PAGE_LOADS, figures
    # No phase page needs more than about three screens of a portrait tablet (before: four).
    phases = [p for p in hand.cost.pages if p["step"] in ("sign-in", "time-out", "sign-out")]
    assert all(p["height"] <= 3 * p["screen"] + 300 for p in phases), figures
    # Time out folds the further pack rows most sessions never use (3,236 px before, 2,400 after).
    [time_out] = [p for p in phases if p["step"] == "time-out"]
    assert time_out["height"] <= MAX_TIME_OUT_HEIGHT, figures
