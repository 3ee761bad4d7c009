"""A started session can be cancelled with a reason, and is final once cancelled.

Consent "No" stops a session at Sign in, and a session started by mistake must not linger as
"in progress" or show as overdue (DESIGN §3.1.1). Nothing is deleted: the session keeps its
phases and gains who cancelled it, when and why. The immutability trigger that refused changes
to signed rows now refuses them to cancelled rows too, on SQLite and PostgreSQL alike.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TABLE = "treatment_sessions"
TRIGGER = "treatment_sessions_signed"
SIGNED = "OLD.signed_dt IS NOT NULL"
FINAL = "OLD.signed_dt IS NOT NULL OR OLD.cancelled_dt IS NOT NULL"


def upgrade():
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_dt', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_treatment_sessions_cancelled_by_id_users'), 'users', ['cancelled_by_id'], ['id']
        )
        batch_op.create_check_constraint(
            'cancellation_complete',
            'cancelled_dt IS NULL OR (signed_dt IS NULL AND cancelled_by_id IS NOT NULL '
            'AND cancel_reason IS NOT NULL)',
        )
    # After the batch: on SQLite it rebuilds the table, which drops the table's triggers.
    _guard(FINAL)


def downgrade():
    # Before the batch: on PostgreSQL the trigger's guard reads the columns about to go.
    _guard(SIGNED)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_treatment_sessions_cancellation_complete'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_treatment_sessions_cancelled_by_id_users'), type_='foreignkey')
        batch_op.drop_column('cancel_reason')
        batch_op.drop_column('cancelled_by_id')
        batch_op.drop_column('cancelled_dt')
    # And after it: on SQLite the batch rebuilds the table, which drops the table's triggers.
    _guard(SIGNED)


def _guard(condition: str) -> None:
    """Recreate the sessions' immutability trigger with a new guard (see 0001)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}")
        op.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {TABLE} "
            f"FOR EACH ROW WHEN ({condition}) EXECUTE FUNCTION needlesafe_refuse_change()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}_{verb.lower()}")
        op.execute(
            f"CREATE TRIGGER {TRIGGER}_{verb.lower()} BEFORE {verb} ON {TABLE} FOR EACH ROW "
            f"WHEN {condition} "
            f"BEGIN SELECT RAISE(ABORT, 'needlesafe: {verb} on {TABLE} refused: the row is immutable'); END"
        )
