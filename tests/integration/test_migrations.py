"""Migrations: an empty database upgraded to head matches the models, with its triggers.

Each test works on a database of its own: a new SQLite file, or (when TEST_DATABASE_URL is set)
a PostgreSQL database created for the test and dropped afterwards, so the shared test database
that the other tests use is never touched. The tests that only read what one upgrade of an empty
database to head made share that database (`upgraded_app`): one upgrade for the module, not one
per test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import scratch_postgres_database
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from config import TestingConfig
from safety import create_app
from safety.extensions import db

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

#: Triggers the initial migration creates, per backend (DESIGN.md §5).
SQLITE_TRIGGERS = {
    f"{name}_{verb}"
    for name in (
        "audit_events_append_only",
        "phase_entries_append_only",
        "addenda_append_only",
        "patient_responses_append_only",
        "treatment_sessions_signed",
        "template_versions_published",
        "incidents_append_only",
        "incident_people_append_only",
        "incident_steps_append_only",
        "incident_reports_append_only",
        "incident_addenda_append_only",
        "session_packs_append_only",
    )
    for verb in ("update", "delete")
}
POSTGRES_TRIGGERS = {
    ("audit_events", "audit_events_append_only"),
    ("phase_entries", "phase_entries_append_only"),
    ("addenda", "addenda_append_only"),
    ("patient_responses", "patient_responses_append_only"),
    ("treatment_sessions", "treatment_sessions_signed"),
    ("template_versions", "template_versions_published"),
    ("incidents", "incidents_append_only"),
    ("incident_people", "incident_people_append_only"),
    ("incident_steps", "incident_steps_append_only"),
    ("incident_reports", "incident_reports_append_only"),
    ("incident_addenda", "incident_addenda_append_only"),
    # Since 0013: DELETE refused, UPDATE refused but marking a pack superseded.
    ("session_packs", "session_packs_append_only_update"),
    ("session_packs", "session_packs_append_only_delete"),
}


@pytest.fixture
def empty_database_url(postgres_url, tmp_path) -> Iterator[str]:
    """Return the URL of a database with nothing in it, dropped again after the test."""
    if not postgres_url:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with scratch_postgres_database(postgres_url, "drift") as url:
        yield url


@pytest.fixture
def empty_app(empty_database_url) -> Iterator[Flask]:
    config = type(
        "EmptyDatabaseConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": empty_database_url}
    )
    app = create_app(config)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def upgraded_app(postgres_url, tmp_path_factory) -> Iterator[Flask]:
    """An empty database upgraded to head, once for the module's tests that only read it."""
    with ExitStack() as stack:
        if postgres_url:
            url = stack.enter_context(scratch_postgres_database(postgres_url, "upgraded"))
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('upgraded') / 'upgraded.db'}"
        config = type("UpgradedDatabaseConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": url})
        app = create_app(config)
        with app.app_context():
            upgrade(directory=str(MIGRATIONS))
            db.session.remove()
            db.engine.dispose()
        yield app


@pytest.fixture
def upgraded(upgraded_app) -> Iterator[Flask]:
    """The module's upgraded database, with the app open on it for one test."""
    with upgraded_app.app_context():
        yield upgraded_app
        db.session.remove()
        db.engine.dispose()


