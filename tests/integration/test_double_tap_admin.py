"""An administrator's double clicks over real HTTP (see test_double_tap.py): each action on a
person's page is done and recorded once. Before, each click checked the old state and wrote
its own event (two deactivations, two role changes, two unlocks, two resets, two clinics
added), a review found. The second click is now told the truth about what the first did
("already deactivated"), which these tests leave it to say."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from test_double_tap import at_once, signed_in
from test_double_tap_more import events

from safety.dbtypes import utcnow
from safety.extensions import db


@pytest.fixture
def practitioner(make_user):
    return make_user()


def admin_clicks(make_user, served, user_id: int, action: str, form: dict | None = None):
    """An administrator clicks a button on a person's page twice at once."""
    admin = make_user("admin")
    db.session.commit()
    browser = signed_in(served, admin.email)
    form = {**(form or {}), "csrf_token": browser.csrf(f"/admin/users/{user_id}")}
    answers = at_once(2, lambda _: browser.post(f"/admin/users/{user_id}/{action}", form))
    assert not [status for status, _, _ in answers if status >= 500]
    return answers


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_deactivate_deactivate_once(app, make_user, practitioner, served):
    admin_clicks(make_user, served, practitioner.id, "deactivate")

    assert events("user.deactivate", practitioner.id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_reactivate_reactivate_once(app, make_user, practitioner, served):
    from safety.auth import services as auth

    auth.deactivate_user(practitioner.id, actor=None)

    admin_clicks(make_user, served, practitioner.id, "reactivate")

    assert events("user.reactivate", practitioner.id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_make_lead_make_them_lead_once(app, make_user, practitioner, served):
    admin_clicks(make_user, served, practitioner.id, "lead")

    assert events("user.clinic_lead", practitioner.id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_unlock_unlock_once(app, make_user, practitioner, served):
    from safety.auth.models import User

    db.session.execute(
        update(User)
        .where(User.id == practitioner.id)
        .values(locked_until_dt=utcnow() + timedelta(hours=1), failed_login_count=5)
    )

    admin_clicks(make_user, served, practitioner.id, "unlock")

    assert events("user.unlock", practitioner.id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_reset_two_step_reset_it_once(app, make_user, practitioner, served):
    from safety.auth import second_factor

    second_factor.pending_secret(practitioner)

    admin_clicks(make_user, served, practitioner.id, "two-step-reset")

    assert events("user.mfa_reset", practitioner.id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_change_role_change_it_once(app, make_user, practitioner, served):
    admin_clicks(make_user, served, practitioner.id, "role", {"role": "compliance", "clinic": ""})

    assert events("user.role_change", practitioner.id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_add_a_clinic_add_it_once(app, make_user, make_clinic, practitioner, served):
    other_id = make_clinic().id

    admin_clicks(make_user, served, practitioner.id, "clinics", {"clinic": str(other_id)})

    assert events("user.clinic_add", practitioner.id) == 1


@pytest.mark.real_commits  # the served app's threads have connections of their own
def test_two_clicks_on_save_a_clinic_save_it_once(app, make_user, make_clinic, served):
    clinic_id = make_clinic().id
    admin = make_user("admin")
    db.session.commit()
    browser = signed_in(served, admin.email)
    url = f"/admin/clinics/{clinic_id}"
    form = {
        "name": "Harbour Street Clinic",
        "timezone": "Europe/London",
        "timezone_other": "",
        "workday_start_hour": "8",
        "workday_end_hour": "18",
        "duty_email": "duty@clinic.test",
        "duty_phone": "",
        "phone": "+44 20 7946 0001",
        "country": "GB",
        "working_days": "12345",
        "language": "en",
        "csrf_token": browser.csrf(url),
    }

    answers = at_once(2, lambda _: browser.post(url, form))

    assert {status for status, _, _ in answers} == {200}
    assert events("clinic.update", clinic_id) == 1
