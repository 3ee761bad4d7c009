"""Two PostgreSQL roles: the owner that migrates, and the application's role that only uses.

An insider with the application's credentials (or a hole in the application) must not be
able to switch the immutability triggers off: `ALTER TABLE ... DISABLE TRIGGER`, `DROP
TRIGGER` and `TRUNCATE` need the table's owner (or a TRUNCATE grant), so the application
connects as a role that owns nothing. `flask db upgrade` runs as the owner when
MIGRATION_DATABASE_URL is set, and grants the application's role (DATABASE_URL's user) just
what it needs on every table and sequence, after every upgrade, so new tables are covered.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

#: A role name as PostgreSQL folds an unquoted identifier; anything else is refused.
_ROLE = re.compile(r"^[a-z_][a-z0-9_$]{0,62}$")


def grant_application_role(connection: Connection, role: str | None) -> bool:
    """Grant `role` the rights the application needs, when it is not the migrating role.

    Returns whether anything was granted: nothing on SQLite, nothing when the application
    connects as the owner (development, the tests, a single-role deployment).
    """
    if connection.dialect.name != "postgresql" or not role:
        return False
    owner = connection.execute(text("SELECT current_user")).scalar_one()
    if role == owner:
        return False
    if not _ROLE.match(role):
        raise ValueError(f"The application's role {role!r} is not a plain PostgreSQL role name.")
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    for statement in (
        f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"',
        f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"',
        # Nothing more: no TRUNCATE, no REFERENCES or TRIGGER, no CREATE on the schema.
        f'REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA "{schema}" FROM "{role}"',
    ):
        connection.execute(text(statement))
    return True
