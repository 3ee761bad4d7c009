"""Indexes for the practitioner's pages, so they cost what they show rather than the history.

- Sessions by patient and date: the today page and the patient picker order a clinic's patients
  by their last visit. Grouping every session of the clinic read its whole history on each page
  (17 ms for a clinic with 8,000 sessions, growing every year); with this index each patient's
  last visit is one step down an index. The index on the patient alone is its prefix, so it
  goes.
- Flags by kind and handling: the patient answers waiting for a practitioner (the today page,
  and the escalation pass of every reminder worker) were found by reading every flag ever
  raised; now only the unhandled ones of the follow-up kinds are read.

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
    op.create_index("ix_flags_kind_handled", "flags", ["kind", "handled_dt"], unique=False)


def downgrade():
    op.drop_index("ix_flags_kind_handled", table_name="flags")
    op.create_index(
        "ix_treatment_sessions_patient_id", "treatment_sessions", ["patient_id"], unique=False
    )
    op.drop_index("ix_treatment_sessions_patient_date", table_name="treatment_sessions")
