"""Compare needle lots byte by byte on PostgreSQL, so a recall by prefix misses no lot.

A lot trace by prefix asks for `prefix <= lot < bound` so the index answers it. Under a
collation that ignores punctuation (glibc's en_US.UTF-8, a common database default), "SJ-"
sorts like "SJ" and the range skipped every "SJ-4…" lot: a recall would have missed its
patients. The "C" collation orders by code point, as the range assumes; the index on the
column is rebuilt with it. SQLite already compares text byte by byte.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.alter_column(
        'treatment_sessions',
        'needle_lot',
        existing_type=sa.String(length=64),
        type_=sa.String(length=64, collation='C'),
        existing_nullable=True,
    )


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.alter_column(
        'treatment_sessions',
        'needle_lot',
        existing_type=sa.String(length=64, collation='C'),
        type_=sa.String(length=64),
        existing_nullable=True,
    )
