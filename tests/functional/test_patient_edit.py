"""A practitioner corrects a patient's details (contact, consent to follow-up, language):
saved and audited without the contact details in the audit trail, refused with a message
beside the field, and out of reach for another clinic or another role."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, login, post_form
from sqlalchemy import select

from safety.audit.models import AuditEvent
from safety.clinics.models import Patient
from safety.extensions import db


@pytest.fixture
def clinic_people(make_clinic, make_user, make_patient):
    harbour = make_clinic("Harbour Physio")
    lakeside = make_clinic("Lakeside Physio")
    ada = make_user("practitioner", clinic=harbour, name="Ada Author")
    olga = make_user("practitioner", clinic=lakeside, name="Olga Other")
    officer = make_user("compliance", name="Cora Compliance")
    pat = make_patient(ada, given_name="Pat", family_name="Harbourside")
    db.session.commit()
    return ada, olga, officer, pat.id


def form(**changes):
    return {
        "given_name": "Pat",
        "family_name": "Harbourside",
        "email": "pat.new@example.org",
        "phone": "+44 7700 900123",
        "language": "fr_CA",
        "is_followup_consent": "y",
        **changes,
    }


def test_a_practitioner_corrects_the_contact_and_language_and_it_is_audited(client, clinic_people):
    ada, _, _, pat = clinic_people
    login(client, ada)
    page = client.get(f"/patients/{pat}/edit")
    assert page.status_code == 200
    assert 'value="ada@example.org"' in page.get_data(as_text=True)

    saved = post_form(client, f"/patients/{pat}/edit", form(), follow_redirects=True)

    assert "Details saved." in saved.get_data(as_text=True)
    patient = db.session.get(Patient, pat)
    assert (patient.email, patient.phone, patient.language) == (
        "pat.new@example.org",
        "+44 7700 900123",
        "fr_CA",
    )
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.update"))
    assert event.actor_id == ada.id and event.object_id == str(pat)
    assert event.details == {"changed": ["email", "phone", "language"], "language": "fr_CA"}
    assert "pat.new@example.org" not in str(event.details)


def test_withdrawing_consent_is_recorded_as_such(client, clinic_people):
    ada, _, _, pat = clinic_people
    login(client, ada)

    post_form(
        client,
        f"/patients/{pat}/edit",
        form(email="ada@example.org", phone="", language="en", is_followup_consent=""),
    )

    assert db.session.get(Patient, pat).is_followup_consent is False
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.update"))
    assert event.details == {"changed": ["is_followup_consent"], "followup_consent": False}


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"email": "not an address"}, "Enter an email address like name@example.com."),
        ({"email": "", "phone": ""}, "Follow-up needs an email address or a phone number."),
        ({"given_name": "  "}, "Enter the patient&#39;s first name."),
        ({"language": "xx"}, "Choose the language the patient reads."),
        ({"birth_date": "2999-01-01"}, "Enter the date of birth as a past date"),
        ({"birth_date": "14/03/1980"}, "Enter the date of birth as a past date"),
        ({"birth_date": "1980-02-30"}, "Enter the date of birth as a past date"),
    ],
)
def test_bad_details_are_refused_beside_the_field_and_nothing_changes(
    client, clinic_people, changes, field_message
):
    ada, _, _, pat = clinic_people
    login(client, ada)

    refused = post_form(client, f"/patients/{pat}/edit", form(**changes))

    assert refused.status_code == 400
    assert field_message in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Patient, pat).email == "ada@example.org"
    assert (
        db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.update")) is None
    )


def test_another_clinic_or_another_role_cannot_edit(app, clinic_people):
    _, olga, officer, pat = clinic_people
    emails = (olga.email, officer.email)
    outsider, reviewer = app.test_client(), app.test_client()
    post_form(outsider, "/auth/login", {"email": emails[0], "password": PASSWORD})
    post_form(reviewer, "/auth/login", {"email": emails[1], "password": PASSWORD})

    assert outsider.get(f"/patients/{pat}/edit").status_code == 404
    assert post_form(outsider, f"/patients/{pat}/edit", form()).status_code == 404
    assert reviewer.get(f"/patients/{pat}/edit").status_code == 403
    db.session.expire_all()
    assert db.session.get(Patient, pat).email == "ada@example.org"


def test_saving_without_the_csrf_token_changes_nothing(client, clinic_people):
    ada, _, _, pat = clinic_people
    login(client, ada)

    refused = client.post(f"/patients/{pat}/edit", data=form())

    assert refused.status_code == 400
    db.session.expire_all()
    assert db.session.get(Patient, pat).email == "ada@example.org"


def test_a_date_of_birth_is_saved_shown_on_the_form_and_audited_by_name_only(client, clinic_people):
    ada, _, _, pat = clinic_people
    login(client, ada)

    post_form(client, f"/patients/{pat}/edit", form(birth_date="1980-03-14"))

    assert str(db.session.get(Patient, pat).birth_date) == "1980-03-14"
    assert 'value="1980-03-14"' in client.get(f"/patients/{pat}/edit").get_data(as_text=True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.update"))
    assert "birth_date" in event.details["changed"]
    assert "1980" not in str(event.details)
    # The patients list tells two patients of one name apart by it too.
    assert "14 Mar 1980" in client.get("/patients/").get_data(as_text=True)
