"""The lot trace: every session that used a needle lot, and the recall CSV of its patients.

A recall names a lot (and the GTIN of the device); the trace finds every session that opened
a pack of it through the packs' normalised lot key, exactly or by prefix, as a range on the
`(lot_key, superseded, session_date, session_id)` index, and pages newest first like the
record list. The page and its count read that index alone: a pack row carries its session's
id and date, and whether it is still the session's (migration 0013), so a prefix matching
thousands of packs costs one index range and a sort, not a lookup per pack. Only compliance
officers trace lots, and every recall CSV is audited before it streams.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, distinct, func, or_, select

from safety.audit import services as audit
from safety.auth.models import User
from safety.checklists.models import TreatmentSession
from safety.clinics.models import Clinic, Patient
from safety.extensions import db
from safety.integrity import checkpoints
from safety.packs import services as packs
from safety.packs.models import SessionPack
from safety.review import csvsql
from safety.review.queries import Page, capped_count, in_order, keyset_page, require_compliance
from safety.review.rules import export as export_rules
from safety.review.rules import lots as rules
from safety.review.rules.export import csv_text

TS = TreatmentSession

LOT_PAGE_SIZE = 100


def _pack_conditions(query: rules.LotQuery) -> list[ColumnElement[bool]]:
    """The packs a recall names: by normalised lot (exactly or by prefix), and GTIN if given
    (with the packs of the lot whose GTIN was not recorded).

    A prefix is a range on the key's index, which both databases answer from a btree (the
    key is compared byte by byte on PostgreSQL: COLLATE "C", migration 0011); substr keeps it
    exact under any collation. No LIKE, so a `%` or `_` in a lot is a character like another
    and there is nothing to escape.
    """
    key = query.key
    if query.is_prefix:
        conditions = [
            SessionPack.lot_key >= key,
            func.substr(SessionPack.lot_key, 1, len(key)) == key,
        ]
        bound = rules.prefix_upper_bound(key)
        if bound is not None:
            conditions.append(SessionPack.lot_key < bound)
    else:
        conditions = [SessionPack.lot_key == key]
    if query.gtin:
        # A pack typed without its GTIN may be this device's: a recall that left it out would
        # leave its patient uncontacted, so it is listed too, marked "GTIN not recorded".
        conditions.append(or_(SessionPack.gtin == query.gtin, SessionPack.gtin.is_(None)))
    if query.date_from is not None:
        conditions.append(SessionPack.session_date >= query.date_from)
    if query.date_to is not None:
        conditions.append(SessionPack.session_date <= query.date_to)
    conditions.append(packs.is_current())
    return conditions


def _lot_conditions(query: rules.LotQuery) -> list[ColumnElement[bool]]:
    """The sessions that opened a pack the recall names."""
    conditions = [TS.id.in_(select(SessionPack.session_id).where(*_pack_conditions(query)))]
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
    #: Whether a pack of the lot was recorded with the GTIN traced (always, when none is).
    gtin_recorded: bool = True


def _people() -> tuple:
    """The clinic, practitioner and patient (with contacts) a recall row names."""
    return (
        Clinic.name.label("clinic"),
        User.name.label("practitioner"),
        Patient.id.label("patient_id"),
        Patient.given_name,
        Patient.family_name,
        Patient.email,
        Patient.phone,
        Patient.opted_out_dt,
    )


def _with_people(query: Select) -> Select:
    return (
        query.outerjoin(Clinic, Clinic.id == TS.clinic_id)
        .outerjoin(User, User.id == TS.practitioner_id)
        .outerjoin(Patient, Patient.id == TS.patient_id)
    )


def _lot_select(query: rules.LotQuery) -> Select:
    """The details of the matched sessions: the lot shown is the matching pack's as entered,
    and the GTIN one of them carried (None: typed without one)."""

    def of_matching_packs(column):
        return (
            select(func.min(column))
            .where(SessionPack.session_id == TS.id, *_pack_conditions(query))
            .scalar_subquery()
        )

    return _with_people(
        select(
            TS.id,
            TS.session_date,
            of_matching_packs(SessionPack.lot).label("needle_lot"),
            of_matching_packs(SessionPack.gtin).label("gtin"),
            TS.signed_dt,
            *_people(),
        )
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
    packs_of_lot = _pack_conditions(query)
    ids, next_cursor, prev_cursor = keyset_page(
        packs_of_lot,
        after=after,
        before=before,
        size=page_size or LOT_PAGE_SIZE,
        day=SessionPack.session_date,
        ident=SessionPack.session_id,
        distinct=True,
    )
    rows = in_order(_lot_select(query), ids)
    count, capped = capped_count(select(SessionPack.session_id).where(*packs_of_lot).distinct())
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
                gtin_recorded=not query.gtin or r.gtin is not None,
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
    """Audit the export, then return the lines of the recall CSV (with patient contacts): one
    row per matching pack, so a session that opened two packs of a lot is listed twice."""
    require_compliance(actor)
    audit.record("export.lot_trace", actor=actor, details=query.as_args(), now=now)
    select_rows = (
        _with_people(
            select(
                SessionPack.id.label("pack_id"),
                SessionPack.lot,
                SessionPack.gtin,
                TS.id,
                TS.session_date,
                TS.signed_dt,
                *_people(),
            ).join(TS, TS.id == SessionPack.session_id)
        )
        .where(*_pack_conditions(query))
        .order_by(SessionPack.id)
    )
    latest = checkpoints.latest()
    last_line = export_rules.checkpoint_line(latest.body if latest else None)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(rules.LOT_TRACE_COLUMNS)
        yield export_rules.BOM + csvsql.drain(buffer)
        last_id = 0
        while True:
            batch = db.session.execute(
                select_rows.where(SessionPack.id > last_id).limit(csvsql.EXPORT_BATCH)
            ).all()
            for r in batch:
                writer.writerow(
                    [
                        r.id,
                        r.session_date.isoformat(),
                        csv_text(r.lot),
                        r.gtin or "",
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
            last_id = batch[-1].pack_id

    return lines()


@dataclass(frozen=True)
class Reach:
    """Whom a recall reaches: how many distinct patients to contact, at which clinics, which
    practitioners used the lot, and over which dates (the pack's record for compliance)."""

    patients: int
    clinics: list[tuple[str, int]]
    practitioners: list[str]
    first_date: date | None
    last_date: date | None


def lot_reach(actor: User, query: rules.LotQuery) -> Reach:
    """Return how many distinct patients the traced lot reaches, and how many per clinic."""
    require_compliance(actor)
    conditions = _lot_conditions(query)
    per_clinic = db.session.execute(
        select(Clinic.name, func.count(distinct(TS.patient_id)))
        .join(Clinic, Clinic.id == TS.clinic_id)
        .where(*conditions)
        .group_by(Clinic.name)
        .order_by(Clinic.name)
    ).all()
    patients, first, last = db.session.execute(
        select(
            func.count(distinct(TS.patient_id)),
            func.min(TS.session_date),
            func.max(TS.session_date),
        ).where(*conditions)
    ).one()
    practitioners = db.session.scalars(
        select(User.name)
        .where(User.id.in_(select(TS.practitioner_id).where(*conditions)))
        .order_by(User.name)
    ).all()
    return Reach(
        patients or 0,
        [(name, count) for name, count in per_clinic],
        list(practitioners),
        first,
        last,
    )
