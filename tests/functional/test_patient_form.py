"""The patient's follow-up link, driven through the routes with CSRF on: open it from a
delivered message, answer once, get the right advice at once, stop messages; every bad link
gets the same kind page; practitioners see the timeline and the escalations."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from conftest import csrf_token, login
from followup_helpers import NEAR_LUNG
from sqlalchemy import func, select, update

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.checklists.models import Flag
from safety.clinics.models import Patient
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup.models import (
    DevMessage,
    FollowUp,
    OutboxMessage,
    PatientLink,
    PatientResponse,
)
from safety.followup.patient import issue_link, revoke_links
from safety.followup.worker import work_once

ALL_PHASES = ("signin", "timeout", "signout")
CALM = {
    "soreness": "2",
    "trend": "better",
    "bleeding": "none",
    "bruising": "none",
    "numbness": "no",
    "fainted": "no",
    "needle_found": "no",
    "chest": "no",
}
#: The visits' clinic is in London (the factories' default): its emergency number.
CALL = "Call 999 now"
ANSWERED = "You answered on"
LINK = re.compile(r"http://localhost(/f/[A-Za-z0-9_-]+)\r?$", re.MULTILINE)
GONE_TITLE = "This link cannot be used"


# --- helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """A session whose 24 h check was delivered, and what the test needs to know about it."""

    session_id: int
    patient_id: int
    followup_id: int
    practitioner_id: int
    practitioner_email: str
    clinic: str
    signed: datetime
    path: str


def deliver_visit(practitioner, make_session, regions: tuple[str, ...] = ()) -> Visit:
    """Sign a session for the practitioner and deliver its 24 h check through the outbox
    (needled at the shoulder and the lower back, or at `regions`)."""
    overrides = {**NEAR_LUNG, "signin.regions": list(regions)} if regions else NEAR_LUNG
    session = make_session(practitioner, phases=ALL_PHASES, sign=True, overrides=overrides)
    facts = {
        "session_id": session.id,
        "patient_id": session.patient_id,
        "practitioner_id": practitioner.id,
        "practitioner_email": practitioner.email,
        "clinic": session.clinic.name,
        "signed": session.signed_dt,
    }
    first = db.session.scalars(
        select(OutboxMessage)
        .join(FollowUp, OutboxMessage.followup_id == FollowUp.id)
        .where(FollowUp.session_id == session.id, FollowUp.kind == "24h")
        .order_by(OutboxMessage.id)
    ).first()
    followup_id = first.followup_id
    assert work_once("worker", now=first.next_attempt_dt).get("sent")
    message = db.session.scalars(select(DevMessage).where(DevMessage.outbox_id == first.id)).one()
    match = LINK.search(message.body)
    assert match, message.body
    return Visit(followup_id=followup_id, path=match.group(1), **facts)


@pytest.fixture
def visit(make_user, make_session) -> Visit:
    return deliver_visit(make_user(), make_session)


@pytest.fixture
def neck_visit(make_user, make_session) -> Visit:
    """A visit whose needles went into the neck and the shoulder."""
    return deliver_visit(make_user(), make_session, regions=("neck", "shoulder"))


def text_of(response) -> str:
    """The page's visible text, whitespace collapsed."""
    parser = HTMLParser()
    chunks: list[str] = []
    parser.handle_data = chunks.append
    parser.feed(response.get_data(as_text=True))
    parser.close()
    return " ".join("".join(chunks).split())


class _Main(HTMLParser):
    """Collect, in order, the tags and text inside <main>."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.events: list[tuple[str, str]] = []
        self._heading: list[str] | None = None
        self.headings: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.depth += 1
        elif self.depth:
            self.events.append(("tag", tag))
        if tag in {"h1", "h2", "h3"}:
            self._heading = []

    def handle_endtag(self, tag):
        if tag == "main":
            self.depth -= 1
        if tag in {"h1", "h2", "h3"} and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)
        if self.depth and data.strip():
            self.events.append(("text", " ".join(data.split())))


def main_of(response) -> _Main:
    parser = _Main()
    parser.feed(response.get_data(as_text=True))
    parser.close()
    return parser


def field_error(response, name: str) -> str | None:
    """The message shown inside the field's own fieldset or block, if any."""
    html = response.get_data(as_text=True)
    match = re.search(rf'<p class="error" id="{name}-error">([^<]*)</p>', html)
    return match.group(1) if match else None


def page_csrf(response) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


def submit(client, path: str, answers: dict, *, csrf: str | None = None):
    """Answer the form the way a phone's browser does: open it, then send it."""
    if csrf is None:
        opened = client.get(path)
        assert opened.status_code == 200, opened.status_code
        csrf = page_csrf(opened)
    return client.post(path, data={**answers, "csrf_token": csrf})


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def assert_gone(response, *private: str) -> None:
    assert response.status_code == 404
    text = text_of(response)
    assert GONE_TITLE in text
    for value in ("Ada", "Lovelace", "ada@example.org", *private):
        assert value not in text


@pytest.fixture
def gone_page(client) -> str:
    """The page a forged link gets, to compare every other refusal with."""
    return client.get(f"/f/{secrets.token_urlsafe(32)}").get_data(as_text=True)


# --- opening the link ------------------------------------------------------------------------


