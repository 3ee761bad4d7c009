"""FHIR use cases: reads and searches of signed records and follow-up answers, incidents as
AdverseEvents, the export.

Records are read as plain columns (no ORM identity map), so a search page and a million-record
export use the same mapping at constant memory. Every read of a record, every search and every
export is audited in the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from safety.audit import services as audit
from safety.auth import policy
from safety.auth.models import User
from safety.checklists.models import Addendum, TreatmentSession
from safety.dbtypes import utcnow
from safety.errors import DomainError, NotFound
from safety.extensions import db
from safety.fhir import mapping, params
from safety.followup import rules as followup_rules
from safety.followup.models import FollowUp, PatientResponse
from safety.ids import parse_id
from safety.incidents import rules as incident_rules
from safety.incidents import services as incidents
from safety.incidents.models import Incident
from safety.risks.models import TemplateVersion
from safety.risks.rules import load_register

#: Records per query when exporting.
EXPORT_BATCH = 500

#: Follow-up questions whose answers are codes (valueCoding), the rest are plain values.
FOLLOWUP_CHOICES: dict[str, tuple[str, ...]] = {
    **followup_rules.CHOICES,
    "signs": followup_rules.INFECTION_SIGNS,
}

_RECORD_COLUMNS = (
    TreatmentSession.id,
    TreatmentSession.patient_id,
    TreatmentSession.practitioner_id,
    TreatmentSession.signed_by_id,
    TreatmentSession.signer_name,
    TreatmentSession.signature_meaning,
    TreatmentSession.signed_dt,
    TreatmentSession.template_version_id,
    TreatmentSession.answers,
    TreatmentSession.notes,
    TreatmentSession.content_hash,
    TreatmentSession.clinic_id,
)


# --- records as resources -------------------------------------------------------------------


class _Templates:
    """Template versions by id (version number and definition), loaded once per use case."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[int, dict[str, Any]]] = {}

    def load(self, ids: Iterable[int]) -> None:
        missing = set(ids) - set(self._known)
        if missing:
            rows = db.session.execute(
                select(
                    TemplateVersion.id, TemplateVersion.version, TemplateVersion.definition
                ).where(TemplateVersion.id.in_(missing))
            ).all()
            self._known.update({row.id: (row.version, row.definition) for row in rows})

    def __getitem__(self, template_id: int) -> tuple[int, dict[str, Any]]:
        return self._known[template_id]


