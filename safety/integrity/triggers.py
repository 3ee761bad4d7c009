"""The immutability triggers verify expects: there, enabled, and still refusing.

An insider's first step is to switch a trigger off, change a row and switch it back on; the
last step may be forgotten, or the trigger replaced by one that refuses nothing. Verify holds
the database's own catalogue (`sqlite_master`, `pg_trigger`) to what the migrations create.
"""

from __future__ import annotations

from safety.integrity.reader import Reader

#: table -> (trigger, guard), as the migrations create them (0001, 0007, 0011, 0012, 0013): the
#: guard limits a trigger to final rows. On SQLite each is two triggers, `<name>_update` and
#: `<name>_delete`; so are the SUPERSEDING_ONLY tables' on PostgreSQL.
EXPECTED: dict[str, tuple[str, str | None]] = {
    "audit_events": ("audit_events_append_only", None),
    "phase_entries": ("phase_entries_append_only", None),
    "addenda": ("addenda_append_only", None),
    "patient_responses": ("patient_responses_append_only", None),
    "treatment_sessions": (
        "treatment_sessions_signed",
        "OLD.signed_dt IS NOT NULL OR OLD.cancelled_dt IS NOT NULL",
    ),
    "template_versions": ("template_versions_published", "OLD.published_dt IS NOT NULL"),
    "session_packs": ("session_packs_append_only", None),  # and SUPERSEDING_ONLY below
    # Incidents are signed as they are reported (0012).
    "incidents": ("incidents_append_only", None),
    "incident_people": ("incident_people_append_only", None),
    "incident_steps": ("incident_steps_append_only", None),
    "incident_reports": ("incident_reports_append_only", None),
    "incident_addenda": ("incident_addenda_append_only", None),
}
#: The pack columns a pack's UPDATE trigger holds still (0013), with PostgreSQL's casts.
_PACK_COLUMNS = (
    ("id", ""),
    ("entry_id", ""),
    ("session_id", ""),
    ("clinic_id", ""),
    ("session_date", ""),
    ("position", ""),
    ("gtin", "::text"),
    ("lot", "::text"),
    ("lot_key", "::text"),
    ("expiry", ""),
    ("serial", "::text"),
)
#: Tables whose rows may change in one way only (0013: a pack is marked superseded when a
#: resubmitted Time out records the session's packs again): on both databases an unguarded
#: `<name>_delete` trigger and an `<name>_update` trigger with this guard, per database.
SUPERSEDING_ONLY: dict[str, dict[str, str]] = {
    "session_packs": {
        "sqlite": "OLD.superseded OR NOT NEW.superseded OR ("
        + ", ".join(f"NEW.{name}" for name, _ in _PACK_COLUMNS)
        + ") IS NOT ("
        + ", ".join(f"OLD.{name}" for name, _ in _PACK_COLUMNS)
        + ")",
        # As PostgreSQL gives it back (pg_get_triggerdef): every operation in parentheses.
        "postgresql": "(old.superseded OR (NOT new.superseded) OR "
        + " OR ".join(
            f"((new.{name}){cast} IS DISTINCT FROM (old.{name}){cast})"
            if cast
            else f"(new.{name} IS DISTINCT FROM old.{name})"
            for name, cast in _PACK_COLUMNS
        )
        + ")",
    },
}
#: The guards of EXPECTED as PostgreSQL gives them back (pg_get_triggerdef).
PG_GUARDS = {
    "OLD.signed_dt IS NOT NULL OR OLD.cancelled_dt IS NOT NULL": (
        "((old.signed_dt IS NOT NULL) OR (old.cancelled_dt IS NOT NULL))"
    ),
    "OLD.published_dt IS NOT NULL": "(old.published_dt IS NOT NULL)",
}
#: The body of the function every PostgreSQL immutability trigger runs (0001).
REFUSE_CHANGE = (
    "BEGIN RAISE EXCEPTION 'needlesafe: % on % refused: the row is immutable', TG_OP, "
    "TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation'; END;"
)
#: pg_trigger.tgenabled values under which a trigger fires in an ordinary session: O (origin,
#: the default) and A (always). D is disabled, R fires only on a replica.
_FIRES = {"O", "A"}


def problem(reader: Reader) -> str | None:
    """Return the first immutability trigger that is missing, disabled or altered, or None."""
    return _postgresql(reader) if reader.is_pg else _sqlite(reader)


def _squeezed(sql: str | None) -> str:
    """SQL without case, quotes or runs of spaces: how the catalogues' spellings compare.

    Parentheses stay: `OLD.signed_dt IS (NOT NULL OR …)` has the same words as the guard and
    never fires."""
    return " ".join((sql or "").lower().replace('"', "").split())


def _sqlite(reader: Reader) -> str | None:
    found = {
        name: (table, sql)
        for name, table, sql in reader.all(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
        )
    }
    for table, (name, guard) in EXPECTED.items():
        for verb in ("update", "delete"):
            trigger = f"{name}_{verb}"
            if table in SUPERSEDING_ONLY:
                guard = SUPERSEDING_ONLY[table]["sqlite"] if verb == "update" else None
            if trigger not in found:
                return f"the immutability trigger {trigger} on {table} is missing"
            on, sql = found[trigger]
            when = f"WHEN {guard}" if guard else ""
            expected = (
                f"CREATE TRIGGER {trigger} BEFORE {verb.upper()} ON {table} FOR EACH ROW {when} "
                f"BEGIN SELECT RAISE(ABORT, 'needlesafe: {verb.upper()} on {table} refused: "
                "the row is immutable'); END"
            )
            if on != table or _squeezed(sql) != _squeezed(expected):
                return f"the immutability trigger {trigger} on {table} was altered"
    return None


def _postgresql(reader: Reader) -> str | None:
    found = {
        name: (table, enabled, definition, function, source)
        for name, table, enabled, definition, function, source in reader.all(
            "SELECT t.tgname, c.relname, t.tgenabled, pg_get_triggerdef(t.oid), p.proname, "
            "p.prosrc FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
        )
    }
    expected = [
        (table, name, "update or delete", PG_GUARDS.get(guard, guard))
        for table, (name, guard) in EXPECTED.items()
    ]
    for table, guards in SUPERSEDING_ONLY.items():
        name = EXPECTED[table][0]
        expected.remove((table, name, "update or delete", None))
        expected.append((table, f"{name}_update", "update", guards["postgresql"]))
        expected.append((table, f"{name}_delete", "delete", None))
    for table, name, verbs, guard in expected:
        if name not in found:
            return f"the immutability trigger {name} on {table} is missing"
        on, enabled, definition, function, source = found[name]
        if str(enabled) not in _FIRES:
            return f"the immutability trigger {name} on {table} is disabled"
        text = _squeezed(definition)
        if (
            on != table
            or f"before {verbs} on" not in text.replace("delete or update", "update or delete")
            or "for each row" not in text
            or function != "needlesafe_refuse_change"
            or _squeezed(source) != _squeezed(REFUSE_CHANGE)
            or (guard is not None and f"when ({_squeezed(guard)}) execute" not in text)
            or (guard is None and " when " in text)
        ):
            return f"the immutability trigger {name} on {table} was altered"
    return None
