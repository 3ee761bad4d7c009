"""Append events to the audit chains, in the caller's transaction, just before it commits.

Each clinic has its own chain and the system has one (`rules.SYSTEM_CHAIN`): appending takes
the chain head's row lock (PostgreSQL) or the write lock (SQLite), so a chain never forks.
That lock is held until commit, so `record` only queues the event, and the queue is appended
in one go just before the transaction commits (or before anything reads the audit tables in
it): the lock is held for the few milliseconds of the append, not for the whole request, and
one clinic's work never waits for another's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import event, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from safety.audit import rules
from safety.audit.models import AuditChainHead, AuditEvent
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.hashing import canonical_json

#: Where a session keeps the events recorded in its transaction and not yet appended.
PENDING = "audit_pending"


@dataclass(frozen=True)
class Entry:
    """One event to append: what happened, by whom, to what, on which chain, and when."""

    action: str
    actor_id: int | None = None
    object_type: str | None = None
    object_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: The clinic's chain, or the system chain.
    chain: int = rules.SYSTEM_CHAIN
    #: When it happened; None takes the time of the append.
    created_dt: datetime | None = None


def record(
    action: str,
    *,
    actor=None,
    obj=None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    details: dict[str, Any] | None = None,
    clinic_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Record an audit event in the current transaction; it is appended when it commits.

    The event goes to `clinic_id`'s chain, or to the chain of the clinic `obj` belongs to (its
    model's `audit_chain`), or else to the system chain.
    """
    if obj is not None:
        object_type = object_type or obj.__tablename__
        if obj.id is None:
            db.session.flush()  # the object the event names has its id
        object_id = obj.id
        if clinic_id is None:
            clinic_id = getattr(obj, "audit_chain", None)
    entry = Entry(
        action=action,
        actor_id=actor.id if actor is not None else None,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=details or {},
        chain=clinic_id or rules.SYSTEM_CHAIN,
        created_dt=(now or utcnow()).astimezone(UTC),
    )
    db.session.info.setdefault(PENDING, []).append(entry)


def record_many(
    entries: Iterable[Entry],
    *,
    now: datetime | None = None,
    write: Callable[[list[dict[str, Any]]], None] | None = None,
) -> None:
    """Append several events at once, in order, in the current transaction, now.

    For callers that append many events in one statement: the reminder worker, and the bulk
    demo data, whose `write` inserts the rows instead of the ORM (it streams millions with
    COPY). Events recorded earlier in the transaction go first.
    """
    stamp = (now or utcnow()).astimezone(UTC)
    queued = [e if e.created_dt is not None else replace(e, created_dt=stamp) for e in entries]
    append_pending(db.session)
    _append(db.session, queued, write=write)


def append_pending(session: Session) -> None:
    """Append the events the session's transaction recorded, if any."""
    queued = session.info.pop(PENDING, None)
    if queued:
        _append(session, queued)


def _append(
    session: Session,
    entries: list[Entry],
    *,
    write: Callable[[list[dict[str, Any]]], None] | None = None,
) -> None:
    """Chain the entries onto their chains' heads, one chain at a time in chain order (so two
    transactions that touch the same chains lock them in the same order and never deadlock)."""
    if not entries:
        return
    by_chain = {
        chain: list(grouped)  # sorted() is stable: each chain keeps the recorded order
        for chain, grouped in groupby(sorted(entries, key=lambda e: e.chain), key=lambda e: e.chain)
    }
    one_statement = write is None and len(entries) <= ONE_STATEMENT_ROWS
    if one_statement and len(by_chain) == 1 and _is_postgresql(session):
        [(chain, chained)] = by_chain.items()
        if _append_unlocked(session, chain, chained):
            return
    rows: list[dict[str, Any]] = []
    heads: dict[int, str] = {}
    for chain, chained in by_chain.items():
        last_seq, prev_hash = _reserve(session, chain, len(chained))
        rows += _chained(chain, chained, first_seq=last_seq - len(chained) + 1, after=prev_hash)
        heads[chain] = rows[-1]["hash"]
    moves = [
        update(AuditChainHead).where(AuditChainHead.id == chain).values(last_hash=last_hash)
        for chain, last_hash in heads.items()
    ]
    if one_statement and _is_postgresql(session):
        # The heads move in the statement that inserts the events (data-modifying WITH): one
        # round trip less while the chains are locked.
        statement = insert(AuditEvent).values(rows)
        for number, move in enumerate(moves):
            statement = statement.add_cte(move.cte(f"head_{number}"))
        session.execute(statement)
        return
    for move in moves:
        session.execute(move)
    if write is None:
        # The table, not the entity: the ORM's bulk insert splits the rows into one statement
        # per set of non-null columns (an event with an actor, one without), while the chains
        # are locked.
        session.execute(insert(AuditEvent.__table__), rows)
    else:
        write(rows)


