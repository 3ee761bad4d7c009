"""Patients remember the one-time key of the form that added them, so the same form sent again
(a double or triple tap) is the patient it added, and two people of one name added one after
the other stay two patients.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 10:45:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("patients") as batch_op:
        batch_op.add_column(sa.Column("form_key", sa.String(length=43), nullable=True))
        batch_op.create_index("ix_patients_form_key", ["form_key"], unique=True)


def downgrade():
    with op.batch_alter_table("patients") as batch_op:
        batch_op.drop_index("ix_patients_form_key")
        batch_op.drop_column("form_key")
