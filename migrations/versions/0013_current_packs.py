"""Mark the packs a resubmitted Time out replaced, so a lot trace reads one index and no more.

A session's packs are those of its latest Time out entry. The trace used to work that out for
every pack it matched (is there a later Time out entry of the same session?), a lookup per
row: a prefix matching thousands of packs spent most of its time there (bench: p95 about
150 ms at 1,000,000 sessions, against 50). Each pack row now says it itself: `superseded`,
set when a resubmitted Time out records the session's packs again, and the lot indexes carry
it, so the trace and its count read the lot index alone.

The rows stay insert-only in every other way: the triggers now refuse any DELETE, and any
UPDATE but the one that marks a current pack superseded with every other column unchanged
(a pack is never un-superseded). Existing rows are marked from the Time out entries, as the
lookup did.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 08:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

TABLE = "session_packs"
TRIGGER = "session_packs_append_only"
#: Every column but `superseded`, with PostgreSQL's cast where it writes one in the catalogue
#: (safety/integrity/triggers.py compares the trigger with it).
COLUMNS = (
    ("id", ""), ("entry_id", ""), ("session_id", ""), ("clinic_id", ""), ("session_date", ""),
    ("position", ""), ("gtin", "::text"), ("lot", "::text"), ("lot_key", "::text"),
    ("expiry", ""), ("serial", "::text"),
)
#: When an UPDATE is refused: anything but marking a current pack superseded.
SQLITE_GUARD = (
    "OLD.superseded OR NOT NEW.superseded OR ("
    + ", ".join(f"NEW.{name}" for name, _ in COLUMNS)
    + ") IS NOT ("
    + ", ".join(f"OLD.{name}" for name, _ in COLUMNS)
    + ")"
)
POSTGRESQL_GUARD = "OLD.superseded OR NOT NEW.superseded OR " + " OR ".join(
    f'NEW."{name}"{cast} IS DISTINCT FROM OLD."{name}"{cast}' for name, cast in COLUMNS
)


def upgrade():
    _drop_triggers()
    op.add_column(TABLE, sa.Column('superseded', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(
        sa.text(
            f"UPDATE {TABLE} SET superseded = :yes WHERE EXISTS ("
            "SELECT 1 FROM phase_entries later WHERE later.session_id = session_packs.session_id "
            "AND later.phase = 'timeout' AND later.id > session_packs.entry_id)"
        ).bindparams(yes=True)
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index('ix_session_packs_lot')
        batch_op.drop_index('ix_session_packs_gtin_lot')
        batch_op.create_index('ix_session_packs_lot', ['lot_key', 'superseded', 'session_date', 'session_id'], unique=False)
        batch_op.create_index('ix_session_packs_gtin_lot', ['gtin', 'lot_key', 'superseded', 'session_date', 'session_id'], unique=False)
    _superseding_only()


def downgrade():
    _drop_triggers()
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index('ix_session_packs_gtin_lot')
        batch_op.drop_index('ix_session_packs_lot')
        batch_op.drop_column('superseded')
        batch_op.create_index('ix_session_packs_gtin_lot', ['gtin', 'lot_key', 'session_date', 'session_id'], unique=False)
        batch_op.create_index('ix_session_packs_lot', ['lot_key', 'session_date', 'session_id'], unique=False)
    # After the batch: on SQLite it rebuilds the table, which drops the table's triggers.
    _drop_triggers()
    _append_only()


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in (TRIGGER, f"{TRIGGER}_update", f"{TRIGGER}_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}")
        return
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}_{verb}")


def _superseding_only() -> None:
    """Refuse DELETE, and UPDATE but marking a pack superseded; two triggers on both databases
    (a PostgreSQL trigger's guard cannot read NEW on DELETE)."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for verb, guard in (("UPDATE", POSTGRESQL_GUARD if postgresql else SQLITE_GUARD), ("DELETE", None)):
        name = f"{TRIGGER}_{verb.lower()}"
        if postgresql:
            when = f"WHEN ({guard}) " if guard else ""
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {verb} ON {TABLE} FOR EACH ROW {when}"
                "EXECUTE FUNCTION needlesafe_refuse_change()"
            )
            continue
        when = f"WHEN {guard} " if guard else ""
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {verb} ON {TABLE} FOR EACH ROW {when}"
            f"BEGIN SELECT RAISE(ABORT, 'needlesafe: {verb} on {TABLE} refused: the row is immutable'); END"
        )


def _append_only() -> None:
    """0011's triggers: refuse UPDATE and DELETE of packs."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION needlesafe_refuse_change()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {TRIGGER}_{verb.lower()} BEFORE {verb} ON {TABLE} FOR EACH ROW "
            f"BEGIN SELECT RAISE(ABORT, 'needlesafe: {verb} on {TABLE} refused: the row is immutable'); END"
        )
