"""The SQL the review's use cases share: pages over the sessions, capped counts, overdue.

The record list and the lot trace page the same way (keyset on the sessions' date and id,
then the details of just that page's ids); they and the flags queue count matches up to a
cap; the dashboard, the record list, the record page and the export agree on when an
unsigned session is overdue. Each of these is written once, here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, false, func, or_, select

from safety.auth import policy
from safety.auth.models import User
from safety.checklists.models import TreatmentSession
from safety.clinics.models import Clinic, zone_for
from safety.extensions import db
from safety.languages import N_
from safety.review.rules.records import encode_cursor, overdue_cutoff

TS = TreatmentSession

#: Counting stops here: beyond it the page says "more than 10,000".
COUNT_CAP = 10_000


def require_compliance(actor: User) -> None:
    """Refuse anyone but a compliance officer (the dashboard, lot trace and exports)."""
    policy.require(policy.can_review(actor), N_("Only compliance officers can do this."))


def core() -> Connection:
    """The session's connection, for column queries: no ORM result machinery per statement.

    Flushed first, as the session's own execute would autoflush.
    """
    if db.session.new or db.session.dirty or db.session.deleted:
        db.session.flush()
    return db.session.connection()


@dataclass(frozen=True)
class Page:
    """A page of a paginated list, with how many rows match in all."""

    rows: list[Any]
    count: int
    is_count_capped: bool
    next_cursor: str | None
    prev_cursor: str | None


def capped_count(query: Select) -> tuple[int, bool]:
    """Count a query's rows up to COUNT_CAP; return the count and whether it was capped."""
    limited = query.order_by(None).limit(COUNT_CAP + 1).subquery()
    found = core().scalar(select(func.count()).select_from(limited)) or 0
    return min(found, COUNT_CAP), found > COUNT_CAP


# --- keyset pages over the sessions ----------------------------------------------------------


def _newest_first(
    after: tuple[date, int] | None, day: ColumnElement, ident: ColumnElement
) -> list[ColumnElement[bool]]:
    """Keyset condition for (day desc, ident desc): rows after the cursor."""
    if after is None:
        return []
    cursor_day, cursor_id = after
    # Written so that an index on (day, ident) answers it on every backend.
    return [day <= cursor_day, or_(day < cursor_day, ident < cursor_id)]


def _newer_than(
    before: tuple[date, int], day: ColumnElement, ident: ColumnElement
) -> list[ColumnElement[bool]]:
    cursor_day, cursor_id = before
    return [day >= cursor_day, or_(day > cursor_day, ident > cursor_id)]


def keyset_page(
    conditions: Sequence[ColumnElement[bool]],
    *,
    after: tuple[date, int] | None,
    before: tuple[date, int] | None,
    size: int,
    day: ColumnElement = TS.session_date,
    ident: ColumnElement = TS.id,
    distinct: bool = False,
) -> tuple[list[int], str | None, str | None]:
    """Return the ids of a page of sessions ordered newest first by (session_date, id).

    Only the sessions table takes part by default, so the database walks (or sorts) narrow
    rows; the caller then reads the details of just these ids. A table that carries the
    session's id and date (the lot trace's packs) can stand in for it: `day` and `ident` are
    then its columns, and `distinct` keeps one row per session.
    """
    query = select(ident, day).where(*conditions)
    if distinct:
        query = query.distinct()
    if before is not None:
        rows = (
            core()
            .execute(
                query.where(*_newer_than(before, day, ident))
                .order_by(day.asc(), ident.asc())
                .limit(size + 1)
            )
            .all()
        )
        more = len(rows) > size
        rows = rows[:size][::-1]
        prev_cursor = encode_cursor(rows[0][1], rows[0][0]) if more else None
        next_cursor = encode_cursor(rows[-1][1], rows[-1][0]) if rows else None
        return [r[0] for r in rows], next_cursor, prev_cursor
    rows = (
        core()
        .execute(
            query.where(*_newest_first(after, day, ident))
            .order_by(day.desc(), ident.desc())
            .limit(size + 1)
        )
        .all()
    )
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = encode_cursor(rows[-1][1], rows[-1][0]) if more else None
    prev_cursor = None
    if after is not None and rows:
        prev_cursor = encode_cursor(rows[0][1], rows[0][0])
    return [r[0] for r in rows], next_cursor, prev_cursor


def in_order(query: Select, ids: Sequence[int]) -> list[Any]:
    """Run a details query for some session ids and return its rows in the order of the ids."""
    if not ids:
        return []
    found = {row.id: row for row in core().execute(query.where(TS.id.in_(list(ids))))}
    return [found[i] for i in ids if i in found]


# --- overdue ---------------------------------------------------------------------------------


def overdue_cutoffs(now: datetime) -> dict[int, date]:
    """Return, per clinic, the latest session date whose unsigned checklist is overdue."""
    clinics = core().execute(select(Clinic.id, Clinic.timezone, Clinic.workday_end_hour))
    return {
        clinic_id: overdue_cutoff(now, zone_for(timezone), end_hour)
        for clinic_id, timezone, end_hour in clinics
    }


def overdue(cutoffs: dict[int, date]) -> ColumnElement[bool]:
    """Unsigned sessions whose clinic's working day has ended."""
    by_day: dict[date, list[int]] = defaultdict(list)
    for clinic_id, day in cutoffs.items():
        by_day[day].append(clinic_id)
    if not by_day:
        return false()
    return and_(
        TS.signed_dt.is_(None),
        TS.cancelled_dt.is_(None),
        or_(
            *(
                and_(TS.clinic_id.in_(sorted(ids)), TS.session_date <= day)
                for day, ids in sorted(by_day.items())
            )
        ),
    )
