"""A chest check nobody answered, as the treating practitioner meets it: on top of their
today page, in their language, with what to do, until they record that they called."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import csrf_token, login, post_form
from followup_helpers import NEAR_LUNG, followups_of, signer
from sqlalchemy import select, update

from safety.audit.models import AuditEvent
from safety.auth import clinics as member_clinics
from safety.auth.models import User
from safety.checklists.models import Flag
from safety.dbtypes import utcnow
from safety.errors import DomainError
from safety.extensions import db
from safety.followup import escalations, rules
from safety.followup.models import FollowUp
from safety.followup.worker import work_once
from safety.integrity.flags import verify_flags
from safety.review import flags as flags_service


@pytest.fixture
def silent_chest_check(make_user, make_session):
    """Ada's patient, needled near the lung, who has not answered the chest check for 12 h."""
    ada = make_user("practitioner", name="Ada Author", language="fr_CA")
    session = signer(make_session, ada)(NEAR_LUNG)
    chest = next(f for f in followups_of(session.id) if f.kind == rules.Kind.DAY_2)
    work_once("worker", now=chest.due_dt)
    work_once("worker", now=chest.due_dt + rules.CHEST_SILENCE)
    db.session.commit()
    return ada, session.id, session.signed_dt


def test_the_practitioner_reads_the_silence_in_their_language_and_records_the_call(
    app, silent_chest_check
):
    ada, session_id, _signed = silent_chest_check
    browser = app.test_client()
    login(browser, ada)

    page = browser.get("/sessions/").get_data(as_text=True)

    assert "Patients qui ont besoin de vous maintenant" in page
    assert "Sans réponse" in page
    assert "appelez le patient" in page
    assert f"/sessions/{session_id}" in page
    flag_id = int(page.split('id="answer-', 1)[1].split('"', 1)[0])

    handled = browser.post(
        f"/escalations/{flag_id}/handled",
        data={"action": "called", "note": "", "csrf_token": csrf_token(browser)},
    )

    assert handled.status_code == 302
    assert "appelez le patient" not in browser.get("/sessions/").get_data(as_text=True)


def test_a_silence_found_twice_is_on_the_list_once(app, silent_chest_check):
    ada, _session_id, signed = silent_chest_check
    work_once("worker", now=signed + timedelta(days=4))
    browser = app.test_client()
    login(browser, ada)

    page = browser.get("/sessions/").get_data(as_text=True)

    assert page.count("appelez le patient") == 1


@pytest.fixture
def english_silence(make_user, make_session):
    """Bea's patient, needled near the lung, silent for 12 h; returns Bea, the flag and when."""
    bea = make_user("practitioner", name="Bea Author")
    session = signer(make_session, bea)(NEAR_LUNG)
    chest = next(f for f in followups_of(session.id) if f.kind == rules.Kind.DAY_2)
    work_once("worker", now=chest.due_dt)
    raised = chest.due_dt + rules.CHEST_SILENCE
    work_once("worker", now=raised)
    db.session.commit()
    flag = db.session.scalars(select(Flag).where(Flag.kind == rules.NO_ANSWER)).one()
    return bea, flag.id, raised


def test_a_call_with_no_reply_keeps_the_patient_on_the_list_and_counts_the_calls(
    app, english_silence
):
    """A patient who did not pick up is not reached: "called" would have taken them off the
    list. The practitioner says no reply, and the list keeps them, saying how often; a double
    tap is one call."""
    bea, flag_id, _raised = english_silence
    browser = app.test_client()
    login(browser, bea)

    for _ in range(2):  # the same call, tapped twice
        tried = post_form(browser, f"/escalations/{flag_id}/no-reply")
        assert tried.status_code == 302
        assert tried.headers["Location"].endswith(f"/sessions/#answer-{flag_id}")
    assert db.session.get(Flag, flag_id).call_attempts == 1
    later = utcnow() + timedelta(minutes=20)  # and a second call, twenty minutes on
    escalations.record_no_reply(db.session.get(User, bea.id), flag_id, now=later)
    db.session.commit()
    page = browser.get("/sessions/").get_data(as_text=True)

    assert f'id="answer-{flag_id}"' in page
    assert "Your calls with no reply so far: 2 (the last at" in page
    flag = db.session.get(Flag, flag_id)
    # Nobody reached: nothing is acknowledged, so the duty address still hears of it in time.
    assert (flag.call_attempts, flag.handled_dt, flag.status) == (2, None, "open")
    attempts = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "flag.no_reply")
    ).all()
    assert [d["attempt"] for d in attempts] == [1, 2]
    assert verify_flags(db.session) is None
    # Then they pick up: recorded as called, the patient leaves the list.
    post_form(browser, f"/escalations/{flag_id}/handled", {"action": "called", "note": ""})
    assert f'id="answer-{flag_id}"' not in browser.get("/sessions/").get_data(as_text=True)