def _chained(chain: int, entries: list[Entry], *, first_seq: int, after: str) -> list[dict]:
    """The rows of `entries` numbered from `first_seq`, each hash following the one before,
    the first following `after`."""
    rows = []
    prev_hash = after
    for seq, entry in enumerate(entries, start=first_seq):
        payload = rules.event_payload(
            seq=seq,
            created_dt=entry.created_dt,
            actor_id=entry.actor_id,
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            details=entry.details,
            chain=chain,
        )
        event_hash = rules.chain_hash(prev_hash, payload)
        rows.append(
            {
                "chain_id": chain,
                "seq": seq,
                "created_dt": entry.created_dt,
                "actor_id": entry.actor_id,
                "action": entry.action,
                "object_type": entry.object_type,
                "object_id": entry.object_id,
                "details": entry.details,
                "prev_hash": prev_hash,
                "hash": event_hash,
            }
        )
        prev_hash = event_hash
    return rows


def _append_unlocked(session: Session, chain: int, entries: list[Entry]) -> bool:
    """Append to one chain on PostgreSQL, hashing before the chain is locked; False when the
    head moved meanwhile (or the chain has none yet), having changed nothing.

    The head is read without a lock and the events hashed after it; one statement then moves
    the head only if it is still where it was read (the UPDATE waits for a writer holding it
    and re-reads the row) and inserts the events only if it moved. So the lock is held from
    that statement to the commit: no round trip and no hashing inside it. Writers of one
    clinic rarely meet; when they do, the caller appends on the locking path instead.
    """
    head = session.execute(
        select(AuditChainHead.last_seq, AuditChainHead.last_hash).where(AuditChainHead.id == chain)
    ).first()
    if head is None:
        return False
    rows = _chained(chain, entries, first_seq=head.last_seq + 1, after=head.last_hash)
    columns = {name: [row[name] for row in rows] for name in _UNNESTED}
    columns["details"] = [canonical_json(details) for details in columns["details"]]
    appended = session.execute(
        _APPEND_IF_UNMOVED,
        {
            "chain": chain,
            "read_seq": head.last_seq,
            "last_seq": rows[-1]["seq"],
            "last_hash": rows[-1]["hash"],
            **columns,
        },
    ).all()
    return len(appended) == len(rows)


#: The columns `_APPEND_IF_UNMOVED` takes as one array each, in its order.
_UNNESTED = (
    "seq", "created_dt", "actor_id", "action", "object_type", "object_id", "details",
    "prev_hash", "hash",
)  # fmt: skip
#: Move a chain's head only if it is still where it was read, and insert the events only if
#: it moved. The events come as one array per column (unnest), so the statement's text is the
#: same however many events a transaction appends: it is compiled once per process and
#: prepared once per connection, where a VALUES list of the rows was compiled on every
#: append (about 7 % of the CPU of a practitioner's session). The details arrive as the
#: canonical JSON the hash covers, and `json` keeps that text as written.
_APPEND_IF_UNMOVED = text(
    """
    WITH moved AS (
        UPDATE audit_chain_head SET last_seq = :last_seq, last_hash = :last_hash
        WHERE id = :chain AND last_seq = :read_seq
        RETURNING id
    )
    INSERT INTO audit_events
        (chain_id, seq, created_dt, actor_id, action, object_type, object_id, details,
         prev_hash, hash)
    SELECT :chain, new.seq, new.created_dt, new.actor_id, new.action, new.object_type,
           new.object_id, CAST(new.details AS json), new.prev_hash, new.hash
    FROM unnest(
        CAST(:seq AS integer[]), CAST(:created_dt AS timestamptz[]),
        CAST(:actor_id AS integer[]), CAST(:action AS text[]), CAST(:object_type AS text[]),
        CAST(:object_id AS text[]), CAST(:details AS text[]), CAST(:prev_hash AS text[]),
        CAST(:hash AS text[])
    ) AS new(seq, created_dt, actor_id, action, object_type, object_id, details, prev_hash,
             hash)
    WHERE EXISTS (SELECT 1 FROM moved)
    RETURNING seq
    """
)


#: Events appended in one multi-row INSERT with the heads' moves at most; more would near
#: PostgreSQL's 65,535 parameters (ten an event), and go in batches of the driver's instead.
ONE_STATEMENT_ROWS = 500


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _reserve(session: Session, chain: int, count: int) -> tuple[int, str]:
    """Reserve `count` sequence numbers on a chain's head (making the head of a clinic's first
    event); returns the last reserved number and the hash the first event follows."""
    reserve = (
        update(AuditChainHead)
        .where(AuditChainHead.id == chain)
        .values(last_seq=AuditChainHead.last_seq + count)
        .returning(AuditChainHead.last_seq, AuditChainHead.last_hash)
    )
    found = session.execute(reserve).first()
    if found is None:
        dialect = postgresql if _is_postgresql(session) else sqlite
        session.execute(
            dialect.insert(AuditChainHead)
            .values(id=chain, last_seq=0, last_hash=rules.GENESIS_HASH)
            .on_conflict_do_nothing()
        )
        found = session.execute(reserve).one()
    return found[0], found[1]


# --- when the queue is appended ----------------------------------------------------------------


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    append_pending(session)


@event.listens_for(Session, "do_orm_execute")
def _before_reading_the_chain(state) -> None:
    """A transaction that reads the audit tables sees the events it recorded."""
    if state.session.info.get(PENDING) and any(
        mapper.class_ in (AuditEvent, AuditChainHead) for mapper in state.all_mappers
    ):
        append_pending(state.session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction) -> None:
    """Forget what a rolled-back transaction recorded (a committed one appended it)."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)
