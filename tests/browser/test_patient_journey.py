"""A patient answers the follow-up on a phone in a real browser, from the link in a real email:
the reminder worker sends it through a local SMTP server, the test reads the link out of the
message, and the phone opens it. A red-flag answer puts the emergency advice first on the page."""

from __future__ import annotations

import re

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect
from smtp_capture import Collector, free_port, send_mail_to
from sqlalchemy import select

from safety.extensions import db
from safety.followup.models import FollowUp, OutboxMessage, PatientResponse
from safety.followup.worker import work_once

from .conftest import PHONE

pytestmark = pytest.mark.browser

ALL_PHASES = ("signin", "timeout", "signout")
#: Both patients were needled at the neck and the shoulder girdle: the 24-hour check asks about
#: the chest, and about a sudden headache, sight or balance.
NEAR_LUNG = {
    "signin.regions": ["neck", "shoulder"],
    "signin.lung_precaution": ["25 mm needles, angled onto the scapula"],
    "signin.lung_risk": ["none"],
    "signin.position": ["prone"],
}
CALM = {
    "soreness": "3",
    "trend": "better",
    "bleeding": "none",
    "bruising": "small",
    "numbness": "no",
    "head_signs": "no",
    "fainted": "no",
    "needle_found": "no",
    "chest": "no",
}


class Inbox(Collector):
    """The patients' mailbox: the plain-text bodies of what the worker sent."""

    def bodies(self) -> list[str]:
        return [m.get_body(("plain",)).get_content() for m in self.messages()]


@pytest.fixture
def inbox(app, live_server):
    """A real SMTP server on 127.0.0.1 that the app's reminder worker sends to."""
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    send_mail_to(app, controller.port, sender="Harbour Physio <reminders@harbour.test>")
    yield handler
    controller.stop()


@pytest.fixture
def treated(make_clinic, make_user, make_patient, make_session):
    """Two patients treated and signed off today, both agreeing to an email follow-up."""
    clinic = make_clinic("Harbour Physio")
    ada = make_user("practitioner", clinic=clinic, name="Ada Author")
    for given, family in (("Pat", "Harbourside"), ("Eve", "Example")):
        patient = make_patient(ada, given_name=given, family_name=family)
        make_session(ada, phases=ALL_PHASES, sign=True, patient=patient, overrides=NEAR_LUNG)
    db.session.commit()


def links_from_email(inbox: Inbox, base_url: str) -> dict[str, str]:
    """Send what is due at the 24-hour check and return each patient's link by first name."""
    due = db.session.scalars(
        select(OutboxMessage.next_attempt_dt)
        .join(FollowUp, OutboxMessage.followup_id == FollowUp.id)
        .where(FollowUp.kind == "24h", OutboxMessage.is_reminder.is_(False))
    ).all()
    assert len(due) == 2
    assert work_once("browser-test", now=max(due)) == {"sent": 2}
    link = re.compile(rf"^({re.escape(base_url)}/f/[A-Za-z0-9_-]+)\r?$", re.MULTILINE)
    found = {}
    for body in inbox.bodies():
        name = re.search(r"Hello (\w+)", body).group(1)
        found[name] = link.search(body).group(1)
    assert set(found) == {"Pat", "Eve"}
    return found


def answer(page, choices: dict[str, str]) -> None:
    for name, value in choices.items():
        page.locator(f'label.choice:has(input[name="{name}"][value="{value}"])').tap()


