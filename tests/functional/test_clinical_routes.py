"""What the clinical review asked of version 2, through the routes with CSRF on: the consent
stop and the cancel, the sources beside the checklist, staff reading every answer a patient
gave, and nothing escalated left unread (the worker's deadlines, on a moving clock)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CLEAN_PHASES, PASSWORD, csrf_token, login, post_form
from factories import clean_phases
from followup_helpers import CALM, NEAR_LUNG
from htmlpage import ById, elements
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.checklists import services as checklists
from safety.checklists.models import Flag, TreatmentSession
from safety.extensions import db
from safety.followup import patient as followup_patient
from safety.followup.models import FollowUp, OutboxMessage
from safety.followup.worker import work_once
from safety.hashing import sha256_hex
from safety.integrity.verify import verify
from safety.review import records
from safety.review.rules.records import RecordFilters
from safety.risks import services as risk_services

ALL_PHASES = ("signin", "timeout", "signout")
WROTE = "The site on my shoulder feels hot and I slept badly."


def text_of(response) -> str:
    parser = ById()
    chunks: list[str] = []
    parser.handle_data = chunks.append
    parser.feed(response.get_data(as_text=True))
    parser.close()
    return " ".join("".join(chunks).split())


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def practitioner(make_user, make_clinic):
    return make_user("practitioner", clinic=make_clinic("Harbour Physio"), name="Ada Author")


@pytest.fixture
def practitioner_id(practitioner) -> int:
    """The practitioner's id, read before any request leaves the object detached."""
    return practitioner.id


@pytest.fixture
def signed_in(app, practitioner):
    browser = app.test_client()
    assert login(browser, practitioner).status_code == 302
    return browser


@pytest.fixture
def officer_client(app, make_user):
    browser = app.test_client()
    assert login(browser, make_user("compliance", name="Casey Compliance")).status_code == 302
    return browser


# --- the consent stop and the cancel ---------------------------------------------------------


def test_consent_no_is_saved_and_no_later_phase_can_be_saved(signed_in, practitioner, make_session):
    session = make_session(practitioner)

    saved = post_form(signed_in, f"/sessions/{session.id}/phase/signin", {"signin.consent": "no"})

    assert saved.status_code == 302
    assert saved.headers["Location"] == f"/sessions/{session.id}"
    record = signed_in.get(f"/sessions/{session.id}")
    # Saved, said plainly: not the green of a save to go on from, above the red stop.
    html = record.get_data(as_text=True)
    assert '<p class="flash flash-info" role="status">Sign in saved.</p>' in html
    assert 'flash-success" role="status">Sign in saved' not in html
    page = text_of(record)
    assert "The session stopped at Sign in" in page
    assert "No needling without informed consent" in page
    assert "Sign the checklist" not in page
    refused = post_form(
        signed_in, f"/sessions/{session.id}/phase/timeout", {**CLEAN_PHASES["timeout"]}
    )
    assert refused.status_code == 409
    assert "No needling without informed consent" in text_of(refused)
    assert (
        post_form(signed_in, f"/sessions/{session.id}/sign", {"password": PASSWORD}).status_code
        == 400
    )
    assert not db.session.get(TreatmentSession, session.id).is_signed
    assert count(Flag) == 0


def test_answering_consent_yes_again_lets_the_session_go_on(signed_in, practitioner, make_session):
    session = make_session(practitioner)
    post_form(signed_in, f"/sessions/{session.id}/phase/signin", {"signin.consent": "no"})

    again = post_form(signed_in, f"/sessions/{session.id}/phase/signin", CLEAN_PHASES["signin"])

    assert again.headers["Location"] == f"/sessions/{session.id}/phase/timeout"
    html = signed_in.get(again.headers["Location"]).get_data(as_text=True)
    assert '<p class="flash flash-success" role="status">Sign in saved.</p>' in html


def test_no_current_authorisation_stops_the_session_at_sign_in(
    signed_in, practitioner, make_session
):
    """A practitioner without a current authorisation does not needle: once only a flag at
    signing, now a stop like consent's."""
    session = make_session(practitioner)

    saved = post_form(
        signed_in,
        f"/sessions/{session.id}/phase/signin",
        {**CLEAN_PHASES["signin"], "signin.authorised": "no"},
    )

    assert saved.headers["Location"] == f"/sessions/{session.id}"
    page = text_of(signed_in.get(f"/sessions/{session.id}"))
    assert "The session stopped at Sign in" in page
    assert "No needling without a current authorisation" in page
    refused = post_form(
        signed_in, f"/sessions/{session.id}/phase/timeout", {**CLEAN_PHASES["timeout"]}
    )
    assert refused.status_code == 409


