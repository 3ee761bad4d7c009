"""Accounts a clinic can trust: sign-in throttling per (account, client).

Failed sign-ins are counted per account and client (address, or the browser's device cookie)
with growing waits, instead of the per-account hard lock a stranger could set off. The user's
own lock columns stay for the signing form, which only the signed-in holder reaches.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 05:30:00.000000

"""
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
    # Locks taken after failed sign-ins under the old rule would outlast the new throttle.
    op.execute("UPDATE users SET locked_until_dt = NULL, failed_login_count = 0")


def downgrade():
    op.drop_table('login_throttles')
