"""CSV written by the database: SQL functions that format cells and lines, and their streams.

The record export is the one place where Python writing each cell cost more than the query
(bench/RESULTS.md), so the database does it. The functions here compile to SQLite or
PostgreSQL SQL: `Cell` formats an answer or a text column, `UtcIso` a time, `FlagsText` a
record's flags, and on SQLite `CsvField` and `CsvLine` quote and join the cells as csv.writer
would. `printed_lines` streams SQLite's printed lines and `copy_lines` PostgreSQL's
`COPY ... TO STDOUT`; both match csv.writer byte for byte (tests/integration/test_review_export.py).
Which columns the export has is `export.py`'s business, not this module's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import Dialect, Select, String, Text, cast, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from safety.checklists.models import Severity
from safety.extensions import db
from safety.review.rules.export import FORMULA_START, SAFE_LINK_ID, crlf_lines

#: Rows per fetch while streaming a CSV; memory stays flat however many rows there are.
EXPORT_BATCH = 2_000


def drain(buffer: io.StringIO) -> str:
    """Return what a csv.writer wrote into a buffer so far, and empty the buffer."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def header_line(header: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(header)
    return buffer.getvalue()


# --- cells -----------------------------------------------------------------------------------


class Cell(FunctionElement):
    """One CSV cell computed by the database: an answer (or a text column) formatted as text.

    `how` is bool (yes/no), list (codes joined with ';'), text (free text, guarded against
    spreadsheet formulas) or plain. The key and the constants are written into the SQL, not
    bound, so the database parses each JSON path once per statement rather than once per row.
    """

    type = String()
    name = "cell"
    inherit_cache = False

    def __init__(self, column, key: str | None, how: str) -> None:
        if key is not None and not SAFE_LINK_ID.match(key):
            raise ValueError(f"linkId {key!r} cannot be exported")
        self.key, self.how = key, how
        super().__init__(column)


def _guarded(value: str, tab: str, cr: str) -> str:
    starts = ", ".join([*(f"'{c}'" for c in FORMULA_START if c.isprintable()), tab, cr])
    quote = "''''"  # a single quote, as a SQL string literal
    return f"CASE WHEN substr({value}, 1, 1) IN ({starts}) THEN {quote} || {value} ELSE {value} END"


