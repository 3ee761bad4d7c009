"""Build the demo data set through the same services the app uses.

Three weeks of sessions at two clinics: the first week on version 1 of the default checklist
(those records keep it, as real ones do), the rest on version 2 (the current register, 3),
published a fortnight ago.
A few sessions show what a reviewer needs to see: a count that does not reconcile, a noted
deviation, prolonged bleeding followed by a same-day answer, a patient who wrote to the
clinic, a session cancelled because consent was refused, and one in progress today. Riverside
has a clinic lead and a few incidents of each kind, one of them a needlestick earlier today
whose urgent steps are still open. One file of about 750 lines: the demo is one story told
top to bottom, each part a function of its own.
"""

from __future__ import annotations

import logging
import random
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from safety.auth import rules as auth_rules
from safety.auth import services as auth
from safety.auth.models import Role, User
from safety.checklists import services as checklists
from safety.checklists.models import TreatmentSession
from safety.clinics import services as clinics
from safety.dbtypes import utcnow
from safety.demo.bulk import world as bulk_world
from safety.extensions import db
from safety.followup import patient as followup_patient
from safety.followup import rules
from safety.followup.models import FollowUp, OutboxMessage, OutboxStatus
from safety.followup.rules import Kind, Status
from safety.followup.schedule import questions_asked
from safety.incidents import rules as incident_rules
from safety.incidents import services as incidents
from safety.risks import services as risks

log = logging.getLogger(__name__)

DEMO_PASSWORD = auth_rules.DEMO_PASSWORD
DEMO_ACCOUNTS = [
    ("practitioner@example.com", "practitioner, Riverside Physio (London)"),
    ("practitioner2@example.com", "practitioner, Lakeshore Sports Clinic (Toronto)"),
    ("lead@example.com", "clinic lead, Riverside Physio (London)"),
    ("compliance@example.com", "compliance officer, all clinics"),
    ("admin@example.com", "administrator"),
]
#: (name, zone, practitioner's email, practitioner's name, duty address, phone)
CLINICS = [
    (
        "Riverside Physio",
        "Europe/London",
        "practitioner@example.com",
        "Priya Shah",
        "duty@riverside.example.com",
        "+44 20 7946 0123",
        # Ofcom's range for drama: a number that reaches nobody.
        "+44 7700 900123",
    ),
    (
        "Lakeshore Sports Clinic",
        "America/Toronto",
        "practitioner2@example.com",
        "Daniel Okafor",
        "duty@lakeshore.example.com",
        "+1 416 555 0142",
        # 555-01xx: the North American numbers kept for fiction.
        "+1 416 555 0199",
    ),
]
#: (given name, family name, language): Toronto works in French as well as English, and
#: each clinic has Spanish-speaking patients (DESIGN §11).
PATIENTS = [
    ("Amelia", "Clarke", "en"),
    ("Oliver", "Hughes", "en"),
    ("Isla", "Morgan", "en"),
    ("Noah", "Patel", "en"),
    ("Lucía", "Fernández", "es"),
    ("Liam", "Tremblay", "fr_CA"),
    ("Chloé", "Gagnon", "fr_CA"),
    ("Ethan", "Roy", "en"),
    ("Valentina", "Morales", "es"),
    ("Lucas", "Bouchard", "fr_CA"),
]
WEEKS = 3
#: Sessions started before this many days ago pin version 1 of the default checklist.
VERSION_2_DAYS_AGO = 14
SESSIONS_PER_DAY = 3
LOTS = ("HW2611A", "HW2611B", "SJ-40812", "SJ-40977")
#: The demo packs' device identifiers (GTINs with right check digits), by lot prefix.
GTINS = {"HW": "04012345000016", "SJ": "07612345000022"}


def _expiry(lot: str) -> date:
    """The expiry printed on every pack of a demo lot: one date per lot, as on real packs,
    so "same pack as last session" never warns of a lot recorded with two expiry dates (each
    session's own day plus 400 days made every lot look doubtful: a review). In January two
    years on from the seed, past every demo session."""
    return date(utcnow().year + 2, 1 + 3 * LOTS.index(lot.upper()), 28)