def test_the_link_in_a_delivered_message_opens_a_form_with_first_name_and_clinic_only(
    client, visit
):
    page = client.get(visit.path)

    assert page.status_code == 200
    text = text_of(page)
    assert "How are you feeling, Ada?" in text
    assert visit.clinic in text
    for private in ("Lovelace", "ada@example.org", "Test Practitioner", "LOT-2611A"):
        assert private not in text
    assert 'name="soreness"' in page.get_data(as_text=True)


def test_the_patient_pages_send_no_referrer_and_are_never_cached(client, visit):
    for path in (visit.path, f"{visit.path}/stop", f"/f/{secrets.token_urlsafe(32)}"):
        page = client.get(path)
        assert page.headers["Referrer-Policy"] == "no-referrer", path
        assert page.headers["Cache-Control"] == "no-store", path
        assert '<meta name="referrer" content="no-referrer">' in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("kind", "opening"),
    [
        ("24h", "It takes about a minute."),
        ("72h", "We would like to check that your soreness is settling."),
        ("7d", "We would like to check the needle sites one last time."),
    ],
)
def test_the_form_opens_by_saying_what_this_check_is_for(client, visit, kind, opening):
    followup = db.session.get(FollowUp, visit.followup_id)
    if kind != followup.kind:
        followup = FollowUp(
            session_id=visit.session_id, kind=kind, channel="email", due_dt=utcnow()
        )
        db.session.add(followup)
        db.session.flush()
    token = issue_link(followup, now=utcnow())
    db.session.commit()

    page = client.get(f"/f/{token}")

    assert page.status_code == 200
    assert opening in text_of(page)


# --- answering -------------------------------------------------------------------------------


def test_answering_saves_the_response_and_shows_advice_at_once(client, visit):
    page = submit(client, visit.path, CALM)

    assert page.status_code == 200
    text = text_of(page)
    assert "Thank you, Ada" in text
    assert "settles within about 72 hours" in text and "Call 999 at once for chest pain" in text
    db.session.expire_all()
    response = db.session.scalars(select(PatientResponse)).one()
    assert response.session_id == visit.session_id
    assert response.followup_id == visit.followup_id
    assert response.escalation == "none"
    assert response.answers["soreness"] == 2
    followup = db.session.get(FollowUp, visit.followup_id)
    assert (followup.status, followup.answered_dt is not None) == ("answered", True)
    link = db.session.scalars(select(PatientLink)).one()
    assert link.used_dt is not None


def test_anything_the_patient_writes_goes_to_a_person_for_review(client, visit):
    page = submit(client, visit.path, {**CALM, "other": "Slept well."})

    assert page.status_code == 200
    assert "will read your answers within two working days" in text_of(page)
    db.session.expire_all()
    response = db.session.scalars(select(PatientResponse)).one()
    assert response.escalation == "review"
    assert response.answers["soreness"] == 2
    assert response.answers["other"] == "Slept well."
    followup = db.session.get(FollowUp, visit.followup_id)
    assert (followup.status, followup.answered_dt is not None) == ("answered", True)
    link = db.session.scalars(select(PatientLink)).one()
    assert link.used_dt is not None


def test_writing_about_chest_pain_is_read_the_same_day_and_alerts_the_practitioner(client, visit):
    """Chest pain written in the free-text box once waited two working days for a review."""
    page = submit(client, visit.path, {**CALM, "other": "Chest pain since last night."})

    assert main_of(page).headings[0] == "We have told your clinic"
    # First, when not to wait at all; then who will call, and what to do if nobody does.
    text = text_of(page)
    assert (
        text.index("You wrote about your chest, breathing or bleeding")
        < text.index("someone will contact you")
        < text.index("If nobody has called you")
    )
    response = db.session.scalars(select(PatientResponse)).one()
    assert response.escalation == "same_day"
    flag = db.session.scalars(select(Flag).where(Flag.session_id == visit.session_id)).one()
    assert "wrote about the chest, breathing or bleeding" in flag.message
    alerts = db.session.scalars(select(OutboxMessage).where(OutboxMessage.flag_id == flag.id))
    assert "practitioner_alert" in {a.purpose for a in alerts}


def test_an_english_patient_who_sang_is_read_within_two_working_days(client, visit):
    """French "sang" is blood; the screen reads English and the patient's own language."""
    submit(client, visit.path, {**CALM, "other": "I sang in the choir last night."})

    assert db.session.scalars(select(PatientResponse)).one().escalation == "review"


def test_an_emergency_answer_shows_call_emergency_services_before_anything_else(client, visit):
    page = submit(client, visit.path, {**CALM, "chest": "yes"})

    assert page.status_code == 200
    main = main_of(page)
    assert main.headings[0] == CALL
    # The call is the first thing on the page, its number a link; not said twice.
    assert main.events[:2] == [("tag", "div"), ("tag", "h1")]
    assert " ".join(v for kind, v in main.events if kind == "text").count("999 now") == 1
    assert f"<title>{CALL}" in page.get_data(as_text=True)
    assert 'href="tel:999"' in page.get_data(as_text=True)
    assert "dry needling near your chest, back, shoulder or neck on" in text_of(page)
    flag = db.session.scalars(select(Flag).where(Flag.kind == "emergency")).one()
    assert flag.severity == "critical"