@pytest.mark.parametrize(
    ("link_id", "says"),
    [
        ("signin.identity", "has confirmed who they are and where the needles will go"),
        ("signin.skin_ok", "Do not needle through infected or broken skin"),
    ],
)
def test_an_unconfirmed_patient_or_unsafe_skin_stops_the_session_at_sign_in(
    signed_in, practitioner, make_session, link_id, says
):
    """Both were a deviation noted at signing, after the needling (a clinical review); now
    the session waits at Sign in, and answering Yes once it is put right lets it go on."""
    session = make_session(practitioner)
    signin = f"/sessions/{session.id}/phase/signin"

    saved = post_form(signed_in, signin, {**CLEAN_PHASES["signin"], link_id: "no"})

    assert saved.headers["Location"] == f"/sessions/{session.id}"
    page = text_of(signed_in.get(f"/sessions/{session.id}"))
    assert "The session stopped at Sign in" in page
    assert says in page
    timeout = f"/sessions/{session.id}/phase/timeout"
    assert post_form(signed_in, timeout, {**CLEAN_PHASES["timeout"]}).status_code == 409
    # Brought back to change it, the form says why it stopped, without a script as well.
    again = elements(signed_in.get(signin))
    notice = again[f"{link_id}-stop"]
    assert "hidden" not in notice.attrs and says in notice.text
    assert "hidden" in again["signin.consent-stop"].attrs  # consent was Yes
    put_right = post_form(signed_in, signin, {**CLEAN_PHASES["signin"]})
    assert put_right.headers["Location"] == timeout


def test_a_pack_not_sterile_stops_the_session_at_time_out_until_a_new_pack_is_opened(
    signed_in, practitioner, make_session
):
    """Needles not sterile, or a package not intact, were only flagged at signing while an
    expired pack was refused on the spot: both are never events, and now both stop."""
    session = make_session(practitioner, phases=("signin",))
    timeout = f"/sessions/{session.id}/phase/timeout"

    saved = post_form(
        signed_in, timeout, {**CLEAN_PHASES["timeout"], "timeout.needles_sterile": "no"}
    )

    assert saved.headers["Location"] == f"/sessions/{session.id}"
    page = text_of(signed_in.get(f"/sessions/{session.id}"))
    assert "The session stopped at Time out" in page
    assert "Do not needle from a pack that is not sterile or not intact" in page
    # The pack is a near miss to report: a link opens the report with the session filled in.
    raw = signed_in.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert (
        f"/incidents/new?kind=near_miss&amp;event=damaged_or_unsterile_pack&amp;session={session.id}"
        in raw
    )
    assert (
        post_form(
            signed_in, f"/sessions/{session.id}/phase/signout", {**CLEAN_PHASES["signout"]}
        ).status_code
        == 409
    )
    assert (
        post_form(signed_in, f"/sessions/{session.id}/sign", {"password": PASSWORD}).status_code
        == 400
    )
    # A new sterile pack opened: Time out is answered Yes and the session goes on.
    again = post_form(signed_in, timeout, CLEAN_PHASES["timeout"])
    assert again.headers["Location"] == f"/sessions/{session.id}/phase/signout"


def test_a_session_is_cancelled_with_a_reason_audited_by_its_hash(
    signed_in, practitioner, make_session
):
    session = make_session(practitioner, phases=("signin",))
    reason = "Started for the wrong patient."

    cancelled = post_form(signed_in, f"/sessions/{session.id}/cancel", {"reason": reason})

    assert cancelled.status_code == 302
    assert cancelled.headers["Location"] == "/sessions/"
    db.session.expire_all()
    stored = db.session.get(TreatmentSession, session.id)
    assert (stored.is_cancelled, stored.cancel_reason) == (True, reason)
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "session.cancel")
    ).one()
    assert event.details == {"reason_hash": sha256_hex(reason), "phases": ["signin"]}
    assert "Cancelled" in text_of(signed_in.get("/sessions/"))
    page = text_of(signed_in.get(f"/sessions/{session.id}"))
    assert f"Reason: {reason}" in page
    # Final: nothing more is saved, signed or cancelled.
    assert signed_in.get(f"/sessions/{session.id}/phase/timeout").status_code == 302
    refused = post_form(signed_in, f"/sessions/{session.id}/phase/timeout", CLEAN_PHASES["timeout"])
    assert refused.status_code == 302
    assert (
        post_form(signed_in, f"/sessions/{session.id}/sign", {"password": PASSWORD}).status_code
        == 409
    )
    again = post_form(signed_in, f"/sessions/{session.id}/cancel", {"reason": "Twice"})
    assert again.status_code == 409