def _scanned(lot: str, expiry: date) -> str:
    """What a hand scanner types for a pack's GS1 DataMatrix: prefix, GTIN, expiry, lot."""
    return f"]d201{GTINS[lot[:2]]}17{expiry:%y%m%d}10{lot}{{GS}}21{expiry:%j}{lot[-3:]}"


LUNG_PRECAUTION = "25 mm needles, pincer grip over the rib, angled away from the lung."
BLEEDING_PRECAUTION = "Fewer needles, firm pressure for two minutes after removal."


def seed(*, now: datetime | None = None, rng: random.Random | None = None) -> int:
    """Create the demo data once; return the number of signed sessions created.

    On a database seeded before version 2 existed, only brings the checklist up to date.
    """
    if auth.find_user("admin@example.com") is not None:
        risks.publish_default(via="demo", now=now)
        return 0
    now = now or utcnow()
    rng = rng or random.Random(2026)
    history_start = now - timedelta(days=7 * WEEKS + 1)
    # The clinics and accounts exist before the history they hold: made at the seed's hour, a
    # record signed weeks before its signer's account read as tampering in the activity log.
    setup = history_start - timedelta(days=1)
    _account("admin@example.com", "Alex Admin", Role.ADMIN, now=setup)
    _account("compliance@example.com", "Casey Compliance", Role.COMPLIANCE, now=setup)
    risks.publish_default(via="demo", now=history_start, register_version=1)
    teams = []
    for name, zone, email, practitioner_name, duty, phone, on_call in CLINICS:
        clinic = clinics.create_clinic(
            name=name,
            timezone=zone,
            duty_email=duty,
            duty_phone=on_call,
            phone=phone,
            now=setup,
        )
        practitioner = _account(email, practitioner_name, Role.PRACTITIONER, clinic.id, now=setup)
        index = len(teams)
        patients = [
            clinics.add_patient(
                practitioner,
                given_name=given,
                family_name=family,
                email=_email(given, family),
                phone=None,
                is_followup_consent=given != "Noah",  # one patient said no to messages
                language=language,
                birth_date=_birth_date(index * 5 + n),
                now=history_start,
            )
            for n, (given, family, language) in enumerate(PATIENTS[index * 5 : index * 5 + 5])
        ]
        teams.append((practitioner, patients, ZoneInfo(zone), index == 0))
    signed = 0
    for practitioner, patients, zone, unusual in teams:
        signed += _history(practitioner, patients, zone, now, rng, unusual=unusual, version=1)
    # Version 2 from the start of the day it took over, in the clinic whose day began first.
    # Published at the seed's hour a fortnight ago, it came after that day's first sessions
    # on it whenever the seed ran later in a clinic's day than they began.
    version_2 = min(
        datetime.combine(now.astimezone(zone).date() - timedelta(VERSION_2_DAYS_AGO), time(), zone)
        for _practitioner, _patients, zone, _unusual in teams
    )
    risks.publish_default(via="demo", now=version_2)
    for practitioner, patients, zone, unusual in teams:
        signed += _history(practitioner, patients, zone, now, rng, unusual=unusual, version=2)
        # Signed about 25 hours ago: its 24-hour check is due, so `make run`'s worker sends it
        # and the development outbox shows a real link at once: in English from London, in
        # French and in Spanish from Toronto.
        for patient in patients[1:2] if unusual else patients[1:4:2]:
            _signed_yesterday(practitioner, patient, zone, now, rng)
            signed += 1
        today = now.astimezone(zone).date()
        start = min(now, _at(today, 8, zone))
        # A session stopped at Sign in because consent was refused, then cancelled.
        refused = checklists.start_session(practitioner, patient_id=patients[2].id, now=start)
        checklists.submit_phase(
            practitioner, refused.id, "signin", {"signin.consent": ["no"]}, now=start
        )
        checklists.cancel_session(
            practitioner,
            refused.id,
            "Patient did not consent to needling today; treated with exercise instead.",
            now=start + timedelta(minutes=2),
        )
        # One session in progress today, to show resuming between phases.
        session = checklists.start_session(practitioner, patient_id=patients[0].id, now=start)
        checklists.submit_phase(practitioner, session.id, "signin", _signin(rng), now=start)
    riverside, lakeshore = teams[0][0], teams[1][0]
    lead = _account(
        "lead@example.com", "Ruth Bennett", Role.PRACTITIONER, riverside.clinic_id, now=setup
    )
    auth.set_clinic_lead(lead.id, is_lead=True, actor=None, now=history_start)
    _incidents(riverside, lakeshore, now)
    return signed