@pytest.mark.parametrize(
    "emergency", [{"chest": "yes"}, {"bleeding": "wont_stop"}, {"numbness": "sudden"}]
)
def test_an_emergency_answer_with_other_questions_left_out_still_reaches_someone(
    client, visit, emergency
):
    page = submit(client, visit.path, emergency)

    assert page.status_code == 200
    assert main_of(page).headings[0] == CALL
    flag = db.session.scalars(select(Flag).where(Flag.kind == "emergency")).one()
    assert flag.severity == "critical"
    alerts = db.session.scalars(select(OutboxMessage).where(OutboxMessage.flag_id == flag.id)).all()
    # The practitioner, and the clinic's duty address for an emergency (DESIGN §4).
    assert sorted(a.purpose for a in alerts) == ["clinic_alert", "practitioner_alert"]
    response = db.session.scalars(select(PatientResponse)).one()
    # An empty list of signs from a form left unfinished is not a "none" (see below).
    assert response.answers == emergency


@pytest.mark.parametrize(
    "urgent",
    [
        {"other": "Sharp pain in my ribs, I can barely breathe"},
        {"signs": "pus"},
        {"soreness": "8", "other": "winded just walking upstairs"},
    ],
)
def test_a_same_day_answer_with_other_questions_left_out_still_reaches_someone(
    client, visit, urgent
):
    """A breathless patient's words once came back with seven "please answer" errors and
    nothing recorded: a patient who may give up there must still reach someone today."""
    page = submit(client, visit.path, urgent)

    assert page.status_code == 200
    flag = db.session.scalars(select(Flag).where(Flag.kind == "same_day")).one()
    alerts = db.session.scalars(select(OutboxMessage).where(OutboxMessage.flag_id == flag.id)).all()
    assert [a.purpose for a in alerts] == ["practitioner_alert"]
    response = db.session.scalars(select(PatientResponse)).one()
    assert response.escalation == "same_day"
    assert "please answer" not in text_of(page).lower()


def test_a_calm_answer_with_questions_left_out_is_sent_back_and_nothing_is_kept(client, visit):
    page = submit(client, visit.path, {"soreness": "2"})

    assert page.status_code == 400
    assert db.session.scalars(select(PatientResponse)).all() == []


def test_bleeding_that_will_not_stop_is_an_emergency_too(client, visit):
    page = submit(client, visit.path, {**CALM, "bleeding": "wont_stop"})
    assert main_of(page).headings[0] == CALL
    text = text_of(page)
    # Under the call, pressing comes first: the one thing to do with the hands meanwhile.
    assert text.index("Call 999 now") < text.index("Keep pressing firmly") < text.index("Tell them")
    assert "You can close this page" not in text
    # What to tell them is the bleeding, not the chest: the ambulance service once heard
    # "near your chest" from a patient bleeding at the hip.
    assert "is still bleeding after 10 minutes of firm pressure" in text
    assert "near your chest" not in text
    assert "who may not see it until they are open" in text


def test_sudden_weakness_or_trouble_speaking_is_an_emergency_told_to_say_when_it_started(
    client, visit
):
    """It was a call back from the clinic the same day, as tingling is; a stroke, or a bleed
    on the spinal cord after needling near the neck, does not wait (a clinical review)."""
    form = text_of(client.get(visit.path))
    assert "one side of the face drooping, or trouble speaking" in form
    assert "weakness that came on slowly" in form

    page = submit(client, visit.path, {**CALM, "numbness": "sudden"})

    assert main_of(page).headings[0] == CALL
    text = text_of(page)
    assert text.index("Call 999 now") < text.index("Tell them what time the weakness")
    assert "Do not drive yourself" in text
    assert "near your chest" not in text
    flag = db.session.scalars(select(Flag).where(Flag.kind == "emergency")).one()
    assert "sudden weakness of an arm or leg" in flag.message
    assert flag.severity == "critical"


HEAD_SIGNS = "a very bad headache unlike any you have had before"


def test_after_neck_needling_the_form_asks_about_a_sudden_headache_sight_and_balance(
    client, neck_visit, visit
):
    """The vertebral arteries run through the neck to the back of the brain, where a stroke
    shows as a sudden headache, lost sight or unsteadiness rather than FAST's face, arm and
    speech (NHS, its other symptoms): asked, and listed among the reasons to call at once."""
    page = client.get(neck_visit.path).get_data(as_text=True)
    note = page[page.index('class="urgent-note"') : page.index("</div>", page.index("urgent-note"))]

    assert re.findall(r"<li>([^<]+)</li>", note)[-1] == (
        "after needling in your head or neck: a sudden very bad headache unlike any before, "
        "sudden loss or blurring of sight or seeing double, or sudden dizziness with trouble "
        "keeping your balance"
    )
    assert HEAD_SIGNS in page
    assert page.index("new numbness, tingling or weakness") < page.index(HEAD_SIGNS)
    # Needled at the shoulder and the lower back: not asked, not listed.
    other = client.get(visit.path).get_data(as_text=True)
    assert HEAD_SIGNS not in other
    assert "after needling in your neck" not in other