def schema_drift() -> list:
    """Return what autogenerate would change to make the database match the models."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def table_names() -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def triggers() -> set:
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal"
                )
            )
            return {(table, name) for table, name in rows}
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        return {name for (name,) in rows}


def expected_triggers() -> set:
    return POSTGRES_TRIGGERS if db.engine.dialect.name == "postgresql" else SQLITE_TRIGGERS


def current_revision() -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def script_directory() -> ScriptDirectory:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def insert_clinic(conn) -> None:
    """Clinic 1, written as the schema of 0009 on takes it."""
    conn.execute(
        text(
            "INSERT INTO clinics (id, name, timezone, workday_start_hour, workday_end_hour, "
            "working_days, duty_email, created_dt) VALUES (1, 'Harbour', 'Europe/London', "
            "8, 19, '12345', 'duty@harbour.test', '2026-11-01 09:00:00')"
        )
    )


def insert_practitioner(conn) -> None:
    """User 1, a practitioner of clinic 1."""
    conn.execute(
        text(
            "INSERT INTO users (id, email, name, role, clinic_id, password_hash, is_enabled, "
            "failed_login_count, created_dt, password_changed_dt) VALUES (1, 'a@h.test', "
            "'Ada', 'practitioner', 1, 'x', true, 0, '2026-11-01 09:00:00', "
            "'2026-11-01 09:00:00')"
        )
    )


def insert_clinic_and_patient(conn, given_name: str, family_name: str) -> None:
    """Clinic 1 and its patient 1, written as the schema of 0013 to 0018 takes them."""
    insert_clinic(conn)
    conn.execute(
        text(
            "INSERT INTO patients (id, clinic_id, given_name, family_name, "
            "is_followup_consent, created_dt) VALUES (1, 1, :given, :family, true, "
            "'2026-11-01 09:00:00')"
        ),
        {"given": given_name, "family": family_name},
    )


def test_upgrading_an_empty_database_to_head_finds_no_drift_from_the_models(upgraded):
    assert current_revision() == script_directory().get_current_head()
    assert table_names() >= {table for table in db.metadata.tables}
    assert schema_drift() == []


def test_the_migrated_schema_carries_the_named_check_constraints_of_the_models(upgraded):
    # Autogenerate does not compare CHECK constraints, so look at them directly.
    with db.engine.connect() as conn:
        inspector = inspect(conn)
        for table in db.metadata.sorted_tables:
            in_models = {
                c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint"
            }
            in_database = {c["name"] for c in inspector.get_check_constraints(table.name)}
            assert in_database == in_models, table.name


def test_upgrading_creates_the_immutability_triggers(upgraded):
    assert triggers() >= expected_triggers()


def test_upgrading_seeds_the_system_chain_with_its_genesis_head(upgraded):
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, last_seq, last_hash FROM audit_chain_head")).all()
    assert [tuple(r) for r in rows] == [(0, 0, "0" * 64)]


def test_the_single_chain_of_before_0009_becomes_the_system_chain_with_every_hash_kept(empty_app):
    from datetime import UTC, datetime

    from safety.audit import rules
    from safety.integrity.verify import verify

    upgrade(directory=str(MIGRATIONS), revision="0008")
    prev = rules.GENESIS_HASH
    with db.engine.begin() as conn:
        for seq in (1, 2, 3):
            when = datetime(2026, 11, seq, 9, 0, tzinfo=UTC)
            payload = rules.event_payload(
                seq=seq,
                created_dt=when,
                actor_id=None,
                action="auth.login_failed",
                object_type=None,
                object_id=None,
                details={"reason": "unknown_account"},
            )
            event_hash = rules.chain_hash(prev, payload)
            conn.execute(
                text(
                    "INSERT INTO audit_events (seq, created_dt, action, details, prev_hash, hash) "
                    "VALUES (:seq, :when, 'auth.login_failed', :details, :prev, :hash)"
                ),
                {
                    "seq": seq,
                    "when": when if db.engine.dialect.name == "postgresql" else str(when)[:19],
                    "details": '{"reason":"unknown_account"}',
                    "prev": prev,
                    "hash": event_hash,
                },
            )
            prev = event_hash
        conn.execute(text("UPDATE audit_chain_head SET last_seq = 3, last_hash = :h"), {"h": prev})

    upgrade(directory=str(MIGRATIONS))

    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT chain_id, seq, hash FROM audit_events ORDER BY id")).all()
        head = conn.execute(text("SELECT id, last_seq, last_hash FROM audit_chain_head")).one()
    assert [(chain, seq) for chain, seq, _ in rows] == [(0, 1), (0, 2), (0, 3)]
    assert tuple(head) == (0, 3, prev) and rows[-1][2] == prev
    assert verify().is_intact


def test_lots_recorded_before_0011_get_their_packs_and_are_found_in_any_spelling(empty_app):
    from datetime import UTC, datetime

    from factories import PASSWORD, Factories, clean_phases

    from safety.auth.models import User
    from safety.checklists import services as checklists
    from safety.integrity.verify import verify
    from safety.review.lots import lot_trace
    from safety.review.rules.lots import LotQuery

    upgrade(directory=str(MIGRATIONS))
    make = Factories()
    clinic = make.clinic()
    ada = make.user("practitioner", clinic=clinic)
    officer = make.user("compliance")
    patient = make.patient(ada)
    made = []
    for n, lot in enumerate(["hw-2611a", "ＨＷ－２６１１Ａ", "HW-26\u200b11A"]):
        start = datetime(2026, 3, 2 + n, 10, tzinfo=UTC)
        session = checklists.start_session(ada, patient_id=patient.id, now=start)
        for phase, form in clean_phases(session).items():
            if phase == "timeout":
                form = {**form, "timeout.needle_lot": [lot]}
            checklists.submit_phase(ada, session.id, phase, form, now=start)
        if n < 2:
            checklists.sign_session(ada, session.id, PASSWORD, now=start)
        db.session.commit()
        made.append(session.id)
    officer_id = officer.id
    db.session.remove()

    downgrade(directory=str(MIGRATIONS), revision="0009")
    assert "session_packs" not in inspect(db.engine).get_table_names()
    upgrade(directory=str(MIGRATIONS))

    with db.engine.connect() as conn:
        packs = conn.execute(
            text("SELECT session_id, lot, lot_key, expiry FROM session_packs ORDER BY id")
        ).all()
    assert [(p[0], p[1], p[2]) for p in packs] == [
        (made[0], "hw-2611a", "HW-2611A"),
        (made[1], "ＨＷ－２６１１Ａ", "HW-2611A"),
        (made[2], "HW-26\u200b11A", "HW-2611A"),
    ]
    assert {str(p[3]) for p in packs} == {"2099-12-31"}
    page = lot_trace(db.session.get(User, officer_id), LotQuery("HW-2611A"))
    assert {r.id for r in page.rows} == set(made)
    assert verify().is_intact


def test_downgrading_to_base_and_upgrading_again_rebuilds_the_same_schema(empty_app):
    upgrade(directory=str(MIGRATIONS))

    downgrade(directory=str(MIGRATIONS), revision="base")

    assert table_names() <= {"alembic_version"}
    assert current_revision() is None
    assert not (triggers() & expected_triggers())

    upgrade(directory=str(MIGRATIONS))

    assert current_revision() == script_directory().get_current_head()
    assert schema_drift() == []
    assert triggers() >= expected_triggers()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_chain_head")).scalar_one() == 1


def test_every_migration_names_its_true_parent_in_its_revises_header():
    for script in script_directory().walk_revisions():
        header = re.search(r"^Revises:[ \t]*(\S*)[ \t]*$", script.module.__doc__ or "", re.M)
        assert header, f"{script.path} has no Revises: header"
        assert (header.group(1) or None) == script.down_revision, script.path


def test_0012_upgrades_and_downgrades_a_database_with_messages_and_users_in_it(empty_app):
    """Rebuilding `outbox` and `users` on SQLite must not trip over the rows that refer to
    them: a delivered message (dev_messages -> outbox) and a practitioner's clinic."""
    upgrade(directory=str(MIGRATIONS), revision="0009")
    with db.engine.begin() as conn:
        insert_clinic(conn)
        insert_practitioner(conn)
        conn.execute(
            text(
                "INSERT INTO outbox (id, purpose, is_reminder, status, attempts, next_attempt_dt, "
                "created_dt) VALUES (1, 'clinic_alert', false, 'sent', 1, '2026-11-01 09:00:00', "
                "'2026-11-01 09:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO dev_messages (id, outbox_id, channel, recipient, body, created_dt) "
                "VALUES (1, 1, 'email', 'duty@harbour.test', 'hello', '2026-11-01 09:00:00')"
            )
        )

    upgrade(directory=str(MIGRATIONS), revision="0012")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT lead_clinic_id FROM users")).scalar_one() is None
        assert conn.execute(text("SELECT outbox_id FROM dev_messages")).scalar_one() == 1
    downgrade(directory=str(MIGRATIONS), revision="0009")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
        if db.engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []


