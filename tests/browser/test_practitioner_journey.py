"""A practitioner fills and signs a session checklist in a real browser: on a tablet by touch,
then with the keyboard alone, then without JavaScript; and a refused answer is explained beside
its field in a way a screen reader and a keyboard user can reach."""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD
from playwright.sync_api import expect
from sqlalchemy import select

from safety.checklists.models import PhaseEntry, TreatmentSession
from safety.extensions import db

from .conftest import TABLET

pytestmark = pytest.mark.browser

#: The smallest comfortable touch target, in CSS pixels (WCAG 2.5.5, Apple and Android guidance).
TAP = 44

SIGN_IN = {
    "signin.authorised": "yes",
    "signin.identity": "yes",
    "signin.consent": "yes",
    "signin.skin_ok": "yes",
    "signin.anticoagulant": "yes",
    "signin.faint_history": "no",
    "signin.conditions": "none",
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
#: Needles opened, used, removed and disposed, typed at sign out (the pain score is tapped).
COUNTS = {
    "signout.needles_opened": "6",
    "signout.needles_used": "6",
    "signout.needles_removed": "6",
    "signout.needles_disposed": "6",
}
SIGN_OUT = {
    "signout.sharps_safe": "yes",
    "signout.needles_intact": "yes",
    "signout.pain_during": "2",
    "signout.bleeding": "none",
    "signout.bruising": "small",
    "signout.reactions": "none",
    "signout.fit_to_leave": "yes",
    "signout.hand_hygiene": "yes",
    "signout.aftercare": "yes",
    "signout.followup": "declined",
}


@pytest.fixture
def clinic_day(make_clinic, make_user, make_patient):
    """A practitioner at Harbour Physio with one patient on the list."""
    clinic = make_clinic("Harbour Physio")
    practitioner = make_user("practitioner", clinic=clinic, name="Ada Author")
    patient = make_patient(practitioner, given_name="Pat", family_name="Harbourside")
    return practitioner, patient


def field(page, name: str):
    """Locate a form control by its id (linkIds contain dots, which CSS would read as classes)."""
    return page.locator(f'[id="{name}"]')


def choice(page, name: str, value: str):
    """Locate the label of a radio button or checkbox: the whole label is the touch target."""
    return page.locator(f'label.choice:has(input[name="{name}"][value="{value}"])')


def patient_button(page, name: str):
    """The picker's button that starts a patient's session."""
    return page.locator('button[name="patient_id"]', has_text=name)


def start_for(page, name: str) -> None:
    """On the Start page: one tap on the patient starts their session."""
    expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    target = patient_button(page, name)
    assert_tap_sized(target)
    target.tap()


def assert_tap_sized(locator) -> None:
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not on screen"
    assert box["width"] >= TAP and box["height"] >= TAP, f"{locator} is only {box}"


def assert_step(page, title: str, state: str) -> None:
    """The progress list marks where the practitioner is and what is already saved."""
    exactly = re.compile(rf"^\s*\d\. {re.escape(title)}\s+(saved|signed|to do)\s*$")
    step = page.locator("ol.phases li", has_text=exactly)
    expect(step.locator(".state")).to_have_text(state)


def saved_entries(session_id: int) -> dict[str, dict]:
    db.session.expire_all()
    entries = db.session.scalars(
        select(PhaseEntry).where(PhaseEntry.session_id == session_id).order_by(PhaseEntry.id)
    )
    return {entry.phase: entry.answers for entry in entries}


def only_session() -> TreatmentSession:
    db.session.expire_all()
    return db.session.scalars(select(TreatmentSession)).one()


# --- by touch on a tablet --------------------------------------------------------------------


def test_a_practitioner_fills_and_signs_a_checklist_by_touch_on_a_tablet(journey, clinic_day):
    practitioner, _ = clinic_day
    page = journey.page(TABLET)

    page.goto("/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    journey.check(page, "sign-in")
    for control in (field(page, "email"), field(page, "password"), page.locator("main button")):
        assert_tap_sized(control)
    field(page, "email").tap()
    field(page, "email").fill(practitioner.email)
    field(page, "password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").tap()

    expect(page.get_by_role("heading", name="Today at Harbour Physio")).to_be_visible()
    journey.check(page, "today")
    assert_tap_sized(page.get_by_role("link", name="Start a session"))
    page.get_by_role("link", name="Start a session").tap()

    # On the new page before it is checked: a screenshot taken mid-navigation fails.
    expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    journey.check(page, "start")
    start_for(page, "Pat Harbourside")

    # Sign in: the bleeding precaution appears only once the anticoagulant answer is Yes.
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert_step(page, "Sign in", "to do")
    expect(page.locator("ol.phases li[aria-current=step]")).to_contain_text("Sign in")
    precaution = field(page, "signin.bleeding_precaution")
    expect(precaution).to_be_hidden()
    counter = page.locator("#answered-count")
    expect(counter).to_have_text("0 of 8 questions answered.")
    # Each item says why it is there, behind a "Why?" that stays closed until asked.
    why = page.locator('.item[data-link-id="signin.consent"] details.why')
    expect(why.locator("ul.sources")).to_be_hidden()
    why.locator("summary").tap()
    expect(why.locator("ul.sources")).to_be_visible()
    for name, value in SIGN_IN.items():
        target = choice(page, name, value)
        assert_tap_sized(target)
        target.tap()
    expect(precaution).to_be_visible()
    # It says why it appeared as a person would, not in the rule's terms.
    reason = page.locator('.item[data-link-id="signin.bleeding_precaution"] .condition')
    expect(reason).to_have_text(re.compile(r"^Because you answered Yes to “The patient takes"))
    # The precaution now applies, so it joins the count.
    expect(counter).to_have_text("7 of 9 questions answered.")
    precaution.fill("Pressure for two minutes after each needle.")
    choice(page, "signin.regions", "lumbar").tap()
    choice(page, "signin.regions", "hip").tap()
    expect(counter).to_have_text("All 9 questions answered: save to go on.")
    journey.check(page, "phase-sign-in")
    save = page.get_by_role("button", name="Save Sign in")
    assert_tap_sized(save)
    save.tap()

    expect(page.get_by_role("status")).to_have_text("Sign in saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Time out")
    assert_step(page, "Sign in", "saved")
    for name, value in TIME_OUT.items():
        choice(page, name, value).tap()
    field(page, "timeout.needle_lot").fill("LOT-2611A")
    for name in ("timeout.needle_lot", "timeout.needle_expiry"):
        assert_tap_sized(field(page, name))
    # An out-of-date pack is refused the moment it is entered, before anything is needled.
    field(page, "timeout.needle_expiry").fill("2001-01-31")
    refusal = page.locator('[id="timeout.needle_expiry-live"]')
    expect(refusal).to_have_text("This pack has expired. Do not use it: open an in-date pack.")
    expect(field(page, "timeout.needle_expiry")).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Save Time out").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Time out")
    expect(field(page, "timeout.needle_expiry")).to_be_focused()
    assert "timeout" not in saved_entries(only_session().id)
    field(page, "timeout.needle_expiry").fill("2099-12-31")
    expect(refusal).to_be_hidden()
    journey.check(page, "phase-time-out")
    page.get_by_role("button", name="Save Time out").tap()

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out")
    assert_step(page, "Time out", "saved")
    # The checklist's Sign out phase and leaving the app must not share a name on this page.
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_have_count(0)
    for name, value in COUNTS.items():
        field(page, name).fill(value)
    expect(field(page, "signout.count_discrepancy")).to_be_hidden()
    # A count that does not reconcile is said at once, in red, beside the counts.
    field(page, "signout.needles_removed").fill("5")
    status = page.locator("#count-status")
    expect(status).to_contain_text("6 used / 5 removed")
    expect(field(page, "signout.count_discrepancy")).to_be_visible()
    field(page, "signout.needles_removed").fill("6")
    expect(status).to_be_hidden()
    expect(field(page, "signout.count_discrepancy")).to_be_hidden()
    # Used and removed agree, opened and disposed agree, but more used than opened: said too.
    field(page, "signout.needles_used").fill("8")
    field(page, "signout.needles_removed").fill("8")
    expect(status).to_contain_text("8 used / 6 opened")
    expect(field(page, "signout.count_discrepancy")).to_be_visible()
    field(page, "signout.needles_used").fill("6")
    field(page, "signout.needles_removed").fill("6")
    expect(status).to_be_hidden()
    for name, value in SIGN_OUT.items():
        choice(page, name, value).tap()
    journey.check(page, "phase-sign-out")
    page.get_by_role("button", name="Save Sign out").tap()

    # Every phase saved: the record page says what is left to do, which is to sign.
    expect(page.get_by_role("heading", name="Sign the checklist")).to_be_visible()
    assert_step(page, "Sign out", "saved")
    assert_step(page, "Sign", "to do")
    journey.check(page, "ready-to-sign")
    # A mistyped password refuses the signature and says so beside the password field.
    field(page, "password").fill("not-my-password")
    page.get_by_role("button", name="Sign as Ada Author").tap()
    expect(field(page, "password")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "password")).to_have_accessible_description(re.compile(r"\w"))
    expect(page.locator('[id="password-error"]')).to_be_visible()
    journey.check(page, "signature-refused")
    assert not only_session().is_signed
    field(page, "password").fill(PASSWORD)
    sign = page.get_by_role("button", name="Sign as Ada Author")
    assert_tap_sized(sign)
    sign.tap()

    expect(page.get_by_role("heading", name="Signed record")).to_be_visible()
    expect(page.get_by_text("This record cannot be changed.")).to_be_visible()
    assert_step(page, "Sign", "signed")
    journey.check(page, "signed")
    record = only_session()
    assert record.is_signed and record.signer_name == "Ada Author"
    answers = saved_entries(record.id)
    assert answers["signin"]["signin.bleeding_precaution"] == (
        "Pressure for two minutes after each needle."
    )
    assert answers["timeout"]["timeout.needle_lot"] == "LOT-2611A"
    assert answers["signout"]["signout.bruising"] == "small"


