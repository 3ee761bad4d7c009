"""The lot trace: every session that used a needle lot, and the recall CSV of its patients.

A recall names a lot; the trace finds it as typed or in capitals, exactly or by prefix, as a
range on the `(needle_lot, session_date, id)` index, and pages newest first like the record
list. Only compliance officers trace lots, and every recall CSV is audited before it streams.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from safety.audit import services as audit
from safety.auth.models import User
from safety.checklists.models import TreatmentSession
from safety.clinics.models import Clinic, Patient
from safety.extensions import db
from safety.integrity import checkpoints
from safety.review import csvsql
from safety.review.queries import Page, capped_count, in_order, keyset_page, require_compliance
from safety.review.rules import export as export_rules
from safety.review.rules import lots as rules
from safety.review.rules.export import csv_text

TS = TreatmentSession

LOT_PAGE_SIZE = 100


def _lot_conditions(query: rules.LotQuery) -> list[ColumnElement[bool]]:
    spellings = rules.lot_variants(query.lot)
    if query.is_prefix:
        matches = []
        for prefix in spellings:
            bound = rules.prefix_upper_bound(prefix)
            parts = [
                TS.needle_lot >= prefix,
                # The range uses the index; this keeps the match exact under any collation.
                func.substr(TS.needle_lot, 1, len(prefix)) == prefix,
            ]
            if bound is not None:
                parts.append(TS.needle_lot < bound)
            matches.append(and_(*parts))
        lot = or_(*matches)
    elif len(spellings) == 1:
        lot = TS.needle_lot == spellings[0]
    else:
        lot = TS.needle_lot.in_(spellings)
    conditions = [lot]
    if query.date_from is not None:
        conditions.append(TS.session_date >= query.date_from)
    if query.date_to is not None:
        conditions.append(TS.session_date <= query.date_to)
    return conditions


@dataclass(frozen=True)
class LotRow:
    id: int
    session_date: date
    needle_lot: str
    clinic: str
    practitioner: str
    patient_id: int
    patient: str
    is_signed: bool


def _lot_select() -> Select:
    return (
        select(
            TS.id,
            TS.session_date,
            TS.needle_lot,
            TS.signed_dt,
            Clinic.name.label("clinic"),
            User.name.label("practitioner"),
            Patient.id.label("patient_id"),
            Patient.given_name,
            Patient.family_name,
            Patient.email,
            Patient.phone,
            Patient.opted_out_dt,
        )
        .outerjoin(Clinic, Clinic.id == TS.clinic_id)
        .outerjoin(User, User.id == TS.practitioner_id)
        .outerjoin(Patient, Patient.id == TS.patient_id)
    )


def lot_trace(
    actor: User,
    query: rules.LotQuery,
    *,
    after: tuple[date, int] | None = None,
    before: tuple[date, int] | None = None,
    page_size: int | None = None,
) -> Page:
    """Return every session that used a lot (or lots with a prefix), newest first, a page a time."""
    require_compliance(actor)
    ids, next_cursor, prev_cursor = keyset_page(
        _lot_conditions(query), after=after, before=before, size=page_size or LOT_PAGE_SIZE
    )
    rows = in_order(_lot_select(), ids)
    count, capped = capped_count(select(TS.id).where(*_lot_conditions(query)))
    return Page(
        [
            LotRow(
                r.id,
                r.session_date,
                r.needle_lot,
                r.clinic,
                r.practitioner,
                r.patient_id,
                f"{r.given_name} {r.family_name}",
                r.signed_dt is not None,
            )
            for r in rows
        ],
        count,
        capped,
        next_cursor,
        prev_cursor,
    )


def lot_trace_csv(
    actor: User, query: rules.LotQuery, *, now: datetime | None = None
) -> Iterator[str]:
    """Audit the export, then return the lines of the recall CSV (with patient contacts)."""
    require_compliance(actor)
    audit.record("export.lot_trace", actor=actor, details=query.as_args(), now=now)
    select_rows = _lot_select().where(*_lot_conditions(query)).order_by(TS.id)
    latest = checkpoints.latest()
    last_line = export_rules.checkpoint_line(latest.body if latest else None)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(rules.LOT_TRACE_COLUMNS)
        yield csvsql.drain(buffer)
        last_id = 0
        while True:
            batch = db.session.execute(
                select_rows.where(TS.id > last_id).limit(csvsql.EXPORT_BATCH)
            ).all()
            for r in batch:
                writer.writerow(
                    [
                        r.id,
                        r.session_date.isoformat(),
                        csv_text(r.needle_lot or ""),
                        csv_text(r.clinic or ""),
                        csv_text(r.practitioner or ""),
                        r.patient_id,
                        csv_text(r.given_name or ""),
                        csv_text(r.family_name or ""),
                        csv_text(r.email or ""),
                        csv_text(r.phone or ""),
                        "yes" if r.opted_out_dt else "no",
                        "yes" if r.signed_dt else "no",
                    ]
                )
            if batch:
                yield csvsql.drain(buffer)
            if len(batch) < csvsql.EXPORT_BATCH:
                yield last_line  # the evidence the recall list can be held to
                return
            last_id = batch[-1].id

    return lines()
