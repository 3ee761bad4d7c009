"""Keep the hashed JSON documents on PostgreSQL as written, so verify can hash them as stored.

`flask audit verify` recomputes every event's hash and every signed record's content hash.
Both cover canonical JSON of documents held in JSON columns: an event's details, each phase
entry's answers and notes. `jsonb` keeps a value but not its spelling, so verify had to decode
and encode every one of them again, most of its time on a large database. The `json` type
keeps the text as the application wrote it (canonical since this revision) and still refuses
anything but one JSON value, which is what lets verify splice stored text soundly. Documents
already stored keep jsonb's spelling; verify decodes those as before. SQLite stores JSON as
text already, and nothing changes there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 13:00:00.000000

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

HASHED_DOCUMENTS = (
    ('audit_events', 'details'),
    ('phase_entries', 'answers'),
    ('phase_entries', 'notes'),
)


def upgrade():
    _retype(postgresql.JSONB(), sa.JSON(), 'json')


def downgrade():
    _retype(sa.JSON(), postgresql.JSONB(), 'jsonb')


def _retype(existing, new, cast):
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, column in HASHED_DOCUMENTS:
        op.alter_column(
            table,
            column,
            existing_type=existing,
            type_=new,
            existing_nullable=False,
            postgresql_using=f'{column}::{cast}',
        )
