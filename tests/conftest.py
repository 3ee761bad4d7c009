"""Shared fixtures: a migrated database per test, the app, a client with CSRF on, and factories
for clinics, users, patients and sessions.

Where a test's database comes from:

- SQLite (the default): a fresh copy of a template migrated once per run (per pytest-xdist
  worker), or of the module's world (below). Every test commits for real; the marker below
  changes nothing here.
- PostgreSQL (TEST_DATABASE_URL): a database per worker, migrated once. A test runs inside one
  transaction that is rolled back afterwards (savepoint mode): the application's commits release
  savepoints, and nothing reaches the disk. A test whose data must really be committed because
  something outside the test's own connection has to see it (a process it starts, a connection
  it opens, a thread that uses the database, a live server) is marked
  `@pytest.mark.real_commits`; its tables are emptied afterwards. Forgetting the marker fails
  the test with `SecondConnection` naming the marker: in savepoint mode a second connection, a
  database call from another thread, or a new process is refused.
- A module whose tests share a starting state builds it once, marked
  `pytestmark = pytest.mark.world.with_args(build)`: `build` takes any of make_clinic,
  make_user, make_patient, make_session, app and runner, and returns plain values (ids,
  emails), never ORM objects. A test that asks for the `world` fixture gets that value and
  starts from the database `build` committed; the module's other tests start empty. A test may
  change the world freely: the next one starts from it again.
"""

from __future__ import annotations

import dataclasses
import os
import re
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
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session
from jinja2 import BytecodeCache
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from config import TestingConfig
from safety import create_app
from safety.extensions import db

PASSWORD = "correct-horse-battery-staple"
ROOT = Path(__file__).resolve().parent.parent

#: Answers that complete each phase cleanly (form field name -> values).
CLEAN_PHASES: dict[str, dict[str, list[str]]] = {
    "signin": {
        "signin.authorised": ["yes"],
        "signin.consent": ["yes"],
        "signin.anticoagulant": ["no"],
        "signin.skin_ok": ["yes"],
        "signin.regions": ["lumbar", "hip"],
    },
    "timeout": {
        "timeout.hand_hygiene": ["yes"],
        "timeout.needles_sterile": ["yes"],
        "timeout.needle_lot": ["LOT-2611A"],
        "timeout.needle_expiry": ["2099-12-31"],
        "timeout.clean_field": ["yes"],
        "timeout.skin_prepared": ["yes"],
        "timeout.gloves": ["worn"],
        "timeout.needles_inserted": ["6"],
        "timeout.pain_during": ["2"],
    },
    "signout": {
        "signout.needles_removed": ["6"],
        "signout.needles_disposed": ["6"],
        "signout.bleeding": ["none"],
        "signout.bruising": ["none"],
        "signout.reaction": ["none"],
        "signout.fit_to_leave": ["yes"],
        "signout.hand_hygiene": ["yes"],
        "signout.aftercare": ["yes"],
        "signout.followup": ["email"],
    },
}


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


def _migrate(url: str) -> None:
    app = create_app(_config(url))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()


def _config(url: str) -> type[TestingConfig]:
    return type("PerTestConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": url})


def _build_url_builders_once() -> None:
    """Let every test's app share the URL builder functions werkzeug compiles per rule.

    Creating an app compiles two small Python functions for each URL rule, a quarter of the
    time of a functional test. A builder depends only on the rule's parsed parts (the
    converters are looked up on the rule when it runs), unless a default fills one of its
    variables: those are compiled as before.
    """
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    built: dict[tuple, Callable] = {}

    def build_once(self, append_unknown: bool = True):
        defaults = self.defaults or {}
        if any(is_dynamic and data in defaults for is_dynamic, data in self._trace):
            return compile_builder(self, append_unknown)
        key = (tuple(self._trace), append_unknown)
        if key not in built:
            built[key] = compile_builder(self, append_unknown)
        return built[key]

    Rule._compile_builder = build_once


_build_url_builders_once()


# --- markers and the order of tests ---------------------------------------------------------

