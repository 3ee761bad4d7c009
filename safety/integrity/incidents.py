"""Verify the incidents: each report, addendum and ticked step held to the event that put it on
its clinic's audit chain.

As with the checklists (`records`), a report that hashes to its own content hash proves nothing
to someone who rewrote both: the hash its `incident.report` event signed is the one that holds.
Incidents are rare next to sessions, so they are read whole.
"""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from safety.audit.models import AuditEvent
from safety.hashing import canonical_json, hashed_time, sha256_hex
from safety.incidents.models import (
    ExternalReport,
    Incident,
    IncidentAddendum,
    IncidentStep,
    InjuredPerson,
)
from safety.incidents.services import addendum_content, signed_content


def _signed(db_: Connection | Session, action: str, key: str) -> dict[int, dict]:
    """Return the details each event of an action signed, by the id under `key`."""
    found: dict[int, dict] = {}
    for object_id, details in db_.execute(
        select(AuditEvent.object_id, AuditEvent.details)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.id)
    ):
        ident = int(object_id) if key == "object" else details.get(key)
        found.setdefault(ident, details)
    return found


def verify_incidents(db_: Connection | Session) -> str | None:
    """Return the first incident, addendum or step that differs from what its event signed."""
    reports = _signed(db_, "incident.report", "object")
    people = {
        row.incident_id: SimpleNamespace(**row._mapping)
        for row in db_.execute(select(InjuredPerson.__table__))
    }
    hashes: dict[int, str] = {}
    for row in db_.execute(select(Incident.__table__).order_by(Incident.id)):
        incident = SimpleNamespace(**row._mapping)
        recomputed = sha256_hex(canonical_json(signed_content(incident, people.get(incident.id))))
        signed = reports.pop(incident.id, {}).get("content_hash")
        if not recomputed == incident.content_hash == signed:
            return f"incident {incident.id} was altered"
        hashes[incident.id] = incident.content_hash
    if reports:
        return f"incident {min(reports)} is on the audit chain but missing from the records"
    addenda = _signed(db_, "incident.addendum", "addendum")
    for row in db_.execute(select(IncidentAddendum.__table__).order_by(IncidentAddendum.id)):
        addendum = SimpleNamespace(**row._mapping)
        recomputed = sha256_hex(
            canonical_json(addendum_content(addendum, hashes.get(addendum.incident_id, "")))
        )
        signed = addenda.pop(addendum.id, {}).get("content_hash")
        if not recomputed == addendum.content_hash == signed:
            return f"addendum {addendum.id} to incident {addendum.incident_id} was altered"
    if addenda:
        return f"incident addendum {min(addenda)} is on the audit chain but missing"
    steps = _signed(db_, "incident.step", "entry")
    for row in db_.execute(select(IncidentStep.__table__).order_by(IncidentStep.id)):
        details = steps.pop(row.id, {})
        if details.get("step") != row.step or details.get("done_dt") != hashed_time(row.done_dt):
            return f"step {row.id} of incident {row.incident_id} was altered"
        # Steps ticked before their events signed the note and who ticked them lack both.
        if "note_hash" in details and (
            details["note_hash"] != sha256_hex(row.note or "")
            or details.get("by") != row.recorded_by_id
        ):
            return (
                f"the note or the name on step {row.id} of incident {row.incident_id} was altered"
            )
    if steps:
        return f"incident step {min(steps)} is on the audit chain but missing"
    return _verify_external_reports(db_)


def _verify_external_reports(db_: Connection | Session) -> str | None:
    """Hold each report made outside the clinic (a regulator, an insurer) to its event: where,
    when and the reference given (events before they signed the last two hold where only)."""
    reports = _signed(db_, "incident.external_report", "report")
    for row in db_.execute(select(ExternalReport.__table__).order_by(ExternalReport.id)):
        details = reports.pop(row.id, None)
        said = f"the report outside the clinic {row.id} of incident {row.incident_id}"
        if details is None:
            return f"{said} has no event on the audit chain"
        if details.get("body") != row.body or (
            "reference_hash" in details
            and (
                details["reference_hash"] != sha256_hex(row.reference)
                or details.get("reported_on") != row.reported_on.isoformat()
            )
        ):
            return f"{said} was altered"
    if reports:
        return f"report outside the clinic {min(reports)} is on the audit chain but missing"
    return None
