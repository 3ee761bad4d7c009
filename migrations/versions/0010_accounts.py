"""Accounts a clinic can trust: sign-in throttling per (account, client), and a second factor.

Failed sign-ins are counted per account and client (address, or the browser's device cookie)
with growing waits, instead of the per-account hard lock a stranger could set off. The user's
own lock columns stay for the signing form, which only the signed-in holder reaches.

Each account may enrol an authenticator app (its TOTP secret encrypted, the last accepted step
kept so a code works once) and gets ten one-time recovery codes, stored hashed. FHIR API
tokens get an expiry; those issued before it get the default 90 days from the upgrade.
Administrators invite people by e-mail (a one-time, expiring link, stored hashed) instead of
typing their first password. A practitioner may work at several clinics (memberships), and
works at one of them at a time (users.clinic_id).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 05:30:00.000000

"""
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_throttles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_key', sa.String(length=64), nullable=False),
    sa.Column('bucket', sa.String(length=120), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('blocked_until_dt', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_failure_dt', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_throttles')),
    sa.UniqueConstraint('account_key', 'bucket', name=op.f('uq_login_throttles_account_key'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret_enc', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('totp_pending_enc', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('totp_enrolled_dt', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_dt', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_codes_code_hash'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_dt', sa.DateTime(timezone=True), nullable=True))
    # Tokens issued before expiry existed get the default life from today, not a cut-off now.
    tokens = sa.table('api_tokens', sa.column('expires_dt', sa.DateTime(timezone=True)))
    op.execute(
        tokens.update()
        .where(tokens.c.expires_dt.is_(None))
        .values(expires_dt=datetime.now(UTC) + timedelta(days=90))
    )
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_dt', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_dt', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_invitations_created_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_invitations_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_user_id'), ['user_id'], unique=False)
    op.create_table('clinic_memberships',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_clinic_memberships_clinic_id_clinics')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_clinic_memberships_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'clinic_id', name=op.f('pk_clinic_memberships'))
    )
    # Every practitioner works at the clinic they had.
    op.execute(
        "INSERT INTO clinic_memberships (user_id, clinic_id, created_dt) "
        "SELECT id, clinic_id, created_dt FROM users "
        "WHERE role = 'practitioner' AND clinic_id IS NOT NULL"
    )
    # Locks taken after failed sign-ins under the old rule would outlast the new throttle.
    op.execute("UPDATE users SET locked_until_dt = NULL, failed_login_count = 0")


def downgrade():
    op.drop_table('clinic_memberships')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_user_id'))
    op.drop_table('invitations')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))
    op.drop_table('recovery_codes')
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch copy: copying `users` would
    # drop the table every other table points at, which SQLite's foreign keys refuse.
    for table, column in (
        ('api_tokens', 'expires_dt'),
        ('users', 'totp_last_step'),
        ('users', 'totp_enrolled_dt'),
        ('users', 'totp_pending_enc'),
        ('users', 'totp_secret_enc'),
    ):
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
    op.drop_table('login_throttles')