def test_a_sudden_headache_sight_or_balance_after_neck_needling_is_an_emergency(client, neck_visit):
    page = submit(client, neck_visit.path, {**CALM, "head_signs": "yes"})

    assert main_of(page).headings[0] == CALL
    text = text_of(page)
    assert text.index("Call 999 now") < text.index("Tell them what time it started")
    assert "dry needling in your head or neck on" in text
    flag = db.session.scalars(select(Flag).where(Flag.kind == "emergency")).one()
    assert "a sudden severe headache, loss or blurring of sight or double vision" in flag.message
    assert flag.severity == "critical"
    alerts = db.session.scalars(select(OutboxMessage).where(OutboxMessage.flag_id == flag.id)).all()
    assert "practitioner_alert" in [a.purpose for a in alerts]


def test_after_neck_needling_the_later_checks_list_the_head_signs_without_asking_them(
    client, neck_visit
):
    """Asked at 24 hours; from then on, said at the top of every form and after the red flags."""
    followup = FollowUp(
        session_id=neck_visit.session_id, kind="7d", channel="email", due_dt=utcnow()
    )
    db.session.add(followup)
    db.session.flush()
    token = issue_link(followup, now=utcnow())
    db.session.commit()

    form = client.get(f"/f/{token}").get_data(as_text=True)
    assert "after needling in your head or neck: a sudden very bad headache" in form
    assert HEAD_SIGNS not in form
    page = submit(client, f"/f/{token}", {"signs": [], "soreness": "1", "trend": "better"})
    assert "As you had needling in your head or neck, also call 999 at once" in text_of(page)


def test_after_neck_needling_a_calm_answer_must_say_no_to_the_head_signs_and_is_told_them(
    client, neck_visit
):
    refused = submit(client, neck_visit.path, CALM)
    assert refused.status_code == 400
    assert field_error(refused, "head_signs") == (
        "Please answer this question about headache, sight and balance."
    )
    assert count(PatientResponse) == 0

    page = submit(client, neck_visit.path, {**CALM, "head_signs": "no"})

    assert page.status_code == 200
    assert "As you had needling in your head or neck, also call 999 at once" in text_of(page)
    assert 'class="red-flags">As you had needling' in page.get_data(as_text=True)
    response = db.session.scalars(select(PatientResponse)).one()
    assert response.answers["head_signs"] == "no"
    assert response.escalation == "none"


def test_writing_that_the_face_droops_alerts_the_practitioner_today_and_says_call_now(
    client, visit
):
    page = submit(
        client, visit.path, {**CALM, "other": "My face is drooping and I can't get my words out"}
    )

    text = text_of(page)
    assert "You wrote about weakness, your face or your speech" in text
    assert "call 999 now, even if it passes" in text
    flag = db.session.scalars(select(Flag).where(Flag.kind == "same_day")).one()
    assert "wrote about weakness, a drooping face or trouble speaking" in flag.message
    alerts = db.session.scalars(select(OutboxMessage).where(OutboxMessage.flag_id == flag.id)).all()
    assert [a.purpose for a in alerts] == ["practitioner_alert"]


def test_the_form_lists_the_signs_to_call_for_one_a_line_before_any_question(client, visit):
    """Said as one sentence of six conditions, it was hard to read sore and worried (a
    clinical review)."""
    page = client.get(visit.path).get_data(as_text=True)
    note = page[page.index('class="urgent-note"') : page.index("</div>", page.index("urgent-note"))]

    assert 'Call <a class="tel" href="tel:999">999</a> now if you have:' in note
    assert re.findall(r"<li>([^<]+)</li>", note) == [
        "chest pain or trouble breathing",
        "bleeding that will not stop after 10 minutes of firm pressure",
        "an arm or leg that is suddenly weak, a drooping face or trouble speaking",
    ]
    assert page.index("urgent-note") < page.index("How sore are the needled areas now?")


def test_the_free_text_box_says_when_it_is_read_and_what_not_to_wait_for(client, visit):
    page = client.get(visit.path)
    text = text_of(page)

    assert "reads everything written here within two working days" in text
    assert "Do not wait for that with chest pain" in text
    hint = page.get_data(as_text=True).split('for="other"')[1].split("</p>")[0]
    assert 'href="tel:999"' in hint


def test_a_calm_answer_gives_the_clinics_number_beside_when_to_call_it(client, visit):
    """The red flags said to contact the clinic the same day without its number, which the
    page then showed nowhere."""
    page = submit(client, visit.path, CALM)

    assert f"Call {visit.clinic} on +44 20 7946 0000 the same day" in text_of(page)
    assert 'href="tel:+442079460000"' in page.get_data(as_text=True)


def test_a_same_day_answer_tells_the_patient_the_clinic_will_call_today(client, visit):
    page = submit(client, visit.path, {**CALM, "signs": ["redness"]})
    assert main_of(page).headings[0] == "We have told your clinic"
    assert CALL not in main_of(page).headings
    text = text_of(page)
    assert "someone will contact you during opening hours" in text
    assert "If nobody has called you by the end of today" in text and "NHS 111" in text
    assert 'href="tel:+442079460000"' in page.get_data(as_text=True)
    # NHS 111 is a number to tap too, not only words.
    assert 'href="tel:111"' in page.get_data(as_text=True)


