"""Index sessions by patient and date, so the picker finds each patient's last visit in one probe.

The practitioner's today page and the patient picker order a clinic's patients by their last
visit. Grouping every session of the clinic to find it read all of the clinic's history on
each page (17 ms for a clinic with 8,000 sessions, growing with every year kept); with this
index each patient's last visit is one step down an index, so the pages cost what the clinic's
patients are, not what its history is. The index on the patient alone is its prefix, so it
goes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 20:05:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_treatment_sessions_patient_date",
        "treatment_sessions",
        ["patient_id", "session_date"],
        unique=False,
    )
    op.drop_index("ix_treatment_sessions_patient_id", table_name="treatment_sessions")


def downgrade():
    op.create_index(
        "ix_treatment_sessions_patient_id", "treatment_sessions", ["patient_id"], unique=False
    )
    op.drop_index("ix_treatment_sessions_patient_date", table_name="treatment_sessions")