NEEDLES_MAY_BE_IN = "Time out is saved, so needles may have been used"
NO_NEEDLING = "No needling is recorded for this session"


def test_after_a_clean_time_out_cancelling_warns_and_the_record_never_says_no_needling(
    signed_in, practitioner, make_session
):
    """Needles go in after Time out: a cancellation skips the count at Sign out and the
    follow-up, and a record that said "no needling" would be false evidence."""
    session = make_session(practitioner, phases=("signin", "timeout"))
    # Where a cancel form is: the phase pages (the record sends its author to Sign out) and
    # the Today page.
    for page in (f"/sessions/{session.id}/phase/signout", "/sessions/"):
        assert NEEDLES_MAY_BE_IN in text_of(signed_in.get(page)), page

    cancelled = post_form(
        signed_in, f"/sessions/{session.id}/cancel", {"reason": "Wrong patient's record."}
    )

    assert cancelled.status_code == 302
    record = text_of(signed_in.get(f"/sessions/{session.id}"))
    assert "Time out was saved before the session was cancelled, so needles may have" in record
    assert NO_NEEDLING not in record


def test_a_session_cancelled_after_a_clean_time_out_raises_a_flag_compliance_works(
    signed_in, practitioner, make_session, officer_client
):
    """The warnings come before; a needle the Sign out count never met must still reach a
    person, and the queue names whose session it was."""
    session = make_session(practitioner, phases=("signin", "timeout"))
    patient = session.patient.display_name

    post_form(signed_in, f"/sessions/{session.id}/cancel", {"reason": "Wrong patient's record."})

    flag = db.session.scalars(select(Flag).where(Flag.session_id == session.id)).one()
    assert (flag.kind, flag.severity, flag.status) == ("cancelled_after_time_out", "high", "open")
    raised = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "flag.raise")).one()
    assert raised.object_id == str(flag.id)
    queue = text_of(officer_client.get("/review/flags"))
    assert "Cancelled after the Time out" in queue
    assert "Ask the practitioner whether any needle went in" in queue
    assert patient in queue
    for record in (f"/sessions/{session.id}", f"/review/records/{session.id}"):
        client = officer_client if record.startswith("/review") else signed_in
        assert "needles may have been used: they were never counted out" in text_of(
            client.get(record)
        ), record
    # Where a needle did go in and was never counted out, the practitioner records it as an
    # incident from the flag, its words as the description.
    assert f"/incidents/new?flag={flag.id}" in signed_in.get(f"/sessions/{session.id}").text
    report = signed_in.get(f"/incidents/new?flag={flag.id}").text
    assert 'value="other" checked' in report
    assert "Ask the practitioner whether any needle went in" in report
    resolved = post_form(
        officer_client,
        f"/review/flags/{flag.id}/resolve",
        {"note": "Spoke to the practitioner: no needle went in, the wrong patient was chosen."},
    )
    assert resolved.status_code == 302
    assert verify().problem is None


def test_a_stop_saved_after_a_clean_time_out_does_not_undo_the_cancel_flag(
    signed_in, practitioner, make_session
):
    """A review saved a clean Time out, saved it again with "not sterile", cancelled, and
    nothing reached compliance while the record said "no needling"."""
    session = make_session(practitioner, phases=("signin", "timeout"))
    stopped = {**clean_phases(session)["timeout"], "timeout.needles_sterile": ["no"]}
    checklists.submit_phase(practitioner, session.id, "timeout", stopped)
    db.session.commit()

    post_form(signed_in, f"/sessions/{session.id}/cancel", {"reason": "Pack not sterile."})

    flags = db.session.scalars(select(Flag).where(Flag.session_id == session.id)).all()
    assert [flag.kind for flag in flags] == ["cancelled_after_time_out"]
    record = text_of(signed_in.get(f"/sessions/{session.id}"))
    assert NO_NEEDLING not in record
    assert "needles may have been used" in record


