"""One audit chain per clinic, and the signed checkpoints that hold the chains to account.

Each clinic's events go on the clinic's own chain, so clinics no longer queue for one lock;
events that belong to no clinic go on the system chain (0). The existing single chain becomes
the system chain as it is, every hash unchanged: its events were hashed without a chain, and
re-hashing them would replace the very hashes that earlier print views, exports and
verifications quoted. Clinic chains start empty and name their chain in every hash.

The checkpoint tables keep the database's copy of each signed checkpoint (the store outside
the database is the evidence), which chains each one moved, and every chain's Merkle frontier,
so the next checkpoint reads only the events since the last.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 12:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

EVENTS = "audit_events"
TRIGGER = "audit_events_append_only"


def upgrade():
    with op.batch_alter_table(EVENTS, schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain_id', sa.Integer(), server_default='0', nullable=False))
        batch_op.drop_constraint(batch_op.f('uq_audit_events_seq'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_chain_id'), ['chain_id', 'seq'])
    _append_only()
    op.execute("UPDATE audit_chain_head SET id = 0 WHERE id = 1")

    op.create_table('audit_checkpoints',
    sa.Column('number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('root', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('mailed_dt', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_audit_checkpoints'))
    )
    op.create_table('audit_checkpoint_heads',
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('root', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['number'], ['audit_checkpoints.number'], name=op.f('fk_audit_checkpoint_heads_number_audit_checkpoints')),
    sa.PrimaryKeyConstraint('number', 'chain_id', name=op.f('pk_audit_checkpoint_heads'))
    )
    with op.batch_alter_table('audit_checkpoint_heads', schema=None) as batch_op:
        batch_op.create_index('ix_audit_checkpoint_heads_chain_size', ['chain_id', 'size'], unique=False)
    op.create_table('audit_chain_frontiers',
    sa.Column('chain_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('peaks', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', name=op.f('pk_audit_chain_frontiers'))
    )
    with op.batch_alter_table('verification_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkpoints', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('checkpoint_number', sa.Integer(), nullable=True))


def downgrade():
    connection = op.get_bind()
    in_clinic_chains = connection.execute(
        sa.text("SELECT count(*) FROM audit_events WHERE chain_id <> 0")
    ).scalar()
    if in_clinic_chains:
        raise RuntimeError(
            f"{in_clinic_chains} audit events are on clinic chains: one chain cannot hold them "
            "in order without re-hashing the evidence. Restore a backup from before 0009 instead."
        )
    with op.batch_alter_table('verification_runs', schema=None) as batch_op:
        batch_op.drop_column('checkpoint_number')
        batch_op.drop_column('checkpoints')
    op.drop_table('audit_chain_frontiers')
    with op.batch_alter_table('audit_checkpoint_heads', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_checkpoint_heads_chain_size')
    op.drop_table('audit_checkpoint_heads')
    op.drop_table('audit_checkpoints')
    op.execute("DELETE FROM audit_chain_head WHERE id <> 0")
    op.execute("UPDATE audit_chain_head SET id = 1 WHERE id = 0")
    with op.batch_alter_table(EVENTS, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_events_chain_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_seq'), ['seq'])
        batch_op.drop_column('chain_id')
    _append_only()


def _append_only() -> None:
    """Recreate the audit events' append-only trigger (see 0001): on SQLite the batch rebuilt
    the table, which dropped it; on PostgreSQL it is untouched and recreated the same."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {EVENTS}")
        op.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {EVENTS} "
            "FOR EACH ROW EXECUTE FUNCTION needlesafe_refuse_change()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}_{verb.lower()}")
        op.execute(
            f"CREATE TRIGGER {TRIGGER}_{verb.lower()} BEFORE {verb} ON {EVENTS} FOR EACH ROW "
            f"BEGIN SELECT RAISE(ABORT, 'needlesafe: {verb} on {EVENTS} refused: the row is immutable'); END"
        )