def _birth_date(n: int) -> str:
    """A fixed, plausible date of birth for the n-th demo patient (no random draw: the demo's
    random history stays as it was)."""
    return date(1952 + (n * 11) % 48, 1 + (n * 5) % 12, 1 + (n * 7) % 28).isoformat()


def _email(given: str, family: str) -> str:
    """A demo address from a name, accents dropped ("chloe.gagnon@example.org")."""
    plain = unicodedata.normalize("NFKD", f"{given}.{family}".lower())
    return "".join(c for c in plain if c.isascii()) + "@example.org"


def _latest_signed(practitioner: User, before: datetime) -> int | None:
    """The practitioner's last signed session started by `before`: the one an incident then
    happened in (a session is never linked to an incident before it)."""
    return db.session.scalar(
        select(TreatmentSession.id)
        .where(
            TreatmentSession.practitioner_id == practitioner.id,
            TreatmentSession.signed_dt.is_not(None),
            TreatmentSession.started_dt <= before,
        )
        .order_by(TreatmentSession.signed_dt.desc())
        .limit(1)
    )


def _incidents(riverside: User, lakeshore: User, now: datetime) -> None:
    """A few incidents of each kind: a needlestick followed through, one earlier today with
    its urgent steps open, adverse events, a near miss, and a report to the device regulator."""
    _needlesticks(riverside, now)
    _adverse_events(riverside, lakeshore, now)
    _near_miss(riverside, now)


def _needlesticks(riverside: User, now: datetime) -> None:
    """One four days old with every step ticked, one earlier today (or late on the last working
    day, for a seed in the small hours) with its urgent steps open."""
    kind = incident_rules.Kind
    old = _in_hours(now - timedelta(days=4), riverside.clinic.zone)
    session_id = _latest_signed(riverside, before=old)
    sharps = dict(
        kind=kind.SHARPS_INJURY,
        device_type="filiform_needle",
        # The packs of the session it happened in: the lot trace finds it by GTIN and lot.
        device_brand="Hwato 0.25 x 40 mm",
        device_gtin=GTINS[LOTS[0][:2]],
        device_purpose="cleaning_up",
        body_site="finger",
        is_used_on_patient=True,
        injured_name="Priya Shah",
        injured_job="Physiotherapist",
    )
    followed = incidents.report_incident(
        riverside,
        incident_rules.Report(
            occurred_dt=old,
            work_area="Treatment room 2",
            description="Stuck on the finger by a used needle left on the tray while clearing up.",
            how="left_on_surface",
            device_lot=LOTS[0],
            **sharps,
        ),
        session_id=session_id,
        password=DEMO_PASSWORD,
        now=old + timedelta(minutes=10),
    )
    for minutes, step in (
        (2, "wash"),
        (12, "report_lead"),
        (40, "pep_assessment"),
        (90, "source_assessment"),
        (60 * 26, "followup_testing"),
    ):
        incidents.tick_step(
            riverside,
            followed.id,
            step,
            done_dt=old + timedelta(minutes=minutes),
            now=old + timedelta(minutes=minutes + 1),
        )
    fresh = _in_hours(now - timedelta(hours=3), riverside.clinic.zone)
    morning = incidents.report_incident(
        riverside,
        incident_rules.Report(
            occurred_dt=fresh,
            work_area="Treatment room 1",
            description="Needle recapped by habit after a lumbar treatment; stuck the thumb.",
            how="recapping",
            device_lot=LOTS[1],
            **{**sharps, "body_site": "thumb"},
        ),
        session_id=None,
        password=DEMO_PASSWORD,
        now=fresh + timedelta(minutes=5),
    )
    incidents.tick_step(
        riverside,
        morning.id,
        "wash",
        done_dt=fresh + timedelta(minutes=1),
        now=fresh + timedelta(minutes=6),
    )