def test_a_cancel_after_a_sign_out_with_a_missing_needle_raises_the_critical_count_flag(
    signed_in, practitioner, make_session
):
    """Cancelling instead of signing once swapped the critical "counts do not reconcile" for a
    high flag that said the needles were never counted."""
    missing = {
        "signout.needles_removed": ["5"],
        "signout.needles_disposed": ["5"],
        "signout.count_discrepancy": ["One needle not found; couch and floor searched."],
    }
    session = make_session(practitioner, phases=("signin", "timeout", "signout"), overrides=missing)

    post_form(signed_in, f"/sessions/{session.id}/cancel", {"reason": "Changed my mind."})

    flags = db.session.scalars(
        select(Flag).where(Flag.session_id == session.id).order_by(Flag.id)
    ).all()
    # As signing would: one for used against removed, one for opened against disposed.
    assert sorted((flag.kind, flag.severity) for flag in flags) == [
        ("cancelled_after_time_out", "high"),
        ("count_discrepancy", "critical"),
        ("count_discrepancy", "critical"),
    ]
    said = " ".join(flag.message for flag in flags)
    assert "Cancelled after Sign out was saved, instead of being signed" in said
    assert "never counted out" not in said
    assert count(AuditEvent, AuditEvent.action == "flag.raise") == len(flags)
    assert verify().problem is None


@pytest.mark.parametrize(
    ("phases", "overrides"),
    [(("signin",), {}), (("signin", "timeout"), {"timeout.needles_sterile": ["no"]})],
    ids=["at-sign-in", "time-out-stopped-by-the-pack"],
)
def test_a_session_cancelled_before_any_needle_says_no_needling_without_a_warning(
    signed_in, practitioner, make_session, phases, overrides
):
    session = make_session(practitioner, phases=phases, overrides=overrides)
    for page in (f"/sessions/{session.id}", f"/sessions/{session.id}/phase/signin", "/sessions/"):
        assert NEEDLES_MAY_BE_IN not in text_of(signed_in.get(page, follow_redirects=True))

    post_form(signed_in, f"/sessions/{session.id}/cancel", {"reason": "Consent withdrawn."})

    record = text_of(signed_in.get(f"/sessions/{session.id}"))
    assert NO_NEEDLING in record and "needles may have been used" not in record
    assert count(Flag, Flag.session_id == session.id) == 0


@pytest.mark.parametrize(("reason", "message"), [("   ", "Say why"), ("x" * 501, "under 500")])
def test_a_cancel_without_a_usable_reason_is_refused_beside_the_field(
    signed_in, practitioner, make_session, reason, message
):
    session = make_session(practitioner)

    refused = post_form(signed_in, f"/sessions/{session.id}/cancel", {"reason": reason})

    assert refused.status_code == 400
    assert message in text_of(refused)
    assert not db.session.get(TreatmentSession, session.id).is_cancelled
    assert count(AuditEvent, AuditEvent.action == "session.cancel") == 0


def test_only_the_practitioner_who_started_a_session_can_cancel_it(
    app, practitioner, make_user, make_session
):
    session_id = make_session(practitioner).id
    colleague = make_user("practitioner", clinic=practitioner.clinic)
    browser = app.test_client()
    login(browser, colleague)

    refused = post_form(browser, f"/sessions/{session_id}/cancel", {"reason": "Not mine"})

    assert refused.status_code == 403
    assert not db.session.get(TreatmentSession, session_id).is_cancelled


def test_a_cancelled_session_is_never_overdue(practitioner, make_user, make_patient):
    from safety.checklists import services

    patient = make_patient(practitioner)
    long_ago = datetime.now(UTC) - timedelta(days=3)
    forgotten = services.start_session(practitioner, patient_id=patient.id, now=long_ago)
    # Started again later (at once, it would be the same tap: the session already started).
    cancelled = services.start_session(
        practitioner, patient_id=patient.id, now=long_ago + timedelta(minutes=5)
    )
    services.cancel_session(practitioner, cancelled.id, "Started by mistake")
    db.session.commit()
    officer = make_user("compliance")

    def ids(state: str) -> set[int]:
        page = records.find_records(officer, RecordFilters(state=state))
        return {row.id for row in page.rows}

    assert ids("overdue") == {forgotten.id}
    assert ids("cancelled") == {cancelled.id}
    assert cancelled.id not in ids("in_progress")


# --- every item shows its sources ---------------------------------------------------------------


