"""Where a test's database comes from; tests/conftest.py says how the fixtures use this.

SQLite: one file per worker, copied afresh from a migrated template (or a module's world) for
each test, behind one engine. PostgreSQL: one database per worker, each test in a transaction
rolled back afterwards, with guards that fail a test reaching past it without the
real_commits marker.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from inspect import signature as inspect_signature
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest
from factories import Factories
from flask_sqlalchemy.session import Session
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from config import TestingConfig
from safety import create_app
from safety.extensions import db

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def scratch_postgres_database(postgres_url: str, purpose: str, options: str = "") -> Iterator[str]:
    """Create a database of its own beside the test database, and drop it again afterwards."""
    name = f"needlesafe_{purpose}_test_{os.getpid()}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name} {options}".strip()))
        try:
            yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        admin.dispose()


def migrate(url: str) -> None:
    app = create_app(config_for(url))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()


def config_for(url: str) -> type[TestingConfig]:
    """The testing configuration, on the database at `url`."""
    return type("PerTestConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": url})


# --- PostgreSQL: a transaction per test ------------------------------------------------------


class SecondConnection(pytest.fail.Exception):
    """A test without the real_commits marker reached past its uncommitted transaction.

    A test failure, not an Exception: no `except Exception` in the code under test, nor a
    `pytest.raises(Exception)`, can mistake it for the error a test expects.
    """

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} while the test's data lives in a transaction that is rolled back "
            "afterwards and never committed: nothing outside it can see that data. Mark the "
            "test @pytest.mark.real_commits (see tests/conftest.py).",
            pytrace=True,
        )


class Postgres:
    """The worker's migrated PostgreSQL database, and what is committed in it now.

    A test runs in one transaction on the worker's connection, rolled back afterwards
    (savepoint mode): the application's commits release savepoints inside it. A test marked
    real_commits uses connections of its own and commits for real; the tables are emptied
    before the next test. What is committed is either nothing or one module's world.
    """

    EMPTY = "empty"
    DIRTY = "dirty"

    def __init__(self, url: str) -> None:
        self.url = url
        # The application's own engine, with its options (the canonical JSON serializer).
        self.app = create_app(config_for(url))
        with self.app.app_context():
            self.engine = db.engine
        self.connection = self.engine.connect()
        self.content = self.DIRTY
        #: Sequence positions of the committed content, restored after each rolled-back test.
        self.restart_sequences = ""
        self.active_thread: int | None = None
        self.tables = [
            t for t in inspect(self.connection).get_table_names() if t != "alembic_version"
        ]
        self.connection.rollback()

    def hold(self, content: str, build: Callable[[], None] | None = None) -> None:
        """Make `content` the committed state: nothing, or the world `build` commits."""
        if self.content == content:
            return
        conn = self.connection
        conn.execute(text(f"TRUNCATE {', '.join(self.tables)} RESTART IDENTITY CASCADE"))
        for table in self.tables:  # a real-commit tamper test may have disabled a guard
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        conn.execute(
            text("INSERT INTO audit_chain_head (id, last_seq, last_hash) VALUES (0, 0, :h)"),
            {"h": "0" * 64},
        )
        conn.commit()
        self.content = self.DIRTY
        if build is not None:
            build()
        positions = conn.execute(
            text(
                "SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences "
                "WHERE schemaname = current_schema()"
            )
        ).all()
        conn.rollback()
        self.restart_sequences = "SELECT " + ", ".join(
            f"setval('{name}', {value}, true)" if value else f"setval('{name}', 1, false)"
            for name, value in positions
        )
        self.content = content

    def begin(self) -> Connection:
        """Open the test's transaction, and refuse any way round it until it ends."""
        self.connection.begin()
        self.active_thread = threading.get_ident()
        _ACTIVE.append(self)
        return self.connection

    def rollback(self) -> None:
        _ACTIVE.clear()
        self.active_thread = None
        try:
            self.connection.rollback()
        except Exception:  # a test broke the connection: start the next one on a new one
            self.connection.invalidate()
            self.connection.close()
            self.connection = self.engine.connect()
            self.content = self.DIRTY
            return
        # Sequences are not transactional: put them back, as TRUNCATE ... RESTART IDENTITY did.
        self.connection.execute(text(self.restart_sequences))
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()
        self.engine.dispose()