def _adverse_events(riverside: User, lakeshore: User, now: datetime) -> None:
    """A faint after a session, and a broken needle reported to the device regulator."""
    kind = incident_rules.Kind
    for actor, when, event, grade, area, text, done in (
        (
            riverside,
            _in_hours(now - timedelta(days=9), riverside.clinic.zone),
            "fainting",
            "mild",
            "Treatment room 1",
            "Patient felt faint and briefly lost consciousness on sitting up after neck needling.",
            "Laid flat with legs raised; recovered within two minutes; observed for 30 minutes.",
        ),
        (
            lakeshore,
            _in_hours(now - timedelta(days=6), lakeshore.clinic.zone),
            "retained_or_broken_needle",
            "significant",
            "Room B",
            "Needle shaft broke at the handle on removal from the gluteal muscle.",
            "Fragment visible and removed with sterile tweezers; pack kept for the supplier.",
        ),
    ):
        event_row = incidents.report_incident(
            actor,
            incident_rules.Report(
                kind=kind.ADVERSE_EVENT,
                occurred_dt=when,
                work_area=area,
                description=text,
                action_taken=done,
                event_type=event,
                grade=grade,
            ),
            session_id=_latest_signed(actor, before=when) if event == "fainting" else None,
            password=DEMO_PASSWORD,
            now=when + timedelta(minutes=30),
        )
    # Reported within the hour of the signed report (an event of a working day's end may be
    # reported after hours).
    reported = when + timedelta(hours=1)
    incidents.record_external_report(
        lakeshore,
        event_row.id,
        body="health_canada",
        # The clinic's own date, as the form gives it: the UTC date is a day ahead of
        # Toronto's every evening, and the service refuses a date after the clinic's today.
        reported_on=reported.astimezone(lakeshore.clinic.zone).date(),
        reference="MDPR 2026-11-0412",
        now=reported,
    )


def _near_miss(riverside: User, now: datetime) -> None:
    """A torn pack found before use."""
    kind = incident_rules.Kind
    near = _in_hours(now - timedelta(days=2), riverside.clinic.zone)
    incidents.report_incident(
        riverside,
        incident_rules.Report(
            kind=kind.NEAR_MISS,
            occurred_dt=near,
            work_area="Stock room",
            description="Needle pack found with a torn seal before use; set aside, not used.",
            action_taken="Pack quarantined; rest of the lot checked; supplier told.",
            event_type="damaged_or_unsterile_pack",
            device_lot=LOTS[2],
        ),
        session_id=None,
        password=DEMO_PASSWORD,
        now=near + timedelta(minutes=15),
    )


def _account(
    email: str, name: str, role: str, clinic_id: int | None = None, *, now: datetime
) -> User:
    return auth.create_user(
        email=email,
        name=name,
        role=role,
        clinic_id=clinic_id,
        password=DEMO_PASSWORD,
        check_strength=False,  # the shared demo password is deliberately simple
        now=now,
    )


def _at(day: date, hour: int, zone: ZoneInfo, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), zone).astimezone(UTC)


#: The demo's clinic hours: past events fall within them, whatever the hour of the seed.
OPENS, CLOSES = time(8), time(18)


def _in_hours(latest: datetime, zone: ZoneInfo, *, weekend: bool = False) -> datetime:
    """The latest moment no later than `latest` within a weekday's clinic hours (or any
    day's, with `weekend`).

    Events placed a fixed time before the seed (a needlestick three hours ago) fell at 02:00
    in London when the seed ran in the small hours; a clinic reading its demo saw sessions and
    injuries in the middle of the night.
    """
    local = latest.astimezone(zone)
    working = weekend or local.weekday() < 5
    if working and OPENS <= local.time() <= CLOSES:
        return latest
    day = local.date() if local.time() > CLOSES else local.date() - timedelta(days=1)
    while not weekend and day.weekday() >= 5:
        day -= timedelta(days=1)
    return _at(day, CLOSES.hour - 1, zone, 30)