def _addenda_by_record(ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = db.session.execute(
        select(
            Addendum.id,
            Addendum.session_id,
            Addendum.author_id,
            Addendum.signer_name,
            Addendum.reason,
            Addendum.body,
            Addendum.signed_dt,
            Addendum.signature_meaning,
            Addendum.content_hash,
        )
        .where(Addendum.session_id.in_(ids))
        .order_by(Addendum.session_id, Addendum.signed_dt, Addendum.id)
    ).all()
    for row in rows:
        found[row.session_id].append({**row._asdict(), "meaning": row.signature_meaning})
    return found


def _resources(rows: Sequence[Any], templates: _Templates) -> list[dict[str, Any]]:
    """Map rows of `_RECORD_COLUMNS` to QuestionnaireResponses, in the order given."""
    templates.load(row.template_version_id for row in rows)
    addenda = _addenda_by_record([row.id for row in rows])
    resources = []
    for row in rows:
        version, definition = templates[row.template_version_id]
        record = {**row._asdict(), "template_version": version}
        resources.append(
            mapping.questionnaire_response(record, definition, addenda=addenda[row.id])
        )
    return resources


def _signed(actor: User):
    """Return the query of signed records the actor may read, as plain columns."""
    scope = policy.visible_sessions(actor).where(TreatmentSession.signed_dt.is_not(None))
    return scope.with_only_columns(*_RECORD_COLUMNS)


def read_record(
    actor: User, resource_id: str, *, via: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Return one signed record (or follow-up answer) as a QuestionnaireResponse, audited."""
    if resource_id.startswith(mapping.FOLLOWUP_ID_PREFIX):
        return _read_followup(actor, resource_id, via=via, now=now)
    record_id = parse_id(resource_id)
    if record_id is None:
        raise NotFound("No such QuestionnaireResponse.")
    row = db.session.execute(_signed(actor).where(TreatmentSession.id == record_id)).first()
    if row is None:
        raise NotFound("No such QuestionnaireResponse.")
    (resource,) = _resources([row], _Templates())
    audit.record(
        "fhir.read",
        actor=actor,
        object_type="treatment_sessions",
        object_id=row.id,
        clinic_id=row.clinic_id,
        details={"resource": f"QuestionnaireResponse/{row.id}", "via": via},
        now=now,
    )
    return resource


def _followup_rows(actor: User):
    scope = policy.visible_sessions(actor).where(TreatmentSession.signed_dt.is_not(None)).subquery()
    return (
        select(
            PatientResponse.id,
            PatientResponse.session_id,
            PatientResponse.answers,
            PatientResponse.escalation,
            PatientResponse.created_dt,
            FollowUp.kind,
            scope.c.patient_id,
            scope.c.clinic_id,
            # What its session needled, on which template: which questions it was asked.
            scope.c.answers.label("session_answers"),
            scope.c.template_version_id,
        )
        .join(FollowUp, FollowUp.id == PatientResponse.followup_id)
        .join(scope, scope.c.id == PatientResponse.session_id)
    )


def _followup_resource(row: Any, templates: _Templates) -> dict[str, Any]:
    """A row of `_followup_rows` as its QuestionnaireResponse. Only an urgent answer may leave
    questions out (`schedule.unanswered`); which it was asked follows from the row's session
    and the template, so an export of thousands of them costs no statement each."""
    left_out: tuple[str, ...] = ()
    if row.escalation in followup_rules.URGENT_LEVELS:
        templates.load([row.template_version_id])
        _, definition = templates[row.template_version_id]
        asked = followup_rules.questions_asked(
            row.kind,
            (row.session_answers or {}).get("signin.regions"),
            definition.get("high_risk_regions", ()),
        )
        left_out = followup_rules.unanswered(asked, row.answers)
    return mapping.followup_response(
        row._asdict(), patient_id=row.patient_id, choices=FOLLOWUP_CHOICES, unanswered=left_out
    )


def _read_followup(
    actor: User, resource_id: str, *, via: str | None, now: datetime | None
) -> dict[str, Any]:
    response_id = parse_id(resource_id.removeprefix(mapping.FOLLOWUP_ID_PREFIX))
    if response_id is None:
        raise NotFound("No such QuestionnaireResponse.")
    row = db.session.execute(_followup_rows(actor).where(PatientResponse.id == response_id)).first()
    if row is None:
        raise NotFound("No such QuestionnaireResponse.")
    audit.record(
        "fhir.read",
        actor=actor,
        object_type="patient_responses",
        object_id=row.id,
        clinic_id=row.clinic_id,
        details={"resource": f"QuestionnaireResponse/{resource_id}", "via": via},
        now=now,
    )
    return _followup_resource(row, _Templates())


# --- incidents as AdverseEvent ------------------------------------------------------------------


def adverse_event_resource(incident: Incident) -> dict[str, Any]:
    """Return an incident as a FHIR AdverseEvent (the injured person never named)."""
    if incident.kind == incident_rules.Kind.SHARPS_INJURY:
        label = incident_rules.KIND_LABELS[incident.kind]
        device = ", ".join(
            part
            for part in (
                incident_rules.label_of(incident_rules.DEVICE_TYPES, incident.device_type),
                incident.device_brand,
                incident.device_gtin and f"GTIN {incident.device_gtin}",
                incident.device_lot and f"lot {incident.device_lot}",
            )
            if part
        )
    else:
        label = incident_rules.label_of(incident_rules.EVENT_TYPES, incident.event_type)
        device = f"Needle lot {incident.device_lot}" if incident.device_lot else None
    return mapping.adverse_event(
        {
            "id": incident.id,
            "kind": incident.kind,
            "event_type": incident.event_type,
            "event_label": label,
            "grade": incident.grade,
            "occurred_dt": incident.occurred_dt,
            "signed_dt": incident.signed_dt,
            "work_area": incident.work_area,
            "patient_id": incident.session.patient_id if incident.session is not None else None,
            "session_id": incident.session_id,
            "device": device,
            "content_hash": incident.content_hash,
            "addenda": len(incident.addenda),
        }
    )


def read_adverse_event(
    actor: User, resource_id: str, *, via: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Return one incident as an AdverseEvent, audited on its clinic's chain."""
    incident_id = parse_id(resource_id)
    incident = (
        db.session.scalar(policy.visible_incidents(actor).where(Incident.id == incident_id))
        if incident_id is not None
        else None
    )
    if incident is None:
        raise NotFound("No such AdverseEvent.")
    audit.record(
        "fhir.read",
        actor=actor,
        obj=incident,
        details={"resource": f"AdverseEvent/{incident.id}", "via": via},
        now=now,
    )
    return adverse_event_resource(incident)


def _adverse_event_entries(
    actor: User, start: date | None, end: date | None, base_url: str
) -> list[str]:
    """The export's AdverseEvent entries: the incidents that happened between the dates."""
    query = policy.visible_incidents(actor).order_by(Incident.id)
    if start is not None or end is not None:
        # The clinic's days, as the records' session dates are.
        query = query.where(incidents.occurred_within(start, end))
    entries = []
    for incident in db.session.scalars(query):
        resource = adverse_event_resource(incident)
        entry = mapping.bundle_entry(f"{base_url}/AdverseEvent/{resource['id']}", resource)
        entries.append(json.dumps(entry, separators=(",", ":"), ensure_ascii=False))
    return entries


def template_questionnaire(version: TemplateVersion, *, with_id: bool = True) -> dict[str, Any]:
    """Return a template version as a FHIR Questionnaire: the API, the template page and
    `flask risks import --format fhir` all show this one resource."""
    return mapping.questionnaire(
        version.definition,
        version=version.version,
        kind_titles={k: v["title"] for k, v in load_register().kinds.items()},
        published_dt=version.published_dt,
        resource_id=str(version.id) if with_id else None,
    )


def read_questionnaire(template_id: str) -> dict[str, Any]:
    """Return a template version as a FHIR Questionnaire."""
    key = parse_id(template_id)
    version = db.session.get(TemplateVersion, key) if key is not None else None
    if version is None:
        raise NotFound("No such Questionnaire.")
    return template_questionnaire(version)


@dataclass(frozen=True)
class Page:
    """One page of a search: the resources, the total and where the next page starts."""

    resources: list[dict[str, Any]]
    total: int
    next_cursor: params.Cursor | None


def search_records(
    actor: User, search: params.Search, *, via: str | None = None, now: datetime | None = None
) -> Page:
    """Return a page of signed records in a stable order (signed time, id), audited once."""
    if search.is_empty:
        page = Page([], 0, None)
    else:
        query = _signed(actor)
        if search.lower is not None:
            query = query.where(TreatmentSession.signed_dt >= search.lower)
        if search.upper is not None:
            query = query.where(TreatmentSession.signed_dt < search.upper)
        if search.subjects is not None:
            query = query.where(TreatmentSession.patient_id.in_(sorted(search.subjects)))
        total = db.session.scalar(
            query.with_only_columns(func.count(TreatmentSession.id)).order_by(None)
        )
        rows: list[Any] = []
        if search.count:
            if search.cursor is not None:
                after = search.cursor
                query = query.where(
                    or_(
                        TreatmentSession.signed_dt > after.signed_dt,
                        and_(
                            TreatmentSession.signed_dt == after.signed_dt,
                            TreatmentSession.id > after.id,
                        ),
                    )
                )
            rows = list(
                db.session.execute(
                    query.order_by(TreatmentSession.signed_dt, TreatmentSession.id).limit(
                        search.count + 1
                    )
                ).all()
            )
        more = len(rows) > search.count
        rows = rows[: search.count]
        cursor = params.Cursor(rows[-1].signed_dt, rows[-1].id) if more and rows else None
        page = Page(_resources(rows, _Templates()), total or 0, cursor)
    audit.record(
        "fhir.search",
        actor=actor,
        details={
            "resource": "QuestionnaireResponse",
            "results": [int(r["id"]) for r in page.resources],
            "total": page.total,
            "via": via,
        },
        now=now,
    )
    return page


# --- export ---------------------------------------------------------------------------------


def read_export_dates(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """Read the optional session-date range of an export (YYYY-MM-DD, inclusive)."""
    errors: dict[str, str] = {}
    values: dict[str, date | None] = {}
    for name, raw in (("from", start), ("to", end)):
        raw = (raw or "").strip()
        try:
            values[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            errors[name] = f"'{raw[:20]}' is not a date: use YYYY-MM-DD, for example 2026-01-31."
    if not errors and values["from"] and values["to"] and values["from"] > values["to"]:
        errors["to"] = "The end of the range is before its start."
    if errors:
        raise DomainError("The export was not made: " + " ".join(errors.values()), errors)
    return values["from"], values["to"]


def record_export(
    actor: User,
    *,
    start: date | None,
    end: date | None,
    now: datetime | None = None,
) -> None:
    """Audit an export before it streams (the caller commits, then streams)."""
    policy.require(policy.can_review(actor), "Only compliance officers export records.")
    audit.record(
        "export.fhir",
        actor=actor,
        details={
            "format": "fhir-bundle",
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
        },
        now=now,
    )


def export_chunks(
    actor: User,
    *,
    start: date | None,
    end: date | None,
    base_url: str,
    checkpoint: str | None = None,
    now: datetime | None = None,
) -> Iterator[str]:
    """Yield a collection Bundle of signed records and their follow-up answers as JSON text,
    carrying the latest signed audit checkpoint (`mapping.collection_bundle`).

    Records are read in batches by id with plain column queries, so memory stays flat however
    many there are.
    """
    now = now or utcnow()
    query = _signed(actor)
    if start is not None:
        query = query.where(TreatmentSession.session_date >= start)
    if end is not None:
        query = query.where(TreatmentSession.session_date <= end)
    followups = _followup_rows(actor)
    templates = _Templates()
    head = json.dumps(
        mapping.collection_bundle([], timestamp=now, checkpoint=checkpoint), separators=(",", ":")
    )
    yield head[:-1]  # without the closing brace: entries follow
    count = 0
    last_id = 0
    while True:
        rows = db.session.execute(
            query.where(TreatmentSession.id > last_id)
            .order_by(TreatmentSession.id)
            .limit(EXPORT_BATCH)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        ids = [row.id for row in rows]
        answers: dict[int, list[Any]] = {}
        for response in db.session.execute(
            followups.where(PatientResponse.session_id.in_(ids)).order_by(PatientResponse.id)
        ):
            answers.setdefault(response.session_id, []).append(response)
        parts = []
        for resource in _resources(rows, templates):
            parts.append(_entry_json(base_url, resource))
            for response in answers.get(int(resource["id"]), ()):
                parts.append(_entry_json(base_url, _followup_resource(response, templates)))
        yield ("," if count else ',"entry":[') + ",".join(parts)
        count += len(parts)
    # Incidents are few beside the records: read in one go.
    if parts := _adverse_event_entries(actor, start, end, base_url):
        yield ("," if count else ',"entry":[') + ",".join(parts)
        count += len(parts)
    yield "]}" if count else "}"


def _entry_json(base_url: str, resource: Mapping[str, Any]) -> str:
    entry = mapping.bundle_entry(f"{base_url}/QuestionnaireResponse/{resource['id']}", resource)
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
