"""Build the demo data set through the same services the app uses."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from safety.auth import services as auth
from safety.auth.models import Role, User
from safety.checklists import services as checklists
from safety.clinics import services as clinics
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup import patient as followup_patient
from safety.followup import rules
from safety.followup.models import FollowUp, OutboxMessage, OutboxStatus
from safety.followup.rules import Kind, Status

DEMO_PASSWORD = "needlesafe-demo"
DEMO_ACCOUNTS = [
    ("practitioner@example.com", "practitioner, Riverside Physio (London)"),
    ("practitioner2@example.com", "practitioner, Lakeshore Sports Clinic (Toronto)"),
    ("compliance@example.com", "compliance officer, all clinics"),
    ("admin@example.com", "administrator"),
]
CLINICS = [
    ("Riverside Physio", "Europe/London", "practitioner@example.com", "Priya Shah"),
    ("Lakeshore Sports Clinic", "America/Toronto", "practitioner2@example.com", "Daniel Okafor"),
]
PATIENTS = [
    ("Amelia", "Clarke"),
    ("Oliver", "Hughes"),
    ("Isla", "Morgan"),
    ("Noah", "Patel"),
    ("Grace", "Turner"),
    ("Liam", "Tremblay"),
    ("Chloe", "Gagnon"),
    ("Ethan", "Roy"),
    ("Maya", "Singh"),
    ("Lucas", "Bouchard"),
]
WEEKS = 3
SESSIONS_PER_DAY = 3


def seed(*, now: datetime | None = None, rng: random.Random | None = None) -> int:
    """Create the demo data once; return the number of signed sessions created."""
    if auth.find_user("admin@example.com") is not None:
        return 0
    now = now or utcnow()
    rng = rng or random.Random(2026)
    _account("admin@example.com", "Alex Admin", Role.ADMIN)
    _account("compliance@example.com", "Casey Compliance", Role.COMPLIANCE)
    signed = 0
    for index, (name, zone, email, practitioner_name) in enumerate(CLINICS):
        clinic = clinics.create_clinic(name=name, timezone=zone)
        practitioner = _account(email, practitioner_name, Role.PRACTITIONER, clinic.id)
        patients = [
            clinics.add_patient(
                practitioner,
                given_name=given,
                family_name=family,
                email=f"{given.lower()}.{family.lower()}@example.org",
                phone=None,
                is_followup_consent=given != "Noah",  # one patient said no to messages
                now=now - timedelta(days=7 * WEEKS + 1),
            )
            for given, family in PATIENTS[index * 5 : index * 5 + 5]
        ]
        signed += _history(practitioner, patients, ZoneInfo(zone), now, rng, unusual=index == 0)
        # Signed about 25 hours ago: its 24-hour check is due, so `make run`'s worker sends it
        # and the development outbox shows a real link at once.
        _signed_yesterday(practitioner, patients[1], ZoneInfo(zone), now, rng)
        signed += 1
        # One session in progress today, to show resuming between phases.
        start = min(now, _at(now.astimezone(ZoneInfo(zone)).date(), 8, ZoneInfo(zone)))
        session = checklists.start_session(practitioner, patient_id=patients[0].id, now=start)
        checklists.submit_phase(practitioner, session.id, "signin", _signin(rng), now=start)
    return signed


def _account(email: str, name: str, role: str, clinic_id: int | None = None) -> User:
    return auth.create_user(
        email=email,
        name=name,
        role=role,
        clinic_id=clinic_id,
        password=DEMO_PASSWORD,
        check_strength=False,  # the shared demo password is deliberately simple
    )


def _at(day: date, hour: int, zone: ZoneInfo, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), zone).astimezone(UTC)


def _history(practitioner, patients, zone, now, rng, *, unusual: bool) -> int:
    """Sign a few weeks of weekday sessions; the first clinic gets the unusual ones."""
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=n) for n in range(7 * WEEKS, 0, -1)]
    specials = {"discrepancy": 4, "deviation": 9, "prolonged": 14} if unusual else {}
    count = 0
    for day in days:
        if day.weekday() >= 5:
            continue
        for slot in range(SESSIONS_PER_DAY):
            start = _at(day, 9 + slot * 2, zone, rng.choice([0, 15, 30]))
            special = next((k for k, v in specials.items() if v == count), None)
            patient = rng.choice(patients)
            session = checklists.start_session(practitioner, patient_id=patient.id, now=start)
            checklists.submit_phase(practitioner, session.id, "signin", _signin(rng), now=start)
            needles = rng.randint(2, 10)
            checklists.submit_phase(
                practitioner,
                session.id,
                "timeout",
                _timeout(rng, day, needles, special),
                now=start + timedelta(minutes=5),
            )
            checklists.submit_phase(
                practitioner,
                session.id,
                "signout",
                _signout(rng, needles, special, patient.is_followup_consent),
                now=start + timedelta(minutes=30),
            )
            signed_session = checklists.get_session(practitioner, session.id)
            checklists.apply_signature(
                signed_session, practitioner, now=start + timedelta(minutes=32)
            )
            _settle_followups(signed_session, now, rng, special)
            count += 1
    return count


def _signed_yesterday(practitioner, patient, zone: ZoneInfo, now: datetime, rng) -> None:
    """Sign a session early enough that its 24-hour check is already due."""
    signed = now - timedelta(hours=25)
    while rules.plan_at_signing(signed, zone, with_day7=False)[0].due > now:
        signed -= timedelta(hours=1)
    start = signed - timedelta(minutes=30)
    session = checklists.start_session(practitioner, patient_id=patient.id, now=start)
    checklists.submit_phase(practitioner, session.id, "signin", _signin(rng), now=start)
    needles = rng.randint(3, 8)
    day = start.astimezone(zone).date()
    checklists.submit_phase(
        practitioner, session.id, "timeout", _timeout(rng, day, needles, None), now=start
    )
    checklists.submit_phase(
        practitioner, session.id, "signout", _signout(rng, needles, None, True), now=signed
    )
    checklists.apply_signature(
        checklists.get_session(practitioner, session.id), practitioner, now=signed
    )


def _settle_followups(session, now: datetime, rng: random.Random, special: str | None) -> None:
    """Play out a past session's follow-ups as they would have gone: sent, mostly answered."""
    while True:
        row = db.session.scalar(
            select(OutboxMessage)
            .join(FollowUp)
            .where(
                FollowUp.session_id == session.id,
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_dt <= now,
            )
            .order_by(OutboxMessage.next_attempt_dt)
            .limit(1)
        )
        if row is None:
            break
        row.status, row.sent_dt, row.attempts = OutboxStatus.SENT, row.next_attempt_dt, 1
        followup = row.followup
        if followup.status == Status.SCHEDULED:
            followup.status = Status.SENT
        answers_now = special == "prolonged" or rng.random() < 0.8
        if not row.is_reminder and followup.kind in {Kind.DAY_1, Kind.DAY_3} and answers_now:
            token = followup_patient.issue_link(followup, now=row.next_attempt_dt)
            answers = _patient_answers(rng, special if followup.kind == Kind.DAY_1 else None)
            followup_patient.answer(token, answers, now=row.next_attempt_dt + timedelta(hours=2))
        db.session.flush()