def _history(practitioner, patients, zone, now, rng, *, unusual: bool, version: int) -> int:
    """Sign the weekday sessions of one stretch: version 1 before the switch, 2 after it.

    The first clinic gets the unusual sessions, one of each on each version.
    """
    today = now.astimezone(zone).date()
    if version == 1:
        days = range(7 * WEEKS, VERSION_2_DAYS_AGO, -1)
    else:
        days = range(VERSION_2_DAYS_AGO, 1, -1)
    specials = {"discrepancy": 1, "deviation": 4, "prolonged": 7, "wrote": 10} if unusual else {}
    count = 0
    for day in (today - timedelta(days=n) for n in days):
        if day.weekday() >= 5:
            continue
        for slot in range(SESSIONS_PER_DAY):
            start = _at(day, 9 + slot * 2, zone, rng.choice([0, 15, 30]))
            special = next((k for k, v in specials.items() if v == count), None)
            _sign_one(practitioner, rng.choice(patients), start, rng, special, now=now)
            count += 1
    return count


def _sign_one(practitioner, patient, start: datetime, rng, special: str | None, *, now) -> None:
    """Fill and sign one session on the template current at its start, as a practitioner
    would: each phase at its own time, signed two minutes after Sign out."""
    session = checklists.start_session(practitioner, patient_id=patient.id, now=start)
    for (phase, form), minutes in zip(answers_for(session, rng, special), (0, 5, 30), strict=True):
        checklists.submit_phase(
            practitioner, session.id, phase, form, now=start + timedelta(minutes=minutes)
        )
    signed = checklists.get_session(practitioner, session.id)
    checklists.apply_signature(signed, practitioner, now=start + timedelta(minutes=32))
    _settle_followups(signed, now, rng, special)


def answers_for(
    session, rng: random.Random, special: str | None = None
) -> list[tuple[str, dict[str, list[str]]]]:
    """Each phase's form as a practitioner fills it on the session's template version (the
    benchmarks use it to sign sessions the way the routes do)."""
    v1 = session.template_version.definition.get("register_version", 1) == 1
    needles = rng.randint(2, 10)
    day = session.started_dt.astimezone(session.clinic.zone).date()
    channel = _followup_channel(session.patient)
    phases = (
        (
            _signin_v1(rng),
            _timeout_v1(rng, day, needles, special),
            _signout_v1(rng, needles, special, channel),
        )
        if v1
        else (_signin(rng), _timeout(rng, day, special), _signout(rng, needles, special, channel))
    )
    return list(zip(("signin", "timeout", "signout"), phases, strict=True))


def _followup_channel(patient) -> str:
    """The first channel the sign-out page would let a practitioner choose for this patient:
    the bulk data's patients have an email address, a mobile number or neither."""
    reach = rules.Reach.of(patient)
    for channel in ("email", "sms"):
        if rules.channel_refusal(channel, reach) is None:
            return channel
    return "declined"


def _signed_yesterday(practitioner, patient, zone: ZoneInfo, now: datetime, rng) -> None:
    """Sign a session early enough that its 24-hour check is already due."""
    # Any day of the week: signed on the Friday before a Monday's seed, its 72-hour check
    # would be due as well.
    signed = _in_hours(now - timedelta(hours=25), zone, weekend=True)
    while rules.plan_at_signing(signed, zone, near_lung=False)[0].due > now:
        signed = _in_hours(signed - timedelta(hours=1), zone, weekend=True)
    _sign_one(practitioner, patient, signed - timedelta(minutes=32), rng, None, now=signed)


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
        answers_now = special in {"prolonged", "wrote"} or rng.random() < 0.8
        if not row.is_reminder and answers_now:
            token = followup_patient.issue_link(followup, now=row.next_attempt_dt)
            questions = questions_asked(followup)
            answers = _patient_answers(
                rng, followup.kind, questions, special if followup.kind == Kind.DAY_1 else None
            )
            followup_patient.answer(token, answers, now=row.next_attempt_dt + timedelta(hours=2))
        db.session.flush()