def test_0010_moves_practitioners_into_memberships_and_downgrades_with_accounts_in_place(
    empty_app,
):
    upgrade(directory=str(MIGRATIONS), revision="0009")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO clinics (id, name, timezone, duty_email, phone, country, "
                "workday_start_hour, workday_end_hour, working_days, created_dt) VALUES "
                "(1, 'Harbour', 'Europe/London', 'duty@harbour.test', '+44 1', 'GB', 8, 18, "
                "'12345', '2026-11-01 09:00:00')"
            )
        )
        for user_id, role, clinic in ((1, "practitioner", 1), (2, "admin", None)):
            conn.execute(
                text(
                    "INSERT INTO users (id, email, name, role, clinic_id, password_hash, "
                    "is_enabled, failed_login_count, created_dt, password_changed_dt) VALUES "
                    "(:id, :email, 'Someone', :role, :clinic, 'x', true, 0, "
                    "'2026-11-01 09:00:00', '2026-11-01 09:00:00')"
                ),
                {"id": user_id, "email": f"u{user_id}@clinic.test", "role": role, "clinic": clinic},
            )
        # A row that points at users, as every real database has: a downgrade that copied
        # the users table would be refused by SQLite's foreign keys.
        conn.execute(
            text(
                "INSERT INTO login_sessions (id, user_id, created_dt, last_seen_dt) VALUES "
                "('s1', 1, '2026-11-01 09:00:00', '2026-11-01 09:00:00')"
            )
        )

    upgrade(directory=str(MIGRATIONS))
    with db.engine.connect() as conn:
        members = conn.execute(text("SELECT user_id, clinic_id FROM clinic_memberships")).all()
    downgrade(directory=str(MIGRATIONS), revision="0009")
    with db.engine.connect() as conn:
        users = conn.execute(text("SELECT count(*) FROM users")).scalar()
    upgrade(directory=str(MIGRATIONS))

    assert [tuple(m) for m in members] == [(1, 1)]
    assert users == 2
    assert schema_drift() == []