def _patient_answers(rng: random.Random, special: str | None) -> dict[str, list[str]]:
    soreness = rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5])
    answers = {
        "soreness": [str(soreness)],
        "trend": [rng.choices(["better", "same", "worse"], weights=[80, 17, 3])[0]],
        "bleeding": ["none"],
        "bruising": [rng.choices(["none", "small"], weights=[88, 12])[0]],
        "chest": ["no"],
    }
    if special == "prolonged":
        answers["bruising"] = ["large"]  # a same-day answer, to show an escalation
    return answers


def _signin(rng: random.Random) -> dict[str, list[str]]:
    regions = rng.sample(
        ["neck", "shoulder", "lumbar", "hip", "leg", "thorax", "arm"], k=rng.randint(1, 2)
    )
    anticoagulant = rng.random() < 0.08
    form = {
        "signin.authorised": ["yes"],
        "signin.consent": ["yes"],
        "signin.anticoagulant": ["yes" if anticoagulant else "no"],
        "signin.skin_ok": ["yes"],
        "signin.regions": regions,
    }
    if anticoagulant:
        form["signin.bleeding_precaution"] = [
            "Fewer needles, firm pressure for two minutes after removal."
        ]
    if {"neck", "thorax"} & set(regions):
        form["signin.high_risk_precaution"] = [
            "Short needles, pincer grip over the rib, angled away from the lung."
        ]
    return form


def _timeout(
    rng: random.Random, day: date, needles: int, special: str | None
) -> dict[str, list[str]]:
    form = {
        "timeout.hand_hygiene": ["yes"],
        "timeout.needles_sterile": ["yes"],
        "timeout.needle_lot": [rng.choice(["HW2611A", "HW2611B", "SJ-40812", "SJ-40977"])],
        "timeout.needle_expiry": [(day + timedelta(days=400)).isoformat()],
        "timeout.clean_field": ["yes"],
        "timeout.skin_prepared": ["yes"],
        "timeout.gloves": [rng.choice(["worn", "worn", "not_needed"])],
        "timeout.needles_inserted": [str(needles)],
        "timeout.pain_during": [str(rng.choice([0, 1, 1, 2, 2, 3, 4, 6]))],
    }
    if special == "deviation":
        form["timeout.skin_prepared"] = ["no"]
        form["timeout.skin_prepared.note"] = [
            "Alcohol wipes ran out; skin cleaned with soap and water."
        ]
    return form


def _signout(
    rng: random.Random, needles: int, special: str | None, consent: bool
) -> dict[str, list[str]]:
    removed = needles - 1 if special == "discrepancy" else needles
    bleeding = rng.choices(["none", "minor"], weights=[85, 15])[0]
    bruising = rng.choices(["none", "small"], weights=[92, 8])[0]
    form = {
        "signout.needles_removed": [str(removed)],
        "signout.needles_disposed": [str(removed)],
        "signout.bleeding": ["prolonged" if special == "prolonged" else bleeding],
        "signout.bruising": [bruising],
        "signout.reaction": ["none"],
        "signout.fit_to_leave": ["yes"],
        "signout.hand_hygiene": ["yes"],
        "signout.aftercare": ["yes"],
        "signout.followup": ["email" if consent else "declined"],
    }
    if special == "discrepancy":
        form["signout.count_discrepancy"] = [
            "One needle unaccounted for: area, couch and floor searched; patient checked; "
            "sharps container count confirmed. Reported to clinic lead."
        ]
    if special == "prolonged":
        form["signout.bleeding.note"] = [
            "Pressure for 6 minutes at the lumbar site until it stopped."
        ]
    return form