def _patient_answers(
    rng: random.Random, kind: str, questions: tuple[str, ...], special: str | None
) -> dict[str, list[str]]:
    """A patient's answers to the questions a check asks: soreness settling over the days
    as it usually does (DESIGN §3.2), or one of the special answers."""
    soreness = {
        Kind.DAY_1: [0, 1, 1, 2, 2, 3, 3, 4, 5],
        Kind.DAY_3: [0, 0, 1, 1, 2, 2, 3],
        Kind.DAY_7: [0, 0, 0, 0, 1, 1, 2],
    }.get(kind, [0])
    calm = {
        "soreness": [str(rng.choice(soreness))],
        "trend": [rng.choices(["better", "same", "worse"], weights=[90, 9, 1])[0]],
        "bleeding": ["none"],
        "bruising": [rng.choices(["none", "small"], weights=[88, 12])[0]],
        "numbness": ["no"],
        "head_signs": ["no"],
        "fainted": ["no"],
        "needle_found": ["no"],
        "chest": ["no"],
        "signs": [],
    }
    if special == "prolonged":
        calm["bruising"] = ["large"]  # a same-day answer, to show an escalation
    if special == "wrote":
        calm["other"] = ["Is it normal to feel tired the evening after? I slept for 10 hours."]
    return {name: calm[name] for name in questions if name in calm}


# --- version 2 forms -----------------------------------------------------------------------------


def _signin(rng: random.Random) -> dict[str, list[str]]:
    regions = rng.sample(
        ["neck", "shoulder", "lumbar", "hip", "leg", "thorax", "arm"], k=rng.randint(1, 2)
    )
    anticoagulant = rng.random() < 0.08
    fainter = rng.random() < 0.05
    form = {
        "signin.authorised": ["yes"],
        "signin.identity": ["yes"],
        "signin.consent": ["yes"],
        "signin.skin_ok": ["yes"],
        "signin.anticoagulant": ["yes" if anticoagulant else "no"],
        "signin.faint_history": ["yes" if fainter else "no"],
        "signin.conditions": ["none"],
        "signin.regions": regions,
    }
    if anticoagulant:
        form["signin.bleeding_precaution"] = [BLEEDING_PRECAUTION]
    if fainter:
        form["signin.lying_down"] = ["yes"]
    if {"neck", "thorax", "shoulder"} & set(regions):
        form["signin.lung_risk"] = ["none"]
        form["signin.lung_precaution"] = [LUNG_PRECAUTION]
        form["signin.position"] = ["prone"]
    return form


def _timeout(rng: random.Random, day: date, special: str | None) -> dict[str, list[str]]:
    lot = rng.choice(LOTS)
    expiry = _expiry(lot)
    form = {
        "timeout.hand_hygiene": ["yes"],
        "timeout.needle_lot": [lot],
        "timeout.needle_expiry": [expiry.isoformat()],
        "timeout.needles_sterile": ["yes"],
        "timeout.opened_in_view": ["yes"],
        "timeout.guide_tubes": [rng.choice(["single_use", "single_use", "none"])],
        "timeout.field_ready": ["yes"],
        "timeout.no_touch": ["yes"],
        "timeout.skin_prepared": ["yes"],
        "timeout.gloves": [rng.choice(["worn", "worn", "not_needed"])],
    }
    # Some packs are scanned, some sessions open a second pack, some lots are typed in small
    # letters: the lot trace finds them all (issue 15). Chosen by the day, not drawn, so the
    # rest of the demo data stays as it was.
    if day.toordinal() % 3 == 0:
        form["timeout.needle_lot"] = [_scanned(lot, expiry)]
        form["timeout.needle_expiry"] = [""]
    elif day.toordinal() % 5 == 0:
        form["timeout.needle_lot"] = [lot.lower()]
    if day.toordinal() % 4 == 0:
        other = LOTS[(LOTS.index(lot) + 2) % len(LOTS)]
        form["timeout.pack2.lot"] = [_scanned(other, _expiry(other))]
    if special == "deviation":
        form["timeout.skin_prepared"] = ["no"]
        form["timeout.skin_prepared.note"] = [
            "Alcohol wipes ran out; skin cleaned with soap and water."
        ]
    return form