#: The worker's Postgres while a rolled-back test runs; the guards below look at it.
_ACTIVE: list[Postgres] = []


class OneConnectionSession(Session):
    """The session of a rolled-back test: always the test's connection, from the test's thread."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if _ACTIVE and threading.get_ident() != _ACTIVE[0].active_thread:
            raise SecondConnection("another thread used the database")
        return bind if bind is not None else self.bind


def refuse_the_ways_round() -> Callable[[], None]:
    """Make new connections and processes fail while a rolled-back test runs; return the undo."""
    connect, popen, start = Engine.connect, subprocess.Popen.__init__, BaseProcess.start

    def guarded_connect(engine):
        if _ACTIVE and engine is not _ACTIVE[0].engine and engine.dialect.name == "postgresql":
            raise SecondConnection("the test opened a database connection of its own")
        return connect(engine)

    def guarded_popen(self, *args, **kwargs):
        if _ACTIVE:
            raise SecondConnection("the test started a process")
        popen(self, *args, **kwargs)

    def guarded_start(self):
        if _ACTIVE:
            raise SecondConnection("the test started a process")
        start(self)

    Engine.connect, subprocess.Popen.__init__, BaseProcess.start = (
        guarded_connect,
        guarded_popen,
        guarded_start,
    )

    def undo() -> None:
        Engine.connect, subprocess.Popen.__init__, BaseProcess.start = connect, popen, start

    return undo


# --- SQLite: a file per worker ------------------------------------------------------------


class SqliteFile:
    """The one file every SQLite test of a worker runs in, copied afresh for each test.

    One file lets the tests' apps share one engine: SQLAlchemy caches compiled statements per
    engine, and compiling them again for every test's new engine took a tenth of the suite.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.engine: Engine | None = None

    def make_engine(self, make: Callable[..., Engine]) -> Callable[..., Engine]:
        """Wrap Flask-SQLAlchemy's engine factory: the same engine for every app on the file."""

        def shared(bind_key, options, app) -> Engine:
            if bind_key is not None or str(options["url"]) != self.url:
                return make(bind_key, options, app)
            if self.engine is None:
                self.engine = make(bind_key, options, app)
            return self.engine

        return shared

    def reset(self, source: str) -> None:
        """Start again from a copy of `source`, with no connection open on the old file."""
        if self.engine is not None:
            self.engine.dispose()
        for name in (self.path.name, f"{self.path.name}-wal", f"{self.path.name}-shm"):
            self.path.with_name(name).unlink(missing_ok=True)
        shutil.copy(source, self.path)


# --- worlds --------------------------------------------------------------------------------

#: What a world builder may ask for, by parameter name.
BUILDER_ARGUMENTS = {"app", "runner", "make_clinic", "make_user", "make_patient", "make_session"}


@dataclass
class BuiltWorld:
    """What a module's world builder returned, and the factories' counters after it."""

    value: Any
    numbers: dict[str, int]


def build_world(url: str, build: Callable[..., Any]) -> BuiltWorld:
    """Run a world builder against the database at `url`, committing what it makes."""
    app = create_app(config_for(url))
    with app.app_context():
        make = Factories()
        available = {  # BUILDER_ARGUMENTS
            "app": app,
            "runner": app.test_cli_runner(),
            "make_clinic": make.clinic,
            "make_user": make.user,
            "make_patient": make.patient,
            "make_session": make.session,
        }
        wanted = inspect_signature(build).parameters
        value = build(**{name: available[name] for name in wanted})
        assert not holds_orm_objects(value), (
            f"{build.__name__} returned ORM objects, which do not outlive its session: "
            "return their ids"
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return BuiltWorld(value, dict(make.numbers))


def holds_orm_objects(value: Any) -> bool:
    if hasattr(value, "_sa_instance_state"):
        return True
    if isinstance(value, dict):
        return any(holds_orm_objects(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_orm_objects(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(holds_orm_objects(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


@dataclass
class TestDatabase:
    """The database one test starts from."""

    url: str
    #: The connection whose transaction is rolled back after the test (PostgreSQL savepoint
    #: mode), or None when the test commits for real.
    connection: Connection | None = None
    world: BuiltWorld | None = None
