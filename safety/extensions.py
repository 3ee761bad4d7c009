"""Flask extensions, created unbound and initialised by the app factory."""

from __future__ import annotations

import sqlite3

import psycopg
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event, false, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from safety.hashing import canonical_json

#: Named constraints, so that migrations can drop and alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


#: JSON columns are written in canonical form, the form the hashes cover (safety.dbtypes).
db = SQLAlchemy(model_class=Base, engine_options={"json_serializer": canonical_json})
migrate = Migrate(compare_type=True, render_as_batch=True)
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, _record) -> None:
    """Turn on foreign keys, WAL and a busy timeout for every SQLite connection."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def take_sqlite_write_lock(model) -> None:
    """On SQLite, take the database's one write lock now, until the transaction ends, so a
    check made after it cannot be overtaken by another request's write: an UPDATE of no row
    takes it. PostgreSQL needs nothing here (its callers lock the rows they check with
    FOR UPDATE, or take an advisory lock); SQLite ignores FOR UPDATE."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(update(model).where(false()).values(id=model.id))


def take_turns_on(model, row_id: int) -> None:
    """Hold one row until the transaction ends, so requests that check, then write, about it
    take turns: FOR NO KEY UPDATE on PostgreSQL, the database's one write lock on SQLite
    (which ignores FOR UPDATE). Not FOR UPDATE: that also blocks the key-share lock a
    foreign key to the row takes, so a user's row held so deadlocked with the same user's
    audited request writing its event (found by a review; tests/integration/
    test_patient_add_locks.py)."""
    take_sqlite_write_lock(model)
    db.session.execute(select(model.id).where(model.id == row_id).with_for_update(key_share=True))


class DescribedOnceCursor(psycopg.Cursor):
    """A psycopg cursor that describes the columns of a statement's result once per connection.

    SQLAlchemy reads `cursor.description` after every query, and psycopg builds it anew each
    time: a `Column` per column, each looking up the connection's encoding and the type's
    adapter. For the ORM's wide rows that was 14 % of the CPU of the practitioner's Today page.
    The same statement text on the same connection (so the same database), whose result has
    the same place and the same column types, describes the same columns: the
    description is kept, as a tuple no caller can change, in a bounded table of the
    connection's. Rows are still decoded from each result as before: the description only
    names the columns. The application names every column it selects; a `SELECT *` across a
    migration that renames a column would keep the old name until the connection closes.
    """

    @property
    def description(self):
        result, query = self.pgresult, getattr(self, "_query", None)
        if result is None or query is None or not result.nfields or len(query.query) > 20_000:
            return super().description
        key = (query.query, self._iresult, tuple(map(result.ftype, range(result.nfields))))
        kept = self._conn.__dict__.setdefault(_DESCRIBED, {})
        described = kept.get(key)
        if described is None:
            if len(kept) >= _DESCRIPTIONS_KEPT:
                kept.clear()  # statements built with literals must not grow it forever
            described = kept[key] = tuple(super().description)
        return described


#: Where a connection keeps the descriptions of its statements (see `DescribedOnceCursor`).
_DESCRIBED = "_needlesafe_described"
#: The application runs a few hundred statements; a table this size is never full of them.
_DESCRIPTIONS_KEPT = 2048


@event.listens_for(Engine, "connect")
def _describe_once(dbapi_connection, _record) -> None:
    """PostgreSQL connections make their cursors `DescribedOnceCursor`s."""
    if isinstance(dbapi_connection, psycopg.Connection):
        dbapi_connection.cursor_factory = DescribedOnceCursor
