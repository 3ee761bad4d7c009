"""More taps at once over real HTTP (see test_double_tap.py): each identical double tap leaves
one outcome and no error page telling the person who just did it that it was already done."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from conftest import CLEAN_PHASES, PASSWORD
from factories import london_minutes_ago, report_form
from sqlalchemy import func, select, update
from test_double_tap import at_once, signed_in

from safety.audit.models import AuditEvent
from safety.dbtypes import utcnow
from safety.extensions import db


@pytest.fixture
def practitioner(make_user):
    return make_user()


def events(action: str, object_id=None) -> int:
    db.session.expire_all()
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == str(object_id))
    return db.session.scalar(query)


def said(answers, *phrases: str) -> list[str]:
    """The sentences of the answers' pages that contain any of `phrases`."""
    return [
        found
        for _, _, page in answers
        for phrase in phrases
        for found in re.findall(rf"[^<>]*{phrase}[^<>]*", page)
    ]


def field(page: str, name: str) -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]*)"', page).group(1)


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_taps_on_save_time_out_save_it_once_and_no_conflict_page(
    app, practitioner, make_session, served
):
    """The second tap met "saved from another screen", with the practitioner's own save
    shown back to them as someone else's."""
    session_id = make_session(practitioner, phases=("signin",)).id
    db.session.commit()
    browser = signed_in(served, practitioner.email)
    url = f"/sessions/{session_id}/phase/timeout"
    _, _, page = browser.get(url)
    form = {k: v[0] for k, v in CLEAN_PHASES["timeout"].items()}
    form |= {"csrf_token": field(page, "csrf_token"), "opened_entry": field(page, "opened_entry")}

    answers = at_once(2, lambda _: browser.post(url, form))

    assert said(answers, "another screen") == []
    assert [status for status, _, _ in answers] == [200, 200]
    saves = db.session.scalars(
        select(AuditEvent.details["phase"].as_string()).where(
            AuditEvent.action == "session.phase_submit",
            AuditEvent.object_id == str(session_id),
        )
    ).all()
    assert sorted(saves) == ["signin", "timeout"]


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_taps_on_report_and_sign_report_one_incident(app, practitioner, served):
    """Each tap signed its own incident: two reports of one needlestick."""
    from safety.incidents.models import Incident

    browser = signed_in(served, practitioner.email)
    form = report_form(password=PASSWORD, csrf_token=browser.csrf("/incidents/new"))

    answers = at_once(2, lambda _: browser.post("/incidents/new", form))

    assert not [status for status, _, _ in answers if status >= 500]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 1
    assert events("incident.report") == 1


def reported_incident(practitioner) -> int:
    from factories import sharps_report

    from safety.incidents import services as incidents

    incident = incidents.report_incident(
        practitioner, sharps_report(utcnow()), session_id=None, password=PASSWORD
    )
    db.session.commit()
    return incident.id


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_taps_on_tick_a_step_tick_it_once_and_no_already_ticked_page(app, practitioner, served):
    from safety.incidents.models import IncidentStep

    incident_id = reported_incident(practitioner)
    browser = signed_in(served, practitioner.email)
    record = f"/incidents/{incident_id}"
    form = {"done_dt": london_minutes_ago(1), "note": "", "csrf_token": browser.csrf(record)}

    answers = at_once(2, lambda _: browser.post(f"{record}/steps/wash", form))

    assert said(answers, "already ticked") == []
    assert [status for status, _, _ in answers] == [200, 200]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(IncidentStep)) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_taps_on_record_a_report_record_it_once(app, practitioner, served):
    from safety.incidents.models import ExternalReport

    incident_id = reported_incident(practitioner)
    browser = signed_in(served, practitioner.email)
    record = f"/incidents/{incident_id}"
    form = {
        "body": "mhra_yellow_card",
        "reported_on": london_minutes_ago(0)[:10],
        "reference": "RIDDOR 2026-0007",
        "csrf_token": browser.csrf(record),
    }

    answers = at_once(2, lambda _: browser.post(f"{record}/reports", form))

    assert not [status for status, _, _ in answers if status >= 400]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ExternalReport)) == 1
    assert events("incident.external_report") == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_three_taps_on_save_a_patients_details_change_them_once(
    app, practitioner, make_patient, served
):
    patient_id = make_patient(practitioner).id
    db.session.commit()
    browser = signed_in(served, practitioner.email)
    url = f"/patients/{patient_id}/edit"
    form = {
        "given_name": "Ada",
        "family_name": "Lovelace-King",
        "email": "ada.king@example.org",
        "phone": "",
        "birth_date": "",
        "language": "en",
        "is_followup_consent": "y",
        "csrf_token": browser.csrf(url),
    }

    answers = at_once(3, lambda _: browser.post(url, form))

    assert {status for status, _, _ in answers} == {200}
    assert events("patient.update", patient_id) == 1


