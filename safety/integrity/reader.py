"""Plain driver rows and the canonical JSON verify writes by hand, for both databases.

Verify reads a million events and records: plain driver rows (no ORM objects, no SQLAlchemy
type processing), with times, dates and JSON spelled as the hashes wrote them. `TextLiterals` and
`Documents` remember the JSON of values that repeat from row to row; tests/unit/
test_integrity_encoding.py holds every spelling here to `hashing.canonical_json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from hashlib import sha256
from typing import Any

from sqlalchemy import Connection, Date, Executable, Result
from sqlalchemy.orm import Session

from safety.dbtypes import UTCDateTime
from safety.extensions import db
from safety.hashing import encode_canonical, hashed_time

#: Rows fetched per round trip.
BATCH = 10_000
#: Canonical JSON texts kept per stored JSON text, for the documents decoded: checklist answers
#: repeat from session to session (most are "yes" throughout), so most are decoded once.
CACHE_LIMIT = 100_000

_ENCODER = encode_canonical
_loads = json.loads


def dialect_of(db_: Connection | Session) -> str:
    """The name of the database a check reads ("sqlite", "postgresql")."""
    return (db_ if isinstance(db_, Connection) else db_.connection()).dialect.name


@contextmanager
def streamed(db_: Connection | Session, statement: Executable) -> Iterator[Result]:
    """The statement's rows, BATCH at a time (a server-side cursor on PostgreSQL), closed
    however the check leaves them: one that returned at its first break left the cursor to
    the garbage collector, which warns that it was "deleted while still open"."""
    rows = db_.execute(statement.execution_options(yield_per=BATCH))
    try:
        yield rows
    finally:
        rows.close()


def sha(text: str) -> str:
    """SHA-256 of a text as the application hashes it. A lone surrogate (which signing could
    never have hashed) gets a hash of its own instead of stopping the run."""
    return sha256(text.encode(errors="surrogatepass")).hexdigest()


def as_stored(stored: str | None) -> str:
    """A JSON column spliced in as the database holds it."""
    return "null" if stored is None else stored


class Reader:
    """Plain driver rows, with the SQL and conversions that differ between the two databases.

    PostgreSQL formats times and dates as the hashes wrote them (`to_char`) and hands JSON
    back as text; on SQLite they are the text SQLAlchemy stored, converted here.
    """

    #: The connection of the worker process, which has its own.
    override: Reader | None = None

    def __init__(self, connection) -> None:
        self.dbapi = connection.connection.dbapi_connection
        self.is_pg = connection.dialect.name == "postgresql"
        self.mark = "%s" if self.is_pg else "?"
        if self.is_pg:
            self.iso: Callable[[Any], str] = str
            self.day: Callable[[Any], str] = str
        else:
            self.iso = sqlite_iso(connection.dialect)
            self.day = sqlite_day(connection.dialect)

    @classmethod
    def for_session(cls) -> Reader:
        return cls.override or cls(db.session.connection())

    def dt(self, column: str) -> str:
        if self.is_pg:
            return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
        return column

    def date(self, column: str) -> str:
        return f"to_char({column}, 'YYYY-MM-DD')" if self.is_pg else column

    def json(self, column: str) -> str:
        return f"{column}::text" if self.is_pg else column

    def valid_json(self, table: str, *columns: str) -> str:
        """SQL that is true when each column holds one JSON value, spelled as stored.

        SQLite checks each value (`json_valid`). PostgreSQL's `json` type refuses anything
        else and keeps the text as written; `jsonb` (or a column someone made plain text)
        does not vouch for the spelling, so its values are always decoded.
        """
        if not self.is_pg:
            return " AND ".join(f"json_valid({c})" for c in columns)
        kept = self.all(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s AND column_name = ANY(%s) "
            "AND data_type = 'json'",
            (table, list(columns)),
        )[0][0]
        return "TRUE" if kept == len(columns) else "FALSE"

    def all(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(sql, parameters)
            return cursor.fetchall()
        finally:
            cursor.close()

    def one(self, sql: str) -> tuple | None:
        rows = self.all(sql)
        return rows[0] if rows else None

    def stream(self, sql: str, name: str) -> Iterator[tuple]:
        """Rows of a long result in constant memory (a server-side cursor on PostgreSQL)."""
        cursor = self.dbapi.cursor(name=name) if self.is_pg else self.dbapi.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(BATCH):
                yield from rows
        finally:
            cursor.close()


def sqlite_iso(dialect) -> Callable[[str | None], str]:
    """Turn SQLite's stored UTC time into `_iso`'s form: `2026-03-10T14:05:07.123456+00:00`.

    SQLAlchemy stores `2026-03-10 14:05:07.123456`; that shape is rewritten as text, anything
    else goes through SQLAlchemy's own conversion, as the ORM would read it.
    """
    convert = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)

    def iso(value):
        if type(value) is str and len(value) == 26 and value[10] == " " and value[19] == ".":
            return f"{value[:10]}T{value[11:]}+00:00"
        converted = convert(value) if convert else value
        if converted is None:
            return "None"  # what no signed hash covers: reported as altered
        return hashed_time(converted)

    return iso


def sqlite_day(dialect) -> Callable[[str | None], str]:
    convert = Date().dialect_impl(dialect).result_processor(dialect, None)

    def day(value):
        if type(value) is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
            return value
        converted = convert(value) if convert else value
        return "None" if converted is None else converted.isoformat()

    return day


def number(value: int | None) -> str:
    """`canonical_json` of an id: its repr, so a number stored as text does not pass for one."""
    return "null" if value is None else repr(value)


def canonical(stored: str | None) -> str:
    """`canonical_json` of a stored JSON text (SQL NULL reads as None, as the ORM gives it).

    Text that is no JSON at all (written behind the application's back) gets a form no hash
    covers, so it reads as altered instead of stopping the run.
    """
    if stored is None:
        return "null"
    try:
        return _ENCODER(_loads(stored))
    except (ValueError, TypeError, RecursionError):  # not JSON text, or nested past reason
        return "\x00not JSON"


class TextLiterals(dict):
    """JSON string literals (`canonical_json` of a str or None), remembered by value."""

    def __missing__(self, value: str | None) -> str:
        if len(self) > CACHE_LIMIT:
            self.clear()
        self[value] = literal = _ENCODER(value)
        return literal


class Documents(dict):
    """Canonical JSON of stored JSON texts, remembered by text (SQL NULL is JSON null)."""

    def __missing__(self, stored: str | None) -> str:
        if len(self) > CACHE_LIMIT:
            self.clear()
        self[stored] = written = canonical(stored)
        return written
