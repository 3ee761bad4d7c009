"""`flask demo seed --sessions N`: signed sessions in bulk that the application cannot tell from
its own, with a chain and record hashes that verify."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import selectinload

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.checklists import rules
from safety.checklists import services as checklists
from safety.checklists.models import Flag, PhaseEntry, TreatmentSession
from safety.clinics.models import Clinic, Patient
from safety.demo import bulk
from safety.demo.services import answers_for
from safety.errors import Conflict
from safety.extensions import db
from safety.followup import rules as followup_rules
from safety.followup.models import FollowUp, PatientResponse
from safety.followup.rules import response_content
from safety.hashing import hashed_time, sha256_hex
from safety.integrity.verify import verify
from safety.packs.models import SessionPack
from safety.packs.rules import normalise_lot
from safety.risks.models import TemplateVersion
from safety.risks.rules import CURRENT_REGISTER

N = 300


def three_hundred_bulk_sessions() -> bulk.BulkResult:
    """The module's world: N generated sessions, which the tests asking for `world` only read
    (SQLite builds it once for them; each test that generates an amount of its own starts
    empty)."""
    return bulk.generate(N)


#: The bulk generator writes from a thread of its own, on its own connection.
pytestmark = [pytest.mark.real_commits, pytest.mark.world.with_args(three_hundred_bulk_sessions)]


def _sessions() -> list[TreatmentSession]:
    return list(
        db.session.scalars(
            select(TreatmentSession)
            .options(selectinload(TreatmentSession.entries), selectinload(TreatmentSession.flags))
            .order_by(TreatmentSession.id)
        )
    )


def test_the_last_days_of_bulk_data_are_on_the_current_register_and_the_rest_on_version_1(world):
    """The later sessions are on the register new sessions get (version 3, with its stops), so
    a bulk-seeded database starts its next sessions on it too."""
    by_version = Counter(
        (s.session_date, checklists.template_for(s).register_version) for s in _sessions()
    )
    last_v1 = max(day for day, version in by_version if version == 1)
    first_current = min(day for day, version in by_version if version == CURRENT_REGISTER)
    assert last_v1 < first_current
    assert {version for _, version in by_version} == {1, CURRENT_REGISTER}


def test_bulk_seed_creates_that_many_signed_sessions_with_three_phases_each(world):
    result = world

    sessions = _sessions()
    assert result.sessions == N == len(sessions)
    assert all(s.is_signed for s in sessions)
    assert all([e.phase for e in s.entries] == ["signin", "timeout", "signout"] for s in sessions)
    assert result.clinics == len(bulk.CLINICS)
    assert db.session.scalar(select(func.count()).select_from(Clinic)) == len(bulk.CLINICS)
    assert result.patients == db.session.scalar(select(func.count()).select_from(Patient))


def test_every_bulk_session_has_the_pack_its_time_out_recorded_under_its_normalised_lot(world):

    packs = {p.session_id: p for p in db.session.scalars(select(SessionPack))}
    for session in _sessions():
        timeout = next(e for e in session.entries if e.phase == "timeout")
        pack = packs[session.id]
        assert (pack.entry_id, pack.clinic_id, pack.session_date) == (
            timeout.id,
            session.clinic_id,
            session.session_date,
        )
        assert pack.lot == session.needle_lot == timeout.answers["timeout.needle_lot"]
        assert pack.lot_key == normalise_lot(pack.lot)
        assert pack.expiry.isoformat() == timeout.answers["timeout.needle_expiry"]
    assert len(packs) == N


def test_bulk_sessions_are_checklists_the_application_would_have_signed(world):

    for session in _sessions():
        template = checklists.template_for(session)
        state = checklists.progress(session)
        assert state.answers == session.answers
        assert rules.applicable_answers(template, session.answers) == session.answers
        assert checklists.signing_blockers(session) == []
        assert session.needle_lot == session.answers["timeout.needle_lot"]
        assert date.fromisoformat(session.answers["timeout.needle_expiry"]) > session.session_date
        entry_times = [e.submitted_dt for e in session.entries]
        assert entry_times == sorted(entry_times) and entry_times[-1] < session.signed_dt
        assert session.started_dt == entry_times[0]
        # Each entry's event holds its answers as the application hashes them.
        hashed = dict(
            db.session.execute(
                select(AuditEvent.details["entry"].as_integer(), AuditEvent.details).where(
                    AuditEvent.action == "session.phase_submit",
                    AuditEvent.object_id == str(session.id),
                )
            ).all()
        )
        assert {e.id: hashed[e.id]["entry_hash"] for e in session.entries} == {
            e.id: rules.entry_hash(e.answers, e.notes) for e in session.entries
        }
        assert session.signer_name == session.practitioner.name
        assert session.signed_by_id == session.practitioner_id
        assert session.patient.clinic_id == session.clinic_id == session.practitioner.clinic_id


def test_bulk_sessions_carry_the_flags_and_outcomes_signing_would_set(world):

    for session in _sessions():
        expected = rules.flags_for(checklists.template_for(session), session.answers)
        assert [(f.kind, f.severity, f.link_id, f.message) for f in session.flags] == [
            (f.kind, f.severity, f.link_id, f.message) for f in expected
        ]
        assert session.flag_count == len(expected)
        columns = rules.answer_columns(session.answers)
        assert (session.bleeding, session.bruising, session.reaction, session.pain_during) == (
            columns["bleeding"],
            columns["bruising"],
            columns["reaction"],
            columns["pain_during"],
        )
        assert session.content_hash == rules.content_hash(checklists.signed_content(session))


def test_bulk_data_verifies_with_one_sign_event_per_session(world, runner):

    result = verify()
    assert result.is_intact, result.problem
    assert result.records == N
    signs = db.session.execute(
        select(AuditEvent.object_id, AuditEvent.details).where(AuditEvent.action == "session.sign")
    ).all()
    hashes = dict(
        db.session.execute(select(TreatmentSession.id, TreatmentSession.content_hash)).all()
    )
    assert sorted(int(object_id) for object_id, _ in signs) == sorted(hashes)
    assert all(details["content_hash"] == hashes[int(i)] for i, details in signs)
    cli = runner.invoke(args=["audit", "verify"])
    assert cli.exit_code == 0, cli.output


def test_bulk_events_are_on_their_clinics_chains_as_the_application_would_put_them(world):

    on_the_wrong_chain = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .join(TreatmentSession, TreatmentSession.id == cast(AuditEvent.object_id, Integer))
        .where(
            AuditEvent.object_type == "treatment_sessions",
            AuditEvent.chain_id != TreatmentSession.clinic_id,
        )
    )
    clinic_chains = set(db.session.scalars(select(AuditEvent.chain_id).distinct())) - {0}

    assert on_the_wrong_chain == 0
    assert clinic_chains == set(db.session.scalars(select(Clinic.id)))


def _trail(object_type: str, object_id: int) -> list[tuple[str, list[str]]]:
    """The actions recorded on one object, in chain order, with the keys of their details."""
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
        .order_by(AuditEvent.seq)
    )
    return [(e.action, sorted(e.details)) for e in events]


def test_bulk_sessions_carry_the_audit_trail_the_application_writes(world, make_user, make_session):
    """The benchmark's chain is as long as a clinic's: per session, the events signing one
    through the services writes, with details of the same shape."""
    signed_here = make_session(make_user(), phases=("signin", "timeout", "signout"), sign=True)
    with_followup = _trail("treatment_sessions", signed_here.id)
    assert [action for action, _ in with_followup][-1] == "followup.schedule"
    without_followup = with_followup[:-1]

    for session in _sessions():
        if session.id == signed_here.id:
            continue
        followups = db.session.scalar(select(func.count()).where(FollowUp.session_id == session.id))
        expected = with_followup if followups else without_followup
        assert _trail("treatment_sessions", session.id) == expected, session.id
    responses = db.session.scalars(select(PatientResponse)).all()
    assert responses
    for response in responses:
        trail = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.object_type == "patient_responses",
                AuditEvent.object_id == str(response.id),
            )
        ).all()
        # The details followup.patient.answer records, the hash of the answers among them
        # (without it, verify skipped hashing the bench's answers, which real data costs).
        signed = response_content(
            followup_id=response.followup_id,
            answers=response.answers,
            escalation=response.escalation,
            created=hashed_time(response.created_dt),
        )
        assert [(e.action, e.details) for e in trail] == [
            (
                "followup.response",
                {
                    "followup": response.followup_id,
                    "kind": "24h",
                    "escalation": response.escalation,
                    "content_hash": sha256_hex(signed),
                },
            )
        ]


def test_bulk_flags_are_raised_on_their_clinics_chains_as_signing_raises_them(world):
    """Signing writes a flag.raise per flag that holds its words and time; the benchmark's
    flags had none, so verify did less work on them than on a clinic's and held none of them."""
    flags = db.session.scalars(select(Flag).order_by(Flag.id)).all()
    assert flags
    for flag in flags:
        trail = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.object_type == "flags", AuditEvent.object_id == str(flag.id)
            )
        ).all()
        assert [(e.action, e.details, e.chain_id, e.created_dt) for e in trail] == [
            ("flag.raise", flag.raise_details, flag.session.clinic_id, flag.created_dt)
        ], flag.id