def admin_with_draft(make_user, served):
    """An administrator signed in, and a draft copied from the current template."""
    from safety.risks import editor
    from safety.risks import services as risks

    admin = make_user("admin")
    risks.publish_default(via="test")
    draft_id = editor.copy_version(risks.current_template().id, actor=admin).id
    db.session.commit()
    return signed_in(served, admin.email), draft_id


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_publish_publish_once_and_no_error(app, make_user, served):
    browser, draft_id = admin_with_draft(make_user, served)
    _, _, page = browser.get(f"/admin/templates/{draft_id}/publish")
    form = {"csrf_token": field(page, "csrf_token"), "seen": field(page, "seen")}

    answers = at_once(2, lambda _: browser.post(f"/admin/templates/{draft_id}/publish", form))

    assert {status for status, _, _ in answers} == {200}
    assert events("template.publish", draft_id) == 1
    assert said(answers, "cannot change", "already published") == []


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_discard_discard_once_and_no_error(app, make_user, served):
    browser, draft_id = admin_with_draft(make_user, served)
    token = browser.csrf(f"/admin/templates/{draft_id}")

    answers = at_once(
        2, lambda _: browser.post(f"/admin/templates/{draft_id}/discard", {"csrf_token": token})
    )

    assert {status for status, _, _ in answers} == {200}
    assert events("template.discard", draft_id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_send_a_new_invitation_send_one(app, make_user, served):
    """Each click issued and mailed a link: two mails, and the first one's link dead."""
    from safety.auth import invitations
    from safety.auth.models import Invitation, User

    admin = make_user("admin")
    clinic_id = make_user().clinic_id
    user, _ = invitations.invite(
        email="inv@clinic.test",
        name="Ina Vite",
        role="practitioner",
        clinic_id=clinic_id,
        actor=admin,
    )
    user_id = user.id
    # Made and invited some minutes ago: the person asks for a new link.
    made = utcnow() - timedelta(minutes=5)
    db.session.execute(update(User).where(User.id == user_id).values(password_changed_dt=made))
    db.session.execute(
        update(Invitation).where(Invitation.user_id == user_id).values(created_dt=made)
    )
    db.session.commit()
    browser = signed_in(served, admin.email)
    _, _, page = browser.get(f"/admin/users/{user_id}")
    form = {"csrf_token": field(page, "csrf_token"), "replaces": field(page, "replaces")}

    answers = at_once(2, lambda _: browser.post(f"/admin/users/{user_id}/invite", form))

    assert {status for status, _, _ in answers} == {200}
    invites = db.session.scalar(
        select(func.count()).select_from(Invitation).where(Invitation.user_id == user_id)
    )
    assert invites == 2  # the first, when the account was made, and one new one


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_taps_on_confirm_the_app_set_it_up_once(app, practitioner, served):
    """Each tap made its own recovery codes, so one page showed codes the other had replaced:
    written down, they would not have worked."""
    from safety.auth.models import RecoveryCode

    browser = signed_in(served, practitioner.email)
    _, _, page = browser.get("/auth/two-step")
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    form = {"code": pyotp.TOTP(secret).now(), "csrf_token": field(page, "csrf_token")}

    answers = at_once(2, lambda _: browser.post("/auth/two-step", form))

    assert not [status for status, _, _ in answers if status >= 500]
    db.session.expire_all()
    codes = db.session.scalar(select(func.count()).where(RecoveryCode.user_id == practitioner.id))
    enrolled = events("auth.mfa_enrol", practitioner.id)
    assert (enrolled, codes) == (1, 10)
    # The other press says what happened, and how to get codes if that page was lost.
    assert sum("the button was pressed twice" in page for _, _, page in answers) == 1
