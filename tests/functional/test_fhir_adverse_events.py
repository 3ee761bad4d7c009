"""Incidents through FHIR: each one an AdverseEvent in the read API and in the export Bundle,
validated with the fhir.resources R4B models; the injured member of staff only ever a
privacy case; another reader's id is not found; every read audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from conftest import PASSWORD, login
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from sqlalchemy import select

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.fhir import mapping
from safety.fhir import tokens as api_tokens
from safety.incidents import rules, services

INJURED = "Winifred Staffmember"
ALL_PHASES = ("signin", "timeout", "signout")


@dataclass(frozen=True)
class World:
    officer_id: int
    secret: str
    session_id: int
    patient_id: int
    sharps_id: int
    adverse_id: int
    near_miss_id: int

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


def build_world(make_user, make_session) -> World:
    officer = make_user("compliance")
    practitioner = make_user()
    session = make_session(practitioner, phases=ALL_PHASES, sign=True)
    practitioner = db.session.get(User, practitioner.id)
    now = utcnow()
    common = {"occurred_dt": now - timedelta(minutes=1), "work_area": "Room 2"}
    sharps = services.report_incident(
        practitioner,
        rules.Report(
            kind=rules.Kind.SHARPS_INJURY,
            description="Stuck while removing.",
            device_type="filiform_needle",
            device_brand="Seirin J-type",
            device_lot="LOT-2611A",
            device_purpose="removing",
            how="patient_moved",
            body_site="finger",
            is_used_on_patient=True,
            injured_name=INJURED,
            **common,
        ),
        session_id=session.id,
        password=PASSWORD,
    )
    adverse = services.report_incident(
        practitioner,
        rules.Report(
            kind=rules.Kind.ADVERSE_EVENT,
            description="Needle broke at the hub.",
            action_taken="Fragment removed.",
            event_type="retained_or_broken_needle",
            grade="serious",
            **common,
        ),
        session_id=session.id,
        password=PASSWORD,
    )
    near = services.report_incident(
        practitioner,
        rules.Report(
            kind=rules.Kind.NEAR_MISS,
            description="Torn pack found before use.",
            event_type="damaged_or_unsterile_pack",
            **common,
        ),
        session_id=None,
        password=PASSWORD,
    )
    secret = api_tokens.create_token(officer.email).secret
    db.session.commit()
    return World(officer.id, secret, session.id, session.patient_id, sharps.id, adverse.id, near.id)


pytestmark = pytest.mark.world.with_args(build_world)


def read(client, world: World, resource_id) -> AdverseEvent:
    response = client.get(f"/fhir/AdverseEvent/{resource_id}", headers=world.auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert INJURED not in response.get_data(as_text=True)
    return AdverseEvent.model_validate_json(response.data)


def test_a_sharps_injury_is_an_actual_adverse_event_with_a_privacy_case_subject(client, world):
    event = read(client, world, world.sharps_id)
    assert event.actuality == "actual"
    assert event.subject.display == mapping.PRIVACY_CASE_DISPLAY
    assert event.subject.reference is None
    assert "lot LOT-2611A" in event.suspectEntity[0].instance.display
    assert event.location.display == "Room 2"


def test_an_adverse_event_names_its_patient_grade_and_category(client, world):
    event = read(client, world, world.adverse_id)
    assert event.subject.reference == f"Patient/{world.patient_id}"
    assert event.severity.coding[0].code == "severe"
    assert event.seriousness.coding[0].code == "serious"
    assert event.category[0].coding[0].code == "product-problem"
    assert event.event.text == "Retained or broken needle"


def test_a_near_miss_is_a_potential_event(client, world):
    assert read(client, world, world.near_miss_id).actuality == "potential"


@pytest.mark.parametrize("resource_id", ["999999", "abc", "0"])
def test_an_unknown_adverse_event_is_not_found(client, world, resource_id):
    response = client.get(f"/fhir/AdverseEvent/{resource_id}", headers=world.auth)
    assert response.status_code == 404


def test_the_api_needs_a_token_and_every_read_is_audited(client, world):
    assert client.get(f"/fhir/AdverseEvent/{world.sharps_id}").status_code == 401
    read(client, world, world.sharps_id)
    db.session.expire_all()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "fhir.read"))
    assert event.details["resource"] == f"AdverseEvent/{world.sharps_id}"


def test_the_capability_statement_lists_adverse_event(client, world):
    statement = CapabilityStatement.model_validate_json(client.get("/fhir/metadata").data)
    assert "AdverseEvent" in {r.type for r in statement.rest[0].resource}


def test_the_export_bundle_carries_every_incident_as_an_adverse_event(client, world):
    login(client, db.session.get(User, world.officer_id))
    response = client.get("/fhir/export", buffered=True)
    assert response.status_code == 200
    assert INJURED not in response.get_data(as_text=True)
    bundle = Bundle.model_validate_json(response.get_data())
    events = [e for e in bundle.entry if e.resource.get_resource_type() == "AdverseEvent"]
    assert sorted(int(e.resource.id) for e in events) == sorted(
        [world.sharps_id, world.adverse_id, world.near_miss_id]
    )
    assert all(e.fullUrl.endswith(f"/fhir/AdverseEvent/{e.resource.id}") for e in events)


def test_the_export_keeps_to_the_dates_asked_for(client, world):
    login(client, db.session.get(User, world.officer_id))
    later = (utcnow() + timedelta(days=3)).date().isoformat()
    response = client.get(f"/fhir/export?from={later}", buffered=True)
    assert response.status_code == 200
    bundle = Bundle.model_validate_json(response.get_data())
    assert not [e for e in bundle.entry or () if e.resource.get_resource_type() == "AdverseEvent"]