def test_a_site_sign_with_a_fever_says_to_see_a_doctor_today_and_nothing_about_waiting(
    client, visit
):
    """NHS advice on cellulitis: seen that day. The page once said not to wait for the
    clinic's call, then that someone would call, then to wait until the end of the day."""
    page = submit(client, visit.path, {**CALM, "signs": ["redness", "fever"]})
    text = text_of(page)

    assert "can be an infection that needs treatment today" in text and "NHS 111" in text
    assert "someone will contact you during opening hours" not in text
    assert "If nobody has called you" not in text
    assert 'href="tel:+442079460000"' in page.get_data(as_text=True)
    # And when not to wait even for the doctor: an infection reaching the blood (sepsis).
    assert "Call 999 now if you also feel very unwell: confused" in text
    assert 'href="tel:999"' in page.get_data(as_text=True)


def test_a_second_submission_says_when_it_was_answered_and_keeps_the_first_answer(client, visit):
    opened = client.get(visit.path)
    csrf = page_csrf(opened)
    assert submit(client, visit.path, CALM, csrf=csrf).status_code == 200

    again = submit(client, visit.path, {**CALM, "chest": "yes"}, csrf=csrf)

    assert again.status_code == 200
    assert ANSWERED in text_of(again)
    assert count(PatientResponse) == 1
    assert db.session.scalars(select(PatientResponse)).one().answers["chest"] == "no"
    assert count(Flag) == 0


def test_opening_an_answered_link_again_says_when_with_the_clinics_number_and_nothing_else(
    client, visit
):
    submit(client, visit.path, CALM)
    answered = db.session.get(FollowUp, visit.followup_id).answered_dt
    day = answered.astimezone(db.session.get(FollowUp, visit.followup_id).session.clinic.zone)

    again = client.get(visit.path)

    assert again.status_code == 200
    text = text_of(again)
    assert f"You answered on {day.day} {day:%B}, thank you" in text
    assert 'href="tel:+442079460000"' in again.get_data(as_text=True)
    for private in ("Lovelace", "ada@example.org", "soreness", "Soreness"):
        assert private not in text


def test_opening_a_link_answered_with_chest_pain_again_says_the_call_to_make_again(client, visit):
    """A patient who answered "chest pain" and came back to the link read only "thank you"
    (a review): what they were told, the call first, is said again."""
    submit(client, visit.path, {**CALM, "chest": "yes"})

    again = client.get(visit.path)

    assert again.status_code == 200
    text = text_of(again)
    assert "You answered on" in text and "What we told you when you answered" in text
    assert "Call 999 now" in text and 'href="tel:999"' in again.get_data(as_text=True)
    assert "near your chest, back, shoulder or neck" in text


def test_missing_answers_are_explained_beside_their_fields_and_nothing_is_saved(client, visit):
    page = submit(client, visit.path, {"soreness": "3"})

    assert page.status_code == 400
    for name in ("trend", "bleeding", "bruising", "numbness", "fainted", "needle_found", "chest"):
        assert field_error(page, name), f"no message beside {name}"
        assert f'id="{name}" class="field has-error" aria-invalid="true"' in page.get_data(
            as_text=True
        )
    assert field_error(page, "soreness") is None
    assert 'value="3" checked' in page.get_data(as_text=True)
    assert "Please answer the questions marked below" in text_of(page)
    # The summary says each problem in the patient's own words, never staff's shorthand.
    assert '<a href="#chest">' in page.get_data(as_text=True)
    assert "Bleeding since leaving" not in page.get_data(as_text=True)
    assert count(PatientResponse) == 0
    assert db.session.get(FollowUp, visit.followup_id).status == "sent"
    assert client.get(visit.path).status_code == 200


@pytest.mark.parametrize("soreness", ["11", "-1", "lots", "²", "03", "1" * 5000])
def test_a_soreness_that_is_not_0_to_10_is_refused_beside_the_field(client, visit, soreness):
    page = submit(client, visit.path, {**CALM, "soreness": soreness})

    assert page.status_code == 400
    assert "0 (no soreness) to 10" in field_error(page, "soreness")
    assert count(PatientResponse) == 0


def test_an_answer_without_the_csrf_token_is_refused_and_saves_nothing(client, visit):
    page = client.post(visit.path, data=CALM)
    assert page.status_code == 400
    assert "This form has expired" in text_of(page)
    assert count(PatientResponse) == 0


# --- links that cannot be used ---------------------------------------------------------------


def test_an_expired_link_says_so_with_the_clinics_number(client, visit):
    db.session.execute(update(PatientLink).values(expires_dt=utcnow() - timedelta(minutes=1)))
    db.session.commit()

    page = client.get(visit.path)

    assert page.status_code == 410
    assert "This link has expired" in text_of(page)
    # A link lasts seven days from its message (rules.LINK_LIFETIME), not from the appointment:
    # the 7-day check's link works until day 14.
    assert "Links work for seven days after the message was sent" in text_of(page)
    assert 'href="tel:+442079460000"' in page.get_data(as_text=True)
    answered = client.post(visit.path, data={**CALM, "csrf_token": csrf_token(client)})
    assert answered.status_code == 410
    assert count(PatientResponse) == 0


