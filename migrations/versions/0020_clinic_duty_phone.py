"""Clinics' on-call mobile: emergency answers and unacknowledged urgent ones are also texted
there, so they reach a person out of hours.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 08:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("clinics") as batch_op:
        batch_op.add_column(sa.Column("duty_phone", sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table("clinics") as batch_op:
        batch_op.drop_column("duty_phone")