def test_each_checklist_item_says_why_behind_a_disclosure_that_works_without_javascript(
    signed_in, practitioner, make_session
):
    session = make_session(practitioner)

    page = signed_in.get(f"/sessions/{session.id}/phase/signin").get_data(as_text=True)

    consent = re.search(r'data-link-id="signin.consent".*?</details>', page, re.S).group(0)
    assert '<details class="why">' in consent and "<summary>Why?" in consent
    assert "WHO Surgical Safety Checklist" in consent


def test_the_template_page_lists_every_source_and_the_follow_up_thresholds(
    officer_client, practitioner, make_session
):
    session = make_session(practitioner)

    page = text_of(officer_client.get(f"/templates/{session.template_version_id}"))

    assert "21 CFR 880.5580" in page and "Brady S" in page
    assert "Follow-up times and thresholds" in page
    assert "clinic policy, not from a study" in page
    assert "review_soreness_24h" in page
    # Its publication reads as a date like every other page's, in the clinic's zone (London).
    assert re.search(r"Published \d{2} [A-Z][a-z]{2} \d{4} (GMT|BST)\b", page)


def test_a_template_is_dated_on_the_calendar_of_the_clinics_it_serves(app, make_user, make_clinic):
    """Published at 02:00 UTC on 7 December is still the evening of the 6th in Toronto, where
    every clinic is: both template pages say the 6th. Once clinics are in two zones, a reader
    without a clinic reads UTC's day, and the page says it is UTC's."""
    make_clinic("Toronto Physio", timezone="America/Toronto")
    published = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    version_id = risk_services.ensure_current_template(now=published).id
    db.session.commit()
    browser = app.test_client()
    assert login(browser, make_user("compliance")).status_code == 302

    def pages() -> list[str]:
        return [text_of(browser.get(url)) for url in ("/templates/", f"/templates/{version_id}")]

    for page in pages():
        assert "06 Dec 2026 EST" in page and "07 Dec" not in page
    make_clinic("Harbour Physio", timezone="Europe/London")
    for page in pages():
        assert "07 Dec 2026 UTC" in page and "06 Dec" not in page


# --- staff read every answer a patient gave ----------------------------------------------------


@pytest.fixture
def answered(practitioner, make_session) -> int:
    """The id of a shoulder session whose 24-hour check came back with a large bruise and a
    note."""
    session = make_session(practitioner, phases=ALL_PHASES, sign=True, overrides=NEAR_LUNG)
    first = db.session.scalars(
        select(FollowUp).where(FollowUp.session_id == session.id, FollowUp.kind == "24h")
    ).one()
    token = followup_patient.issue_link(first, now=first.due_dt)
    followup_patient.answer(
        token, {**CALM, "bruising": ["large"], "other": [WROTE]}, now=first.due_dt
    )
    db.session.commit()
    return session.id


def test_the_practitioner_reads_the_answers_on_the_record_and_on_today(signed_in, answered):
    record = text_of(signed_in.get(f"/sessions/{answered}"))
    today = text_of(signed_in.get("/sessions/"))

    for page in (record, today):
        assert "Bruising A large bruise, or one that is spreading" in page
        assert WROTE in page
        assert "Chest pain, pain breathing in or breathlessness since the appointment No" in page


def test_compliance_reads_the_answers_on_the_record_and_in_the_flags_queue(
    officer_client, answered
):
    record = text_of(officer_client.get(f"/review/records/{answered}"))
    queue = text_of(officer_client.get("/review/flags"))

    for page in (record, queue):
        assert WROTE in page
        assert "A large bruise, or one that is spreading" in page


def test_the_alert_email_carries_no_clinical_detail(answered):
    alert = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "practitioner_alert")
    ).one()
    work_once("worker", now=alert.next_attempt_dt)

    from safety.followup.models import DevMessage

    message = db.session.scalars(select(DevMessage).where(DevMessage.outbox_id == alert.id)).one()
    whole = f"{message.subject}\n{message.body}"
    for clinical in ("bruise", "shoulder", "hot", "Ada", "Lovelace"):
        assert clinical not in whole


def test_what_the_practitioner_did_shows_on_the_compliance_record(
    signed_in, officer_client, answered
):
    flag_id = db.session.scalars(select(Flag.id).where(Flag.kind == "same_day")).one()

    post_form(
        signed_in,
        f"/escalations/{flag_id}/handled",
        {"action": "advised", "note": "Cold pack, review in clinic Friday"},
    )

    page = text_of(officer_client.get(f"/review/records/{answered}"))
    assert (
        "The practitioner recorded: Advised the patient (Cold pack, review in clinic Friday)"
    ) in page
    assert count(AuditEvent, AuditEvent.action == "flag.handled") == 1