#: Tests in files being rewritten elsewhere that need real commits; the files take the marker
#: when they are next edited. Until then this list gives it to them by name.
REAL_COMMIT_TESTS = {
    # the reminder worker runs in a process of its own
    "tests/integration/test_worker_killed.py::"
    "test_a_worker_killed_mid_send_leaves_the_reminder_to_another_after_its_lease",
    # two workers in threads, each with its own connection, race for one row
    "tests/integration/test_followup_outbox.py::test_two_workers_at_once_never_claim_the_same_row",
    # the bulk generator writes from a thread of its own
    "tests/integration/test_bulk_seed.py::"
    "test_bulk_seed_creates_that_many_signed_sessions_with_three_phases_each",
    "tests/integration/test_bulk_seed.py::"
    "test_bulk_sessions_are_checklists_the_application_would_have_signed",
    "tests/integration/test_bulk_seed.py::"
    "test_bulk_sessions_carry_the_flags_and_outcomes_signing_would_set",
    "tests/integration/test_bulk_seed.py::test_bulk_data_verifies_with_one_sign_event_per_session",
    "tests/integration/test_bulk_seed.py::"
    "test_bulk_sessions_carry_the_audit_trail_the_application_writes",
    "tests/integration/test_bulk_seed.py::"
    "test_bulk_follow_ups_exist_only_for_patients_who_chose_a_channel",
    "tests/integration/test_bulk_seed.py::test_bulk_seed_refuses_to_run_twice_and_changes_nothing",
    "tests/integration/test_bulk_seed.py::test_demo_seed_sessions_adds_bulk_data_to_the_demo_data_once",
    "tests/integration/test_bulk_seed.py::test_bulk_outcome_rates_follow_the_published_baselines",
}


#: Modules being rewritten elsewhere whose `world` fixture this rule builds once per module, as
#: if they said `pytestmark = pytest.mark.world.with_args(<their world function>)`. The rule
#: leaves a module alone whose world takes anything a builder is not given.
WORLDS_BY_RULE = {"tests/functional/test_review_routes.py"}

#: What a world builder may ask for, by parameter name.
BUILDER_ARGUMENTS = {"app", "runner", "make_clinic", "make_user", "make_patient", "make_session"}


_WORLDS_TAKEN: dict[str, Callable[..., Any]] = {}


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makemodule(module_path, parent):
    module = yield
    path = module_path.relative_to(ROOT).as_posix()
    if module is not None and path in WORLDS_BY_RULE:
        build = getattr(getattr(module.obj, "world", None), "__wrapped__", None)
        if build is not None and set(inspect_signature(build).parameters) <= BUILDER_ARGUMENTS:
            delattr(module.obj, "world")
            _WORLDS_TAKEN[path] = build
        if path in _WORLDS_TAKEN:  # the module may be collected more than once
            module.add_marker(pytest.mark.world.with_args(_WORLDS_TAKEN[path]))
    return module


def pytest_collection_modifyitems(config, items) -> None:
    """Give the real-commit marker by rule, and run each module's world tests together."""
    for item in items:
        if "live_server" in item.fixturenames or item.nodeid.split("[")[0] in REAL_COMMIT_TESTS:
            item.add_marker(pytest.mark.real_commits)
    # Within a module, the tests that start from its world come after those that start empty,
    # so PostgreSQL commits each world once instead of once per switch.
    position = {item: n for n, item in enumerate(items)}
    items.sort(
        key=lambda item: (
            item.module.__name__ if item.module else "",
            _wants_world(item),
            position[item],
        )
    )


def _wants_world(item) -> bool:
    return "world" in item.fixturenames and item.get_closest_marker("world") is not None


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """TEST_DATABASE_URL, or under pytest-xdist a database of the worker's own beside it."""
    base = os.environ.get("TEST_DATABASE_URL") or None
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if base is None or worker is None:
        yield base
        return
    name = f"{make_url(base).database}_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        admin.dispose()


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
        self.app = create_app(_config(url))
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
            text("INSERT INTO audit_chain_head (id, last_seq, last_hash) VALUES (1, 0, :h)"),
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
        return self.connection

    def rollback(self) -> None:
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


class _OneConnectionSession(Session):
    """The session of a rolled-back test: always the test's connection, from the test's thread."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if _ACTIVE and threading.get_ident() != _ACTIVE[0].active_thread:
            raise SecondConnection("another thread used the database")
        return bind if bind is not None else self.bind


def _refuse_the_ways_round() -> Callable[[], None]:
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


@pytest.fixture(scope="session")
def postgres(postgres_url, migrated_template) -> Iterator[Postgres | None]:
    if not postgres_url:
        yield None
        return
    database = Postgres(postgres_url)
    undo = _refuse_the_ways_round()
    yield database
    undo()
    database.close()


# --- the database of one test ----------------------------------------------------------------


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory, postgres_url) -> str:
    """Migrate once per run (per worker): a template SQLite file, or the PostgreSQL database."""
    if postgres_url:
        engine = create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        _migrate(postgres_url)
        return postgres_url
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite:///{path}")
    return str(path)


@dataclass
class BuiltWorld:
    """What a module's world builder returned, and the factories' counters after it."""

    value: Any
    numbers: dict[str, int]


def _build_world(url: str, build: Callable[..., Any]) -> BuiltWorld:
    """Run a world builder against the database at `url`, committing what it makes."""
    app = create_app(_config(url))
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
        assert not _holds_orm_objects(value), (
            f"{build.__name__} returned ORM objects, which do not outlive its session: "
            "return their ids"
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return BuiltWorld(value, dict(make.numbers))


def _holds_orm_objects(value: Any) -> bool:
    if hasattr(value, "_sa_instance_state"):
        return True
    if isinstance(value, dict):
        return any(_holds_orm_objects(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_orm_objects(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(_holds_orm_objects(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def _world_builder(request) -> Callable[..., Any]:
    return request.node.get_closest_marker("world").args[0]


@pytest.fixture(scope="module")
def sqlite_world(request, migrated_template, tmp_path_factory) -> tuple[str, BuiltWorld]:
    """The module's world, built once into a copy of the template that each test copies."""
    path = tmp_path_factory.mktemp("world") / "world.db"
    shutil.copy(migrated_template, path)
    return str(path), _build_world(f"sqlite:///{path}", _world_builder(request))


