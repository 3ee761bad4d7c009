"""Incidents: sharps injuries with their post-exposure steps, adverse events and near misses.

An incident is signed when it is reported, so its row, the injured person's identity (kept
apart from it), the steps ticked, the reports made outside the clinic and the addenda are
insert-only: triggers refuse UPDATE and DELETE on both databases, like 0001's. The alerts an
untouched urgent step sent are plain rows (one per step, unique). The outbox learns the
incident and the clinic lead an alert is for; users learn who leads their clinic.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 05:08:46.344221

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    _foreign_keys("OFF")
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('occurred_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('work_area', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('action_taken', sa.Text(), nullable=True),
    sa.Column('device_type', sa.String(length=40), nullable=True),
    sa.Column('device_brand', sa.String(length=200), nullable=True),
    sa.Column('device_gtin', sa.String(length=14), nullable=True),
    sa.Column('device_lot', sa.String(length=64), nullable=True),
    sa.Column('device_purpose', sa.String(length=40), nullable=True),
    sa.Column('how', sa.String(length=40), nullable=True),
    sa.Column('body_site', sa.String(length=40), nullable=True),
    sa.Column('is_used_on_patient', sa.Boolean(), nullable=True),
    sa.Column('event_type', sa.String(length=40), nullable=True),
    sa.Column('grade', sa.String(length=20), nullable=True),
    sa.Column('reported_by_id', sa.Integer(), nullable=False),
    sa.Column('signer_name', sa.String(length=200), nullable=False),
    sa.Column('signature_meaning', sa.String(length=200), nullable=False),
    sa.Column('signed_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint("grade IS NULL OR grade IN ('mild', 'significant', 'serious')", name=op.f('ck_incidents_grade')),
    sa.CheckConstraint("kind IN ('sharps_injury', 'adverse_event', 'near_miss')", name=op.f('ck_incidents_kind')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_incidents_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['reported_by_id'], ['users.id'], name=op.f('fk_incidents_reported_by_id_users')),
    sa.ForeignKeyConstraint(['session_id'], ['treatment_sessions.id'], name=op.f('fk_incidents_session_id_treatment_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_clinic_occurred', ['clinic_id', 'occurred_dt'], unique=False)
        batch_op.create_index('ix_incidents_kind_occurred', ['kind', 'occurred_dt'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_session_id'), ['session_id'], unique=False)

    op.create_table('incident_addenda',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('signer_name', sa.String(length=200), nullable=False),
    sa.Column('signature_meaning', sa.String(length=200), nullable=False),
    sa.Column('signed_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_incident_addenda_author_id_users')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_addenda_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_addenda'))
    )
    with op.batch_alter_table('incident_addenda', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_addenda_incident_id'), ['incident_id'], unique=False)

    op.create_table('incident_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=40), nullable=False),
    sa.Column('alerted_dt', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_alerts_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_alerts')),
    sa.UniqueConstraint('incident_id', 'step', name=op.f('uq_incident_alerts_incident_id'))
    )
    op.create_table('incident_people',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('job', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_people_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_people')),
    sa.UniqueConstraint('incident_id', name=op.f('uq_incident_people_incident_id'))
    )
    op.create_table('incident_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.String(length=40), nullable=False),
    sa.Column('reported_on', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_dt', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_reports_incident_id_incidents')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_incident_reports_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_reports'))
    )
    with op.batch_alter_table('incident_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_reports_incident_id'), ['incident_id'], unique=False)

    op.create_table('incident_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=40), nullable=False),
    sa.Column('done_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_dt', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_steps_incident_id_incidents')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_incident_steps_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_steps')),
    sa.UniqueConstraint('incident_id', 'step', name=op.f('uq_incident_steps_incident_id'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incident_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recipient_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outbox_recipient_id_users'), 'users', ['recipient_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_outbox_incident_id_incidents'), 'incidents', ['incident_id'], ['id'])

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lead_clinic_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_users_lead_clinic_id_clinics'), 'clinics', ['lead_clinic_id'], ['id']
        )

    _append_only()
    _foreign_keys("ON")


def downgrade():
    _foreign_keys("OFF")
    _drop_append_only()
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_lead_clinic_id_clinics'), type_='foreignkey')
        batch_op.drop_column('lead_clinic_id')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_incident_id_incidents'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_outbox_recipient_id_users'), type_='foreignkey')
        batch_op.drop_column('recipient_id')
        batch_op.drop_column('incident_id')

    op.drop_table('incident_steps')
    with op.batch_alter_table('incident_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_reports_incident_id'))

    op.drop_table('incident_reports')
    op.drop_table('incident_people')
    op.drop_table('incident_alerts')
    with op.batch_alter_table('incident_addenda', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_addenda_incident_id'))

    op.drop_table('incident_addenda')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_session_id'))
        batch_op.drop_index('ix_incidents_kind_occurred')
        batch_op.drop_index('ix_incidents_clinic_occurred')

    op.drop_table('incidents')
    _foreign_keys("ON")


def _foreign_keys(state: str) -> None:
    """SQLite: foreign keys off while a batch rebuilds `outbox` and `users`.

    A rebuild drops the old table, which SQLite turns into a DELETE that the rows referring
    to it (dev_messages to outbox; nearly everything to users) refuse. The rebuilt table keeps
    every row and id, so nothing dangles. (A no-op inside a transaction, and on PostgreSQL.)
    """
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA foreign_keys = {state}")


#: The insert-only tables; each gets `<table>_append_only` (on SQLite `_update` and `_delete`).
APPEND_ONLY = (
    "incidents",
    "incident_people",
    "incident_steps",
    "incident_reports",
    "incident_addenda",
)


def _append_only() -> None:
    """Refuse UPDATE and DELETE on the incident tables (see 0001's triggers)."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        name = f"{table}_append_only"
        if postgresql:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION needlesafe_refuse_change()"
            )
            continue
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {name}_{verb.lower()} BEFORE {verb} ON {table} FOR EACH ROW "
                f"BEGIN SELECT RAISE(ABORT, 'needlesafe: {verb} on {table} refused: the row is immutable'); END"
            )


def _drop_append_only() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        name = f"{table}_append_only"
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            continue
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}_{verb}")