# --- with the keyboard alone -----------------------------------------------------------------


def focused(locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def tab_to(
    page, locator, *, backwards: bool = False, presses: int | None = None, limit: int = 80
) -> None:
    """Press Tab (or Shift+Tab) until the control has focus; fail if it is never reached.

    With `presses`, the control must be exactly that many presses away: the focus order then
    follows the order of the questions on the page, with nothing hidden in between (pressed
    that many times, then looked at once: in a page's one-way order, a control reached sooner
    would have lost the focus again by then).
    """
    key = "Shift+Tab" if backwards else "Tab"
    if presses is not None:
        for _ in range(presses):
            page.keyboard.press(key)
        assert focused(locator), f"{locator} is not {presses} presses of {key} away"
        return
    # The control is found once; each press then asks only whether it has the focus.
    target = locator.element_handle()
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press(key)
    assert focused(locator), f"{locator} cannot be reached with {key}"


def answer_by_keyboard(page, name: str, value: str, *, presses: int | None = None) -> None:
    """Tab into a radio group, then pick the answer: Space for the first, arrows for others."""
    # A channel the patient cannot receive is disabled, and arrow keys pass over it.
    radios = page.locator(f'input[type=radio][name="{name}"]:not([disabled])')
    values = radios.evaluate_all("inputs => inputs.map(input => input.value)")
    tab_to(page, radios.first, presses=presses)
    index = values.index(value)
    if index == 0:
        page.keyboard.press("Space")
    for _ in range(index):
        page.keyboard.press("ArrowRight")
    expect(page.locator(f'input[name="{name}"][value="{value}"]')).to_be_checked()


def type_into(page, name: str, text: str, *, presses: int | None = None) -> None:
    tab_to(page, field(page, name), presses=presses)
    page.keyboard.type(text)


def test_a_practitioner_fills_and_signs_a_checklist_with_the_keyboard_alone(journey, clinic_day):
    practitioner, _ = clinic_day
    page = journey.page({"viewport": TABLET["viewport"]})

    page.goto("/")
    journey.check(page, "sign-in")
    # The first Tab reaches the skip link, which jumps straight to the form.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert focused(skip)
    type_into(page, "email", practitioner.email)
    type_into(page, "password", "not-the-password")
    # Back up to the email with Shift+Tab and move on again: the order runs both ways.
    tab_to(page, field(page, "email"), backwards=True)
    page.keyboard.press("Tab")
    assert focused(field(page, "password"))
    page.keyboard.press("Control+A")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Today at Harbour Physio")).to_be_visible()
    journey.check(page, "today")
    tab_to(page, page.get_by_role("link", name="Start a session"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Start a session")).to_be_visible()
    journey.check(page, "start")
    # Typing in the search filters the list as it goes; Tab then reaches the patient.
    tab_to(page, field(page, "q"))
    page.keyboard.type("harbour")
    tab_to(page, patient_button(page, "Pat Harbourside"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    journey.check(page, "phase-sign-in")
    # Two presses of Tab per question, in the order they are asked: a radio group is one
    # stop and the item's "Why?" the other; the precaution revealed by the Yes comes straight
    # after the question it answers.
    answer_by_keyboard(page, "signin.authorised", "yes")
    answer_by_keyboard(page, "signin.identity", "yes", presses=2)
    answer_by_keyboard(page, "signin.consent", "yes", presses=2)
    answer_by_keyboard(page, "signin.skin_ok", "yes", presses=2)
    answer_by_keyboard(page, "signin.anticoagulant", "yes", presses=2)
    type_into(page, "signin.bleeding_precaution", "Pressure for two minutes.", presses=2)
    answer_by_keyboard(page, "signin.faint_history", "no", presses=2)
    tab_to(page, page.locator('input[name="signin.conditions"][value="none"]'), presses=2)
    page.keyboard.press("Space")
    tab_to(page, page.locator('input[name="signin.regions"][value="lumbar"]'))
    page.keyboard.press("Space")
    tab_to(page, page.get_by_role("button", name="Save Sign in"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Time out")
    journey.check(page, "phase-time-out")
    for name, value in TIME_OUT.items():
        answer_by_keyboard(page, name, value)
    type_into(page, "timeout.needle_lot", "LOT-KB-7")
    # A date field takes digits segment by segment in the browser's own order (day or month
    # first); the first of January reads the same either way.
    type_into(page, "timeout.needle_expiry", "01012099")
    expect(field(page, "timeout.needle_expiry")).to_have_value("2099-01-01")
    tab_to(page, field(page, "timeout.needle_lot"), backwards=True)
    page.keyboard.press("Enter")  # implicit submission from a text field

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out")
    journey.check(page, "phase-sign-out")
    for name in ("signout.needles_opened", "signout.needles_used", "signout.needles_removed"):
        type_into(page, name, "4")
    type_into(page, "signout.needles_disposed", "4")
    for name, value in SIGN_OUT.items():
        if name == "signout.reactions":
            tab_to(page, page.locator(f'input[name="{name}"][value="{value}"]'))
            page.keyboard.press("Space")
            continue
        answer_by_keyboard(page, name, value)
    tab_to(page, page.get_by_role("button", name="Save Sign out"))
    page.keyboard.press("Space")

    expect(page.get_by_role("heading", name="Sign the checklist")).to_be_visible()
    journey.check(page, "ready-to-sign")
    type_into(page, "password", PASSWORD)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Signed record")).to_be_visible()
    journey.check(page, "signed")
    record = only_session()
    assert record.is_signed
    answers = saved_entries(record.id)
    assert answers["signin"]["signin.regions"] == ["lumbar"]
    assert answers["timeout"]["timeout.needle_expiry"] == "2099-01-01"
    assert answers["signout"]["signout.followup"] == "declined"


# --- refused answers, explained where a screen reader and a keyboard find them ---------------


def test_a_refused_phase_puts_each_error_beside_its_field_and_in_reach_of_the_keyboard(
    journey, clinic_day, make_session
):
    practitioner, patient = clinic_day
    session = make_session(practitioner, phases=("signin",), patient=patient)
    page = journey.page(TABLET)
    journey.log_in(page, practitioner.email, PASSWORD)
    page.goto(f"/sessions/{session.id}/phase/timeout")

    # Everything answered except the lot number, with an expired pack: without the page's
    # script (it would stop the form), so the server's refusal is what is tested here.
    for name, value in TIME_OUT.items():
        choice(page, name, value).tap()
    field(page, "timeout.needle_expiry").fill("2001-01-31")
    page.evaluate("document.querySelector('form.checklist').submit()")

    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    # The summary takes focus, so a screen reader announces it and Tab starts from it.
    expect(summary).to_be_focused()
    journey.check(page, "refused-phase")
    for name in ("timeout.needle_lot", "timeout.needle_expiry"):
        control = field(page, name)
        message = page.locator(f'[id="{name}-error"]')
        expect(control).to_have_attribute("aria-invalid", "true")
        expect(control).to_have_attribute("aria-describedby", f"{name}-error")
        expect(message).to_be_visible()
        # Beside its field: inside the same item, just above the control.
        item = page.locator(f'.item[data-link-id="{name}"]')
        expect(item.locator(".error:visible")).to_have_text(message.inner_text())
        assert message.bounding_box()["y"] < control.bounding_box()["y"]
    expect(field(page, "timeout.needle_expiry")).to_have_accessible_description(
        re.compile("open an in-date pack|expired|do not use", re.IGNORECASE)
    )
    # Tab reaches the summary's link, and following it puts the caret in the field.
    page.keyboard.press("Tab")
    link = summary.get_by_role("link").first
    assert focused(link)
    page.keyboard.press("Enter")
    expect(field(page, "timeout.needle_lot")).to_be_focused()
    page.keyboard.type("LOT-FIXED")
    field(page, "timeout.needle_expiry").fill("2099-12-31")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign out")
    assert saved_entries(session.id)["timeout"]["timeout.needle_lot"] == "LOT-FIXED"


# --- without JavaScript ----------------------------------------------------------------------


def test_a_phase_with_a_conditional_item_is_completed_without_javascript(journey, clinic_day):
    practitioner, _ = clinic_day
    page = journey.page(TABLET, javascript=False)
    journey.log_in(page, practitioner.email, PASSWORD)
    page.get_by_role("link", name="Start a session").tap()
    start_for(page, "Pat Harbourside")

    # Without the script every item shows, and the condition is spelled out beside it.
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    precaution = page.locator('.item[data-link-id="signin.bleeding_precaution"]')
    expect(precaution).to_be_visible()
    expect(precaution.locator(".condition")).to_contain_text("Only when you answered Yes to")
    expect(page.locator("#answered-count")).to_be_hidden()
    journey.check(page, "no-js-sign-in")
    for name, value in SIGN_IN.items():
        choice(page, name, value).tap()
    field(page, "signin.bleeding_precaution").fill("Pressure for two minutes.")
    choice(page, "signin.regions", "shoulder").tap()
    lung = page.locator('.item[data-link-id="signin.lung_precaution"]')
    expect(lung.locator(".condition")).to_contain_text("Only when you chose")
    field(page, "signin.lung_precaution").fill("Pincer grip, 15 mm needles.")
    choice(page, "signin.lung_risk", "none").tap()
    choice(page, "signin.position", "prone").tap()
    page.get_by_role("button", name="Save Sign in").tap()

    expect(page.get_by_role("heading", level=1)).to_have_text("Time out")
    assert_step(page, "Sign in", "saved")
    answers = saved_entries(only_session().id)["signin"]
    assert answers["signin.bleeding_precaution"] == "Pressure for two minutes."
    assert answers["signin.lung_precaution"] == "Pincer grip, 15 mm needles."
    assert answers["signin.position"] == "prone"


# --- consent refused: the session stops, and is cancelled with a reason ---------------------


def test_consent_no_stops_the_session_at_sign_in_and_it_is_cancelled_with_a_reason(
    journey, clinic_day
):
    practitioner, _ = clinic_day
    page = journey.page(TABLET)
    journey.log_in(page, practitioner.email, PASSWORD)
    page.get_by_role("link", name="Start a session").tap()
    start_for(page, "Pat Harbourside")

    # The stop is said the moment No is chosen, before anything is saved.
    notice = page.locator('[id="signin.consent-stop"]')
    counter = page.locator("#answered-count")
    expect(notice).to_be_hidden()
    choice(page, "signin.consent", "no").tap()
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("No needling without informed consent")
    # Not "save to go on": saving this answer goes no further.
    expect(counter).to_have_text(
        "An answer above stops the session at Sign in: read what it says before you save."
    )
    choice(page, "signin.consent", "yes").tap()
    expect(notice).to_be_hidden()
    expect(counter).not_to_contain_text("stops the session")
    choice(page, "signin.consent", "no").tap()
    page.get_by_role("button", name="Save Sign in").tap()

    expect(page.get_by_role("heading", name="The session stopped at Sign in")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign the checklist")).to_have_count(0)
    journey.check(page, "stopped-at-sign-in")
    assert "timeout" not in saved_entries(only_session().id)
    field(page, "cancel-reason").fill("Patient did not consent today.")
    page.get_by_role("button", name="Cancel the session").tap()

    expect(page.get_by_role("heading", name="Today at Harbour Physio")).to_be_visible()
    expect(page.locator("main table")).to_contain_text("Cancelled")
    journey.check(page, "cancelled")
    record = only_session()
    assert record.is_cancelled and record.cancel_reason == "Patient did not consent today."
