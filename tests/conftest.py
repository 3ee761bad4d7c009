"""Shared fixtures: a migrated database per test (SQLite file copy or truncated PostgreSQL),
the app, a client with CSRF on, and factories for clinics, users, patients and sessions."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import create_engine, inspect, text
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


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory, postgres_url) -> str:
    """Migrate once per run: a template SQLite file, or the PostgreSQL test database."""
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


@pytest.fixture
def database_url(migrated_template, postgres_url, tmp_path) -> str:
    """A migrated, empty database for one test."""
    if postgres_url:
        engine = create_engine(postgres_url)
        with engine.begin() as conn:
            tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            for table in tables:  # a tamper test may have disabled a guard; restore it
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
            conn.execute(
                text("INSERT INTO audit_chain_head (id, last_seq, last_hash) VALUES (1, 0, :h)"),
                {"h": "0" * 64},
            )
        engine.dispose()
        return postgres_url
    path = tmp_path / "test.db"
    shutil.copy(migrated_template, path)
    return f"sqlite:///{path}"


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
def app(database_url) -> Iterator[Flask]:
    app = create_app(_config(database_url))
    app.test_client_class = RequestClient
    app.app_context().push()
    yield app
    db.session.remove()
    db.engine.dispose()
    while (context := _cv_app.get(None)) is not None and context.app is app:
        context.pop()


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


def csrf_token(client: FlaskClient) -> str:
    """Return the CSRF token of the client's session, read from a real form."""
    page = client.get("/auth/password")
    if page.status_code != 200:
        page = client.get("/auth/login")
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict | None = None, **kwargs):
    """POST a form the way a browser does, with the session's CSRF token."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client))
    return client.post(url, data=data, **kwargs)


def login(client: FlaskClient, user, password: str = PASSWORD):
    return post_form(client, "/auth/login", {"email": user.email, "password": password})


@pytest.fixture
def make_clinic(app):
    from safety.clinics import services

    counter = iter(range(1, 1000))

    def make(name: str | None = None, timezone: str = "Europe/London"):
        clinic = services.create_clinic(name=name or f"Clinic {next(counter)}", timezone=timezone)
        return saved(clinic)

    return make


@pytest.fixture
def make_user(app, make_clinic):
    from safety.auth import services

    counter = iter(range(1, 1000))

    def make(
        role: str = "practitioner", clinic=None, email: str | None = None, name: str | None = None
    ):
        if role == "practitioner" and clinic is None:
            clinic = make_clinic()
        n = next(counter)
        user = services.create_user(
            email=email or f"{role}{n}@clinic.test",
            name=name or f"Test {role.title()} {n}",
            role=role,
            password=PASSWORD,
            clinic_id=clinic.id if clinic else None,
        )
        return saved(user)

    return make


@pytest.fixture
def make_patient(app):
    from safety.clinics import services

    def make(
        practitioner, given_name: str = "Ada", family_name: str = "Lovelace", consent: bool = True
    ):
        patient = services.add_patient(
            practitioner,
            given_name=given_name,
            family_name=family_name,
            email="ada@example.org",
            phone=None,
            is_followup_consent=consent,
        )
        return saved(patient)

    return make


@pytest.fixture
def make_session(app, make_patient):
    """Start a session and submit the given phases (clean answers, overridable)."""
    from safety.checklists import services

    def make(
        practitioner, phases=(), overrides: dict | None = None, sign: bool = False, patient=None
    ):
        patient = patient or make_patient(practitioner)
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

    return make
