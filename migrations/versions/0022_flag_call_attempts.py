"""Flags count the practitioner's calls that found no reply, so a patient who did not pick up
stays on the "needs you now" list, with how often and when they were tried, instead of leaving
it under "called".

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 12:15:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("flags") as batch_op:
        batch_op.add_column(
            sa.Column("call_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("last_attempt_dt", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("flags") as batch_op:
        batch_op.drop_column("last_attempt_dt")
        batch_op.drop_column("call_attempts")
