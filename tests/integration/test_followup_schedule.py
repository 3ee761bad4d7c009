"""Follow-ups written at signing, in the signing transaction: the checks the patient agreed to
and one outbox row per message, or nothing for a patient who cannot or will not be contacted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import PASSWORD, saved
from factories import clean_phases
from followup_helpers import (
    ALL_PHASES,
    NEAR_LUNG,
    add_patient,
    count,
    followups_of,
    outbox_of,
    signer,
)
from sqlalchemy import select

from safety.audit.models import AuditEvent
from safety.checklists import services as checklists
from safety.checklists.models import TreatmentSession
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup import rules
from safety.followup.models import FollowUp, OutboxMessage
from safety.followup.schedule import treated_at
from safety.risks import services as risks

#: A risk section naming only bleeding: its template has no infection risk.
BLEEDING_ONLY = "## Risks\n\n- Bleeding at the needle sites.\n"


@pytest.fixture
def practitioner(make_user):
    return make_user()


@pytest.fixture
def signed(make_session, practitioner):
    return signer(make_session, practitioner)


def test_signing_writes_the_follow_ups_and_their_outbox_rows(signed):
    session = signed()
    plans = rules.plan_at_signing(
        session.signed_dt, session.clinic.zone, near_lung=False, treated=treated_at(session)
    )

    assert [(f.kind, f.channel, f.status) for f in followups_of(session.id)] == [
        ("24h", "email", "scheduled"),
        ("7d", "email", "scheduled"),
    ]
    rows = outbox_of(session.id)
    assert [(r.purpose, r.status, r.is_reminder, r.attempts) for r in rows] == [
        ("patient_reminder", "pending", False, 0),
        ("patient_reminder", "pending", True, 0),
        ("patient_reminder", "pending", False, 0),
    ]
    assert [r.next_attempt_dt for r in rows] == [p.due for p in plans]
    assert [r.followup.kind for r in rows] == ["24h", "24h", "7d"]
    scheduled = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "followup.schedule")
    ).one()
    assert scheduled.object_id == str(session.id)


def test_a_failure_after_signing_rolls_back_the_follow_ups_with_the_signature(
    make_session, practitioner
):
    session = make_session(practitioner, phases=ALL_PHASES)
    checklists.apply_signature(session, practitioner, now=utcnow())
    assert count(FollowUp) == 2 and count(OutboxMessage) == 3  # written, not yet committed

    db.session.rollback()

    assert count(FollowUp) == 0
    assert count(OutboxMessage) == 0
    assert db.session.get(TreatmentSession, session.id).signed_dt is None


def test_the_7_day_check_is_planned_whatever_risks_the_template_names(signed, make_user):
    admin = make_user("admin")
    draft, _ = risks.create_draft_from_text(BLEEDING_ONLY, actor=admin)
    risks.publish(draft.id, actor=admin)
    db.session.commit()

    session = signed()

    assert "bloodborne_infection" not in session.template_version.definition["kinds"]
    assert [f.kind for f in followups_of(session.id)] == ["24h", "7d"]
    assert [r.is_reminder for r in outbox_of(session.id)] == [False, True, False]


def test_needling_near_the_lung_adds_the_48_hour_chest_check(signed):
    session = signed(NEAR_LUNG)
    plans = rules.plan_at_signing(
        session.signed_dt, session.clinic.zone, near_lung=True, treated=treated_at(session)
    )

    assert [f.kind for f in followups_of(session.id)] == ["24h", "48h", "7d"]
    assert [r.next_attempt_dt for r in outbox_of(session.id)] == [p.due for p in plans]
    scheduled = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "followup.schedule")
    ).one()
    assert scheduled.details["kinds"] == ["24h", "48h", "7d"]


def test_a_session_signed_the_next_day_asks_about_the_chest_two_days_after_the_needling(
    make_session, practitioner
):
    """Signed 16 hours after its sign out: the chest check once went two days after the
    signature, most of a day past the window in which a collapsed lung shows."""
    session = make_session(practitioner, phases=ALL_PHASES, overrides=NEAR_LUNG)
    needles_out = treated_at(session)
    checklists.sign_session(
        practitioner, session.id, PASSWORD, now=needles_out + timedelta(hours=16)
    )
    db.session.commit()

    chest = next(f for f in followups_of(session.id) if f.kind == "48h")
    zone = session.clinic.zone
    assert chest.due_dt == rules.out_of_quiet_hours(rules.local_offset(needles_out, 2, zone), zone)
    assert chest.due_dt < rules.local_offset(needles_out + timedelta(hours=16), 2, zone)


def test_a_sign_out_saved_again_the_next_morning_still_counts_from_the_needles_coming_out(
    make_session, practitioner
):
    """Two reviews found that counting from the last Sign out brought the day's delay back
    when a typo in it was fixed the next morning, before signing."""
    session = make_session(practitioner, phases=ALL_PHASES, overrides=NEAR_LUNG)
    needles_out = treated_at(session)
    next_morning = needles_out + timedelta(hours=16)
    form = {
        **clean_phases(session)["signout"],
        **{k: v for k, v in NEAR_LUNG.items() if k.startswith("signout.")},
    }
    checklists.submit_phase(practitioner, session.id, "signout", form, now=next_morning)
    checklists.sign_session(practitioner, session.id, PASSWORD, now=next_morning)
    db.session.commit()

    assert treated_at(db.session.get(TreatmentSession, session.id)) == needles_out
    chest = next(f for f in followups_of(session.id) if f.kind == "48h")
    zone = session.clinic.zone
    assert chest.due_dt == rules.out_of_quiet_hours(rules.local_offset(needles_out, 2, zone), zone)


@pytest.mark.parametrize(
    "case", ["declined", "no consent", "opted out", "no email", "sms without a phone"]
)
def test_nothing_is_scheduled_for_a_patient_who_cannot_or_will_not_be_contacted_at_signing(
    case, make_session, practitioner
):
    """Sign out refuses an unreachable channel; a patient's record can still change between
    Sign out and the signature (consent withdrawn, a contact removed), and then nothing goes."""
    patient = add_patient(practitioner, email="grace@example.org", phone="+44 7700 900123")
    channel = {"declined": "declined", "sms without a phone": "sms"}.get(case, "email")
    session = make_session(
        practitioner, phases=ALL_PHASES, overrides={"signout.followup": [channel]}, patient=patient
    )
    if case == "no consent":
        patient.is_followup_consent = False
    elif case == "opted out":
        patient.opted_out_dt = utcnow() - timedelta(days=30)
    elif case == "no email":
        patient.email = None
    elif case == "sms without a phone":
        patient.phone = None
    saved(patient)

    checklists.sign_session(practitioner, session.id, PASSWORD)

    assert db.session.get(TreatmentSession, session.id).signed_dt is not None
    assert followups_of(session.id) == []
    assert count(OutboxMessage) == 0


def test_a_patient_who_chose_text_messages_is_scheduled_by_sms(signed, practitioner):
    patient = add_patient(practitioner, email=None, phone="+44 7700 900123")
    session = signed(overrides={"signout.followup": ["sms"]}, patient=patient)
    assert {f.channel for f in followups_of(session.id)} == {"sms"}
    assert len(outbox_of(session.id)) == 3