def test_a_revoked_link_gets_the_kind_page(client, visit, gone_page):
    practitioner = db.session.get(User, visit.practitioner_id)
    assert revoke_links(visit.followup_id, actor=practitioner) == 1
    db.session.commit()

    page = client.get(visit.path)

    assert_gone(page, visit.clinic)
    assert page.get_data(as_text=True) == gone_page
    assert_gone(client.get(f"{visit.path}/stop"), visit.clinic)


MALFORMED = [
    pytest.param(secrets.token_urlsafe(32), id="forged with a valid shape"),
    pytest.param("short", id="too short"),
    pytest.param("a" * 19, id="one character too short"),
    pytest.param("abc$def!ghi*jkl(mno)pqr'stu", id="odd characters"),
    pytest.param("ŧøķęñŧøķęñŧøķęñŧøķęñŧøķęñ", id="non-ascii letters"),
    pytest.param("' OR 1=1 --aaaaaaaaaaaaaaaaaaaa", id="sql"),
    pytest.param("x" * 10_000, id="10000 characters"),
]


@pytest.mark.parametrize("token", MALFORMED)
def test_a_forged_or_malformed_link_gets_the_same_kind_page_never_an_error(
    client, visit, gone_page, token
):
    path = f"/f/{quote(token, safe='')}"

    opened = client.get(path)
    answered = client.post(path, data={**CALM, "csrf_token": csrf_token(client)})
    stop_page = client.get(f"{path}/stop")
    stopped = client.post(f"{path}/stop", data={"csrf_token": csrf_token(client)})

    for page in (opened, answered, stop_page, stopped):
        assert_gone(page, visit.clinic)
    assert opened.get_data(as_text=True) == gone_page
    assert count(PatientResponse) == 0
    assert db.session.get(Patient, visit.patient_id).opted_out_dt is None


def test_a_link_with_control_characters_is_refused_at_the_edge_without_patient_data(client, visit):
    # The app refuses control characters in any path or field before routing to the form.
    path = "/f/" + quote("a\x00" * 15, safe="")
    for page in (client.get(path), client.get(f"{path}/stop")):
        assert page.status_code == 400
        text = text_of(page)
        for private in ("Ada", "Lovelace", visit.clinic):
            assert private not in text
        assert page.headers["Referrer-Policy"] == "no-referrer"


# --- opting out ------------------------------------------------------------------------------


def test_the_stop_link_opts_the_patient_out_and_nothing_more_is_sent(client, visit):
    stop = f"{visit.path}/stop"
    page = client.get(stop)
    assert page.status_code == 200
    assert "Stop all messages" in text_of(page)

    stopped = client.post(stop, data={"csrf_token": page_csrf(page)})

    assert stopped.status_code == 200
    assert "Messages stopped" in text_of(stopped)
    db.session.expire_all()
    patient = db.session.get(Patient, visit.patient_id)
    assert patient.opted_out_dt is not None
    assert patient.is_followup_consent is False
    statuses = db.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)).all()
    # The 24 h check sent; its reminder, the 48 h chest check and the 7 d check stopped.
    assert statuses == ["sent", "cancelled", "cancelled", "cancelled"]
    audited = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "patient.opt_out")
    ).one()
    assert audited.object_id == str(visit.patient_id)

    assert work_once("worker", now=visit.signed + timedelta(days=30)) == {}
    assert count(DevMessage) == 1


def edit_patient(app, visit: Visit, **changes):
    """The practitioner corrects the patient's details on their own page."""
    desk = app.test_client()
    login(desk, db.session.get(User, visit.practitioner_id))
    patient = db.session.get(Patient, visit.patient_id)
    form = {
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "email": patient.email or "",
        "phone": patient.phone or "",
        "language": patient.language,
        "is_followup_consent": "y",
        **changes,
    }
    form = {name: value for name, value in form.items() if value is not None}
    edited = desk.post(
        f"/patients/{visit.patient_id}/edit", data={**form, "csrf_token": csrf_token(desk)}
    )
    assert edited.status_code == 302, edited.get_data(as_text=True)
    db.session.expire_all()


def test_consent_withdrawn_at_the_desk_stops_what_was_on_its_way(app, client, visit):
    """The patient told the clinic: no more messages. The 7-day check still went (a review)."""
    edit_patient(app, visit, is_followup_consent=None)

    statuses = db.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)).all()
    assert statuses == ["sent", "cancelled", "cancelled", "cancelled"]
    assert work_once("worker", now=visit.signed + timedelta(days=30)) == {}
    assert count(DevMessage) == 1
    assert db.session.get(Patient, visit.patient_id).opted_out_dt is None  # the desk, not a stop


def test_a_corrected_address_revokes_the_link_sent_to_the_wrong_one(app, client, visit):
    """Whoever got the message at the wrong address could read the form, answer it as the
    patient or stop their messages for a week (an attacker's review)."""
    assert client.get(visit.path).status_code == 200

    edit_patient(app, visit, email="pat.right@example.org")

    stranger = client.get(visit.path)
    assert stranger.status_code == 404
    assert "Pat" not in text_of(stranger)
    assert client.get(f"{visit.path}/stop").status_code == 404
    # The reminder goes to the right address, with a link of its own that works.
    reminder = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.followup_id == visit.followup_id, OutboxMessage.is_reminder
        )
    ).one()
    assert work_once("worker", now=reminder.next_attempt_dt).get("sent")
    sent = db.session.scalars(select(DevMessage).order_by(DevMessage.id.desc())).first()
    assert sent.recipient == "pat.right@example.org"
    assert client.get(LINK.search(sent.body).group(1)).status_code == 200
    revoked = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "followup.revoke_links")
    ).all()
    assert visit.followup_id in {int(e.object_id) for e in revoked}


