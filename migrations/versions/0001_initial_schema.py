"""Initial schema: accounts, clinics, patients, templates, sessions, flags, addenda, audit
chain, follow-ups with their outbox, patient links and responses, API tokens.

Also creates the triggers that make signed records, phase entries, addenda, patient
responses, published templates and audit events immutable, on SQLite and on PostgreSQL, and
seeds the audit chain head.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:29:31.993455

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    op.create_table('clinics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('workday_start_hour', sa.Integer(), nullable=False),
    sa.Column('workday_end_hour', sa.Integer(), nullable=False),
    sa.Column('alert_email', sa.String(length=254), nullable=True),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinics')),
    sa.UniqueConstraint('name', name=op.f('uq_clinics_name'))
    )
    op.create_table('verification_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('is_intact', sa.Boolean(), nullable=False),
    sa.Column('problem', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_runs'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('failed_login_count', sa.Integer(), nullable=False),
    sa.Column('locked_until_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('password_changed_dt', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role != 'practitioner' OR clinic_id IS NOT NULL", name=op.f('ck_users_practitioner_clinic')),
    sa.CheckConstraint("role IN ('practitioner', 'compliance', 'admin')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_users_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_clinic_id'), ['clinic_id'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_dt', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=True),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_events_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_events_seq'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_object', ['object_type', 'object_id'], unique=False)

    op.create_table('login_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=30), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_sessions'))
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('is_followup_consent', sa.Boolean(), nullable=False),
    sa.Column('opted_out_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_patients_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_patients_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patients_clinic_id'), ['clinic_id'], unique=False)

    op.create_table('template_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('source_text', sa.Text(), nullable=True),
    sa.Column('unmatched', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('published_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_template_versions_created_by_id_users')),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'], name=op.f('fk_template_versions_published_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_versions')),
    sa.UniqueConstraint('version', name=op.f('uq_template_versions_version'))
    )
    with op.batch_alter_table('template_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_template_versions_published_dt'), ['published_dt'], unique=False)

    op.create_table('treatment_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('template_version_id', sa.Integer(), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('started_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('needle_lot', sa.String(length=64), nullable=True),
    sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('notes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('signed_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signed_by_id', sa.Integer(), nullable=True),
    sa.Column('signer_name', sa.String(length=200), nullable=True),
    sa.Column('signature_meaning', sa.String(length=200), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('bleeding', sa.String(length=20), nullable=True),
    sa.Column('bruising', sa.String(length=20), nullable=True),
    sa.Column('reaction', sa.String(length=20), nullable=True),
    sa.Column('pain_during', sa.Integer(), nullable=True),
    sa.Column('flag_count', sa.Integer(), nullable=False),
    sa.CheckConstraint('signed_dt IS NULL OR (content_hash IS NOT NULL AND signed_by_id IS NOT NULL)', name=op.f('ck_treatment_sessions_signature_complete')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_treatment_sessions_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_treatment_sessions_patient_id_patients')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['users.id'], name=op.f('fk_treatment_sessions_practitioner_id_users')),
    sa.ForeignKeyConstraint(['signed_by_id'], ['users.id'], name=op.f('fk_treatment_sessions_signed_by_id_users')),
    sa.ForeignKeyConstraint(['template_version_id'], ['template_versions.id'], name=op.f('fk_treatment_sessions_template_version_id_template_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_treatment_sessions'))
    )
    with op.batch_alter_table('treatment_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_treatment_sessions_clinic_date', ['clinic_id', 'session_date', 'id'], unique=False)
        batch_op.create_index('ix_treatment_sessions_lot', ['needle_lot', 'session_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_treatment_sessions_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_treatment_sessions_practitioner_date', ['practitioner_id', 'session_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_treatment_sessions_signed_dt'), ['signed_dt'], unique=False)

    op.create_table('addenda',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('signer_name', sa.String(length=200), nullable=False),
    sa.Column('signature_meaning', sa.String(length=200), nullable=False),
    sa.Column('signed_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_addenda_author_id_users')),
    sa.ForeignKeyConstraint(['session_id'], ['treatment_sessions.id'], name=op.f('fk_addenda_session_id_treatment_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addenda'))
    )
    with op.batch_alter_table('addenda', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addenda_session_id'), ['session_id'], unique=False)

    op.create_table('followups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('due_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('answered_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('24h', '72h', '7d')", name=op.f('ck_followups_kind')),
    sa.CheckConstraint("status IN ('scheduled', 'sent', 'answered', 'failed', 'cancelled')", name=op.f('ck_followups_status')),
    sa.ForeignKeyConstraint(['session_id'], ['treatment_sessions.id'], name=op.f('fk_followups_session_id_treatment_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_followups'))
    )
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_followups_session_id'), ['session_id'], unique=False)

    op.create_table('phase_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('phase', sa.String(length=20), nullable=False),
    sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('notes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('submitted_dt', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("phase IN ('signin', 'timeout', 'signout')", name=op.f('ck_phase_entries_phase')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_phase_entries_author_id_users')),
    sa.ForeignKeyConstraint(['session_id'], ['treatment_sessions.id'], name=op.f('fk_phase_entries_session_id_treatment_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phase_entries'))
    )
    with op.batch_alter_table('phase_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phase_entries_session_id'), ['session_id'], unique=False)

    op.create_table('patient_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('followup_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_dt', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['followup_id'], ['followups.id'], name=op.f('fk_patient_links_followup_id_followups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_patient_links_token_hash'))
    )
    with op.batch_alter_table('patient_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_links_followup_id'), ['followup_id'], unique=False)

    op.create_table('patient_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('followup_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('escalation', sa.String(length=20), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['followup_id'], ['followups.id'], name=op.f('fk_patient_responses_followup_id_followups')),
    sa.ForeignKeyConstraint(['session_id'], ['treatment_sessions.id'], name=op.f('fk_patient_responses_session_id_treatment_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_responses')),
    sa.UniqueConstraint('followup_id', name=op.f('uq_patient_responses_followup_id'))
    )
    with op.batch_alter_table('patient_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_responses_session_id'), ['session_id'], unique=False)

    op.create_table('flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('link_id', sa.String(length=80), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=True),
    sa.Column('followup_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('resolved_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.CheckConstraint("severity IN ('critical', 'high', 'medium', 'low')", name=op.f('ck_flags_severity')),
    sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name=op.f('ck_flags_status')),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_flags_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['followup_id'], ['followups.id'], name=op.f('fk_flags_followup_id_followups')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_flags_resolved_by_id_users')),
    sa.ForeignKeyConstraint(['response_id'], ['patient_responses.id'], name=op.f('fk_flags_response_id_patient_responses')),
    sa.ForeignKeyConstraint(['session_id'], ['treatment_sessions.id'], name=op.f('fk_flags_session_id_treatment_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flags'))
    )
    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flags_session_id'), ['session_id'], unique=False)
        batch_op.create_index('ix_flags_status_severity', ['status', 'severity'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=30), nullable=False),
    sa.Column('followup_id', sa.Integer(), nullable=True),
    sa.Column('flag_id', sa.Integer(), nullable=True),
    sa.Column('is_reminder', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('leased_by', sa.String(length=100), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'cancelled')", name=op.f('ck_outbox_status')),
    sa.ForeignKeyConstraint(['flag_id'], ['flags.id'], name=op.f('fk_outbox_flag_id_flags')),
    sa.ForeignKeyConstraint(['followup_id'], ['followups.id'], name=op.f('fk_outbox_followup_id_followups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_dt'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_followup_id'), ['followup_id'], unique=False)

    op.create_table('dev_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_dev_messages_outbox_id_outbox')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dev_messages'))
    )

    op.execute(
        sa.text("INSERT INTO audit_chain_head (id, last_seq, last_hash) VALUES (1, 0, :genesis)")
        .bindparams(genesis="0" * 64)
    )
    create_immutability_triggers()


def downgrade():
    drop_immutability_triggers()
    op.drop_table('dev_messages')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_followup_id'))
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox')
    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.drop_index('ix_flags_status_severity')
        batch_op.drop_index(batch_op.f('ix_flags_session_id'))

    op.drop_table('flags')
    with op.batch_alter_table('patient_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_responses_session_id'))

    op.drop_table('patient_responses')
    with op.batch_alter_table('patient_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_links_followup_id'))

    op.drop_table('patient_links')
    with op.batch_alter_table('phase_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phase_entries_session_id'))

    op.drop_table('phase_entries')
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_followups_session_id'))

    op.drop_table('followups')
    with op.batch_alter_table('addenda', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addenda_session_id'))

    op.drop_table('addenda')
    with op.batch_alter_table('treatment_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_treatment_sessions_signed_dt'))
        batch_op.drop_index('ix_treatment_sessions_practitioner_date')
        batch_op.drop_index(batch_op.f('ix_treatment_sessions_patient_id'))
        batch_op.drop_index('ix_treatment_sessions_lot')
        batch_op.drop_index('ix_treatment_sessions_clinic_date')

    op.drop_table('treatment_sessions')
    with op.batch_alter_table('template_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_template_versions_published_dt'))

    op.drop_table('template_versions')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_clinic_id'))

    op.drop_table('patients')
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_sessions_user_id'))

    op.drop_table('login_sessions')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_object')

    op.drop_table('audit_events')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_clinic_id'))

    op.drop_table('users')
    op.drop_table('verification_runs')
    op.drop_table('clinics')
    op.drop_table('audit_chain_head')


#: (table, trigger name, guard) - the guard limits a trigger to rows that are already final.
IMMUTABLE = [
    ("audit_events", "audit_events_append_only", None),
    ("phase_entries", "phase_entries_append_only", None),
    ("addenda", "addenda_append_only", None),
    ("patient_responses", "patient_responses_append_only", None),
    ("treatment_sessions", "treatment_sessions_signed", "OLD.signed_dt IS NOT NULL"),
    ("template_versions", "template_versions_published", "OLD.published_dt IS NOT NULL"),
]


def create_immutability_triggers():
    """Refuse UPDATE and DELETE of final rows in the database itself, whatever the client."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION needlesafe_refuse_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'needlesafe: % on % refused: the row is immutable', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'integrity_constraint_violation';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table, name, guard in IMMUTABLE:
            when = f"WHEN ({guard})" if guard else ""
            op.execute(
                f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW {when} EXECUTE FUNCTION needlesafe_refuse_change()"
            )
        return
    for table, name, guard in IMMUTABLE:
        for verb in ("UPDATE", "DELETE"):
            when = f"WHEN {guard}" if guard else ""
            op.execute(
                f"CREATE TRIGGER {name}_{verb.lower()} BEFORE {verb} ON {table} FOR EACH ROW {when} "
                f"BEGIN SELECT RAISE(ABORT, 'needlesafe: {verb} on {table} refused: the row is immutable'); END"
            )


def drop_immutability_triggers():
    if op.get_bind().dialect.name == "postgresql":
        for table, name, _ in IMMUTABLE:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS needlesafe_refuse_change()")
        return
    for _table, name, _ in IMMUTABLE:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}_{verb}")