def test_a_patient_answers_from_the_emailed_link_on_a_phone_and_reads_the_advice(
    journey, live_server, inbox, treated
):
    links = links_from_email(inbox, live_server.url)
    page = journey.page(PHONE)

    page.goto(links["Pat"])
    expect(page.get_by_role("heading", level=1)).to_have_text("How are you feeling, Pat?")
    # One column that fits the phone: nothing to scroll sideways, every answer a thumb's size.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"]
    for label in page.locator("label.choice").all():
        box = label.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, label.inner_text()
    # Needled in the neck: the signs of a stroke at the back of the brain are on the list too.
    expect(page.locator(".urgent-note li").last).to_contain_text("after needling in your head")
    journey.check(page, "form")

    # Sent with nothing answered: each question says what it needs, beside it.
    page.get_by_role("button", name="Send my answers").tap()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    for name in ("soreness", "trend", "numbness", "head_signs", "chest"):
        group = page.locator(f'fieldset[id="{name}"]')
        expect(group).to_have_attribute("aria-invalid", "true")
        expect(group).to_have_attribute("aria-describedby", f"{name}-error")
        expect(group.locator(f'[id="{name}-error"]')).to_be_visible()
    journey.check(page, "form-refused")

    answer(page, CALM)
    page.get_by_role("button", name="Send my answers").tap()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, Pat")
    main = page.locator("main")
    expect(main).to_contain_text("settles within about 72 hours")
    # A small bruise: a cold pack and no aspirin, never warmth.
    expect(main).to_contain_text("cold pack wrapped in a cloth")
    expect(main).to_contain_text("Do not take aspirin unless a doctor prescribed it")
    expect(main).not_to_contain_text("warmth help")
    # The red flags again, with the emergency number a tap away.
    expect(main.locator('a[href="tel:999"]').first).to_be_visible()
    expect(main.locator(".red-flags").last).to_contain_text("seeing double")
    expect(page.locator("main")).to_contain_text("You can close this page.")
    journey.check(page, "advice")
    db.session.expire_all()
    [response] = db.session.scalars(select(PatientResponse)).all()
    assert response.escalation == "none"


def test_an_emergency_answer_puts_the_emergency_advice_first_on_the_phone(
    journey, live_server, inbox, treated
):
    links = links_from_email(inbox, live_server.url)
    page = journey.page(PHONE)

    page.goto(links["Eve"])
    answer(page, {**CALM, "soreness": "5", "trend": "worse", "bruising": "none", "chest": "yes"})
    page.get_by_role("button", name="Send my answers").tap()

    first = page.locator("main > :first-child")
    expect(first).to_have_class(re.compile(r"\bemergency\b"))
    expect(first).to_have_attribute("role", "alert")
    expect(first.get_by_role("heading", level=1)).to_have_text("Call 999 now")
    expect(page).to_have_title(re.compile("^Call 999 now"))
    # The number is a link the phone dials, and the patient knows what to tell them.
    call = first.locator('a[href="tel:999"]').first
    expect(call).to_be_visible()
    # Measured once the stylesheet has applied (a box measured before it is the bare text's).
    page.wait_for_load_state("load")
    assert call.bounding_box()["height"] >= 24
    # Its padding makes the target, not a gap: the number sits one space from the word before
    # it, as in the sentence ("Call  999  now" read as stray spaces: user review).
    gap, space = call.evaluate(
        """link => {
            const before = link.previousSibling, text = link.firstChild;
            const end = document.createRange();
            end.setStart(before, before.length - 2);
            end.setEnd(before, before.length - 1);
            const start = document.createRange();
            start.setStart(text, 0);
            start.setEnd(text, 1);
            const blank = document.createRange();
            blank.setStart(before, before.length - 1);
            blank.setEnd(before, before.length);
            return [start.getBoundingClientRect().left - end.getBoundingClientRect().right,
                    blank.getBoundingClientRect().width];
        }"""
    )
    assert gap <= space + 1, (gap, space)
    expect(first).to_contain_text("dry needling near your chest, back, shoulder or neck on")
    # On screen at once, without scrolling, on a phone.
    box = first.bounding_box()
    assert box["y"] + box["height"] <= PHONE["viewport"]["height"]
    journey.check(page, "emergency-advice")
    db.session.expire_all()
    [response] = db.session.scalars(select(PatientResponse)).all()
    assert response.escalation == "emergency"
