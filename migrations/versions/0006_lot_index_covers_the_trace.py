"""Let the needle lot index answer a lot trace by itself (PostgreSQL reads no table rows).

A trace by prefix pages its matches newest first. With the index on (needle_lot,
session_date), PostgreSQL had to fetch every matching row for its id, or walk the date index
backwards filtering on the lot; a year of one brand (100,000 sessions of 1,000,000) took
200 ms either way. With the id in the index an index-only scan and a top-N sort take 30 to
40 ms. SQLite keeps the rowid in every index, so there the index only gains a column.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    _reindex(['needle_lot', 'session_date', 'id'])


def downgrade():
    _reindex(['needle_lot', 'session_date'])


def _reindex(columns: list[str]) -> None:
    op.drop_index('ix_treatment_sessions_lot', table_name='treatment_sessions')
    op.create_index('ix_treatment_sessions_lot', 'treatment_sessions', columns, unique=False)
