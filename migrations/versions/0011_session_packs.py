"""Needle packs of a session, each lot kept as entered and under the key a recall matches.

A recall search used to compare the lot column as typed (and in capitals), so a lot typed in
small letters in another form, in full-width characters, with a Unicode hyphen or a
zero-width space was missed. Each pack now keeps its lot as entered and normalised
(`safety.packs.rules.normalise_lot`), with its GTIN, expiry and serial, one row per pack.

The table is insert-only: a resubmitted Time out records its packs again under its new phase
entry. Every session that already has a lot gets its pack from its latest Time out entry
(lot and expiry as that entry answered them), so old records are found by the new trace; the
sessions themselves, their signed answers and content hashes are not touched.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 06:00:00.000000

"""
import json
from datetime import date

import sqlalchemy as sa
from alembic import op

# The key must be the one the application computes; a change to the normaliser would come
# with a migration of its own that re-keys the rows.
from safety.packs.rules import normalise_lot


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TABLE = "session_packs"
TRIGGER = "session_packs_append_only"
BATCH = 5000


def upgrade():
    op.create_table(TABLE,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('gtin', sa.String(length=14), nullable=True),
    sa.Column('lot', sa.String(length=64), nullable=False),
    sa.Column('lot_key', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('expiry', sa.Date(), nullable=True),
    sa.Column('serial', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_session_packs_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['entry_id'], ['phase_entries.id'], name=op.f('fk_session_packs_entry_id_phase_entries')),
    sa.ForeignKeyConstraint(['session_id'], ['treatment_sessions.id'], name=op.f('fk_session_packs_session_id_treatment_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_packs')),
    sa.UniqueConstraint('entry_id', 'position', name=op.f('uq_session_packs_entry_id'))
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index('ix_session_packs_clinic_date', ['clinic_id', 'session_date'], unique=False)
        batch_op.create_index('ix_session_packs_gtin_lot', ['gtin', 'lot_key', 'session_date', 'session_id'], unique=False)
        batch_op.create_index('ix_session_packs_lot', ['lot_key', 'session_date', 'session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_session_packs_session_id'), ['session_id'], unique=False)
    _backfill()
    _append_only()


def downgrade():
    # Dropping the table drops its triggers with it.
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_packs_session_id'))
        batch_op.drop_index('ix_session_packs_lot')
        batch_op.drop_index('ix_session_packs_gtin_lot')
        batch_op.drop_index('ix_session_packs_clinic_date')
    op.drop_table(TABLE)


def _backfill() -> None:
    """One pack per session that has a lot, from its latest Time out entry, in id batches."""
    bind = op.get_bind()
    packs = sa.table(
        TABLE,
        *(sa.column(name) for name in (
            'entry_id', 'session_id', 'clinic_id', 'session_date', 'position', 'gtin', 'lot',
            'lot_key', 'expiry', 'serial',
        )),
    )
    after = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT e.id, e.session_id, e.answers, s.clinic_id, s.session_date "
                "FROM phase_entries e JOIN treatment_sessions s ON s.id = e.session_id "
                "WHERE e.phase = 'timeout' AND e.id > :after AND NOT EXISTS ("
                "  SELECT 1 FROM phase_entries later WHERE later.session_id = e.session_id "
                "  AND later.phase = 'timeout' AND later.id > e.id) "
                "ORDER BY e.id LIMIT :batch"
            ),
            {"after": after, "batch": BATCH},
        ).all()
        if not rows:
            return
        values = []
        for entry_id, session_id, answers, clinic_id, session_date in rows:
            if isinstance(answers, str):
                answers = json.loads(answers)
            answers = answers or {}
            # A database downgraded and upgraded again keeps every pack of its entries.
            listed = answers.get('timeout.packs') or [
                {'lot': answers.get('timeout.needle_lot'), 'expiry': answers.get('timeout.needle_expiry')}
            ]
            for position, pack in enumerate(listed, start=1):
                lot = (pack.get('lot') or '').strip()
                if not lot:
                    continue
                values.append({
                    'entry_id': entry_id,
                    'session_id': session_id,
                    'clinic_id': clinic_id,
                    'session_date': _date(session_date),
                    'position': position,
                    'gtin': pack.get('gtin'),
                    'lot': lot[:64],
                    'lot_key': normalise_lot(lot)[:64] or lot[:64],
                    'expiry': _expiry(pack.get('expiry')),
                    'serial': pack.get('serial'),
                })
        if values:
            op.bulk_insert(packs, values)
        after = rows[-1][0]


def _date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _expiry(value) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _append_only() -> None:
    """Refuse UPDATE and DELETE of packs, like the phase entries they belong to (see 0001)."""
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