def test_bulk_follow_ups_exist_only_for_patients_who_chose_a_channel(world):

    followups = db.session.scalars(select(FollowUp)).all()
    by_session = {f.session_id: f for f in followups}
    for session in _sessions():
        channel = session.answers["signout.followup"]
        if channel == "declined":
            assert session.id not in by_session
        else:
            followup = by_session[session.id]
            assert followup.channel == channel and session.patient.is_followup_consent
            assert followup.due_dt > session.signed_dt
            # Due when signing would have put it: a day after the sign-out, not the signature.
            (signed_out,) = (e.submitted_dt for e in session.entries if e.phase == "signout")
            first = followup_rules.plan_at_signing(
                session.signed_dt, session.clinic.zone, near_lung=False, treated=signed_out
            )[0]
            assert followup.due_dt == first.due
    answered = {f.id for f in followups if f.status == "answered"}
    responses = db.session.scalars(select(PatientResponse)).all()
    assert {r.followup_id for r in responses} == answered


def test_the_benchmarks_forms_are_ones_the_sign_out_page_accepts_for_every_kind_of_patient(world):
    """bench/evidence_bench.py signs sessions on bulk data with `answers_for`: a patient with
    only a mobile number must be offered a text message, not email (which the server refuses,
    and the benchmark then stops)."""
    patients = db.session.scalars(select(Patient).order_by(Patient.id)).all()
    kinds = {
        "email": next(p for p in patients if p.is_followup_consent and p.email),
        "sms": next(p for p in patients if p.is_followup_consent and not p.email and p.phone),
        "declined": next(p for p in patients if not p.is_followup_consent),
    }
    rng = random.Random(4)
    for channel, patient in kinds.items():
        practitioner = db.session.scalar(
            select(User).where(User.clinic_id == patient.clinic_id, User.role == "practitioner")
        )
        session = checklists.start_session(practitioner, patient_id=patient.id)
        forms = answers_for(session, rng)
        for phase, form in forms:
            checklists.submit_phase(practitioner, session.id, phase, form)
        assert dict(forms)["signout"]["signout.followup"] == [channel]
    db.session.rollback()  # the world stays as the other tests read it


