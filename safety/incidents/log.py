"""The sharps injury log a regulator asks for (OSHA 29 CFR 1910.1030(h)(5)), the export of
every incident for compliance, and the count of incidents per clinic and month the dashboard
shows beside the minor-event rates. No export carries the injured person's name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import selectinload

from safety.audit import services as audit
from safety.auth import policy
from safety.auth.models import User
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.incidents import rules
from safety.incidents.models import Incident
from safety.incidents.services import list_incidents
from safety.languages import N_
from safety.review.rules import export as export_rules


def sharps_log(
    actor: User, *, clinic_id: int | None = None, now: datetime | None = None
) -> list[dict[str, str]]:
    """Return the privacy-case sharps injury log rows the actor may export, oldest first:
    every injury still within its retention period (OSHA 1910.1030(h)(5), five years after
    the year of the injury). The export is audited; no row carries the injured person's name.
    """
    now = now or utcnow()
    policy.require(
        policy.can_export_sharps_log(actor),
        N_("The sharps injury log is for the clinic lead and compliance."),
    )
    if not policy.is_compliance(actor):
        clinic_id = policy.working_clinic_id(actor)
    # The year is read a day back, from the calendar furthest behind UTC (no zone is a day
    # behind): on New Year's night in UTC it is still 31 December in Toronto, whose oldest
    # kept year is one earlier. A day's margin before that year's first instant covers the
    # zones ahead of UTC; the zone-aware check below decides each row.
    oldest_year = rules.oldest_kept_year((now - timedelta(days=1)).date())
    oldest = datetime(oldest_year, 1, 1, tzinfo=UTC)
    query = (
        policy.visible_incidents(actor)
        .where(
            Incident.kind == rules.Kind.SHARPS_INJURY,
            Incident.occurred_dt >= oldest - timedelta(days=1),
        )
        .options(selectinload(Incident.clinic))
        .order_by(Incident.occurred_dt, Incident.id)
    )
    if clinic_id is not None:
        query = query.where(Incident.clinic_id == clinic_id)
    rows = []
    for incident in db.session.scalars(query):
        occurred = incident.occurred_dt.astimezone(incident.clinic.zone).date()
        today = now.astimezone(incident.clinic.zone).date()
        if not rules.is_kept(occurred, today):
            continue
        fields = {
            "work_area": incident.work_area,
            "device_type": incident.device_type,
            "device_brand": incident.device_brand,
            "device_gtin": incident.device_gtin,
            "device_lot": incident.device_lot,
            "device_purpose": incident.device_purpose,
            "how": incident.how,
            "description": incident.description,
            "body_site": incident.body_site,
        }
        row = rules.sharps_log_row(f"SI-{incident.id}", occurred, fields)
        row = {"clinic": incident.clinic.name, **row}
        rows.append(row)
    audit.record(
        "incident.sharps_log_export",
        actor=actor,
        object_type="incidents",
        details={"rows": len(rows), "clinic": clinic_id},
        clinic_id=clinic_id,
        now=now,
    )
    return rows


@dataclass(frozen=True)
class MonthCount:
    clinic: str
    month: str
    kind: str
    count: int


def counts_by_clinic_and_month(
    actor: User, *, since: date, clinic_id: int | None = None
) -> list[MonthCount]:
    """Return how many incidents of each kind each clinic had per month (in the clinic's
    zone), from the month of `since` (a month's first day) on: whole months only, so no month
    shows a part of its incidents as if it were the whole."""
    first_month = f"{since:%Y-%m}"
    # A day's margin before that month's first instant in UTC covers the zones ahead of it.
    query = (
        policy.visible_incidents(actor)
        .where(Incident.occurred_dt >= datetime.combine(since, time.min, UTC) - timedelta(days=1))
        .options(selectinload(Incident.clinic))
    )
    if clinic_id is not None:
        query = query.where(Incident.clinic_id == clinic_id)
    incidents = db.session.scalars(query).all()
    tally: dict[tuple[str, str, str], int] = {}
    for incident in incidents:
        month = incident.occurred_dt.astimezone(incident.clinic.zone).strftime("%Y-%m")
        if month < first_month:
            continue
        key = (incident.clinic.name, month, incident.kind)
        tally[key] = tally.get(key, 0) + 1
    return [
        MonthCount(clinic, month, kind, n)
        for (clinic, month, kind), n in sorted(tally.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def incident_export(
    actor: User,
    *,
    kind: str | None = None,
    clinic_id: int | None = None,
    since=None,
    until=None,
    now: datetime | None = None,
) -> list[dict[str, str]]:
    """Return the incident list's rows (same scope, same filters) for the CSV, audited."""
    policy.require(policy.can_review(actor), N_("Only compliance officers export incidents."))
    incidents = list_incidents(
        actor, kind=kind, clinic_id=clinic_id, since=since, until=until, limit=100_000
    )
    rows = [
        rules.incident_row(
            {
                "id": i.id,
                "clinic": i.clinic.name,
                "kind": i.kind,
                "occurred_utc": export_rules.csv_utc(i.occurred_dt),
                "occurred_local": f"{i.occurred_dt.astimezone(i.clinic.zone):%Y-%m-%d %H:%M %Z}",
                "work_area": i.work_area,
                "how": i.how,
                "event_type": i.event_type,
                "grade": i.grade,
                "device_type": i.device_type,
                "device_brand": i.device_brand,
                "device_gtin": i.device_gtin,
                "device_lot": i.device_lot,
                "body_site": i.body_site,
                "session_id": i.session_id,
                "steps_done": len(i.steps),
                "steps_total": len(rules.steps_for(i.is_used_on_patient)),
                "reported_outside": [
                    f"{rules.report_body_label(r.body)} {r.reported_on.isoformat()} {r.reference}"
                    for r in i.reports
                ],
                "addenda": len(i.addenda),
                "signed_utc": export_rules.csv_utc(i.signed_dt),
                "content_hash": i.content_hash,
            }
        )
        for i in incidents
    ]
    audit.record(
        "incident.export",
        actor=actor,
        object_type="incidents",
        details={
            "rows": len(rows),
            "kind": kind,
            "clinic": clinic_id,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        },
        now=now,
    )
    return rows
