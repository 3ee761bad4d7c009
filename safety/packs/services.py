"""Needle pack use cases: record a Time out's packs, and offer a clinic's recent packs again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, false, func, select, update

from safety.auth import policy
from safety.auth.models import User
from safety.checklists.models import PhaseEntry, TreatmentSession
from safety.extensions import db
from safety.packs import rules
from safety.packs.models import SessionPack

#: How far back "same pack as last session" looks: packs stay open on a trolley for days,
#: not weeks (clinic policy, not from a study).
RECENT_DAYS = 14
#: At most this many recent packs are offered.
RECENT_LIMIT = 6


def record_packs(
    session: TreatmentSession,
    entry: PhaseEntry,
    packs: list[rules.Pack],
    *,
    resubmitted: bool,
) -> None:
    """Insert the packs a Time out entry recorded; the caller flushed the entry.

    A resubmitted Time out replaces the session's packs: the rows of the earlier entry are
    marked superseded (the one change their trigger allows), so every reader of the current
    packs, the lot trace first, tells them apart by a column of the lot index.
    """
    if resubmitted:
        db.session.execute(
            update(SessionPack)
            .where(SessionPack.session_id == session.id, SessionPack.superseded == false())
            .values(superseded=True)
        )
    for position, pack in enumerate(packs, start=1):
        db.session.add(
            SessionPack(
                entry_id=entry.id,
                session_id=session.id,
                clinic_id=session.clinic_id,
                session_date=session.session_date,
                position=position,
                gtin=pack.gtin,
                lot=pack.lot,
                lot_key=pack.lot_key,
                expiry=pack.expiry,
                serial=pack.serial,
            )
        )


def is_current() -> ColumnElement[bool]:
    """Whether a pack row belongs to its session's latest Time out entry (a resubmitted Time
    out records its packs again; the earlier rows stay, superseded). Written `= false` so
    both databases can match it against the lot indexes' column."""
    return SessionPack.superseded == false()


def packs_of_session(session_id: int) -> list[SessionPack]:
    """Return a session's current packs, first pack first."""
    return list(
        db.session.scalars(
            select(SessionPack)
            .where(SessionPack.session_id == session_id, is_current())
            .order_by(SessionPack.position)
        )
    )


@dataclass(frozen=True)
class RecentPack:
    """A pack the clinic opened lately and still in date, offered in one tap."""

    lot: str
    expiry: date
    gtin: str | None
    last_used: date
    #: Another recent session recorded this lot with another expiry: one of them was misread,
    #: and the pack in hand says which.
    is_expiry_disputed: bool = False


def recent_packs(actor: User, *, session_date: date) -> list[RecentPack]:
    """Return the packs the actor's clinic used in the last days that are in date on
    `session_date`, most recently used first, one per GTIN and lot."""
    clinic_id = policy.working_clinic_id(actor)
    if clinic_id is None:
        return []
    window = (
        SessionPack.clinic_id == clinic_id,
        SessionPack.session_date >= session_date - timedelta(days=RECENT_DAYS),
        SessionPack.session_date <= session_date,
        is_current(),
    )
    rows = db.session.execute(
        select(
            SessionPack.gtin,
            SessionPack.lot_key,
            func.max(SessionPack.lot),
            SessionPack.expiry,
            func.max(SessionPack.session_date).label("last_used"),
        )
        .where(*window, SessionPack.expiry >= session_date)
        .group_by(SessionPack.gtin, SessionPack.lot_key, SessionPack.expiry)
        .order_by(func.max(SessionPack.session_date).desc(), SessionPack.lot_key)
        .limit(RECENT_LIMIT)
    ).all()
    # A lot recorded with two expiries in the window, whether or not both are still offered:
    # the misread one may be the only one left in date, or past the list's length.
    disputed = set(
        db.session.execute(
            select(SessionPack.gtin, SessionPack.lot_key)
            .where(*window)
            .group_by(SessionPack.gtin, SessionPack.lot_key)
            .having(func.count(func.distinct(SessionPack.expiry)) > 1)
        ).tuples()
    )
    return [
        RecentPack(lot, expiry, gtin, last_used, (gtin, key) in disputed)
        for gtin, key, lot, expiry, last_used in rows
    ]
