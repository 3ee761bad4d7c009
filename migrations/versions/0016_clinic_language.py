"""The clinic's language: mail to its duty address is written in it.

Defaults to English, so every existing clinic's duty mail reads as before; a CHECK holds it
to the languages there are catalogues for (safety.languages), as 0014 does for people.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 10:40:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

CHECK = "language IN ('en', 'fr_CA', 'es')"


def upgrade():
    _foreign_keys("OFF")
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('language', sa.String(length=8), server_default='en', nullable=False)
        )
        batch_op.create_check_constraint(op.f('ck_clinics_language'), CHECK)
    _foreign_keys("ON")


def downgrade():
    _foreign_keys("OFF")
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_clinics_language'), type_='check')
        batch_op.drop_column('language')
    _foreign_keys("ON")


def _foreign_keys(state: str) -> None:
    """SQLite: foreign keys off while a batch rebuilds `clinics` (as in 0012 and 0014).

    A rebuild drops the old table, which SQLite turns into a DELETE that the rows referring
    to it refuse. The rebuilt table keeps every row and id, so nothing dangles.
    """
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA foreign_keys = {state}")