def test_compliance_reads_the_calls_with_no_reply_on_the_record(app, english_silence, make_user):
    bea, flag_id, _raised = english_silence
    browser = app.test_client()
    login(browser, bea)
    post_form(browser, f"/escalations/{flag_id}/no-reply")
    officer = app.test_client()
    login(officer, make_user("compliance"))

    record = officer.get(f"/review/records/{db.session.get(Flag, flag_id).session_id}")

    assert "The practitioner's calls with no reply: 1 (the last at" in record.get_data(as_text=True)


def test_a_call_with_no_reply_is_refused_on_an_answer_already_handled_or_another_persons(
    app, english_silence, make_user
):
    bea, flag_id, _raised = english_silence
    browser = app.test_client()
    login(browser, bea)
    other = app.test_client()
    login(other, make_user("practitioner"))

    assert post_form(other, f"/escalations/{flag_id}/no-reply").status_code == 404
    post_form(browser, f"/escalations/{flag_id}/handled", {"action": "called", "note": ""})
    refused = post_form(browser, f"/escalations/{flag_id}/no-reply", follow_redirects=True)

    assert "This answer was already handled." in refused.get_data(as_text=True)
    assert db.session.get(Flag, flag_id).call_attempts == 0
    assert browser.post(f"/escalations/{flag_id}/no-reply").status_code == 400  # no CSRF token
    assert db.session.get(Flag, flag_id).call_attempts == 0


def test_calls_with_no_reply_that_no_event_counted_are_named_by_verify(english_silence):
    bea, flag_id, _raised = english_silence
    escalations.record_no_reply(bea, flag_id)
    db.session.commit()
    assert verify_flags(db.session) is None

    # An insider adds calls that were never made, to show the patient was chased.
    db.session.execute(update(Flag).where(Flag.id == flag_id).values(call_attempts=3))
    db.session.commit()

    assert verify_flags(db.session) == (
        f"the calls with no reply of flag {flag_id} are not the ones its flag.no_reply events "
        "counted"
    )


def test_a_patient_nobody_reached_still_goes_to_the_duty_address_in_time(english_silence):
    """A call with no reply is not a patient reached (a review found it stopped every
    escalation): the duty address hears of the silence at its deadline all the same."""
    bea, flag_id, raised = english_silence
    escalations.record_no_reply(bea, flag_id, now=raised + timedelta(minutes=5))
    db.session.commit()

    work_once("worker", now=raised + timedelta(days=2))

    assert db.session.get(Flag, flag_id).escalated_dt is not None


def test_a_last_call_moved_in_time_is_named_by_verify(english_silence):
    bea, flag_id, raised = english_silence
    escalations.record_no_reply(bea, flag_id, now=raised + timedelta(hours=1))
    db.session.commit()

    # An insider makes the last call look more recent than it was.
    db.session.execute(
        update(Flag).where(Flag.id == flag_id).values(last_attempt_dt=raised + timedelta(hours=9))
    )
    db.session.commit()

    assert verify_flags(db.session) == (
        f"flag {flag_id} is marked last_attempt at a time no event on the audit chain has"
    )


def test_a_call_with_no_reply_on_a_silence_the_patient_has_since_answered_is_refused(
    english_silence,
):
    bea, flag_id, raised = english_silence
    flag = db.session.get(Flag, flag_id)
    followup = db.session.get(FollowUp, flag.followup_id)
    escalations.close_silence(followup, now=raised + timedelta(hours=1))  # a late answer
    db.session.commit()

    with pytest.raises(DomainError) as refused:
        escalations.record_no_reply(bea, flag_id, now=raised + timedelta(hours=2))

    assert refused.value.errors["action"] == "This is no longer on your list: the record says why."
    db.session.rollback()
    assert db.session.get(Flag, flag_id).call_attempts == 0