def test_another_practitioners_answer_cannot_be_marked_handled(app, answered, make_user):
    flag_id = db.session.scalars(select(Flag.id).where(Flag.kind == "same_day")).one()
    stranger = make_user("practitioner")
    browser = app.test_client()
    login(browser, stranger)

    refused = post_form(browser, f"/escalations/{flag_id}/handled", {"action": "called"})

    assert refused.status_code == 404
    assert db.session.get(Flag, flag_id).handled_dt is None


# --- nothing escalated is left unread ----------------------------------------------------------


def answered_at(
    practitioner_id: int, make_session, when: datetime, answers: dict, *, overrides=None
) -> int:
    """Return the id of the flag a patient's 24-hour answer at `when` raised."""
    practitioner = db.session.get(User, practitioner_id)
    session = make_session(practitioner, phases=ALL_PHASES, sign=True, overrides=overrides)
    first = db.session.scalars(
        select(FollowUp).where(FollowUp.session_id == session.id, FollowUp.kind == "24h")
    ).one()
    token = followup_patient.issue_link(first, now=when)
    followup_patient.answer(token, {**CALM, **answers}, now=when)
    db.session.commit()
    return db.session.scalars(
        select(Flag.id).where(Flag.session_id == session.id).order_by(Flag.id.desc())
    ).first()


def emergency_at(practitioner_id: int, make_session, when: datetime) -> int:
    """Return the id of the emergency flag a chest-pain answer at `when` raised."""
    return answered_at(practitioner_id, make_session, when, {"chest": ["yes"]}, overrides=NEAR_LUNG)


def duty_escalations() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "duty_escalation"))
    )


def test_an_emergency_nobody_acknowledged_in_15_minutes_goes_to_the_duty_address(
    practitioner_id, make_session, officer_client
):
    raised = datetime(2030, 6, 1, 2, 0, tzinfo=UTC)  # the middle of a Saturday night
    flag_id = emergency_at(practitioner_id, make_session, raised)

    assert work_once("worker", now=raised + timedelta(minutes=14)).get("escalated") is None
    assert duty_escalations() == []

    counts = work_once("worker", now=raised + timedelta(minutes=16))

    assert counts["escalated"] == 1
    [row] = duty_escalations()
    assert row.status == "sent" and row.flag_id == flag_id
    from safety.followup.models import DevMessage

    message = db.session.scalars(select(DevMessage).where(DevMessage.outbox_id == row.id)).one()
    clinic = db.session.get(User, practitioner_id).clinic
    assert message.recipient == clinic.duty_email
    assert "not been acknowledged for 15 minutes" in message.body
    assert db.session.get(Flag, flag_id).escalated_dt == raised + timedelta(minutes=16)
    # Once only, and at the head of the compliance queue.
    assert work_once("worker", now=raised + timedelta(minutes=40)).get("escalated") is None
    queue = officer_client.get("/review/flags").get_data(as_text=True)
    first_row = re.search(r'<tr id="flag-(\d+)"', queue).group(1)
    assert int(first_row) == flag_id
    assert "Not acknowledged in time" in text_of(officer_client.get("/review/flags"))


def test_an_emergency_its_practitioner_acknowledged_in_time_goes_no_further(
    practitioner_id, make_session, signed_in
):
    raised = datetime(2030, 6, 1, 2, 0, tzinfo=UTC)
    flag_id = emergency_at(practitioner_id, make_session, raised)
    post_form(signed_in, f"/review/flags/{flag_id}/acknowledge", {"back": "flags"})

    work_once("worker", now=raised + timedelta(hours=2))

    assert duty_escalations() == []


def test_a_compliance_officers_click_does_not_silence_an_emergency_but_a_resolution_does(
    practitioner_id, make_session, officer_client
):
    """A reviewer acknowledging a patient's emergency is not a clinician seeing the patient:
    the click is refused and the answer goes on to the duty address at 15 minutes. Resolving
    it with a note of what was done closes it."""
    raised = datetime(2030, 6, 1, 2, 0, tzinfo=UTC)
    flag_id = emergency_at(practitioner_id, make_session, raised)
    queue = text_of(officer_client.get("/review/flags"))
    assert "Waits for the practitioner who treated the patient to acknowledge it" in queue
    assert f'action="/review/flags/{flag_id}/acknowledge"' not in officer_client.get(
        "/review/flags"
    ).get_data(as_text=True)

    refused = post_form(officer_client, f"/review/flags/{flag_id}/acknowledge", {"back": "flags"})

    assert refused.status_code == 302
    assert "waits for the practitioner who treated the patient" in text_of(
        officer_client.get(refused.headers["Location"])
    )
    assert db.session.get(Flag, flag_id).status == "open"
    work_once("worker", now=raised + timedelta(minutes=16))
    assert len(duty_escalations()) == 1

    later = emergency_at(practitioner_id, make_session, raised + timedelta(minutes=20))
    post_form(officer_client, f"/review/flags/{later}/resolve", {"note": "Rang the patient."})
    work_once("worker", now=raised + timedelta(hours=2))
    assert [row.flag_id for row in duty_escalations()] == [flag_id]


