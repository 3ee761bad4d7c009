"""Taps and clicks at once, over real HTTP: eight taps on "Sign" give one signature and every
tap lands on it; Cancel beside Sign, an administrator's double clicks, Verify now, edits to
one draft, a new patient's form and a patient's start button each leave one outcome and no
error page; two forms for two people of one name stay two patients.

A practitioner at a slow tablet taps "Sign" again and again; each tap is a request of its own,
served by its own thread with its own database connection, all reading the session open
before any has committed. Exactly one may sign (one signature, one event, one set of
follow-ups); every other tap must land on the signed record, never on an error page. Run on
SQLite (a file, WAL) and on PostgreSQL.
"""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import timedelta

import pytest
from conftest import CLEAN_PHASES, PASSWORD
from followup_helpers import NEAR_LUNG, followups_of, signer
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.checklists import rules
from safety.checklists.models import Flag, TreatmentSession
from safety.checklists.services import signed_content
from safety.extensions import db
from safety.followup.models import FollowUp
from safety.followup.worker import work_once
from safety.integrity.verify import verify

TAPS = 8
ALL_PHASES = ("signin", "timeout", "signout")


class Browser:
    """One browser: a cookie jar shared by all its tabs (and taps)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[int, str, str]:
        return self._open(urllib.request.Request(self.base_url + path))

    def post(self, path: str, form: dict) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(form).encode()
        return self._open(urllib.request.Request(self.base_url + path, data=data))

    def _open(self, request) -> tuple[int, str, str]:
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.geturl(), error.read().decode()

    def csrf(self, path: str) -> str:
        _, _, page = self.get(path)
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def at_once(count: int, request: Callable[[int], tuple[int, str, str]]) -> list:
    """Send `count` requests together, each from its own thread, all released at one moment;
    return their answers (status, final address, page)."""
    start = threading.Barrier(count)
    answers: list[tuple[int, str, str]] = []

    def send(n: int) -> None:
        start.wait(timeout=30)
        answers.append(request(n))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def signed_in(served, email: str) -> Browser:
    """A browser signed in to the served app as `email`."""
    browser = Browser(served.url)
    status, _, _ = browser.post(
        "/auth/login",
        {"email": email, "password": PASSWORD, "csrf_token": browser.csrf("/auth/login")},
    )
    assert status == 200
    return browser


@pytest.fixture
def practitioner(make_user):
    return make_user()


def ready_to_sign(practitioner, make_session, served) -> tuple[int, Browser, str]:
    """A session with every phase saved, its practitioner signed in on the served app: the
    session's id, the browser and its form token."""
    session_id = make_session(practitioner, phases=ALL_PHASES).id
    email = practitioner.email
    db.session.commit()
    browser = signed_in(served, email)
    return session_id, browser, browser.csrf(f"/sessions/{session_id}")


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_eight_simultaneous_taps_on_sign_give_one_signature_and_no_error_page(
    app, practitioner, make_session, served
):
    session_id, browser, token = ready_to_sign(practitioner, make_session, served)
    record = f"/sessions/{session_id}"

    answers = at_once(
        TAPS, lambda _: browser.post(f"{record}/sign", {"password": PASSWORD, "csrf_token": token})
    )

    assert len(answers) == TAPS
    assert {status for status, _, _ in answers} == {200}
    assert {urllib.parse.urlparse(url).path for _, url, _ in answers} == {record}
    # Every tap shows the signed record itself. The taps share one cookie jar, and a flash
    # message lives in the session cookie: when two answers cross, one tap's page can show
    # the message the other's request left, so the message is only required somewhere.
    assert all('id="signature-heading"' in page for _, _, page in answers)
    assert any("can no longer be changed" in page for _, _, page in answers)
    assert not any("Nothing was saved" in page for _, _, page in answers)
    db.session.expire_all()
    signed = db.session.get(TreatmentSession, session_id)
    assert signed.is_signed
    signs = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "session.sign", AuditEvent.object_id == str(session_id))
    )
    assert signs == 1
    follow_ups = db.session.scalars(
        select(FollowUp.kind).where(FollowUp.session_id == session_id)
    ).all()
    assert len(follow_ups) == len(set(follow_ups)) > 0


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_cancel_and_sign_tapped_at_once_leave_one_outcome_and_no_error_page(
    app, practitioner, make_session, served
):
    """Two taps on Cancel (and Sign beside them, from a second tab) once reached the update
    after another tap had committed: the database's guard refused it, and the tablet showed
    a server error. Now exactly one of them stands and every other tap is told so."""
    session_id, browser, token = ready_to_sign(practitioner, make_session, served)
    record = f"/sessions/{session_id}"
    forms = [
        ("cancel", {"reason": "Started for the wrong patient.", "csrf_token": token}),
        ("sign", {"password": PASSWORD, "csrf_token": token}),
    ]

    def tap(n: int) -> tuple[int, str, str]:
        action, form = forms[0] if n % 4 else forms[1]
        return browser.post(f"{record}/{action}", form)

    answers = at_once(TAPS, tap)

    assert len(answers) == TAPS
    assert not [status for status, _, _ in answers if status >= 500]
    db.session.expire_all()
    outcome = db.session.get(TreatmentSession, session_id)
    assert outcome.is_signed != outcome.is_cancelled
    events = db.session.scalars(
        select(AuditEvent.action).where(
            AuditEvent.action.in_(["session.sign", "session.cancel"]),
            AuditEvent.object_id == str(session_id),
        )
    ).all()
    assert len(events) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_a_phase_saved_beside_sign_never_changes_the_signed_record(
    app, practitioner, make_session, served
):
    """A Sign out save posted without the form's opened-entry field (a script, an old form)
    beside "Sign" read the session open and added its entry after the signature: the record
    then showed an answer nobody signed, and verify called it altered (an attacker's review).
    Each save now waits for the signature and is refused, or lands before it and is signed."""
    session_id, browser, token = ready_to_sign(practitioner, make_session, served)
    record = f"/sessions/{session_id}"
    changed = {**{k: v[0] for k, v in CLEAN_PHASES["signout"].items()}, "csrf_token": token}
    changed["signout.pain_during"] = "7"

    def tap(n: int) -> tuple[int, str, str]:
        if n % 2:
            return browser.post(f"{record}/phase/signout", changed)
        return browser.post(f"{record}/sign", {"password": PASSWORD, "csrf_token": token})

    answers = at_once(TAPS, tap)

    assert len(answers) == TAPS
    assert not [status for status, _, _ in answers if status >= 500]
    db.session.expire_all()
    signed = db.session.get(TreatmentSession, session_id)
    assert signed.is_signed
    # What the record shows now is what was signed.
    assert signed.content_hash == rules.content_hash(signed_content(signed))
    assert verify().is_intact


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_an_administrators_double_clicks_make_one_account_and_one_copy_and_no_error_page(
    app, make_user, served
):
    """Each of these once passed its service's check in every request and the database refused
    all but the first: a 500 for each loser. Now one account, one copy, and every other click
    is told someone got there first (or that the account exists)."""
    from safety.auth.models import User
    from safety.risks import services as risks
    from safety.risks.models import TemplateVersion

    admin = make_user("admin")
    clinic_id = make_user().clinic_id
    risks.publish_default(via="test")
    template_id = risks.current_template().id
    db.session.commit()
    browser = signed_in(served, admin.email)
    token = browser.csrf("/admin/users/new")
    account = {
        "email": "twice@clinic.test",
        "name": "Tess Twice",
        "role": "practitioner",
        "clinic": str(clinic_id),
        "csrf_token": token,
    }
    copies = db.session.scalar(select(func.count()).select_from(TemplateVersion))

    def click(n: int) -> tuple[int, str, str]:
        if n % 2:
            return browser.post("/admin/users/new", account)
        return browser.post(f"/admin/templates/{template_id}/copy", {"csrf_token": token})

    answers = at_once(TAPS, click)

    assert len(answers) == TAPS
    assert not [status for status, _, _ in answers if status >= 500]
    db.session.expire_all()
    made = db.session.scalar(
        select(func.count()).select_from(User).where(User.email == "twice@clinic.test")
    )
    assert made == 1
    assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) > copies


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_six_clicks_on_verify_now_at_once_queue_one_verification(app, make_user, served):
    """Each click once found nothing waiting and added its own: three full verifications ran
    one after another in the worker that also sends patients' alerts."""
    from safety.integrity.models import VerificationRequest

    officer = make_user("compliance")
    db.session.commit()
    browser = signed_in(served, officer.email)
    token = browser.csrf("/review/verification/")

    answers = at_once(6, lambda _: browser.post("/review/verification/", {"csrf_token": token}))

    assert len(answers) == 6
    assert not [status for status, _, _ in answers if status >= 500]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(VerificationRequest)) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_four_items_added_to_a_draft_at_once_are_all_kept(app, make_user, served):
    """Each edit read the draft and wrote it back whole: of four items added at once, one was
    lost (and audited as added)."""
    from safety.risks import editor
    from safety.risks import services as risks
    from safety.risks.models import TemplateVersion

    admin = make_user("admin")
    risks.publish_default(via="test")
    draft_id = editor.copy_version(risks.current_template().id, actor=admin).id
    db.session.commit()
    browser = signed_in(served, admin.email)
    token = browser.csrf(f"/admin/templates/{draft_id}/edit")

    def add(n: int) -> tuple[int, str, str]:
        form = {"phase": "timeout", "text": f"Own check {n}", "reason": "Clinic policy 7."}
        return browser.post(f"/admin/templates/{draft_id}/edit/new", {**form, "csrf_token": token})

    answers = at_once(4, add)

    assert not [status for status, _, _ in answers if status >= 500]
    db.session.expire_all()
    definition = db.session.get(TemplateVersion, draft_id).definition
    texts = {i["text"] for p in definition["phases"] for i in p["items"]}
    assert {f"Own check {n}" for n in range(4)} <= texts


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_four_taps_on_add_a_correction_sign_it_once(app, practitioner, make_session, served):
    """Each tap once signed the same correction again: four identical addenda on the record."""
    from safety.checklists.models import Addendum

    session_id = make_session(practitioner, phases=ALL_PHASES, sign=True).id
    email = practitioner.email
    db.session.commit()
    browser = signed_in(served, email)
    record = f"/sessions/{session_id}"
    form = {
        "addendum-reason": "Wrong site recorded.",
        "addendum-body": "The site was the left shoulder.",
        "addendum-password": PASSWORD,
        "csrf_token": browser.csrf(record),
    }

    answers = at_once(4, lambda _: browser.post(f"{record}/addenda", form))

    assert not [status for status, _, _ in answers if status >= 500]
    db.session.expire_all()
    added = db.session.scalar(
        select(func.count()).select_from(Addendum).where(Addendum.session_id == session_id)
    )
    assert added == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_three_taps_on_add_patient_and_start_make_one_patient_and_one_session(
    app, practitioner, served
):
    """A triple tap on the new-patient form once made three patients, each with a session."""
    from safety.clinics.models import Patient

    browser = signed_in(served, practitioner.email)
    form = new_patient_form(browser, "Tess", "Triple")

    answers = at_once(3, lambda _: browser.post("/patients/new", form))

    assert {status for status, _, _ in answers} == {200}
    db.session.expire_all()
    patients = db.session.scalars(select(Patient).where(Patient.family_name == "Triple")).all()
    assert len(patients) == 1
    sessions = db.session.scalars(
        select(TreatmentSession.id).where(TreatmentSession.patient_id == patients[0].id)
    ).all()
    assert len(sessions) == 1
    # Every tap lands on that one session, at its first phase.
    assert {urllib.parse.urlparse(url).path for _, url, _ in answers} == {
        f"/sessions/{sessions[0]}/phase/signin"
    }


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_people_of_one_name_and_one_phone_added_one_after_the_other_stay_two_patients(
    app, practitioner, served
):
    """A mother and daughter, both Maria Garcia, sharing the family phone and no date of birth
    on file: comparing details once made them one patient, the second landing on the first's
    session (a review). Two forms are two patients."""
    from safety.clinics.models import Patient

    browser = signed_in(served, practitioner.email)
    mother = new_patient_form(browser, "Maria", "Garcia", phone="+44 7700 900123", email="")
    daughter = new_patient_form(browser, "Maria", "Garcia", phone="+44 7700 900123", email="")

    first = browser.post("/patients/new", mother)
    second = browser.post("/patients/new", daughter)

    assert first[0] == second[0] == 200
    assert first[1] != second[1]  # each lands on a session of their own
    db.session.expire_all()
    assert (
        len(db.session.scalars(select(Patient).where(Patient.family_name == "Garcia")).all()) == 2
    )


