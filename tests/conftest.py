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

import gc
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from app_speedups import TEMPLATES, build_url_builders_once, parse_url_rules_once
from databases import (
    ROOT,
    BuiltWorld,
    OneConnectionSession,
    Postgres,
    SecondConnection,
    SqliteFile,
    TestDatabase,
    build_world,
    config_for,
    migrate,
    refuse_the_ways_round,
    scratch_postgres_database,
)
from factories import CLEAN_PHASES, CLEAN_PHASES_V1, PASSWORD, Factories, clean_phases, saved
from flask import Flask
from flask.ctx import RequestContext
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.test import EnvironBuilder

from safety import create_app
from safety.extensions import db

#: What the tests import from here.
__all__ = [
    "CLEAN_PHASES",
    "CLEAN_PHASES_V1",
    "PASSWORD",
    "clean_phases",
    "ROOT",
    "SecondConnection",
    "csrf_token",
    "event_hash",
    "login",
    "post_form",
    "saved",
    "scratch_postgres_database",
]

build_url_builders_once()
parse_url_rules_once()


# --- workers, markers and the order of tests ------------------------------------------------


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: without the plugin, nothing asks
def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: a worker per core, and one more when the browser journeys run.

    A journey waits on Chromium and on Playwright's driver in turn, so during the journeys a
    2-core machine had a core idle a quarter of the time; a third worker fills it (make test:
    103.4 and 103.9 s against 107.1 and 109.5 s with two, back to back, 2026-12-06). Without
    the journeys every worker computes all the time, and a third only adds its own start-up
    (PostgreSQL's integration and functional tests: 75.9 s against 71.8 s).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    journeys = ROOT / "tests" / "browser"
    chosen = [Path(arg.split("::")[0]).resolve() for arg in config.args] or [Path.cwd()]
    if any(
        journeys == path or journeys.is_relative_to(path) or path.is_relative_to(journeys)
        for path in chosen
    ):
        return cores + 1
    return cores


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every live-server test real-commits; run the longest modules first, each module's
    world tests together."""
    for item in items:
        if "live_server" in item.fixturenames:
            item.add_marker(pytest.mark.real_commits)
    # pytest-xdist hands whole modules to its workers in this order (`make test` turns off its
    # own reordering, by number of tests): a long module handed out last keeps one worker busy
    # while the other has nothing left to do. The browser journeys cost seconds a test where
    # the others cost milliseconds, so they go first, then the modules with the most tests.
    # Within a module, the tests that start from its world come after those that start empty,
    # so PostgreSQL commits each world once instead of once per switch.
    position = {item: n for n, item in enumerate(items)}
    size = Counter(_module_name(item) for item in items)
    items.sort(
        key=lambda item: (
            item.get_closest_marker("browser") is None,
            -size[_module_name(item)],
            _module_name(item),
            _wants_world(item),
            position[item],
        )
    )


def pytest_collection_finish(session) -> None:
    """Collect Python's garbage less often while the tests run: only how often, not what.

    Every test builds an app, an engine and their caches and drops them again, and the
    collector ran about 3,500 times per worker: 21.5 of the integration and functional tests'
    130-odd CPU-seconds (three workers, 2026-12-06), 16.5 of them in full collections, which
    walk every object, the imported modules and the collected tests included. Now what is
    alive once the tests are collected is frozen (never walked again, nor freed), and a
    collection starts after 10,000 allocations instead of 700: 9 to 10 CPU-seconds of
    collecting, and `make test` 235-276 CPU-seconds in three runs against 304 in the run
    before. Cyclic garbage is still freed, only later: a resource left open inside a cycle
    may be reported (warnings are errors here) during a later test of the worker than the one
    that leaked it.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _module_name(item) -> str:
    return item.module.__name__ if item.module else ""


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


@pytest.fixture(scope="session")
def postgres(postgres_url, migrated_template) -> Iterator[Postgres | None]:
    if not postgres_url:
        yield None
        return
    database = Postgres(postgres_url)
    undo = refuse_the_ways_round()
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
        migrate(postgres_url)
        return postgres_url
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return str(path)


def _world_builder(request) -> Callable[..., Any]:
    return request.node.get_closest_marker("world").args[0]


@pytest.fixture(scope="module")
def sqlite_world(request, migrated_template, tmp_path_factory) -> tuple[str, BuiltWorld]:
    """The module's world, built once into a copy of the template that each test copies."""
    path = tmp_path_factory.mktemp("world") / "world.db"
    shutil.copy(migrated_template, path)
    return str(path), build_world(f"sqlite:///{path}", _world_builder(request))


#: Worlds built on PostgreSQL, by module: rebuilt after a real-commit test emptied them.
_POSTGRES_WORLDS: dict[str, BuiltWorld] = {}


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
            _POSTGRES_WORLDS[key] = build_world(postgres.url, build)

        postgres.hold(key, commit_world)
        world = _POSTGRES_WORLDS[key]
    else:
        postgres.hold(Postgres.EMPTY)
    if request.node.get_closest_marker("real_commits"):
        postgres.content = Postgres.DIRTY
        yield TestDatabase(postgres.url, world=world)
        return
    connection = postgres.begin()
    try:
        yield TestDatabase(postgres.url, connection, world)
    finally:
        postgres.rollback()


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


class RequestClient(FlaskClient):
    """A test client whose requests run in their own app context, as in production.

    Flask reuses an active app context for a request, which would share `g` (the CSRF token,
    the signed-in user) and the database session between the test and its requests. The
    test's context is popped for the request and a fresh one pushed afterwards; objects the
    factories returned stay readable because they were refreshed before the pop.
    """

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
def app(database, tmp_path) -> Iterator[Flask]:
    app = create_app(config_for(database.url))
    # Each test signs checkpoints with its own key into its own store.
    app.config["AUDIT_SIGNING_KEY_FILE"] = str(tmp_path / "audit-signing.key")
    app.config["AUDIT_CHECKPOINT_DIR"] = str(tmp_path / "checkpoints")
    app.test_client_class = RequestClient
    app.jinja_env.bytecode_cache = TEMPLATES
    everyones_session = db.session
    if database.connection is not None:
        # Every app context's session joins the test's transaction; a commit releases a
        # savepoint in it, a rollback returns to the last one.
        db.session = db._make_scoped_session(
            {
                "class_": OneConnectionSession,
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
        chain=event.chain_id,
    )
    return rules.chain_hash(prev_hash, payload)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(client: FlaskClient) -> str:
    """Return the CSRF token a form would carry for the client's session, made by Flask-WTF.

    As when a browser loads a form, a session without a CSRF secret gets one (saved in the
    client's cookie); the token is `generate_csrf`'s own, signed for the session's secret,
    which is what the forms render. Unlike a page, this leaves the flashed messages waiting
    for the next page. That every form that posts carries the token is checked on the
    templates (tests/unit/test_forms_carry_csrf.py) and by the browser journeys, which post
    real forms; test_auth_routes.py posts both kinds of token in one session.
    """
    app = client.application
    with client.session_transaction() as session:
        request = RequestContext(app, EnvironBuilder().get_environ(), session=session)
        # A fresh app context: Flask-WTF keeps the token it made in `g` for the context.
        with app.app_context(), request:
            return generate_csrf()


def post_form(client: FlaskClient, url: str, data: dict | None = None, **kwargs):
    """POST a form the way a browser does, with the session's CSRF token."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client))
    return client.post(url, data=data, **kwargs)


def login(client: FlaskClient, user, password: str = PASSWORD, **kwargs):
    return post_form(client, "/auth/login", {"email": user.email, "password": password}, **kwargs)


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


@pytest.fixture
def served(app):
    """The app on a live server, each request on a thread and connection of its own (the
    double-tap tests send several at once)."""
    from browser.conftest import LiveServer  # Playwright only where a server is asked for

    db.session.commit()
    server = LiveServer(app)
    # Closing waits for every request thread to finish, so none still holds a connection
    # when the test's engine is disposed.
    server.server.daemon_threads = False
    server.start()
    yield server
    server.stop()