def test_a_corrected_address_revokes_an_answered_checks_link_too(app, client, visit):
    """The 24-hour check went to a wrong or shared mailbox and was answered from there: after
    the correction its link still opened the "you answered" page, and its stop link opted the
    patient out of the chest and 7-day checks going to the right address (a review)."""
    assert submit(client, visit.path, CALM).status_code == 200

    edit_patient(app, visit, email="pat.right@example.org")

    stranger = app.test_client()
    assert stranger.get(visit.path).status_code == 404
    assert stranger.get(f"{visit.path}/stop").status_code == 404
    assert db.session.get(Patient, visit.patient_id).opted_out_dt is None


def test_the_stop_page_asks_before_stopping_anything(client, visit):
    client.get(f"{visit.path}/stop")
    assert db.session.get(Patient, visit.patient_id).opted_out_dt is None
    assert not db.session.scalar(select(func.count()).where(AuditEvent.action == "patient.opt_out"))
    assert client.get(visit.path).status_code == 200


# --- rate limit ------------------------------------------------------------------------------


def test_guessing_links_is_stopped_after_the_patient_form_rate_limit(app, client, visit):
    limit = int(app.config["PATIENT_FORM_RATE_LIMIT"].split()[0])

    for _ in range(limit):
        assert client.get(f"/f/{secrets.token_urlsafe(32)}").status_code == 404

    assert client.get(f"/f/{secrets.token_urlsafe(32)}").status_code == 429
    assert client.get(visit.path).status_code == 429


def test_a_lower_configured_rate_limit_applies(app, client, visit):
    app.config["PATIENT_FORM_RATE_LIMIT"] = "3 per minute"
    assert [client.get(visit.path).status_code for _ in range(4)] == [200, 200, 200, 429]


# --- what the practitioner sees --------------------------------------------------------------


@pytest.fixture
def practitioner_client(app, visit):
    browser = app.test_client()
    response = login(browser, db.session.get(User, visit.practitioner_id))
    assert response.status_code in {200, 302}
    return browser


def test_the_practitioner_sees_the_follow_up_timeline_on_the_record(
    client, visit, practitioner_client
):
    before = text_of(practitioner_client.get(f"/sessions/{visit.session_id}"))
    assert "24-hour check" in before
    assert "sent, waiting for an answer" in before
    assert "7-day site check" in before

    submit(client, visit.path, {**CALM, "soreness": "5"})

    after = text_of(practitioner_client.get(f"/sessions/{visit.session_id}"))
    assert "Soreness now (0-10) 5/10" in after
    assert "New numbness, tingling or weakness No" in after
    assert "72-hour soreness check" in after


def test_questions_an_urgent_answer_left_out_read_not_answered_never_none(
    client, visit, practitioner_client
):
    """A chest pain answered alone once read "Infection signs at a site: None" to the person
    calling back, as if the patient had said there were none."""
    submit(client, visit.path, {"chest": "yes"})

    record = text_of(practitioner_client.get(f"/sessions/{visit.session_id}"))

    assert "Chest pain, pain breathing in or breathlessness since the appointment Yes" in record
    assert "Infection signs at a site Not answered" in record
    assert "Soreness now (0-10) Not answered" in record
    assert "Infection signs at a site None" not in record


def test_a_check_past_its_time_and_not_sent_reads_due_not_sent_yet_not_scheduled(
    app, visit, practitioner_client, make_user
):
    """With the worker stopped (or backing off after a failure), the 48-hour check's time
    passes unsent: the record must not say "scheduled" beside a time already gone."""
    db.session.execute(
        update(FollowUp)
        .where(FollowUp.session_id == visit.session_id, FollowUp.kind == "48h")
        .values(due_dt=utcnow() - timedelta(hours=1))
    )
    db.session.commit()

    timeline = text_of(practitioner_client.get(f"/sessions/{visit.session_id}"))
    due = r"due \d\d \w+ \d{4}, \d\d:\d\d \w+:"
    assert re.search(rf"48-hour chest check by email, {due} due, not sent yet", timeline)
    assert re.search(rf"7-day site check by email, {due} scheduled", timeline)

    reader = app.test_client()
    assert login(reader, make_user("compliance")).status_code == 302
    record = text_of(reader.get(f"/review/records/{visit.session_id}"))
    when = r"\d\d \w+ \d{4}, \d\d:\d\d \w+"
    assert re.search(rf"48-hour chest check Email {when} Due, not sent yet", record)
    assert re.search(rf"7-day site check Email {when} Scheduled", record)


def test_an_answer_on_the_timeline_is_coloured_as_the_flag_it_raised(
    client, visit, practitioner_client
):
    calm = practitioner_client.get(f"/sessions/{visit.session_id}").get_data(as_text=True)
    assert "sev-" not in calm.split('id="followup-heading"')[1]

    submit(client, visit.path, {**CALM, "chest": "yes"})

    page = practitioner_client.get(f"/sessions/{visit.session_id}").get_data(as_text=True)
    timeline = page.split('id="followup-heading"')[1]
    flag = db.session.scalar(select(Flag).where(Flag.session_id == visit.session_id))
    assert flag.severity == "critical"
    assert re.search(r'<strong class="sev-critical">\s*emergency\s*</strong>', timeline)
    assert "Answered " in text_of(practitioner_client.get(f"/sessions/{visit.session_id}"))


