""" "Verify now": a compliance officer asks, the worker runs verify and links the run.

Through the routes with CSRF on, and through `flask reminders work --once` as the worker runs
in production; verify itself is real (a record changed behind the application is found).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import login, post_form
from factories import CLEAN_PHASES
from insider import guards_off
from sqlalchemy import select, text

from safety.audit.models import AuditEvent
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.integrity import requests as verification
from safety.integrity.models import VerificationRequest, VerificationRun


@pytest.fixture
def officer(make_user):
    return make_user("compliance", name="Cora Compliance")


@pytest.fixture
def signed(make_clinic, make_user, make_patient, make_session):
    clinic = make_clinic("Harbour Physio", timezone="Europe/London")
    ada = make_user("practitioner", clinic=clinic, name="Ada Author")
    record = make_session(ada, phases=list(CLEAN_PHASES), sign=True)
    db.session.commit()
    return record.id


def test_an_officer_asks_and_the_worker_verifies_and_the_page_shows_the_result(
    client, runner, officer, signed
):
    login(client, officer)
    asked = post_form(client, "/review/verification/")
    assert asked.status_code == 302
    waiting = client.get("/review/verification/")
    page = waiting.get_data(as_text=True)
    assert "Waiting for the worker" in page and "Cora Compliance" in page
    assert waiting.headers["Refresh"] == "5"  # it updates itself while it waits
    assert (
        db.session.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1))
        == "audit.verify_requested"
    )

    result = runner.invoke(args=["reminders", "work", "--once"])

    assert result.exit_code == 0, result.output
    assert "verified the audit trail as asked: intact" in result.output
    done = client.get("/review/verification/")
    assert "Refresh" not in done.headers
    assert "intact (" in done.get_data(as_text=True)
    assert "Verify now" in done.get_data(as_text=True)
    request = db.session.scalar(select(VerificationRequest))
    assert request.run.is_intact and request.finished_dt is not None
    assert "Times are in Europe/London" in done.get_data(as_text=True)


def test_a_record_changed_behind_the_application_is_reported_on_the_page(
    client, runner, officer, signed
):
    with guards_off():  # an insider with the database changes a signed record
        db.session.execute(
            text("UPDATE treatment_sessions SET content_hash = :h WHERE id = :id"),
            {"h": "0" * 64, "id": signed},
        )
    login(client, officer)
    post_form(client, "/review/verification/")

    runner.invoke(args=["reminders", "work", "--once"])

    page = client.get("/review/verification/").get_data(as_text=True)
    assert "a problem was found" in page


def test_asking_again_while_one_waits_joins_it(client, officer, signed):
    login(client, officer)
    post_form(client, "/review/verification/")
    again = post_form(client, "/review/verification/", follow_redirects=True)

    assert "already under way" in again.get_data(as_text=True)
    assert len(db.session.scalars(select(VerificationRequest)).all()) == 1


def test_two_workers_never_run_the_same_request(officer, signed):
    verification.request_verification(officer)
    db.session.commit()

    first = verification.run_next("host:1")
    second = verification.run_next("host:2")

    assert first is not None and first.worker == "host:1" and first.run_id is not None
    assert second is None
    assert db.session.query(VerificationRun).count() == 1


def test_a_request_a_dead_worker_left_running_is_taken_over_after_the_lease(officer, signed):
    now = utcnow()
    request, _ = verification.request_verification(officer, now=now)
    request.started_dt, request.worker = now - timedelta(hours=2), "gone:1"
    db.session.commit()

    # Within the hour it may still be running somewhere: left alone.
    assert verification.run_next("host:2", now=now - timedelta(hours=1, minutes=1)) is None
    taken = verification.run_next("host:2", now=now)

    assert taken is not None and taken.worker == "host:2" and taken.run.is_intact


@pytest.mark.parametrize("role", ["practitioner", "admin"])
def test_only_compliance_officers_ask(client, make_user, make_clinic, role):
    clinic = make_clinic("Harbour Physio")
    user = make_user(role, clinic=clinic if role == "practitioner" else None)
    db.session.commit()
    login(client, user)

    assert client.get("/review/verification/").status_code == 403
    assert post_form(client, "/review/verification/").status_code == 403
    assert db.session.scalars(select(VerificationRequest)).all() == []


def test_asking_without_the_csrf_token_changes_nothing(client, officer):
    login(client, officer)

    refused = client.post("/review/verification/", data={})

    assert refused.status_code == 400
    assert db.session.scalars(select(VerificationRequest)).all() == []