@compiles(Cell)
def _cell_sqlite(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    if element.key is None:
        return _guarded(column, "char(9)", "char(13)")
    path = f"'$.\"{element.key}\"'"
    value = f"json_extract({column}, {path})"
    if element.how == "bool":
        # SQLite reads JSON true and false as 1 and 0; boolean items hold nothing else.
        return f"CASE {value} WHEN 1 THEN 'yes' WHEN 0 THEN 'no' END"
    if element.how == "list":
        return f"(SELECT group_concat(value, ';') FROM json_each({column}, {path}))"
    if element.how == "text":
        return _guarded(value, "char(9)", "char(13)")
    return value


@compiles(Cell, "postgresql")
def _cell_postgresql(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    if element.key is None:
        return _guarded(column, "chr(9)", "chr(13)")
    key = f"'{element.key}'"
    if element.how == "bool":
        return (
            f"CASE {column} -> {key} WHEN 'true'::jsonb THEN 'yes' "
            f"WHEN 'false'::jsonb THEN 'no' END"
        )
    if element.how == "list":
        elements = f"jsonb_array_elements_text({column} -> {key})"
        return f"(SELECT string_agg(value, ';') FROM {elements})"
    if element.how == "text":
        return _guarded(f"({column} ->> {key})", "chr(9)", "chr(13)")
    return f"({column} ->> {key})"


class UtcIso(FunctionElement):
    """A UTC timestamp as text, e.g. 2026-03-10T09:32:00Z."""

    type = String()
    name = "utc_iso"
    inherit_cache = True


@compiles(UtcIso)
def _utc_iso_sqlite(element, compiler, **kw) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {compiler.process(element.clauses, **kw)})"


@compiles(UtcIso, "postgresql")
def _utc_iso_postgresql(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


class FlagsText(FunctionElement):
    """A session's flags as 'severity:kind; ...', most serious first, or NULL."""

    type = String()
    name = "flags_text"
    inherit_cache = True


_SEVERITY_ORDER = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(Severity))


@compiles(FlagsText)
def _flags_text_sqlite(element, compiler, **kw) -> str:
    session_id = compiler.process(element.clauses, **kw)
    return (
        "(SELECT group_concat(severity || ':' || kind, '; ') FROM (SELECT severity, kind "
        f"FROM flags WHERE flags.session_id = {session_id} "
        f"ORDER BY CASE severity {_SEVERITY_ORDER} END, kind))"
    )


@compiles(FlagsText, "postgresql")
def _flags_text_postgresql(element, compiler, **kw) -> str:
    session_id = compiler.process(element.clauses, **kw)
    return (
        "(SELECT string_agg(severity || ':' || kind, '; ' "
        f"ORDER BY CASE severity {_SEVERITY_ORDER} END, kind) "
        f"FROM flags WHERE flags.session_id = {session_id})"
    )


class PackLots(FunctionElement):
    """The lots of a session's current needle packs as entered, 'lot; lot', first pack first,
    or NULL: the records CSV names every lot a session used (issue 15)."""

    type = String()
    name = "pack_lots"
    inherit_cache = True


#: A pack of the session's latest Time out entry (see `packs.services.is_current`).
_CURRENT_PACK = {"sqlite": "p.superseded = 0", "postgresql": "p.superseded = false"}


@compiles(PackLots)
def _pack_lots_sqlite(element, compiler, **kw) -> str:
    session_id = compiler.process(element.clauses, **kw)
    return (
        "(SELECT group_concat(lot, '; ') FROM (SELECT p.lot FROM session_packs p "
        f"WHERE p.session_id = {session_id} AND {_CURRENT_PACK['sqlite']} ORDER BY p.position))"
    )


@compiles(PackLots, "postgresql")
def _pack_lots_postgresql(element, compiler, **kw) -> str:
    session_id = compiler.process(element.clauses, **kw)
    return (
        "(SELECT string_agg(p.lot, '; ' ORDER BY p.position) FROM session_packs p "
        f"WHERE p.session_id = {session_id} AND {_CURRENT_PACK['postgresql']})"
    )


class NotesText(FunctionElement):
    """A signed record's deviation notes as 'linkId: note; ...' (by linkId), or NULL."""

    type = String()
    name = "notes_text"
    inherit_cache = True


@compiles(NotesText)
def _notes_text_sqlite(element, compiler, **kw) -> str:
    notes = compiler.process(element.clauses, **kw)
    return (
        "(SELECT group_concat(key || ': ' || value, '; ') FROM "
        f"(SELECT key, value FROM json_each({notes}) ORDER BY key))"
    )


@compiles(NotesText, "postgresql")
def _notes_text_postgresql(element, compiler, **kw) -> str:
    notes = compiler.process(element.clauses, **kw)
    return (
        "(SELECT string_agg(key || ': ' || value, '; ' ORDER BY key) "
        f"FROM jsonb_each_text({notes}))"
    )


class AddendaText(FunctionElement):
    """A record's signed addenda, oldest first, as 'signer (reason): text | ...', or NULL."""

    type = String()
    name = "addenda_text"
    inherit_cache = True


@compiles(AddendaText)
def _addenda_text_sqlite(element, compiler, **kw) -> str:
    session_id = compiler.process(element.clauses, **kw)
    return (
        "(SELECT group_concat(a.signer_name || ' (' || a.reason || '): ' || a.body, ' | ') "
        f"FROM (SELECT signer_name, reason, body FROM addenda WHERE addenda.session_id = "
        f"{session_id} ORDER BY id) AS a)"
    )


@compiles(AddendaText, "postgresql")
def _addenda_text_postgresql(element, compiler, **kw) -> str:
    session_id = compiler.process(element.clauses, **kw)
    return (
        "(SELECT string_agg(a.signer_name || ' (' || a.reason || '): ' || a.body, ' | ' "
        f"ORDER BY a.id) FROM addenda a WHERE a.session_id = {session_id})"
    )


# --- SQLite: lines printed by the database ---------------------------------------------------


class CsvField(FunctionElement):
    """A cell as csv.writer writes it: in quotes, its own quotes doubled, when it holds a comma,
    a quote or a line break; as it is otherwise (and empty when NULL, see CsvLine)."""

    type = String()
    name = "csv_field"
    inherit_cache = True


@compiles(CsvField, "sqlite")
def _csv_field_sqlite(element, compiler, **kw) -> str:
    value = compiler.process(element.clauses, **kw)
    separators = "'*[\",' || char(10) || char(13) || ']*'"  # constant: SQLite computes it once
    return (
        f"CASE WHEN {value} GLOB {separators} "
        f"THEN '\"' || replace({value}, '\"', '\"\"') || '\"' ELSE {value} END"
    )


class CsvLine(FunctionElement):
    """A CSV line without its line end: the fields joined with commas, NULL written as nothing."""

    type = String()
    name = "csv_line"
    inherit_cache = True


#: SQLite takes at most 127 arguments per function call, so wider lines print in parts.
_PRINTF_FIELDS = 100


@compiles(CsvLine, "sqlite")
def _csv_line_sqlite(element, compiler, **kw) -> str:
    parts = [compiler.process(field, **kw) for field in element.clauses]
    while True:
        # printf('%s', NULL) writes nothing, as csv.writer does for None.
        parts = [
            f"printf('{','.join(['%s'] * len(chunk))}', {', '.join(chunk)})"
            for chunk in (
                parts[i : i + _PRINTF_FIELDS] for i in range(0, len(parts), _PRINTF_FIELDS)
            )
        ]
        if len(parts) == 1:
            return parts[0]


def printed_lines(
    header: Sequence[str], query: Select, without_separators: Collection[str]
) -> Iterator[str]:
    """A query's CSV lines from SQLite, each printed whole by the database (see CsvLine).

    `without_separators` names the columns that can never hold a comma, a quote or a line
    break; every other cell is checked per row.

    Fetching every cell of every record into a Python object for csv.writer took 1.7 to 2 times
    as long as `sqlite3 -csv` on the same statement. One printf per record (quoting only the
    cells that hold a comma, a quote or a line break) leaves Python one string per record to
    pass on, and takes about 1.5 times as long (bench/RESULTS.md). The cursor steps through the
    result as it is fetched, so memory stays flat.
    """
    yield header_line(header)
    # An OFFSET keeps SQLite from flattening the subquery into the outer SELECT (see "query
    # flattening" in sqlite.org/optoverview.html): each cell is computed once, although
    # CsvField reads it twice, and the lines come out in the subquery's order.
    cells = query.offset(0).subquery()
    fields = (
        column if name in without_separators else CsvField(column)
        for name, column in zip(header, cells.c, strict=True)
    )
    result = db.session.connection().execute(select(CsvLine(*fields)))
    lines = result.scalars()
    try:
        while True:
            batch = lines.fetchmany(EXPORT_BATCH)
            if batch:
                yield "\r\n".join(batch) + "\r\n"
            if len(batch) < EXPORT_BATCH:
                return
    finally:
        result.close()


# --- PostgreSQL: COPY ------------------------------------------------------------------------


def driver_statement(query: Select, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """Return a query's SQL and its parameters as SQLAlchemy's own execute hands them over.

    COPY goes to the driver directly, so the parameters must arrive processed. Public API
    only: `construct_expanded_state()` writes each IN list out as one parameter per element,
    with those elements' processors; every other parameter goes through its type's processor
    for this dialect (`dialect_impl(...).bind_processor(...)`, what execute itself uses).
    """
    compiled = query.compile(dialect=dialect)
    state = compiled.construct_expanded_state()
    escaped = compiled.escaped_bind_names
    binds = {escaped.get(name, name): bind for bind, name in compiled.bind_names.items()}
    parameters = {}
    for name, value in state.parameters.items():
        if name in state.processors:
            process = state.processors[name]
        elif name in binds:
            process = binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        else:
            process = None  # an element of an IN list whose type has nothing to process
        parameters[name] = value if process is None else process(value)
    return state.statement, parameters


def copy_lines(header: Sequence[str], query: Select) -> Iterator[str]:
    """A query's CSV lines from PostgreSQL's own CSV writer (COPY ... TO STDOUT).

    Writing the rows in Python took twice as long as psql's COPY of the same statement. COPY
    is told to write what csv.writer writes: every cell as text with empty strings as NULL
    (so an empty cell is never quoted), and each row's line feed becomes CRLF outside quoted
    cells.
    """
    yield header_line(header)
    as_text = query.with_only_columns(
        *(func.nullif(cast(c, Text), literal_column("''")) for c in query.selected_columns)
    )
    connection = db.session.connection()
    statement, parameters = driver_statement(as_text, connection.dialect)
    inside_quotes = False
    rows: list[str] = []
    with (
        connection.connection.dbapi_connection.cursor() as cursor,
        cursor.copy(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)", parameters) as copy,
    ):
        # One block per row, so each block decodes on its own (rows end on whole characters).
        for block in copy:
            rows.append(str(block, "utf-8"))
            if len(rows) == EXPORT_BATCH:
                text, inside_quotes = crlf_lines("".join(rows), inside_quotes)
                rows.clear()
                yield text
    if rows:
        yield crlf_lines("".join(rows), inside_quotes)[0]