def test_0013_marks_the_packs_a_resubmitted_time_out_replaced_and_downgrades_to_0011s_guard(
    empty_app,
):
    from datetime import UTC, datetime

    from factories import PASSWORD, Factories, clean_phases

    from safety.auth.models import User
    from safety.checklists import services as checklists
    from safety.integrity.verify import verify
    from safety.review.lots import lot_trace
    from safety.review.rules.lots import LotQuery

    upgrade(directory=str(MIGRATIONS))
    make = Factories()
    clinic = make.clinic()
    ada = make.user("practitioner", clinic=clinic)
    officer = make.user("compliance")
    patient = make.patient(ada)
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    session = checklists.start_session(ada, patient_id=patient.id, now=start)
    for phase, form in clean_phases(session).items():
        if phase == "timeout":
            first = {**form, "timeout.needle_lot": ["OLD-1"]}
            checklists.submit_phase(ada, session.id, phase, first, now=start)
            form = {**form, "timeout.needle_lot": ["NEW-1"]}
        checklists.submit_phase(ada, session.id, phase, form, now=start)
    checklists.sign_session(ada, session.id, PASSWORD, now=start)
    db.session.commit()
    session_id, officer_id = session.id, officer.id
    db.session.remove()

    downgrade(directory=str(MIGRATIONS), revision="0012")
    columns = {c["name"] for c in inspect(db.engine).get_columns("session_packs")}
    assert "superseded" not in columns
    assert triggers() >= (
        {("session_packs", "session_packs_append_only")}
        if db.engine.dialect.name == "postgresql"
        else {"session_packs_append_only_update", "session_packs_append_only_delete"}
    )
    with db.engine.begin() as conn, pytest.raises(Exception, match="immutable"):
        conn.execute(text("UPDATE session_packs SET lot = lot"))
    upgrade(directory=str(MIGRATIONS))

    with db.engine.connect() as conn:
        packs = conn.execute(
            text("SELECT lot, superseded FROM session_packs WHERE session_id = :id ORDER BY id"),
            {"id": session_id},
        ).all()
    assert [(lot, bool(superseded)) for lot, superseded in packs] == [
        ("OLD-1", True),
        ("NEW-1", False),
    ]
    officer = db.session.get(User, officer_id)
    assert {r.id for r in lot_trace(officer, LotQuery("NEW-1")).rows} == {session_id}
    assert lot_trace(officer, LotQuery("OLD-1")).rows == []
    assert lot_trace(officer, LotQuery("OLD", is_prefix=True)).count == 0
    assert schema_drift() == []
    assert triggers() >= expected_triggers()
    assert verify().is_intact


def test_0014_gives_every_patient_and_account_english_and_refuses_an_unknown_language(
    empty_app,
):
    """Existing patients and accounts keep what they had (English); the CHECK holds new
    values to the languages there are catalogues for; the downgrade drops the columns."""
    upgrade(directory=str(MIGRATIONS), revision="0013")
    with db.engine.begin() as conn:
        insert_clinic_and_patient(conn, "Chloé", "Gagnon")
        insert_practitioner(conn)

    upgrade(directory=str(MIGRATIONS), revision="0014")
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT language FROM patients")).scalar_one() == "en"
        assert conn.execute(text("SELECT language FROM users")).scalar_one() == "en"
        conn.execute(text("UPDATE patients SET language = 'fr_CA'"))
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(text("UPDATE users SET language = 'de'"))
    downgrade(directory=str(MIGRATIONS), revision="0013")
    with db.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("patients")}
        assert "language" not in columns
        assert conn.execute(text("SELECT count(*) FROM patients")).scalar_one() == 1


def test_0019_gives_every_patient_their_search_name_and_downgrades(empty_app):
    """Patients made before 0019 are found without their accents too."""
    upgrade(directory=str(MIGRATIONS), revision="0018")
    with db.engine.begin() as conn:
        insert_clinic_and_patient(conn, "Lucía", "Fernández")

    upgrade(directory=str(MIGRATIONS), revision="0019")
    with db.engine.connect() as conn:
        found = conn.execute(text("SELECT search_name FROM patients")).scalar_one()
    assert found == "lucia fernandez"
    downgrade(directory=str(MIGRATIONS), revision="0018")
    with db.engine.connect() as conn:
        assert "search_name" not in {c["name"] for c in inspect(conn).get_columns("patients")}