ON_CALL = "+44 7700 900456"


def texts_to(number: str) -> list[str]:
    """The text messages the worker sent to a number (the outbox backend keeps them)."""
    from safety.followup.models import DevMessage

    db.session.expire_all()
    return list(
        db.session.scalars(
            select(DevMessage.body)
            .where(DevMessage.channel == "sms", DevMessage.recipient == number)
            .order_by(DevMessage.id)
        )
    )


def with_on_call_mobile(practitioner_id: int) -> None:
    db.session.get(User, practitioner_id).clinic.duty_phone = ON_CALL
    db.session.commit()


def test_a_night_emergency_is_texted_to_the_on_call_mobile_at_once_and_again_unacknowledged(
    practitioner_id, make_session
):
    """At 02:00 on a Saturday nobody reads the duty address: the mobile is what wakes someone.
    The text names the clinic and links to the record, and nothing about the patient."""
    with_on_call_mobile(practitioner_id)
    raised = datetime(2030, 6, 1, 2, 0, tzinfo=UTC)
    flag_id = emergency_at(practitioner_id, make_session, raised)
    session = db.session.get(Flag, flag_id).session

    work_once("worker", now=raised)

    [at_once] = texts_to(ON_CALL)
    assert at_once.startswith("NeedleSafe: A patient's emergency follow-up answer has come in at")
    assert session.clinic.name in at_once
    assert f"http://localhost/sessions/{session.id}" in at_once
    for private in (session.patient.given_name, session.patient.family_name, "chest"):
        assert private not in at_once

    work_once("worker", now=raised + timedelta(minutes=16))

    [_, escalated] = texts_to(ON_CALL)
    assert "has not been acknowledged for 15 minutes" in escalated
    assert f"http://localhost/sessions/{session.id}" in escalated


def test_without_an_sms_gateway_no_text_is_queued_to_fail_and_hold_up_the_mail(
    app, practitioner_id, make_session
):
    """A text that cannot go out would fail, end the worker's batch and hold up the mail
    behind it; the clinic form says there is no gateway."""
    app.config.update(REMINDER_BACKEND="smtp", SMS_GATEWAY_URL=None)
    with_on_call_mobile(practitioner_id)
    raised = datetime(2030, 6, 1, 2, 0, tzinfo=UTC)
    emergency_at(practitioner_id, make_session, raised)

    purposes = set(db.session.scalars(select(OutboxMessage.purpose)))

    assert "clinic_alert" in purposes
    assert not purposes & {"on_call_alert", "on_call_escalation"}


def test_an_emergency_acknowledged_before_its_text_goes_out_wakes_nobody(
    practitioner_id, make_session, signed_in
):
    with_on_call_mobile(practitioner_id)
    raised = datetime(2030, 6, 1, 2, 0, tzinfo=UTC)
    flag_id = emergency_at(practitioner_id, make_session, raised)
    post_form(signed_in, f"/review/flags/{flag_id}/acknowledge", {"back": "flags"})

    work_once("worker", now=raised + timedelta(hours=2))

    assert texts_to(ON_CALL) == []
    [text] = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "on_call_alert")
    ).all()
    assert text.status == "cancelled"


def test_a_same_day_answer_is_texted_only_once_nobody_acknowledged_it_in_time(
    practitioner_id, make_session
):
    with_on_call_mobile(practitioner_id)
    monday_morning = datetime(2030, 6, 10, 8, 0, tzinfo=UTC)  # 09:00 in London
    answered_at(practitioner_id, make_session, monday_morning, {"signs": ["fever"]})

    work_once("worker", now=monday_morning)
    assert texts_to(ON_CALL) == []  # the practitioner has it, in working hours

    work_once("worker", now=monday_morning + timedelta(hours=2, minutes=1))

    [text] = texts_to(ON_CALL)
    assert "same-day follow-up answer" in text
    assert "has not been acknowledged for 2 working hours" in text


