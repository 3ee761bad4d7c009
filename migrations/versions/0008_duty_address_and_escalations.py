"""Clinics get a duty address, a phone, a country and working days; flags remember escalation.

Nothing escalated may go unread (DESIGN §4): an emergency or same-day answer nobody
acknowledged in time goes to the clinic's duty address (`flags.escalated_dt` records when),
and a practitioner's "patients who need you now" keeps an answer until they record what they
did (`flags.handled_*`). The patient's advice page gives the clinic's phone number and the
emergency number of the clinic's country. The 48-hour chest check is a follow-up of its own.

Backfill for clinics that exist: the duty address is the old optional alert address where
there was one, otherwise the first active compliance officer's (they oversee every clinic),
otherwise an administrator's; the country is read from the clinic's time zone (tzdata's
zone.tab) where it is one NeedleSafe knows; the phone stays empty, and the clinics page asks
an administrator for it. Working days default to Monday to Friday.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:00:00.000000

"""
from importlib import resources

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

#: Countries the application lists (safety.clinics.rules.COUNTRIES), frozen here so the
#: migration means the same thing whatever the code says later.
KNOWN_COUNTRIES = {
    "GB", "IE", "CA", "US", "AU", "NZ", "AT", "BE", "DE", "DK", "ES", "FI", "FR", "GR", "IT",
    "LU", "NL", "PL", "PT", "SE",
}


def _zone_countries() -> dict[str, str]:
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text("utf-8")
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            found[parts[2]] = parts[0]
    return found


def upgrade():
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.alter_column('alert_email', new_column_name='duty_email', existing_type=sa.String(254))
        batch_op.add_column(sa.Column('working_days', sa.String(length=7), nullable=False, server_default='12345'))
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=True))

    connection = op.get_bind()
    fallback = connection.execute(sa.text(
        "SELECT email FROM users WHERE is_enabled AND role = 'compliance' ORDER BY id LIMIT 1"
    )).scalar() or connection.execute(sa.text(
        "SELECT email FROM users WHERE is_enabled AND role = 'admin' ORDER BY id LIMIT 1"
    )).scalar() or "duty-address-needed@example.invalid"
    countries = _zone_countries()
    for clinic_id, zone, duty in connection.execute(
        sa.text("SELECT id, timezone, duty_email FROM clinics")
    ).all():
        country = countries.get(zone)
        connection.execute(
            sa.text("UPDATE clinics SET duty_email = :duty, country = :country WHERE id = :id"),
            {
                "duty": duty or fallback,
                "country": country if country in KNOWN_COUNTRIES else None,
                "id": clinic_id,
            },
        )
    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.alter_column('duty_email', existing_type=sa.String(254), nullable=False)
        batch_op.alter_column('working_days', server_default=None, existing_type=sa.String(length=7))

    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalated_dt', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('handled_dt', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('handled_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('handled_action', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('handled_note', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_flags_handled_by_id_users'), 'users', ['handled_by_id'], ['id'])
        batch_op.create_check_constraint(
            'handled_action',
            "handled_action IS NULL OR handled_action IN ('called', 'advised', 'referred')",
        )

    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_followups_kind'), type_='check')
        batch_op.create_check_constraint('kind', "kind IN ('24h', '48h', '72h', '7d')")


def downgrade():
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_followups_kind'), type_='check')
        batch_op.create_check_constraint('kind', "kind IN ('24h', '72h', '7d')")

    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_flags_handled_action'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_flags_handled_by_id_users'), type_='foreignkey')
        batch_op.drop_column('handled_note')
        batch_op.drop_column('handled_action')
        batch_op.drop_column('handled_by_id')
        batch_op.drop_column('handled_dt')
        batch_op.drop_column('escalated_dt')

    with op.batch_alter_table('clinics', schema=None) as batch_op:
        batch_op.drop_column('country')
        batch_op.drop_column('phone')
        batch_op.drop_column('working_days')
        batch_op.alter_column('duty_email', new_column_name='alert_email', existing_type=sa.String(254), nullable=True)
