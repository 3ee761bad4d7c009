"""`flask audit verify` covers the incidents: a report, its injured person, an addendum or a
ticked step changed behind the application is named, even with its own hash recomputed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import PASSWORD
from factories import sharps_report
from insider import guards_off
from sqlalchemy import text

from safety.dbtypes import utcnow
from safety.extensions import db
from safety.hashing import canonical_json, sha256_hex
from safety.incidents import services
from safety.incidents.models import Incident


@pytest.fixture
def incident(make_user):
    practitioner = make_user()
    now = utcnow()
    found = services.report_incident(
        practitioner,
        sharps_report(now, occurred_dt=now - timedelta(minutes=10)),
        session_id=None,
        password=PASSWORD,
        now=now,
    )
    services.tick_step(practitioner, found.id, "wash", done_dt=now - timedelta(minutes=8))
    services.add_addendum(
        practitioner, found.id, reason="Site", body="Left index finger.", password=PASSWORD
    )
    db.session.commit()
    return found.id


def verify(runner) -> tuple[int, str]:
    result = runner.invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def test_untouched_incidents_verify_as_intact(runner, incident):
    code, output = verify(runner)
    assert code == 0, output


def test_a_report_rewritten_with_a_matching_hash_is_caught_by_its_event(runner, incident):
    with guards_off():
        db.session.execute(
            text("UPDATE incidents SET how = 'during_use' WHERE id = :id"), {"id": incident}
        )
        db.session.commit()
        db.session.expire_all()
        forged = db.session.get(Incident, incident)
        new_hash = sha256_hex(canonical_json(services.signed_content(forged, forged.person)))
        db.session.execute(
            text("UPDATE incidents SET content_hash = :h WHERE id = :id"),
            {"h": new_hash, "id": incident},
        )
    code, output = verify(runner)
    assert code == 1
    assert f"incident {incident} was altered" in output


def test_a_renamed_injured_person_is_caught(runner, incident):
    with guards_off():
        db.session.execute(text("UPDATE incident_people SET name = 'Someone Else'"))
    code, output = verify(runner)
    assert code == 1
    assert f"incident {incident} was altered" in output


def test_an_edited_step_time_is_caught(runner, incident):
    with guards_off():
        db.session.execute(
            text("UPDATE incident_steps SET done_dt = :t"), {"t": utcnow() - timedelta(minutes=9)}
        )
    code, output = verify(runner)
    assert code == 1
    assert "step" in output and "was altered" in output


def test_a_deleted_addendum_is_caught_by_its_event(runner, incident):
    with guards_off():
        db.session.execute(text("DELETE FROM incident_addenda"))
    code, output = verify(runner)
    assert code == 1
    assert "is on the audit chain but missing" in output


def test_a_note_added_to_a_ticked_step_is_caught(runner, incident):
    """An insider's review added "Occupational health: no PEP needed" to a step unnoticed."""
    with guards_off():
        db.session.execute(
            text("UPDATE incident_steps SET note = 'Occupational health: no PEP needed'")
        )
    code, output = verify(runner)
    assert code == 1
    assert "the note or the name on step" in output


@pytest.fixture
def reported_outside(incident, make_user):
    """The incident reported to a regulator, with the reference it gave."""
    from safety.auth.models import User

    reporter = db.session.get(User, db.session.get(Incident, incident).reported_by_id)
    services.record_external_report(
        reporter,
        incident,
        body="health_canada",
        reported_on=utcnow().date(),
        reference="HC-2026-0001",
    )
    db.session.commit()
    return incident


@pytest.mark.parametrize(
    "forgery",
    [
        "UPDATE incident_reports SET reference = 'HC-2026-9999'",
        "UPDATE incident_reports SET reported_on = '2020-01-01'",
        "DELETE FROM incident_reports",
    ],
)
def test_a_report_outside_the_clinic_changed_or_deleted_is_caught(
    runner, reported_outside, forgery
):
    assert verify(runner)[0] == 0
    with guards_off():
        db.session.execute(text(forgery))
    code, output = verify(runner)
    assert code == 1
    assert "report outside the clinic" in output