#: Worlds built on PostgreSQL, by module: rebuilt after a real-commit test emptied them.
_POSTGRES_WORLDS: dict[str, BuiltWorld] = {}


@dataclass
class TestDatabase:
    """The database one test starts from."""

    url: str
    #: The connection whose transaction is rolled back after the test (PostgreSQL savepoint
    #: mode), or None when the test commits for real.
    connection: Connection | None = None
    world: BuiltWorld | None = None


@pytest.fixture
def database(request, migrated_template, postgres) -> Iterator[TestDatabase]:
    """A migrated database for one test: empty, or holding its module's world.

    SQLite: a copy of the migrated template (or of the module's world). PostgreSQL: the
    worker's database, in a transaction rolled back afterwards; with the real_commits marker,
    committed for real and emptied afterwards.
    """
    wants_world = _wants_world(request.node)
    if postgres is None:
        source, world = migrated_template, None
        if wants_world:
            source, world = request.getfixturevalue("sqlite_world")
        sqlite = request.getfixturevalue("sqlite_file")
        sqlite.reset(source)
        yield TestDatabase(sqlite.url, world=world)
        return

    world = None
    if wants_world:
        key = request.node.module.__name__
        build = _world_builder(request)

        def commit_world() -> None:
            _POSTGRES_WORLDS[key] = _build_world(postgres.url, build)

        postgres.hold(key, commit_world)
        world = _POSTGRES_WORLDS[key]
    else:
        postgres.hold(Postgres.EMPTY)
    if request.node.get_closest_marker("real_commits"):
        postgres.content = Postgres.DIRTY
        yield TestDatabase(postgres.url, world=world)
        return
    connection = postgres.begin()
    _ACTIVE.append(postgres)
    try:
        yield TestDatabase(postgres.url, connection, world)
    finally:
        _ACTIVE.clear()
        postgres.rollback()


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


@pytest.fixture(scope="session")
def sqlite_file(tmp_path_factory) -> Iterator[SqliteFile]:
    sqlite = SqliteFile(tmp_path_factory.mktemp("database") / "test.db")
    db._make_engine = sqlite.make_engine(db._make_engine)
    yield sqlite
    del db._make_engine  # the instance attribute; the class's method shows again
    if sqlite.engine is not None:
        sqlite.engine.dispose()


@pytest.fixture
def database_url(database) -> str:
    """The URL of the test's database (what a process of its own would open)."""
    return database.url


@pytest.fixture
def world(database, app) -> Any:
    """What the module's world builder returned, with the app open on the world's database."""
    assert database.world is not None, "mark the module with pytest.mark.world.with_args(build)"
    return database.world.value


class SharedTemplateCache(BytecodeCache):
    """Compiled templates shared by every test's app, so each template is compiled once."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if (code := self.compiled.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATES = SharedTemplateCache()


class RequestClient(FlaskClient):
    """A test client whose requests run in their own app context, as in production.

    Flask reuses an active app context for a request, which would share `g` (the CSRF token,
    the signed-in user) and the database session between the test and its requests. The
    test's context is popped for the request and a fresh one pushed afterwards; objects the
    factories returned stay readable because they were refreshed before the pop.
    """

    #: (the session's CSRF secret, the form token read for it), see `csrf_token`.
    csrf: tuple[str, str] | None = None

    def open(self, *args, **kwargs):
        context = _cv_app.get(None)
        if context is not None and context.app is self.application:
            context.pop()
        try:
            return super().open(*args, **kwargs)
        finally:
            if context is not None:
                self.application.app_context().push()


@pytest.fixture
def app(database) -> Iterator[Flask]:
    app = create_app(_config(database.url))
    app.test_client_class = RequestClient
    app.jinja_env.bytecode_cache = TEMPLATES
    everyones_session = db.session
    if database.connection is not None:
        # Every app context's session joins the test's transaction; a commit releases a
        # savepoint in it, a rollback returns to the last one.
        db.session = db._make_scoped_session(
            {
                "class_": _OneConnectionSession,
                "bind": database.connection,
                "join_transaction_mode": "create_savepoint",
            }
        )
    app.app_context().push()
    try:
        yield app
    finally:
        db.session.remove()
        db.engine.dispose()
        while (context := _cv_app.get(None)) is not None and context.app is app:
            context.pop()
        db.session = everyones_session


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


def saved(obj):
    """Commit and reload an object so its columns stay readable after a request."""
    db.session.commit()
    db.session.refresh(obj)
    return obj


def event_hash(event, prev_hash: str) -> str:
    """The chain hash a stored audit event gets after `prev_hash`, by the application's recipe."""
    from safety.audit import rules

    payload = rules.event_payload(
        seq=event.seq,
        created_dt=event.created_dt,
        actor_id=event.actor_id,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        details=event.details,
    )
    return rules.chain_hash(prev_hash, payload)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _csrf_secret(client: FlaskClient) -> str | None:
    """The CSRF secret in the client's session cookie (what every form token signs)."""
    app = client.application
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is None:
        return None
    session = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    return session.get("csrf_token")


