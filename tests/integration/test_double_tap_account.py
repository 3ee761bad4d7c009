"""Double taps over real HTTP on a person's own buttons (see test_double_tap.py): a patient's
language and stop link, a practitioner's password, language and clinic. Each identical double
tap leaves one outcome, one event, and no page telling the person who has just done it that
it failed (a review found each of them written twice, or the second tap refused)."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from test_double_tap import Browser, at_once, signed_in
from test_double_tap_more import events, said

from safety.extensions import db

NEW_PASSWORD = "violet-Harbour-lantern-93"


@pytest.fixture
def practitioner(make_user):
    return make_user()


def no_error_pages(answers, taps: int = 2) -> None:
    """Every tap was answered, and with the page of what was done: no refusal, no error."""
    assert len(answers) == taps
    assert {status for status, _, _ in answers} == {200}, [
        (status, url) for status, url, _ in answers
    ]


# --- a practitioner's own buttons ----------------------------------------------------------


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_taps_on_a_patients_language_save_it_once(app, practitioner, make_patient, served):
    patient_id = make_patient(practitioner).id
    db.session.commit()
    browser = signed_in(served, practitioner.email)
    form = {"language": "es", "csrf_token": browser.csrf("/patients/")}

    answers = at_once(2, lambda _: browser.post(f"/patients/{patient_id}/language", form))

    no_error_pages(answers)
    assert events("patient.language", patient_id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_taps_on_a_patients_stop_link_stop_once(app, practitioner, make_session, served):
    from followup_helpers import deliver_first_check, signer

    from safety.checklists.models import TreatmentSession

    session = signer(make_session, practitioner)()
    _, token = deliver_first_check(session)
    patient_id = db.session.get(TreatmentSession, session.id).patient_id
    db.session.commit()
    patient = Browser(served.url)
    form = {"csrf_token": patient.csrf(f"/f/{token}/stop")}

    answers = at_once(2, lambda _: patient.post(f"/f/{token}/stop", form))

    no_error_pages(answers)
    assert events("patient.opt_out", patient_id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_taps_on_change_password_change_it_once(app, practitioner, served):
    browser = signed_in(served, practitioner.email)
    form = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "csrf_token": browser.csrf("/auth/password"),
    }

    answers = at_once(2, lambda _: browser.post("/auth/password", form))

    assert said(answers, "not your current password") == []
    no_error_pages(answers)
    assert events("auth.password_changed", practitioner.id) == 1
    assert events("auth.password_change_failed", practitioner.id) == 0


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_four_taps_on_save_my_language_save_it_once(app, practitioner, served):
    browser = signed_in(served, practitioner.email)
    form = {"language": "fr_CA", "csrf_token": browser.csrf("/auth/language")}

    answers = at_once(4, lambda _: browser.post("/auth/language", form))

    no_error_pages(answers, taps=4)
    assert events("user.language", practitioner.id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_taps_on_switch_clinic_switch_once(app, practitioner, make_clinic, served):
    from safety.auth import clinics

    other_id = make_clinic().id
    clinics.ensure_member(practitioner, practitioner.clinic_id)
    clinics.ensure_member(practitioner, other_id)
    db.session.commit()
    browser = signed_in(served, practitioner.email)
    form = {"clinic": str(other_id), "csrf_token": browser.csrf("/auth/clinic")}

    answers = at_once(2, lambda _: browser.post("/auth/clinic", form))

    assert said(answers, "Choose one of your clinics") == []
    no_error_pages(answers)
    assert events("user.switch_clinic", practitioner.id) == 1
