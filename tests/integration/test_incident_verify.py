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
