"""The application's database role cannot switch the immutability triggers off (DESIGN §5).

On PostgreSQL the migrations run as an owner role and the application connects as a role that
owns nothing: ALTER TABLE ... DISABLE TRIGGER, DROP TRIGGER and TRUNCATE are refused to it,
while everything the application does still works. SQLite has no roles: whoever can write the
file can drop a trigger, and `flask audit verify` names it (tests/integration/test_checkpoints.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import scratch_postgres_database
from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from config import TestingConfig
from safety import create_app
from safety.audit import services as audit
from safety.dbroles import grant_application_role
from safety.extensions import db
from safety.integrity.verify import verify

OWNER, APPLICATION = "needlesafe_test_owner", "needlesafe_test_app"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture
def two_roles(postgres_url) -> Iterator[tuple[str, str] | None]:
    """(owner URL, application URL) on a database the owner owns; None on SQLite."""
    if not postgres_url:
        yield None
        return
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for role in (OWNER, APPLICATION):
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
            if exists.first() is None:
                conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    admin.dispose()
    with scratch_postgres_database(postgres_url, "roles", f"OWNER {OWNER}") as url:
        base = make_url(url)
        yield (
            base.set(username=OWNER).render_as_string(hide_password=False),
            base.set(username=APPLICATION).render_as_string(hide_password=False),
        )


@pytest.mark.real_commits
def test_the_application_role_cannot_switch_the_guards_off_but_does_its_work(request, two_roles):
    if two_roles is None:
        request.getfixturevalue("app")
        # SQLite has no roles: whoever writes the file can drop a trigger, and verify says so.
        db.session.execute(text("DROP TRIGGER audit_events_append_only_delete"))
        db.session.commit()
        assert verify().problem == (
            "the immutability trigger audit_events_append_only_delete on audit_events is missing"
        )
        assert not grant_application_role(db.session.connection(), "anyone")
        return
    owner_url, application_url = two_roles
    settings = {"SQLALCHEMY_DATABASE_URI": application_url, "MIGRATION_DATABASE_URL": owner_url}
    app = create_app(type("RolesConfig", (TestingConfig,), settings))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        # The application's own work: append to a chain, read it, verify it.
        audit.record("test.as_the_application", object_type=None)
        db.session.commit()
        assert verify().is_intact
        with db.engine.connect() as conn:
            owner = conn.execute(
                text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_events'")
            ).scalar_one()
            assert (conn.execute(text("SELECT current_user")).scalar_one(), owner) == (
                APPLICATION,
                OWNER,
            )
            conn.rollback()
            for attack in (
                "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
                "DROP TRIGGER audit_events_append_only ON audit_events",
                "TRUNCATE audit_events",
                "ALTER TABLE treatment_sessions DISABLE TRIGGER USER",
                "DROP FUNCTION needlesafe_refuse_change() CASCADE",
            ):
                with (
                    pytest.raises(ProgrammingError, match="must be owner|permission denied"),
                    conn.begin(),
                ):
                    conn.execute(text(attack))
        db.session.remove()
        db.engine.dispose()
    # The migration's owner connection closed with the migration: none is left for the
    # garbage collector to find open in the middle of a later test.
    admin = create_engine(two_roles[0].replace(OWNER, "postgres", 1), poolclass=NullPool)
    with admin.connect() as conn:
        lingering = conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE usename = :owner"), {"owner": OWNER}
        ).scalar_one()
    assert lingering == 0
