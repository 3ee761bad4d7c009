"""Index follow-ups by status and due time, for the dashboard's response rate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 04:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_followups_status_due', 'followups', ['status', 'due_dt'], unique=False)


def downgrade():
    op.drop_index('ix_followups_status_due', table_name='followups')
