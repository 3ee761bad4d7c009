"""Languages: each patient is written to in their language, each member of staff reads theirs.

Both columns default to English, so every existing patient and account keeps what it had;
a CHECK holds them to the languages there are catalogues for (safety.languages).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 08:20:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

CHECK = "language IN ('en', 'fr_CA', 'es')"


def upgrade():
    _foreign_keys("OFF")
    for table in ('patients', 'users'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column('language', sa.String(length=8), server_default='en', nullable=False)
            )
            batch_op.create_check_constraint(op.f(f'ck_{table}_language'), CHECK)
    _foreign_keys("ON")


def downgrade():
    _foreign_keys("OFF")
    for table in ('users', 'patients'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_language'), type_='check')
            batch_op.drop_column('language')
    _foreign_keys("ON")


def _foreign_keys(state: str) -> None:
    """SQLite: foreign keys off while a batch rebuilds `patients` and `users` (as in 0012).

    A rebuild drops the old table, which SQLite turns into a DELETE that the rows referring
    to it refuse. The rebuilt table keeps every row and id, so nothing dangles.
    """
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA foreign_keys = {state}")
