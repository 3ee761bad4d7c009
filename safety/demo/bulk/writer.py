"""Rows to the database a batch at a time, in a thread of its own.

The generator builds plain tuples in each table's column order (`Pending`); the writer sends a
batch in one transaction through the driver (executemany on SQLite, COPY on PostgreSQL), with
the batch's audit events chained by `audit.services.record_many`, while the next batch is being
built. SQLAlchemy's per-row parameter processing took 40 % of the run, and the ORM a third.
"""

from __future__ import annotations

import threading
import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from queue import Queue
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from safety.audit import services as audit
from safety.audit.services import Entry
from safety.extensions import db
from safety.hashing import canonical_json


def tune_connection(*, loading: bool = True) -> None:
    """Favour loading speed on this connection while the load runs, then restore it.

    SQLite in WAL mode with synchronous NORMAL is crash-safe; OFF also skips the sync at each
    of the load's commits, and a large page cache keeps the hot pages of the indexes in memory.
    PostgreSQL: the load's commits do not wait for the WAL flush.
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA synchronous = {'OFF' if loading else 'NORMAL'}")
        connection.exec_driver_sql(f"PRAGMA cache_size = {-262144 if loading else -2000}")
    elif connection.dialect.name == "postgresql" and loading:
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")


#: Tables whose ids the generator assigns; PostgreSQL's sequences are moved past them.
EXPLICIT_IDS = (
    "clinics",
    "users",
    "patients",
    "treatment_sessions",
    "phase_entries",
    "flags",
    "followups",
    "patient_responses",
)


def reset_sequences() -> None:
    """Move PostgreSQL's id sequences past the ids the generator assigned."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return
    for table in EXPLICIT_IDS:
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}"
        )


def next_id(model) -> int:
    """Return the first id after those in a table: the generator assigns ids itself."""
    return (db.session.scalar(select(func.max(model.id))) or 0) + 1


@dataclass
class Table:
    """The rows of one table waiting for the batch's transaction, in `columns` order."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)

    def statement(self, dialect: str) -> str:
        """The INSERT for executemany (SQLite's qmark parameters; PostgreSQL uses COPY)."""
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks})"


def _sqlite_dt(value: datetime | None) -> str | None:
    """Store a UTC time the way SQLAlchemy's SQLite DateTime does."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _same(value):
    return value


def stored_time(dialect: str) -> Callable[[datetime | None], Any]:
    """Return how a UTC time is passed to the driver: as text on SQLite, as itself elsewhere."""
    return _sqlite_dt if dialect == "sqlite" else _same


def stored_date(dialect: str) -> Callable[[date], Any]:
    """Return how a date is passed to the driver: ISO text on SQLite, as itself elsewhere."""
    return date.isoformat if dialect == "sqlite" else _same


class Pending:
    """The rows and audit events of the batch being built, until the writer takes them."""

    def __init__(self) -> None:
        self.patients = Table(
            "patients",
            (
                "id",
                "clinic_id",
                "given_name",
                "family_name",
                "search_name",
                "email",
                "phone",
                "is_followup_consent",
                "language",
                "created_dt",
                "created_by_id",
            ),
        )
        self.sessions = Table(
            "treatment_sessions",
            (
                "id",
                "clinic_id",
                "patient_id",
                "practitioner_id",
                "template_version_id",
                "session_date",
                "started_dt",
                "needle_lot",
                "answers",
                "notes",
                "signed_dt",
                "signed_by_id",
                "signer_name",
                "signature_meaning",
                "content_hash",
                "bleeding",
                "bruising",
                "reaction",
                "pain_during",
                "flag_count",
            ),
        )
        self.entries = Table(
            "phase_entries",
            ("id", "session_id", "phase", "answers", "notes", "author_id", "submitted_dt"),
        )
        #: One pack per session, from its Time out entry, as `packs.services.record_packs`
        #: writes it for a typed lot.
        self.packs = Table(
            "session_packs",
            (
                "entry_id",
                "session_id",
                "clinic_id",
                "session_date",
                "position",
                "lot",
                "lot_key",
                "expiry",
            ),
        )
        self.flags = Table(
            "flags",
            ("id", "session_id", "kind", "severity", "link_id", "message", "status", "created_dt"),
        )
        self.followups = Table(
            "followups",
            (
                "id",
                "session_id",
                "kind",
                "channel",
                "due_dt",
                "status",
                "answered_dt",
                "created_dt",
            ),
        )
        self.responses = Table(
            "patient_responses",
            ("id", "followup_id", "session_id", "answers", "escalation", "created_dt"),
        )
        #: Parents first: the order the batch's transaction inserts them in.
        self.tables = (
            self.patients,
            self.sessions,
            self.entries,
            self.packs,
            self.flags,
            self.followups,
            self.responses,
        )
        self.patient_events: list[Entry] = []
        self.session_events: list[Entry] = []
        self.last_patient_dt: datetime | None = None
        self.last_signed: datetime | None = None

    def take(self) -> Batch:
        """Return the batch built so far and start the next one."""
        batch = Batch(
            tables=[Table(t.name, t.columns, t.rows) for t in self.tables],
            patient_events=self.patient_events,
            patient_dt=self.last_patient_dt,
            session_events=self.session_events,
            signed_dt=self.last_signed,
        )
        for table in self.tables:
            table.rows = []
        self.patient_events = []
        self.session_events = []
        return batch


@dataclass
class Batch:
    """The rows and audit events of one batch of sessions: one transaction."""

    tables: list[Table]
    patient_events: list[Entry]
    patient_dt: datetime | None
    session_events: list[Entry]
    signed_dt: datetime | None


def write_rows(table: Table, dialect: str) -> None:
    """Insert a table's rows on the session's connection, in its transaction."""
    if not table.rows:
        return
    connection = db.session.connection()
    if dialect != "postgresql":
        connection.exec_driver_sql(table.statement(dialect), table.rows)
        return
    # executemany costs a round trip per row even pipelined; COPY on the same connection, in
    # the same transaction, streams the rows (JSON as text).
    columns = ", ".join(table.columns)
    driver = connection.connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy,
    ):
        for row in table.rows:
            copy.write_row(row)


def _write_batch(batch: Batch, dialect: str) -> None:
    """Write a batch in one transaction: parents first, then the batch's audit events."""
    tune_connection()
    for table in batch.tables:
        write_rows(table, dialect)
    if batch.patient_events:
        audit.record_many(batch.patient_events, now=batch.patient_dt)
    if batch.session_events:
        # record_many stamps a call's events with one time: the batch's last signature keeps
        # every event at or after the signing it records (answers come later in truth).
        audit.record_many(
            batch.session_events,
            now=batch.signed_dt,
            write=lambda rows: write_rows(_event_table(rows, dialect), dialect),
        )
    db.session.commit()


