"""Every practitioner and compliance page on the four screens people use (issue 17): a portrait
and a landscape tablet, a desktop and a phone. On each: nothing wider than the screen and axe
clean (both checked by `Journey.check`), and on the practitioner's pages every control in reach
of a finger, at least 44 by 44 CSS pixels (WCAG 2.5.5). With SCREENSHOTS=1 each page's picture
goes to test-artifacts/.
"""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect

from safety.risks import services as risks

pytestmark = pytest.mark.browser

ALL_PHASES = ("signin", "timeout", "signout")
TAP = 44

SCREENS = {
    "tablet-portrait": {"viewport": {"width": 768, "height": 1024}, "has_touch": True},
    "tablet-landscape": {"viewport": {"width": 1024, "height": 768}, "has_touch": True},
    "desktop": {"viewport": {"width": 1440, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True},
}

#: The controls a finger aims at. A radio or checkbox is reached through its pill (label.choice),
#: and a link inside a sentence is exempt (WCAG 2.5.8 "inline"); button-styled links are not.
CONTROLS = (
    "main button, main a.button, main label.choice, main select, main textarea, main summary, "
    "main input:not([type=hidden]):not([type=radio]):not([type=checkbox])"
)


def small_controls(page) -> list[str]:
    """Describe each visible control smaller than a fingertip."""
    return page.evaluate(
        """([selector, tap]) => Array.from(document.querySelectorAll(selector))
            .filter(el => el.offsetParent !== null)
            .map(el => [el, el.getBoundingClientRect()])
            .filter(([el, box]) => box.width < tap || box.height < tap)
            .map(([el, box]) => `${el.tagName.toLowerCase()} "${(el.textContent || el.id).trim()
                .slice(0, 40)}" ${Math.round(box.width)}x${Math.round(box.height)}`)""",
        [CONTROLS, TAP],
    )


def cut_steps(page) -> list[str]:
    """The step pills whose words do not fit them (cut off with an ellipsis)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.phases li'))
            .filter(li => li.scrollWidth > li.clientWidth + 1)
            .map(li => li.textContent.trim().replace(/\\s+/g, ' '))"""
    )


@pytest.fixture
def clinic_day(make_clinic, make_user, make_patient, make_session):
    """A practitioner with a patient to start, an open session, and a signed one with a flag;
    a compliance officer."""
    harbour = make_clinic("Harbour Physio")
    ada = make_user("practitioner", clinic=harbour, name="Ada Author")
    officer = make_user("compliance", name="Cora Compliance")
    make_patient(ada, given_name="Pat", family_name="Harbourside")
    open_session = make_session(
        ada,
        phases=("signin", "timeout"),
        patient=make_patient(ada, given_name="Olive", family_name="Open"),
    )
    signed = make_session(
        ada,
        phases=ALL_PHASES,
        sign=True,
        patient=make_patient(ada, given_name="Quinn", family_name="Quayside"),
        overrides={"signout.bruising": ["large"], "signout.bruising.note": ["Ice given."]},
    )
    return ada, officer, open_session.id, signed.id, signed.flags[0].id


@pytest.mark.parametrize("screen", SCREENS)
def test_every_page_fits_the_screen_and_the_practitioners_controls_fit_a_finger(
    journey, clinic_day, screen
):
    ada, officer, open_id, signed_id, flag_id = clinic_day
    page = journey.page(SCREENS[screen])
    journey.log_in(page, ada.email, PASSWORD)
    expect(page.get_by_role("heading", name="Today at Harbour Physio")).to_be_visible()

    practitioner_pages = [
        ("today", "/sessions/"),
        ("start", "/sessions/new"),
        ("sign-in", f"/sessions/{open_id}/phase/signin"),
        ("time-out", f"/sessions/{open_id}/phase/timeout"),
        ("sign-out", f"/sessions/{open_id}/phase/signout"),
        ("signed-record", f"/sessions/{signed_id}"),
        ("flags", "/review/flags"),
    ]
    problems, cut = {}, {}
    for step, address in practitioner_pages:
        page.goto(address)
        journey.check(page, f"{screen}-practitioner-{step}")
        small = small_controls(page)
        if small:
            problems[step] = small
        if clipped := cut_steps(page):
            cut[step] = clipped
    assert not problems, f"controls under {TAP}px on {screen}: {problems}"
    # The step pills say every step's name and state in full ("Sign out to …" at 768 px).
    assert not cut, f"step pills cut short on {screen}: {cut}"
    # The flags page names the patient.
    expect(page.locator("main")).to_contain_text("Quinn Quayside")

    desk = journey.page(SCREENS[screen])
    journey.log_in(desk, officer.email, PASSWORD)
    expect(desk.get_by_role("heading", name="Compliance dashboard")).to_be_visible()
    desk_problems = {}
    for step, address in [
        ("dashboard", "/review/"),
        ("records", "/review/records"),
        ("record", f"/review/records/{signed_id}"),
        ("flags", "/review/flags"),
        ("resolve", f"/review/flags/{flag_id}/resolve"),
        ("lot-trace", "/review/lots"),
        # The checklist's sources, read by compliance: once 1,011 px wide on a 768 px tablet.
        ("template", f"/templates/{risks.current_template().id}"),
    ]:
        desk.goto(address)
        journey.check(desk, f"{screen}-compliance-{step}")
        # The flags and the record are worked through on a tablet too (acknowledge, resolve).
        small = small_controls(desk) if step in ("record", "flags", "resolve") else []
        if small:
            desk_problems[step] = small
    assert not desk_problems, f"compliance controls under {TAP}px on {screen}: {desk_problems}"
