"""Patients' optional date of birth: the picker tells two patients of one name apart by it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 10:45:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("patients") as batch_op:
        batch_op.add_column(sa.Column("birth_date", sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table("patients") as batch_op:
        batch_op.drop_column("birth_date")