def test_bulk_seed_refuses_to_run_twice_and_changes_nothing(app):
    bulk.generate(50)

    with pytest.raises(Conflict, match="already exists"):
        bulk.generate(50)
    assert db.session.scalar(select(func.count()).select_from(TreatmentSession)) == 50


def test_demo_seed_sessions_adds_bulk_data_to_the_demo_data_once(app, runner):
    first = runner.invoke(args=["demo", "seed", "--sessions", "120"])

    assert first.exit_code == 0, first.output
    assert "120 signed sessions in 20 clinics" in first.output
    assert "Demo data created" in first.output
    again = runner.invoke(args=["demo", "seed", "--sessions", "120"])
    assert again.exit_code == 1
    assert "already exists" in again.output
    bulk_count = bulk.bulk_session_count()
    assert bulk_count == 120
    # Every session pinned a template published before it started.
    pinned_later = db.session.scalar(
        select(func.count())
        .select_from(TreatmentSession)
        .join(TemplateVersion, TemplateVersion.id == TreatmentSession.template_version_id)
        .where(TemplateVersion.published_dt > TreatmentSession.started_dt)
    )
    assert pinned_later == 0
    assert verify().is_intact


def test_bulk_outcome_rates_follow_the_published_baselines(app):
    n = 5000
    bulk.generate(n)

    def share(column, value) -> float:
        hits = db.session.scalar(select(func.count()).where(column == value))
        return hits / n

    assert 0.10 <= share(TreatmentSession.bleeding, "minor") <= 0.17
    assert 0.001 <= share(TreatmentSession.bleeding, "prolonged") <= 0.012
    assert 0.055 <= share(TreatmentSession.bruising, "small") <= 0.095
    pain = db.session.scalar(select(func.count()).where(TreatmentSession.pain_during >= 4)) / n
    assert 0.03 <= pain <= 0.06
    reactions = db.session.scalar(select(func.count()).where(TreatmentSession.reaction != "none"))
    assert 0.004 <= reactions / n <= 0.02
    flagged = db.session.scalar(select(func.count(func.distinct(Flag.session_id))))
    assert 0.005 <= flagged / n <= 0.04
    # Two years of weekdays and Saturdays, ending a few days ago, in every clinic.
    first, last = db.session.execute(
        select(func.min(TreatmentSession.session_date), func.max(TreatmentSession.session_date))
    ).one()
    assert timedelta(days=700) <= last - first <= timedelta(days=bulk.SPAN_DAYS)
    weekdays = Counter(
        d.weekday() for d in db.session.scalars(select(TreatmentSession.session_date))
    )
    assert weekdays[6] == 0 and weekdays[5] < weekdays[2]
    clinics = db.session.scalar(select(func.count(func.distinct(TreatmentSession.clinic_id))))
    assert clinics == len(bulk.CLINICS)
    lots = db.session.scalars(select(TreatmentSession.needle_lot).distinct()).all()
    assert len(lots) > 1000
    assert {lot[:2] for lot in lots} == {"HW", "SJ", "DB", "AG", "TW"}
    entries = db.session.scalar(select(func.count()).select_from(PhaseEntry))
    assert entries == 3 * n
