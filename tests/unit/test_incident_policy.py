"""Who reads the injured person's name and exports the sharps injury log (DESIGN §10): the
clinic lead of that clinic and compliance, and nobody because of the clinic they switched to."""

from __future__ import annotations

from types import SimpleNamespace

from safety.auth import policy


def person(role: str, clinic_id: int | None, lead_clinic_id: int | None = None):
    return SimpleNamespace(role=role, clinic_id=clinic_id, lead_clinic_id=lead_clinic_id)


def incident(clinic_id: int):
    return SimpleNamespace(clinic_id=clinic_id, kind="sharps_injury")


def test_the_lead_of_a_clinic_reads_who_was_injured_there():
    lead = person("practitioner", clinic_id=1, lead_clinic_id=1)
    assert policy.can_see_injured_identity(lead, incident(1))
    assert policy.can_export_sharps_log(lead)


def test_a_lead_who_switched_to_another_clinic_does_not_lead_it():
    """A practitioner at two clinics leads one; working at the other gives them no names."""
    lead = person("practitioner", clinic_id=2, lead_clinic_id=1)
    assert not policy.can_see_injured_identity(lead, incident(2))
    assert not policy.can_export_sharps_log(lead)


def test_a_colleague_reads_the_incident_but_not_the_name():
    colleague = person("practitioner", clinic_id=1)
    assert policy.can_view_incident(colleague, incident(1))
    assert not policy.can_see_injured_identity(colleague, incident(1))
    assert not policy.can_export_sharps_log(colleague)


def test_compliance_reads_every_clinics_names():
    officer = person("compliance", clinic_id=None)
    assert policy.can_see_injured_identity(officer, incident(7))
    assert policy.can_export_sharps_log(officer)
