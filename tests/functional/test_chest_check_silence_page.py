"""A chest check nobody answered, as the treating practitioner meets it: on top of their
today page, in their language, with what to do, until they record that they called."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import csrf_token, login
from followup_helpers import NEAR_LUNG, followups_of, signer

from safety.extensions import db
from safety.followup import rules
from safety.followup.worker import work_once


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
