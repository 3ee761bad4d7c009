"""What an insider with the database (but not the signing key) does, as the tests play it.

Switch the immutability triggers off, change rows, recompute every hash with the public
recipe, re-chain what follows and move the head, then put the triggers back exactly as they
were: the database then looks untouched to anything that reads only the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select, text

from safety.audit import rules
from safety.audit.models import AuditEvent
from safety.extensions import db
from safety.integrity.triggers import EXPECTED


@contextmanager
def guards_off() -> Iterator[None]:
    """Every immutability trigger off for the block, and back as it was afterwards."""
    if db.engine.dialect.name == "postgresql":
        for table in EXPECTED:
            db.session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield
        for table in EXPECTED:
            db.session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        db.session.commit()
        return
    saved = db.session.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    ).all()
    for name, _ in saved:
        db.session.execute(text(f"DROP TRIGGER {name}"))
    yield
    for _, sql in saved:
        db.session.execute(text(sql))
    db.session.commit()


def event_hash(event: AuditEvent, prev_hash: str, *, seq: int | None = None) -> str:
    payload = rules.event_payload(
        seq=event.seq if seq is None else seq,
        created_dt=event.created_dt,
        actor_id=event.actor_id,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        details=event.details,
        chain=event.chain_id,
    )
    return rules.chain_hash(prev_hash, payload)


def rechain(chain: int, *, renumber: bool = False) -> None:
    """Recompute every hash of a chain from its first event, as its rows now stand (numbered
    1, 2, ... again when `renumber`), and move its head to match. Call with the guards off."""
    db.session.flush()
    db.session.expire_all()
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.chain_id == chain).order_by(AuditEvent.id)
    ).all()
    prev = rules.GENESIS_HASH
    for seq, event in enumerate(events, start=1):
        number = seq if renumber else event.seq
        rehashed = event_hash(event, prev, seq=number)
        db.session.execute(
            text("UPDATE audit_events SET seq = :seq, prev_hash = :p, hash = :h WHERE id = :id"),
            {"seq": number, "p": prev, "h": rehashed, "id": event.id},
        )
        prev = rehashed
    db.session.execute(
        text("UPDATE audit_chain_head SET last_seq = :n, last_hash = :h WHERE id = :c"),
        {"n": len(events), "h": prev, "c": chain},
    )
    db.session.expire_all()
