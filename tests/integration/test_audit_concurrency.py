"""Writers appending audit events at the same time take turns on the chain head.

Each thread is a web request or a worker of its own: its own app context, its own database
connection, its own transactions. If two of them read the same chain head, the chain would
fork (two events with one sequence number, or one event hashed over a stale predecessor) and
`flask audit verify` would report it. Run on SQLite (a file, WAL) and on PostgreSQL.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from safety.audit import services as audit
from safety.audit.models import AuditEvent
from safety.extensions import db
from safety.integrity.verify import verify

WRITERS = 4
TRANSACTIONS = 15


@pytest.mark.real_commits  # each writer is a thread with a connection of its own
def test_concurrent_writers_append_one_unbroken_chain(app):
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                for n in range(TRANSACTIONS):
                    # Some transactions append one event, others several at once.
                    entries = [
                        audit.Entry(
                            action="test.concurrent",
                            actor_id=None,
                            object_type="writer",
                            object_id=str(writer),
                            details={"n": n, "part": part},
                        )
                        for part in range(1 + n % 3)
                    ]
                    audit.record_many(entries)
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(t.is_alive() for t in threads)
    assert errors == []
    expected = WRITERS * sum(1 + n % 3 for n in range(TRANSACTIONS))
    db.session.expire_all()
    seqs = db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert seqs == list(range(1, expected + 1))
    per_writer = dict(
        db.session.execute(
            select(AuditEvent.object_id, func.count()).group_by(AuditEvent.object_id)
        ).all()
    )
    assert per_writer == {str(w): expected // WRITERS for w in range(WRITERS)}
    result = verify()
    assert result.is_intact, result.problem
    assert result.events == expected


def test_one_transaction_appends_more_events_than_one_statement_can_carry(app):
    """The demo and the worker append thousands of events at once; on PostgreSQL a single
    INSERT would pass 65,535 parameters. Every event lands, in order, on its chain."""
    count = 7_000
    audit.record_many(
        audit.Entry(
            action="test.many",
            actor_id=None,
            object_type="n",
            object_id=str(n),
            details={},
            chain=1 + n % 2,
        )
        for n in range(count)
    )
    db.session.commit()

    stored = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "test.many")
    )
    assert stored == count
    assert verify().is_intact


@pytest.mark.real_commits  # the other writer commits on a connection of its own
def test_a_head_that_moves_while_the_events_are_hashed_is_not_overwritten(app, monkeypatch):
    """On PostgreSQL the events are hashed after an unlocked read of the head; another writer
    appending in between must make this one hash again on the locked path, never fork.
    (SQLite has one writer at a time: there the head cannot move while a writer hashes.)"""
    if db.engine.dialect.name != "postgresql":
        return
    audit.record_many([audit.Entry(action="test.first", chain=1)])
    db.session.commit()
    hashed = audit._chained
    interleaved = []

    def hash_while_another_appends(chain, entries, *, first_seq, after):
        if not interleaved:
            interleaved.append(first_seq)
            other = threading.Thread(target=append_elsewhere)
            other.start()
            other.join(timeout=30)
        return hashed(chain, entries, first_seq=first_seq, after=after)

    def append_elsewhere() -> None:
        with app.app_context():
            audit.record_many([audit.Entry(action="test.meanwhile", chain=1)])
            db.session.commit()
            db.session.remove()

    monkeypatch.setattr(audit, "_chained", hash_while_another_appends)
    audit.record_many([audit.Entry(action="test.mine", chain=1)])
    db.session.commit()

    actions = db.session.execute(
        select(AuditEvent.seq, AuditEvent.action)
        .where(AuditEvent.chain_id == 1)
        .order_by(AuditEvent.seq)
    ).all()
    assert [tuple(row) for row in actions] == [
        (1, "test.first"),
        (2, "test.meanwhile"),
        (3, "test.mine"),
    ]
    result = verify()
    assert result.is_intact, result.problem


def test_a_transaction_writes_its_own_changes_before_it_locks_the_chain(app, make_user):
    """Commit flushes the session's changes after its before_commit hooks, where the append
    runs; the append's first ORM statement autoflushes them, so the chain head is not locked
    while they are written (a signed-in account's last-seen time, a scanned pack: writes the
    routes leave for commit)."""
    user = make_user()
    db.session.commit()
    sent: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(" ".join(statement.split()))

    audit.record("test.rename", actor=user, obj=user)
    user.name = "Renamed before commit"  # after: reading user.id above would flush it
    event.listen(Engine, "before_cursor_execute", capture)  # PostgreSQL's test connection too
    try:
        db.session.commit()
    finally:
        event.remove(Engine, "before_cursor_execute", capture)

    renamed = next(i for i, s in enumerate(sent) if s.startswith("UPDATE users"))
    locked = next(i for i, s in enumerate(sent) if "UPDATE audit_chain_head" in s)
    assert renamed < locked, sent
    assert db.session.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)) == (
        "test.rename"
    )