_EVENT_COLUMNS = (
    "chain_id",
    "seq",
    "created_dt",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "details",
    "prev_hash",
    "hash",
)


def _event_table(rows: list[dict[str, Any]], dialect: str) -> Table:
    """The audit events record_many chained, as rows for COPY or executemany (a batch's
    thousands of events through the ORM took a third of the run)."""
    dt = stored_time(dialect)
    return Table(
        "audit_events",
        _EVENT_COLUMNS,
        [
            (
                r["chain_id"],
                r["seq"],
                dt(r["created_dt"]),
                r["actor_id"],
                r["action"],
                r["object_type"],
                r["object_id"],
                canonical_json(r["details"]),
                r["prev_hash"],
                r["hash"],
            )
            for r in rows
        ],
    )


class Writer:
    """Write batches in order, in a thread of its own, while the next batch is being built.

    The database works (indexes, constraints, COPY or executemany) while Python builds rows;
    both drivers let go of the GIL while they wait. One writer keeps the audit chain in order.
    An in-memory SQLite database exists per connection only, so it is written inline.
    """

    def __init__(self, dialect: str, progress, started: float) -> None:
        self.dialect = dialect
        self.progress = progress
        self.started = started
        self.counts = dict.fromkeys(
            ("sessions", "clinics", "practitioners", "patients", "flags", "followups", "events"),
            0,
        )
        self.error: BaseException | None = None
        url = db.engine.url
        self.inline = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        self.queue: Queue[Batch | None] = Queue(maxsize=2)
        self.thread = None
        if not self.inline:
            app = current_app._get_current_object()
            self.thread = threading.Thread(target=self._run, args=(app,), name="bulk-writer")
            self.thread.start()

    def put(self, batch: Batch) -> None:
        if self.error is not None:
            raise self.error
        if self.inline:
            self._write(batch)
        else:
            self.queue.put(batch)

    def close(self) -> None:
        """Wait for the last batch; raise what went wrong in the writer, if anything."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self, app) -> None:
        with app.app_context():
            try:
                while (batch := self.queue.get()) is not None:
                    if self.error is not None:
                        continue  # drain, so the producer never blocks on a full queue
                    try:
                        self._write(batch)
                    except BaseException as exc:  # handed to the producer thread
                        self.error = exc
                        db.session.rollback()
            finally:
                db.session.rollback()
                tune_connection(loading=False)
                db.session.commit()

    def _write(self, batch: Batch) -> None:
        _write_batch(batch, self.dialect)
        counts = self.counts
        by_name = {t.name: len(t.rows) for t in batch.tables}
        counts["sessions"] += by_name["treatment_sessions"]
        counts["patients"] += by_name["patients"]
        counts["flags"] += by_name["flags"]
        counts["followups"] += by_name["followups"]
        counts["events"] += len(batch.patient_events) + len(batch.session_events)
        if self.progress is not None:
            self.progress(counts["sessions"], clock.perf_counter() - self.started)
