"""The follow-up chosen at Sign out is the patient's: the server refuses a channel the patient
cannot receive, whatever the form says (the page only disables it in the browser)."""

from __future__ import annotations

import re

import pytest
from conftest import CLEAN_PHASES, PASSWORD, login, post_form, saved
from htmlpage import elements
from sqlalchemy import select

from safety.checklists.models import PhaseEntry, TreatmentSession
from safety.dbtypes import utcnow
from safety.extensions import db


@pytest.fixture
def practitioner(make_user, make_clinic):
    return make_user("practitioner", clinic=make_clinic(), name="Grace Hopper")


@pytest.fixture
def signed_in(client, practitioner):
    assert login(client, practitioner).status_code == 302
    return client


def at_sign_out(make_session, make_patient, practitioner, case: str) -> int:
    """A session up to Sign out for a patient who, as `case` says, cannot get one channel."""
    patient = make_patient(practitioner)  # email on file, no mobile, consent given
    if case == "no consent":
        patient.is_followup_consent = False
    elif case == "opted out":
        patient.opted_out_dt = utcnow()
    elif case == "no email":
        patient.email, patient.phone = None, "+44 7700 900123"
    saved(patient)
    return make_session(practitioner, phases=("signin", "timeout"), patient=patient).id


CASES = {
    "no consent": ("email", "has not agreed to follow-up messages"),
    "opted out": ("email", "stopped follow-up messages"),
    "no email": ("email", "no email address on file"),
    "no mobile": ("sms", "no mobile number on file"),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("signing", [False, True], ids=["save", "save-and-sign"])
def test_a_crafted_sign_out_naming_a_channel_the_patient_cannot_receive_is_refused(
    signed_in, practitioner, make_session, make_patient, case, signing
):
    session_id = at_sign_out(make_session, make_patient, practitioner, case)
    channel, reason = CASES[case]
    data = {**CLEAN_PHASES["signout"], "signout.followup": channel}
    if signing:
        data |= {"action": "sign", "password": PASSWORD}

    response = post_form(signed_in, f"/sessions/{session_id}/phase/signout", data)

    assert response.status_code == 400
    beside = elements(response).get("signout.followup-error")
    assert beside is not None and reason in " ".join(beside.text.split())
    db.session.expire_all()
    saved_phases = db.session.scalars(
        select(PhaseEntry.phase).where(PhaseEntry.session_id == session_id)
    ).all()
    assert "signout" not in saved_phases
    assert db.session.get(TreatmentSession, session_id).signed_dt is None


@pytest.mark.parametrize("case", CASES)
def test_declining_follow_up_is_saved_for_a_patient_who_cannot_be_reached(
    signed_in, practitioner, make_session, make_patient, case
):
    session_id = at_sign_out(make_session, make_patient, practitioner, case)
    data = {**CLEAN_PHASES["signout"], "signout.followup": "declined"}

    response = post_form(signed_in, f"/sessions/{session_id}/phase/signout", data)

    assert response.status_code == 302
    entry = db.session.scalars(
        select(PhaseEntry).where(PhaseEntry.session_id == session_id, PhaseEntry.phase == "signout")
    ).one()
    assert entry.answers["signout.followup"] == "declined"


@pytest.mark.parametrize("case", CASES)
def test_sign_out_has_declined_chosen_already_when_no_channel_can_reach_the_patient(
    signed_in, practitioner, make_session, make_patient, case
):
    session_id = at_sign_out(make_session, make_patient, practitioner, case)

    page = signed_in.get(f"/sessions/{session_id}/phase/signout").get_data(as_text=True)

    radios = re.findall(r'<input type="radio" name="signout\.followup" value="(\w+)"([^>]*)>', page)
    checked = {value for value, attributes in radios if "checked" in attributes}
    # A patient reachable by one channel still chooses: they may decline today.
    assert checked == ({"declined"} if case in ("no consent", "opted out") else set())
