"""Indexes for the compliance review: records newest first, and the dashboard's aggregates.

`ix_treatment_sessions_date` lets the records list walk sessions by (session_date, id), the
keyset order, without sorting the table. `ix_treatment_sessions_outcomes` covers every column
the dashboard aggregates, so the per-clinic, per-day counts are read from the index alone in
its own order (no sort, no table lookups).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_treatment_sessions_date', 'treatment_sessions', ['session_date', 'id'], unique=False
    )
    op.create_index(
        'ix_treatment_sessions_outcomes',
        'treatment_sessions',
        ['session_date', 'clinic_id', 'signed_dt', 'bleeding', 'bruising', 'reaction', 'pain_during'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_treatment_sessions_outcomes', table_name='treatment_sessions')
    op.drop_index('ix_treatment_sessions_date', table_name='treatment_sessions')