def new_patient_form(browser: Browser, given: str, family: str, **changes: str) -> dict:
    """The new-patient form as a browser shows it (with its one-time key), filled in."""
    _, _, page = browser.get("/patients/new")
    return {
        "given_name": given,
        "family_name": family,
        "email": f"{given.lower()}@example.org",
        "phone": "",
        "birth_date": "",
        "language": "en",
        "is_followup_consent": "y",
        "csrf_token": re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1),
        "form_key": re.search(r'name="form_key"[^>]*value="([^"]+)"', page).group(1),
        **changes,
    }


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_taps_on_a_patients_start_button_start_one_session(
    app, practitioner, make_patient, served
):
    patient_id = make_patient(practitioner).id
    db.session.commit()
    browser = signed_in(served, practitioner.email)
    token = browser.csrf("/sessions/new")

    answers = at_once(
        2,
        lambda _: browser.post(
            "/sessions/new", {"patient_id": str(patient_id), "csrf_token": token}
        ),
    )

    assert {status for status, _, _ in answers} == {200}
    db.session.expire_all()
    started = db.session.scalars(
        select(TreatmentSession.id).where(TreatmentSession.patient_id == patient_id)
    ).all()
    assert len(started) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_a_form_sent_again_with_other_details_is_refused_never_taken_for_the_first_patient(
    app, practitioner, make_user, served
):
    """Brought back with Back and changed from Maria to Lucia, one form once opened Maria's
    session and said "Patient added" (a review); a form another practitioner sent is refused
    too, never an error page."""
    from safety.clinics.models import Patient

    browser = signed_in(served, practitioner.email)
    form = new_patient_form(browser, "Maria", "Garcia")
    assert browser.post("/patients/new", form)[0] == 200

    changed = browser.post("/patients/new", {**form, "given_name": "Lucia"})
    colleague = signed_in(served, make_user(clinic=practitioner.clinic).email)
    theirs = colleague.post(
        "/patients/new", {**form, "csrf_token": new_patient_form(colleague, "x", "y")["csrf_token"]}
    )

    assert changed[0] == 409
    assert "This form already added Maria Garcia" in changed[2]
    assert theirs[0] == 409
    assert "This form was already used" in theirs[2]
    assert "already added" not in theirs[2]  # another's patient is never named
    db.session.expire_all()
    assert [p.given_name for p in db.session.scalars(select(Patient))] == ["Maria"]


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_four_taps_on_record_what_you_did_record_it_once_and_no_error(
    app, practitioner, make_session, served
):
    """Both taps read the silence unhandled and each wrote its own record and event; the
    second then said "already handled" to the practitioner who had just recorded it."""
    session = signer(make_session, practitioner)(NEAR_LUNG)
    chest = next(f for f in followups_of(session.id) if f.kind == "48h")
    work_once("worker", now=chest.due_dt)
    work_once("worker", now=chest.due_dt + timedelta(hours=12))
    flag_id = db.session.scalars(select(Flag.id).where(Flag.followup_id == chest.id)).one()
    db.session.commit()
    browser = signed_in(served, practitioner.email)
    token = browser.csrf("/sessions/")
    form = {"action": "called", "note": "Breathing easily.", "csrf_token": token}

    answers = at_once(4, lambda _: browser.post(f"/escalations/{flag_id}/handled", form))

    assert {status for status, _, _ in answers} == {200}
    # Each tap lands on the Today page; the taps share one cookie, so which of them shows
    # the "Recorded." notice is down to timing, but none is told it was refused.
    assert not any("Nothing was recorded" in page for _, _, page in answers)
    assert not any("already handled" in page for _, _, page in answers)
    db.session.expire_all()
    handled = db.session.scalar(
        select(func.count()).where(
            AuditEvent.action == "flag.handled", AuditEvent.object_id == str(flag_id)
        )
    )
    assert handled == 1
    assert db.session.get(Flag, flag_id).handled_action == "called"
