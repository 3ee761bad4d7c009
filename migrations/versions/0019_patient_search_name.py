"""Patients' names as a search matches them (no accents, no case), so "lucia" finds Lucía.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 05:30:00.000000

"""
import unicodedata

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def _search_key(*parts):
    """safety.clinics.rules.search_key as of this revision (a migration keeps its own copy:
    the application's may change after it)."""
    text = unicodedata.normalize("NFKD", " ".join(parts))
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).casefold().split())


def upgrade():
    with op.batch_alter_table("patients") as batch_op:
        batch_op.add_column(
            sa.Column("search_name", sa.Text(), nullable=False, server_default="")
        )
    patients = sa.table(
        "patients",
        sa.column("id", sa.Integer),
        sa.column("given_name", sa.String),
        sa.column("family_name", sa.String),
        sa.column("search_name", sa.Text),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(patients.c.id, patients.c.given_name, patients.c.family_name)
    ).all()
    keys = [{"pid": pid, "key": _search_key(given, family)} for pid, given, family in rows]
    fill = (
        patients.update()
        .where(patients.c.id == sa.bindparam("pid"))
        .values(search_name=sa.bindparam("key"))
    )
    for start in range(0, len(keys), 5000):  # one statement, many rows, in batches
        connection.execute(fill, keys[start : start + 5000])


def downgrade():
    with op.batch_alter_table("patients") as batch_op:
        batch_op.drop_column("search_name")
