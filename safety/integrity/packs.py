"""Hold the needle packs of each signed record to the packs its signed answers list, and
those of a session never signed to its latest Time out.

The lot trace reads the `session_packs` rows, not the answers: a pack row deleted or re-keyed
behind the application (its trigger switched off and on again) would leave a patient out of a
recall while every content hash still matched, and a row added would put one in who was not
needled with that lot. The answers themselves were verified against their hashes before.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, Connection, and_, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, aliased

from safety.checklists.models import PhaseEntry, TreatmentSession
from safety.integrity.reader import BATCH
from safety.packs.models import SessionPack
from safety.packs.rules import EXPIRY_ITEM, LOT_ITEM, PACKS_KEY, normalise_lot, packs_of
from safety.packs.services import is_current

TS = TreatmentSession
#: The answers `packs_of` reads: the packs, or before them the one lot and expiry.
PACK_ANSWERS = (PACKS_KEY, LOT_ITEM, EXPIRY_ITEM)


def _expected(answers: dict) -> list[tuple]:
    return [
        (
            position,
            pack.get("gtin"),
            pack["lot"],
            normalise_lot(pack["lot"]),
            pack.get("expiry"),
            pack.get("serial"),
        )
        for position, pack in enumerate(packs_of(answers), start=1)
    ]


#: A pack row's columns `_stored` compares, in its order.
STORED = (
    SessionPack.gtin,
    SessionPack.lot,
    SessionPack.lot_key,
    SessionPack.expiry,
    SessionPack.serial,
    SessionPack.position,
)


def _stored(gtin, lot, key, expiry, serial, position) -> tuple:
    if isinstance(expiry, date):
        expiry = expiry.isoformat()
    return (position, gtin, lot, key, expiry, serial)


def _pack_answers(dialect: str):
    """The three answers as one JSON array read from the document once: SQLite's json_extract
    with three paths parses the text once (three calls parse it three times), and PostgreSQL
    sends one small value to decode instead of three."""
    if dialect == "postgresql":
        found = [TS.answers[key] for key in PACK_ANSWERS]
        return func.jsonb_build_array(*found, type_=JSONB)
    paths = [f'$."{key}"' for key in PACK_ANSWERS]
    return type_coerce(func.json_extract(TS.answers, *paths), JSON)


def verify_packs(
    db_: Connection | Session, *, first_id: int | None = None, last_id: int | None = None
) -> str | None:
    """Return the first signed record with first_id < id <= last_id (all by default) whose
    packs differ from its signed answers, or None. verify splits the records between its two
    processes at the same id as the content hashes.

    Read for a million records: only the three answers that name packs leave the database (not
    the whole document, whose decoding was most of the cost), and each batch's packs are read
    by a range of session ids rather than a list of ten thousand bound ids; packs of unsigned
    sessions in that range are read and ignored."""
    conn = db_ if isinstance(db_, Connection) else db_.connection()
    after = first_id or 0
    upper = [] if last_id is None else [TS.id <= last_id]
    pack_answers = _pack_answers(conn.dialect.name)
    while True:
        records = conn.execute(
            select(TS.id, pack_answers)
            .where(TS.signed_dt.is_not(None), TS.id > after, *upper)
            .order_by(TS.id)
            .limit(BATCH)
        ).all()
        if not records:
            return None
        found: dict[int, list[tuple]] = {}
        for row in conn.execute(
            select(
                SessionPack.session_id,
                *STORED,
            )
            .where(
                SessionPack.session_id > after,
                SessionPack.session_id <= records[-1].id,
                is_current(),
            )
            .order_by(SessionPack.session_id, SessionPack.position)
        ):
            found.setdefault(row[0], []).append(_stored(*row[1:]))
        for record_id, values in records:
            named = zip(PACK_ANSWERS, values, strict=True)
            answers = {key: value for key, value in named if value is not None}
            if found.get(record_id, []) != _expected(answers):
                return f"signed record {record_id}: its needle packs no longer match its answers"
        after = records[-1].id


def verify_open_packs(db_: Connection | Session) -> str | None:
    """Return the first session never signed (open, or cancelled) whose current needle packs
    are not those of its latest Time out, or None.

    A lot trace lists such sessions too: a session cancelled after its Time out had needles
    in a patient that were never counted out. Marking its pack superseded, the one change the
    database lets a pack row have, took the patient out of a recall with no trigger to switch
    off (an insider's review). Its Time out itself is held to its event (sessions.py), so the
    packs are held to the answers it saved. Few sessions are never signed."""
    saved = aliased(PhaseEntry)
    latest = (
        select(func.max(saved.id))
        .where(saved.session_id == TS.id, saved.phase == "timeout")
        .correlate(TS)
        .scalar_subquery()
    )
    # One statement: a Time out saved again, or a record signed, while verify reads is read
    # with its packs or not at all (a review's practitioners saving meanwhile were named).
    rows = db_.execute(
        select(TS.id, PhaseEntry.id, PhaseEntry.answers, SessionPack.entry_id, *STORED)
        .select_from(TS)
        .outerjoin(PhaseEntry, PhaseEntry.id == latest)
        .outerjoin(SessionPack, and_(SessionPack.session_id == TS.id, is_current()))
        .where(TS.signed_dt.is_(None))
        .order_by(TS.id, SessionPack.position)
    )
    time_outs: dict[int, tuple] = {}
    found: dict[int, list[tuple]] = {}
    entries: dict[int, set[int]] = {}
    for session_id, entry_id, answers, pack_entry, *pack in rows:
        time_outs[session_id] = (entry_id, answers)
        if pack_entry is not None:
            found.setdefault(session_id, []).append(_stored(*pack))
            entries.setdefault(session_id, set()).add(pack_entry)
    for session_id in sorted(time_outs.keys() | found.keys()):
        entry_id, answers = time_outs.get(session_id, (None, {}))
        if found.get(session_id, []) != _expected(answers or {}) or entries.get(
            session_id, {entry_id}
        ) != {entry_id}:
            return f"session {session_id}: its needle packs are not those its Time out saved"
    return None