def csrf_token(client: FlaskClient) -> str:
    """Return the CSRF token of the client's session, read from a real form.

    The token is read once per session secret: while the cookie carries the same secret
    (signing in or out starts a new session, and so a new one), the token read still holds.
    """
    secret = _csrf_secret(client)
    cached = getattr(client, "csrf", None)
    if secret is not None and cached is not None and cached[0] == secret:
        return cached[1]
    page = client.get("/auth/password")
    if page.status_code != 200:
        page = client.get("/auth/login")
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    if (secret := _csrf_secret(client)) is not None:
        client.csrf = (secret, match.group(1))
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict | None = None, **kwargs):
    """POST a form the way a browser does, with the session's CSRF token."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client))
    return client.post(url, data=data, **kwargs)


def login(client: FlaskClient, user, password: str = PASSWORD):
    return post_form(client, "/auth/login", {"email": user.email, "password": password})


class Factories:
    """Clinics, users, patients and sessions made through the services, committed."""

    def __init__(self, numbers: dict[str, int] | None = None) -> None:
        #: The last number given to a default clinic name and to a default user.
        self.numbers = dict(numbers or {"clinic": 0, "user": 0})

    def _next(self, kind: str) -> int:
        self.numbers[kind] += 1
        return self.numbers[kind]

    def clinic(self, name: str | None = None, timezone: str = "Europe/London"):
        from safety.clinics import services

        name = name or f"Clinic {self._next('clinic')}"
        return saved(services.create_clinic(name=name, timezone=timezone))

    def user(
        self,
        role: str = "practitioner",
        clinic=None,
        email: str | None = None,
        name: str | None = None,
    ):
        from safety.auth import services

        if role == "practitioner" and clinic is None:
            clinic = self.clinic()
        n = self._next("user")
        user = services.create_user(
            email=email or f"{role}{n}@clinic.test",
            name=name or f"Test {role.title()} {n}",
            role=role,
            password=PASSWORD,
            clinic_id=clinic.id if clinic else None,
        )
        return saved(user)

    def patient(
        self,
        practitioner,
        given_name: str = "Ada",
        family_name: str = "Lovelace",
        consent: bool = True,
    ):
        from safety.clinics import services

        patient = services.add_patient(
            practitioner,
            given_name=given_name,
            family_name=family_name,
            email="ada@example.org",
            phone=None,
            is_followup_consent=consent,
        )
        return saved(patient)

    def session(
        self,
        practitioner,
        phases=(),
        overrides: dict | None = None,
        sign: bool = False,
        patient=None,
    ):
        """Start a session and submit the given phases (clean answers, overridable)."""
        from safety.checklists import services

        patient = patient or self.patient(practitioner)
        session = services.start_session(practitioner, patient_id=patient.id)
        for phase in phases:
            form = {
                **CLEAN_PHASES[phase],
                **{k: v for k, v in (overrides or {}).items() if k.startswith(phase + ".")},
            }
            services.submit_phase(practitioner, session.id, phase, form)
        if sign:
            services.sign_session(practitioner, session.id, PASSWORD)
        return saved(session)


@pytest.fixture
def factories(app, database) -> Factories:
    """Factories that number on from where the module's world left off."""
    return Factories(database.world.numbers if database.world else None)


@pytest.fixture
def make_clinic(factories):
    return factories.clinic


@pytest.fixture
def make_user(factories):
    return factories.user


@pytest.fixture
def make_patient(factories):
    return factories.patient


@pytest.fixture
def make_session(factories):
    """Start a session and submit the given phases (clean answers, overridable)."""
    return factories.session