def test_a_same_day_answer_on_friday_evening_waits_for_two_working_hours_on_monday(
    practitioner_id, make_session
):
    friday_evening = datetime(2030, 6, 7, 17, 30, tzinfo=UTC)  # 18:30 in London
    answered_at(practitioner_id, make_session, friday_evening, {"signs": ["fever"]})

    work_once("worker", now=datetime(2030, 6, 9, 12, 0, tzinfo=UTC))  # Sunday
    assert duty_escalations() == []
    # Half an hour of Friday's working day (it ends at 19:00), an hour and a half of Monday's.
    work_once("worker", now=datetime(2030, 6, 10, 8, 29, tzinfo=UTC))  # Monday 09:29 London
    assert duty_escalations() == []
    work_once("worker", now=datetime(2030, 6, 10, 8, 31, tzinfo=UTC))  # Monday 09:31

    [row] = duty_escalations()
    assert row.status == "sent"


def test_an_emergency_stays_on_the_practitioners_list_until_they_say_what_they_did(
    practitioner_id, signed_in, make_session, officer_client
):
    raised = datetime(2030, 6, 1, 2, 0, tzinfo=UTC)
    flag_id = emergency_at(practitioner_id, make_session, raised)
    post_form(officer_client, f"/review/flags/{flag_id}/acknowledge", {"back": "flags"})

    assert "Patients who need you now" in text_of(signed_in.get("/sessions/"))
    bad = post_form(signed_in, f"/escalations/{flag_id}/handled", {"action": "ignored"})
    assert bad.status_code == 302
    assert db.session.get(Flag, flag_id).handled_dt is None

    post_form(signed_in, f"/escalations/{flag_id}/handled", {"action": "referred"})

    assert "Patients who need you now" not in text_of(signed_in.get("/sessions/"))


def test_a_handling_form_without_a_csrf_token_is_refused(practitioner_id, signed_in, make_session):
    flag_id = emergency_at(practitioner_id, make_session, datetime(2030, 6, 1, 2, 0, tzinfo=UTC))

    refused = signed_in.post(f"/escalations/{flag_id}/handled", data={"action": "called"})

    assert refused.status_code == 400
    assert db.session.get(Flag, flag_id).handled_dt is None
    assert csrf_token  # the helper the other tests use sends it


def test_a_review_answer_nobody_read_in_two_working_days_goes_to_the_duty_address(
    practitioner_id, make_session
):
    session = make_session(db.session.get(User, practitioner_id), phases=ALL_PHASES, sign=True)
    first = db.session.scalars(
        select(FollowUp).where(FollowUp.session_id == session.id, FollowUp.kind == "24h")
    ).one()
    tuesday = datetime(2030, 6, 4, 9, 0, tzinfo=UTC)  # 10:00 in London
    token = followup_patient.issue_link(first, now=tuesday)
    followup_patient.answer(token, {**CALM, "other": [WROTE]}, now=tuesday)
    db.session.commit()

    # Nine hours of Tuesday, eleven of Wednesday, two of Thursday: 10:00 London (09:00 UTC).
    work_once("worker", now=datetime(2030, 6, 6, 8, 59, tzinfo=UTC))
    assert duty_escalations() == []
    work_once("worker", now=datetime(2030, 6, 6, 9, 1, tzinfo=UTC))

    [row] = duty_escalations()
    from safety.followup.models import DevMessage

    message = db.session.scalars(select(DevMessage).where(DevMessage.outbox_id == row.id)).one()
    assert "review follow-up answer" in message.body and "2 working days" in message.body
    assert WROTE not in message.body


def test_the_clinics_list_warns_of_what_a_backfilled_clinic_still_lacks(
    app, make_user, make_clinic
):
    clinic = make_clinic("Backfilled Physio")
    clinic.duty_email, clinic.phone, clinic.country = "needed@example.invalid", None, None
    db.session.commit()
    row_id = f"clinic-{clinic.id}"
    browser = app.test_client()
    login(browser, make_user("admin"))

    page = browser.get("/admin/clinics").get_data(as_text=True)

    row = " ".join(re.search(rf'<tr id="{row_id}">.*?</tr>', page, re.S).group(0).split())
    for warning in ("escalations go nowhere", "cannot be given a number", "patients are told 112"):
        assert warning in row