def test_an_emergency_answer_stays_at_the_top_of_the_practitioners_page_until_handled(
    client, visit, practitioner_client
):
    quiet = practitioner_client.get("/sessions/")
    assert quiet.status_code == 200
    assert "Patients who need you now" not in text_of(quiet)

    submit(client, visit.path, {**CALM, "chest": "yes"})

    home = practitioner_client.get("/sessions/")
    assert home.status_code == 200
    main = main_of(home)
    assert main.headings[0] == "Patients who need you now"
    text = text_of(home)
    assert text.index("Patients who need you now") < text.index("Today at")
    assert "Emergency" in text
    assert f"/sessions/{visit.session_id}" in home.get_data(as_text=True)
    # One patient waiting: their answers are open on the page (several fold, see the browser
    # test of the Today page).
    assert '<details class="answers" open>' in home.get_data(as_text=True)
    assert "Patients who need you now" in text_of(practitioner_client.get("/sessions/"))

    # Compliance acknowledging the flag is not looking after the patient: it stays.
    db.session.execute(update(Flag).where(Flag.kind == "emergency").values(status="acknowledged"))
    db.session.commit()
    assert "Patients who need you now" in text_of(practitioner_client.get("/sessions/"))

    flag = db.session.scalars(select(Flag).where(Flag.kind == "emergency")).one()
    handled = practitioner_client.post(
        f"/escalations/{flag.id}/handled",
        data={
            "action": "called",
            "note": "Called, sent to A&E",
            "csrf_token": csrf_token(practitioner_client),
        },
    )

    assert handled.status_code == 302
    assert "Patients who need you now" not in text_of(practitioner_client.get("/sessions/"))
    db.session.expire_all()
    flag = db.session.get(Flag, flag.id)
    assert (flag.handled_action, flag.handled_note) == ("called", "Called, sent to A&E")


def test_an_emergency_is_listed_above_an_earlier_same_day_answer(
    client, visit, practitioner_client, make_session
):
    submit(client, visit.path, {**CALM, "bruising": "large"})
    practitioner = db.session.get(User, visit.practitioner_id)
    later = deliver_visit(practitioner, make_session)
    submit(client, later.path, {**CALM, "chest": "yes"})

    home = practitioner_client.get("/sessions/")

    items = re.findall(
        r'<li class="sev-(\w+)" id="answer-\d+">\s*<p><strong>([^<]+)</strong>',
        home.get_data(as_text=True),
    )
    assert items == [("critical", "Emergency"), ("high", "Same day")]


def test_another_practitioners_emergency_does_not_appear_on_my_page(app, client, visit, make_user):
    submit(client, visit.path, {**CALM, "chest": "yes"})
    other = make_user()
    browser = app.test_client()
    login(browser, other)
    assert "Patients who need you now" not in text_of(browser.get("/sessions/"))


def test_a_colleague_at_the_same_clinic_is_not_listed_my_patients_emergency(
    app, client, visit, practitioner_client, make_user
):
    submit(client, visit.path, {**CALM, "chest": "yes"})
    practitioner = db.session.get(User, visit.practitioner_id)
    colleague = make_user("practitioner", clinic=practitioner.clinic)
    browser = app.test_client()
    login(browser, colleague)

    assert "Patients who need you now" not in text_of(browser.get("/sessions/"))
    assert "Patients who need you now" in text_of(practitioner_client.get("/sessions/"))


# --- the development outbox page -------------------------------------------------------------


def test_the_development_page_lists_the_messages_with_their_links(client, visit):
    page = client.get("/dev/messages")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'href="http://localhost{visit.path}"' in html
    assert "ada@example.org" in html


@pytest.mark.parametrize("address", ["203.0.113.9", "10.0.0.7", "::ffff:192.0.2.1"])
def test_the_development_page_answers_only_the_machine_it_runs_on(client, visit, address):
    """A demo served to a network: the page's links set invited accounts' passwords."""
    page = client.get("/dev/messages", environ_overrides={"REMOTE_ADDR": address})
    assert page.status_code == 404
    assert "ada@example.org" not in page.get_data(as_text=True)


def test_the_development_page_refuses_a_visitor_a_local_proxy_or_tunnel_passed_on(client, visit):
    """Behind nginx, ngrok or ssh -R every visitor arrives from 127.0.0.1."""
    page = client.get("/dev/messages", headers={"X-Forwarded-For": "203.0.113.9"})
    assert page.status_code == 404


@pytest.mark.parametrize(
    "settings",
    [{"REMINDER_BACKEND": "smtp"}, {"REMINDER_BACKEND": "sms-http"}, {"DEMO_MODE": False}],
)
def test_the_development_page_does_not_exist_outside_the_outbox_backend(
    app, client, visit, settings
):
    app.config.update(settings)
    page = client.get("/dev/messages")
    assert page.status_code == 404
    assert "ada@example.org" not in page.get_data(as_text=True)