def _signout(
    rng: random.Random, used: int, special: str | None, channel: str
) -> dict[str, list[str]]:
    opened = used + rng.choice([0, 0, 0, 1, 2])  # a needle opened and not used is discarded
    removed = used - 1 if special == "discrepancy" else used
    bleeding = rng.choices(["none", "minor"], weights=[85, 15])[0]
    form = {
        "signout.needles_opened": [str(opened)],
        "signout.needles_used": [str(used)],
        "signout.needles_removed": [str(removed)],
        "signout.needles_disposed": [str(opened - (used - removed))],
        "signout.sharps_safe": ["yes"],
        "signout.needles_intact": ["yes"],
        "signout.pain_during": [str(rng.choice([0, 1, 1, 2, 2, 3, 4, 6]))],
        "signout.bleeding": ["prolonged" if special == "prolonged" else bleeding],
        "signout.bruising": [rng.choices(["none", "small"], weights=[92, 8])[0]],
        "signout.reactions": ["none"],
        "signout.fit_to_leave": ["yes"],
        "signout.hand_hygiene": ["yes"],
        "signout.aftercare": ["yes"],
        "signout.followup": [channel],
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


# --- version 1 forms, for the sessions that pinned it --------------------------------------------


def _signin_v1(rng: random.Random) -> dict[str, list[str]]:
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
        form["signin.bleeding_precaution"] = [BLEEDING_PRECAUTION]
    if {"neck", "thorax"} & set(regions):
        form["signin.high_risk_precaution"] = [LUNG_PRECAUTION]
    return form


def _timeout_v1(
    rng: random.Random, day: date, needles: int, special: str | None
) -> dict[str, list[str]]:
    lot = rng.choice(LOTS)
    form = {
        "timeout.hand_hygiene": ["yes"],
        "timeout.needles_sterile": ["yes"],
        "timeout.needle_lot": [lot],
        "timeout.needle_expiry": [_expiry(lot).isoformat()],
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


def _signout_v1(
    rng: random.Random, needles: int, special: str | None, channel: str
) -> dict[str, list[str]]:
    removed = needles - 1 if special == "discrepancy" else needles
    bleeding = rng.choices(["none", "minor"], weights=[85, 15])[0]
    form = {
        "signout.needles_removed": [str(removed)],
        "signout.needles_disposed": [str(removed)],
        "signout.bleeding": ["prolonged" if special == "prolonged" else bleeding],
        "signout.bruising": [rng.choices(["none", "small"], weights=[92, 8])[0]],
        "signout.reaction": ["none"],
        "signout.fit_to_leave": ["yes"],
        "signout.hand_hygiene": ["yes"],
        "signout.aftercare": ["yes"],
        "signout.followup": [channel],
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


def demo_account_count() -> int:
    """Count the demo accounts (by their addresses) in the database."""
    emails = [email for email, _ in DEMO_ACCOUNTS] + [clinic[2] for clinic in CLINICS]
    return db.session.scalar(
        select(func.count())
        .select_from(User)
        .where(or_(User.email.in_(emails), User.email.endswith("@" + bulk_world.EMAIL_DOMAIN)))
    )


def warn_about_demo_accounts(app) -> int:
    """Warn at production start-up when demo accounts exist (they cannot sign in there)."""
    try:
        with app.app_context():
            count = demo_account_count()
            db.session.remove()
    except SQLAlchemyError:  # not migrated yet: `flask db upgrade` comes first
        return 0
    if count:
        log.warning(
            "%d demo accounts exist in this production database. They cannot sign in outside "
            "demo mode; deactivate them, or start from a database that was never seeded.",
            count,
        )
    return count