def test_a_compliance_officer_cannot_acknowledge_a_silence_away(app, english_silence, make_user):
    """Acknowledging would stop the silence going to the duty address, and a reviewer's click
    is not a clinician calling the patient."""
    _bea, flag_id, _raised = english_silence
    officer = app.test_client()
    login(officer, make_user("compliance"))

    refused = post_form(officer, f"/review/flags/{flag_id}/acknowledge", follow_redirects=True)

    assert "waits for the practitioner who treated the patient" in refused.get_data(as_text=True)
    assert db.session.get(Flag, flag_id).status == "open"


def test_a_silence_acknowledged_behind_the_applications_back_is_named_by_verify(english_silence):
    """A call with no reply acknowledges nothing, so its event cannot stand for an
    acknowledgement an insider wrote to stop the silence reaching the duty address."""
    bea, flag_id, raised = english_silence
    escalations.record_no_reply(bea, flag_id, now=raised + timedelta(minutes=5))
    db.session.commit()

    db.session.execute(
        update(Flag)
        .where(Flag.id == flag_id)
        .values(status="acknowledged", acknowledged_dt=raised + timedelta(minutes=5))
    )
    db.session.commit()

    assert verify_flags(db.session) == (
        f"flag {flag_id} is marked acknowledged with no event on the audit chain"
    )


def test_compliance_reads_why_it_cannot_acknowledge_a_silence(app, english_silence, make_user):
    _bea, flag_id, _raised = english_silence
    officer = app.test_client()
    login(officer, make_user("compliance"))
    session_id = db.session.get(Flag, flag_id).session_id

    for page in (officer.get("/review/flags"), officer.get(f"/review/records/{session_id}")):
        text = page.get_data(as_text=True)
        assert "Waits for the practitioner who treated the patient to acknowledge it." in text
        assert f"/review/flags/{flag_id}/acknowledge" not in text


def test_a_silence_sent_on_because_its_practitioner_left_heads_the_compliance_queue(
    app, english_silence, make_user, make_session
):
    """Acknowledged by a practitioner who then left: nobody else has the patient, so it is at
    the top of the queue, saying why, and not below every open flag."""
    bea, flag_id, raised = english_silence
    flags_service.acknowledge_flag(bea, flag_id, now=raised + timedelta(minutes=1))
    db.session.get(User, bea.id).is_enabled = False
    db.session.commit()
    work_once("worker", now=raised + timedelta(minutes=2))
    # An open flag raised later, which would otherwise sort above an acknowledged one.
    bleeding = {"signout.bleeding": ["prolonged"], "signout.bleeding.note": ["Six minutes."]}
    other = make_session(
        make_user("practitioner"),
        phases=("signin", "timeout", "signout"),
        overrides=bleeding,
        sign=True,
    )
    assert db.session.scalars(select(Flag).where(Flag.session_id == other.id)).first()
    officer = app.test_client()
    login(officer, make_user("compliance"))

    queue = officer.get("/review/flags").get_data(as_text=True)

    assert re.search(r'<tr id="flag-(\d+)"', queue).group(1) == str(flag_id)
    assert "the practitioner who treated the patient no longer treats patients here" in queue


def test_the_last_call_is_told_in_the_time_of_the_patients_clinic(
    app, english_silence, make_clinic
):
    """A practitioner of two clinics, now working at one in Toronto, reads the call they made
    about a London patient at London's time, as the rest of that patient's record is."""
    bea, flag_id, raised = english_silence
    called = raised.replace(hour=9, minute=0, second=0, microsecond=0)  # 09:00 UTC, winter
    escalations.record_no_reply(bea, flag_id, now=called)
    toronto = make_clinic("Toronto Physio", timezone="America/Toronto")
    member_clinics.ensure_member(bea, toronto.id)
    member_clinics.switch(bea, toronto.id)
    db.session.commit()
    browser = app.test_client()
    login(browser, db.session.get(User, bea.id))

    page = browser.get("/sessions/").get_data(as_text=True)

    answer = page.split(f'id="answer-{flag_id}"', 1)[1].split("</li>", 1)[0]
    assert "09:00" in answer  # London, where the patient was treated; not Toronto's 04:00
