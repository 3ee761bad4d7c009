"""Generate a large, realistic history of signed sessions in bulk (`flask demo seed --sessions N`).

The demo seed goes through the services one session at a time: right for a few dozen sessions,
far too slow for a million. This module writes the rows the services write when a checklist is
signed, a batch at a time (one transaction per batch of sessions):

- 20 clinics in 20 time zones, about 8 practitioners each, one patient per 20 sessions, and a
  few thousand needle lots of five brands, each in use for a couple of months before expiry;
- per session: the three phase entries, the frozen answers and notes, the signature, the
  content hash of `checklists.services.signed_content` (so `flask audit verify` recomputes the
  same hash), the outcome columns `apply_signature` copies, and the flags of
  `checklists.rules.flags_for`;
- per session the audit events the application writes for it: `session.create`, one
  `session.phase_submit` per phase, `session.sign`, and with a follow-up `followup.schedule`
  and, once answered, `followup.response` (plus `clinic.create`, `user.create` and
  `patient.create` for what it creates), appended with `audit.services.record_many`, so the
  chain verifies and is as long as a clinic's would be. Not written: `reminder.sent`, which
  names outbox rows the bulk data does not keep, and the logins and record views, which
  depend on how people work rather than on the sessions;
- the 24-hour follow-up of every session whose patient agreed to be contacted, already sent and
  mostly answered. The answers are uneventful: escalations and 72-hour checks are not modelled,
  nor are the outbox rows of messages long delivered.

Rates follow DESIGN.md §3.2 (Brady 2014, Boyce 2020; White 2001 for needle counts). Sessions
span two years and end three days ago, so every follow-up is already due.

Bulk data is generated once per database: `generate` refuses when the bulk clinics exist. It
assigns ids itself (each record's content hash covers its own id and its entries' ids), so
nothing else may write to the database while it runs; and it commits batch by batch, so a run
that fails half-way leaves part of the data: start again from a fresh database.

Rows go to the database through the driver's executemany on an INSERT written once per table,
with values converted once: SQLAlchemy's per-row parameter processing took 40 % of the run.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import threading
import time as clock
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from queue import Queue
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from safety.audit import services as audit
from safety.audit.services import Entry
from safety.auth import services as auth
from safety.auth.models import Role, User
from safety.checklists import rules as checklist_rules
from safety.checklists.models import FlagStatus, PhaseEntry, TreatmentSession
from safety.checklists.services import SIGNATURE_MEANING, signed_content
from safety.clinics.models import Clinic, Patient
from safety.dbtypes import utcnow
from safety.errors import Conflict
from safety.extensions import db
from safety.followup import rules as followup_rules
from safety.followup.models import FollowUp, PatientResponse
from safety.followup.rules import Kind, Status
from safety.hashing import canonical_json
from safety.risks import services as risks
from safety.risks.rules import template_from_definition

#: Bumped whenever the generated data changes shape, so `make bench` rebuilds its databases.
GENERATOR_VERSION = 2
#: Sessions per transaction (with their entries, flags, follow-ups and audit events).
BATCH = 5000
#: The sessions span this many days and end this many days ago.
SPAN_DAYS = 730
END_DAYS_AGO = 3
PRACTITIONERS_PER_CLINIC = 8
#: One patient per this many sessions (50,000 patients for 1,000,000 sessions).
SESSIONS_PER_PATIENT = 20
#: A patient comes back within this many days of their first visit.
COURSE_DAYS = 365
PASSWORD = "needlesafe-demo"
EMAIL_DOMAIN = "bulk.example.com"

#: (name, IANA zone, relative size, opening hour, closing hour)
CLINICS: tuple[tuple[str, str, float, int, int], ...] = (
    ("Harbourside Physiotherapy", "Europe/London", 1.6, 8, 19),
    ("Northgate Sports Rehab", "Europe/Dublin", 1.0, 8, 18),
    ("Kanaal Fysio Amsterdam", "Europe/Amsterdam", 0.9, 8, 18),
    ("Praxis am Stadtpark", "Europe/Berlin", 1.2, 7, 18),
    ("Clínica Fisio Retiro", "Europe/Madrid", 1.0, 9, 20),
    ("Cabinet Kiné Bastille", "Europe/Paris", 0.8, 8, 19),
    ("Fjord Fysioterapi", "Europe/Oslo", 0.6, 8, 16),
    ("Bayview Physio Halifax", "America/Halifax", 0.7, 8, 18),
    ("Maple Leaf Rehab", "America/Toronto", 1.3, 7, 19),
    ("Hudson Sports Therapy", "America/New_York", 1.5, 7, 20),
    ("Lakefront PT Chicago", "America/Chicago", 1.1, 7, 19),
    ("Front Range Physical Therapy", "America/Denver", 0.9, 7, 18),
    ("Pacific Crest Physio", "America/Vancouver", 1.0, 8, 19),
    ("Sunset Boulevard PT", "America/Los_Angeles", 1.2, 8, 19),
    ("Fisioterapia Paulista", "America/Sao_Paulo", 1.0, 8, 19),
    ("Cape Physio Rondebosch", "Africa/Johannesburg", 0.7, 8, 17),
    ("Marina Physio Dubai", "Asia/Dubai", 0.8, 9, 21),
    ("Orchard Sports Physio", "Asia/Singapore", 1.0, 9, 20),
    ("Bondi Junction Physio", "Australia/Sydney", 1.2, 7, 19),
    ("Waitematā Physio", "Pacific/Auckland", 0.8, 8, 18),
)
CLINIC_NAMES = tuple(c[0] for c in CLINICS)

GIVEN = (
    "Olivia Liam Emma Noah Ava Oliver Sophia Elijah Isabella Lucas Mia Mateo Amelia Levi "
    "Harper Ethan Evelyn Aiden Aria Leo Chloe Jack Zoe Ravi Priya Arjun Ananya Wei Mei Jun "
    "Yuki Haruto Sakura Chen Hana Omar Fatima Yusuf Aisha Amir Leila Kofi Ama Kwame Zanele "
    "Thabo Lerato Sipho Ngozi Chidi Lucía Pablo Sofía Diego Camila Mateus Ana João Beatriz "
    "Louis Camille Hugo Léa Jonas Lena Felix Mila Lars Ingrid Sven Freya Aroha Nikau Tane Moana "
    "Sean Aoife Ciara Declan Niamh"
).split()
FAMILY = (
    "Smith Jones Williams Brown Taylor Wilson Martin Tremblay Roy Gagnon Johnson Garcia "
    "Martinez Rodriguez Lopez Gonzalez Silva Santos Oliveira Souza Müller Schmidt Schneider "
    "Fischer Weber Dubois Lefebvre Moreau Laurent Bernard Jansen Visser Bakker Hansen Johansen "
    "Larsen Olsen Murphy Kelly O'Brien Walsh Byrne Nguyen Tran Le Pham Kim Lee Park Choi Wang "
    "Li Zhang Liu Chen Tan Lim Ng Wong Patel Shah Singh Kumar Sharma Khan Ali Hassan Ahmed "
    "Mensah Okafor Adeyemi Dlamini Nkosi Naidoo Botha Ngata Parata Wiremu Cohen Levy Rossi "
    "Russo Ferrari"
).split()

#: Needle brands; each clinic buys mostly from one and sometimes from another.
BRANDS = ("HW", "SJ", "DBC", "AGP", "TW")
#: A lot reaches a clinic's shelf this many days after release and is used up by the second.
LOT_SHELF_DAYS = (5, 60)

# Outcome rates per session (DESIGN.md §3.2).
#: Minor bleeding (stopped with pressure): without, with anticoagulants; ~13.5 % overall.
BLEEDING_MINOR = (0.125, 0.25)
#: Prolonged bleeding: ~0.5 % overall.
BLEEDING_PROLONGED = (0.004, 0.016)
BRUISING_SMALL = 0.075
BRUISING_LARGE = 0.003
#: Pain during needling, 0 to 10: about 4.5 % of sessions at 4 or more.
PAIN_WEIGHTS = (30, 25, 24.5, 16, 2.2, 1.2, 0.6, 0.3, 0.13, 0.05, 0.02)
#: Immediate reactions: about 1 % of sessions.
REACTIONS = (("dizziness", 0.006), ("nausea", 0.0025), ("other", 0.0015))
#: White et al. 2001: 7 lost or forgotten needles or patients in 31,822 consultations.
COUNT_DISCREPANCY = 1 / 6000
ANTICOAGULANT = 0.08
#: (linkId, probability of the unexpected answer, the practitioner's note)
DEVIATIONS = (
    ("signin.authorised", 0.00001, "Supervised by the clinic lead while authorisation renews."),
    ("signin.consent", 0.00001, "Verbal consent recorded; written form signed after the session."),
    ("signin.skin_ok", 0.0002, "Small graze on the calf; that area was avoided."),
    ("timeout.hand_hygiene", 0.0001, "Sink out of order; gloves worn and alcohol gel used."),
    ("timeout.needles_sterile", 0.00001, "One packet torn; that needle was discarded unused."),
    ("timeout.clean_field", 0.0001, "Tray knocked; field set up again before insertion."),
    ("timeout.skin_prepared", 0.0004, "Alcohol wipes ran out; skin cleaned with soap and water."),
    ("signout.fit_to_leave", 0.0001, "Patient rested 20 minutes and left with a relative."),
    ("signout.hand_hygiene", 0.0001, "Called to another room; hands washed five minutes later."),
    ("signout.aftercare", 0.0002, "Patient left in a hurry; aftercare leaflet emailed today."),
)
CHOICE_NOTES = {
    ("signout.bleeding", "prolonged"): "Pressure for 6 minutes until it stopped.",
    ("signout.bruising", "large"): "Ice applied; patient shown how to watch the bruise.",
    ("signout.reaction", "dizziness"): "Lay flat 10 minutes, water given; recovered fully.",
    ("signout.reaction", "nausea"): "Sat up slowly, water given; settled before leaving.",
    ("signout.reaction", "other"): "Felt emotional afterwards; talked through, settled.",
}
COUNT_NOTE = (
    "One needle unaccounted for: couch, floor and clothing searched; patient checked; "
    "found in the sharps tray. Reported to the clinic lead."
)
BLEEDING_PRECAUTION = "Fewer needles, firm pressure for two minutes after removal."
HIGH_RISK_PRECAUTION = "Short needles, pincer grip over the rib, angled away from the lung."
REGION_WEIGHTS = {
    "head": 1,
    "neck": 15,
    "shoulder": 22,
    "thorax": 3,
    "arm": 6,
    "lumbar": 30,
    "hip": 10,
    "leg": 12,
    "foot": 1,
}
NEEDLE_COUNTS = (1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 8, 8, 9, 10, 12, 14)
#: Share of phases ticked all at once at the end (the record page shows it as such).
TICKED_TOGETHER = 0.015
FOLLOWUP_ANSWERED = 0.78
#: Soreness the next day, 0 to 10, among uneventful answers.
SORENESS = (0, 0, 1, 1, 1, 2, 2, 3)
FOLLOWUP_DECLINED_ON_THE_DAY = 0.03

_PAIN_SCORES = tuple(range(len(PAIN_WEIGHTS)))
_PAIN_CUMULATIVE = tuple(itertools.accumulate(PAIN_WEIGHTS))
_REGIONS = tuple(REGION_WEIGHTS)
_REGION_CUMULATIVE = tuple(itertools.accumulate(REGION_WEIGHTS.values()))
_DEVIATION_TOTAL = sum(p for _, p, _ in DEVIATIONS)


@dataclass(frozen=True)
class BulkResult:
    """What a bulk run created, and how long it took."""

    sessions: int
    clinics: int
    practitioners: int
    patients: int
    flags: int
    followups: int
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.sessions / self.seconds if self.seconds else 0.0


def summary(result: BulkResult) -> str:
    """Say what a bulk run made, for the command line."""
    return (
        f"Bulk data: {result.sessions:,} signed sessions in {result.clinics} clinics "
        f"({result.practitioners} practitioners, {result.patients:,} patients, "
        f"{result.flags:,} flags, {result.followups:,} follow-ups, {result.events:,} audit "
        f"events) in {result.seconds:,.1f} s: {result.per_second:,.0f} sessions/s."
    )


def bulk_exists() -> bool:
    """Return whether bulk demo data was generated in this database."""
    return bool(db.session.scalar(select(func.count()).where(Clinic.name.in_(CLINIC_NAMES))))


def bulk_session_count() -> int:
    """Return how many sessions the bulk clinics hold."""
    return db.session.scalar(
        select(func.count())
        .select_from(TreatmentSession)
        .join(Clinic, Clinic.id == TreatmentSession.clinic_id)
        .where(Clinic.name.in_(CLINIC_NAMES))
    )


def generate(
    sessions: int,
    *,
    now: datetime | None = None,
    seed: int = 2026,
    batch: int = BATCH,
    progress: Callable[[int, float], None] | None = None,
) -> BulkResult:
    """Create `sessions` signed sessions with their clinics, people and audit trail; commit.

    Refuses (Conflict) when bulk data already exists in this database. `progress` is called
    after each batch with the sessions written so far and the seconds elapsed.
    """
    if sessions < 1:
        raise ValueError("Generate at least one session.")
    if bulk_exists():
        raise Conflict(
            f"Bulk demo data already exists ({bulk_session_count():,} sessions in "
            f"{len(CLINICS)} bulk clinics). Seed a fresh database to generate another amount."
        )
    started = clock.perf_counter()
    now = (now or utcnow()).astimezone(UTC)
    try:
        counts = _Generator(sessions, now, random.Random(seed), batch, progress).run()
        _reset_sequences()
        db.session.commit()
    finally:
        db.session.rollback()
        _tune_connection(loading=False)
    return BulkResult(**counts, seconds=clock.perf_counter() - started)


def _tune_connection(*, loading: bool = True) -> None:
    """Favour loading speed on this connection while the load runs, then restore it.

    SQLite in WAL mode with synchronous NORMAL is crash-safe; OFF also skips the sync at each
    of the load's commits, and a large page cache keeps the hot pages of the indexes in memory.
    PostgreSQL: the load's commits do not wait for the WAL flush.
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA synchronous = {'OFF' if loading else 'NORMAL'}")
        connection.exec_driver_sql(f"PRAGMA cache_size = {-262144 if loading else -2000}")
    elif connection.dialect.name == "postgresql" and loading:
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")


#: Tables whose ids the generator assigns; PostgreSQL's sequences are moved past them.
_EXPLICIT_IDS = (
    "clinics",
    "users",
    "patients",
    "treatment_sessions",
    "phase_entries",
    "followups",
    "patient_responses",
)


def _reset_sequences() -> None:
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return
    for table in _EXPLICIT_IDS:
        connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}"
        )


def _next_id(model) -> int:
    return (db.session.scalar(select(func.max(model.id))) or 0) + 1


def _email(local: str, domain: str) -> str:
    """An address in plain ASCII (João O'Brien -> joao.obrien), as any mail server takes."""
    folded = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    return f"{folded.lower().replace(chr(39), '')}@{domain}"


def _merge_json(*objects: str) -> str:
    """Join the canonical JSON of objects into that of one, when each object's keys all sort
    after the keys of the one before (as "signin.*" < "signout.*" < "timeout.*")."""
    return "{" + ",".join(o[1:-1] for o in objects if o != "{}") + "}"


# --- writing rows ----------------------------------------------------------------------------


@dataclass
class _Table:
    """The rows of one table waiting for the batch's transaction, in `columns` order."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)

    def statement(self, dialect: str) -> str:
        """The INSERT for executemany (SQLite's qmark parameters; PostgreSQL uses COPY)."""
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks})"


def _sqlite_dt(value: datetime | None) -> str | None:
    """Store a UTC time the way SQLAlchemy's SQLite DateTime does."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _same(value):
    return value


# --- the generator ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    """The attributes of a phase entry that `signed_content` reads."""

    id: int
    phase: str
    author_id: int
    submitted_dt: datetime
    answers: dict[str, Any]
    notes: dict[str, str]


@dataclass(slots=True)
class _Signed:
    """The attributes of a signed session that `signed_content` reads."""

    id: int
    clinic_id: int
    patient_id: int
    practitioner_id: int
    template_version_id: int
    session_date: date
    answers: dict[str, Any]
    notes: dict[str, str]
    entries: list[_Entry]
    signed_by_id: int
    signer_name: str
    signature_meaning: str
    signed_dt: datetime


@dataclass
class _Clinic:
    id: int
    name: str
    zone: ZoneInfo
    weight: float
    opens: int
    closes: int
    brands: tuple[str, str]
    practitioners: list[tuple[int, str]] = field(default_factory=list)
    #: Patients sorted by first visit: their ids and first-visit day numbers.
    patient_ids: list[int] = field(default_factory=list)
    patient_days: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Lot:
    code: str
    released: int
    expiry: str


@dataclass(slots=True)
class _Draft:
    """One session as it is drawn, phase by phase, until it is signed."""

    id: int
    day: date
    clinic: _Clinic
    practitioner_id: int
    practitioner_name: str
    patient_id: int
    signin: dict[str, Any] = field(default_factory=dict)
    timeout: dict[str, Any] = field(default_factory=dict)
    signout: dict[str, Any] = field(default_factory=dict)
    #: The practitioner's notes, by the linkId of the answer they explain.
    notes: dict[str, str] = field(default_factory=dict)
    #: An answer raises a flag, so the session is worth asking `flags_for` about.
    unusual: bool = False
    lot: _Lot | None = None
    pain: int = 0
    bleeding: str = "none"
    bruising: str = "none"
    reaction: str = "none"
    channel: str = "declined"


class _Generator:
    """One bulk run: plan clinics, people and lots, then write the sessions day by day."""

    def __init__(self, total: int, now: datetime, rng: random.Random, batch: int, progress):
        self.total = total
        self.rng = rng
        self.batch = batch
        self.progress = progress
        self.last_day = (now - timedelta(days=END_DAYS_AGO)).date()
        self.first_day = self.last_day - timedelta(days=SPAN_DAYS - 1)
        self.started = clock.perf_counter()
        self.counts = dict.fromkeys(
            ("sessions", "clinics", "practitioners", "patients", "flags", "followups", "events"),
            0,
        )
        dialect = db.session.get_bind().dialect.name
        self.dialect = dialect
        self.dt = _sqlite_dt if dialect == "sqlite" else _same
        self.day = date.isoformat if dialect == "sqlite" else _same
        self.patients = _Table(
            "patients",
            (
                "id",
                "clinic_id",
                "given_name",
                "family_name",
                "email",
                "phone",
                "is_followup_consent",
                "created_dt",
                "created_by_id",
            ),
        )
        self.sessions = _Table(
            "treatment_sessions",
            (
                "id",
                "clinic_id",
                "patient_id",
                "practitioner_id",
                "template_version_id",
                "session_date",
                "started_dt",
                "needle_lot",
                "answers",
                "notes",
                "signed_dt",
                "signed_by_id",
                "signer_name",
                "signature_meaning",
                "content_hash",
                "bleeding",
                "bruising",
                "reaction",
                "pain_during",
                "flag_count",
            ),
        )
        self.entries = _Table(
            "phase_entries",
            ("id", "session_id", "phase", "answers", "notes", "author_id", "submitted_dt"),
        )
        self.flags = _Table(
            "flags",
            ("session_id", "kind", "severity", "link_id", "message", "status", "created_dt"),
        )
        self.followups = _Table(
            "followups",
            (
                "id",
                "session_id",
                "kind",
                "channel",
                "due_dt",
                "status",
                "answered_dt",
                "created_dt",
            ),
        )
        self.responses = _Table(
            "patient_responses",
            ("id", "followup_id", "session_id", "answers", "escalation", "created_dt"),
        )
        self.tables = (
            self.patients,
            self.sessions,
            self.entries,
            self.flags,
            self.followups,
            self.responses,
        )
        self.patient_events: list[Entry] = []
        self.session_events: list[Entry] = []
        self.last_patient_dt: datetime | None = None
        self.last_signed: datetime | None = None
        self.channels: dict[int, str] = {}
        self.response_json: dict[tuple, str] = {}
        #: JSON of sign in and sign out answers, by the answers.
        self.answer_json: dict[tuple, str] = {}

    def run(self) -> dict[str, int]:
        setup_dt = datetime.combine(self.first_day - timedelta(days=90), time(9), UTC)
        version = risks.ensure_current_template(now=setup_dt)
        self.version_id = version.id
        self.version_number = version.version
        self.template = template_from_definition(version.definition)
        self.clinics = self._clinics(setup_dt)
        self._practitioners(setup_dt)
        self._plan_patients()
        self._plan_lots()
        self.session_id = _next_id(TreatmentSession)
        self.entry_id = _next_id(PhaseEntry)
        self.followup_id = _next_id(FollowUp)
        self.response_id = _next_id(PatientResponse)
        db.session.commit()
        self.writer = _Writer(self.dialect, self.progress, self.started)
        try:
            self._sessions()
            self._flush()
        finally:
            self.writer.close()
        counts = self.writer.counts
        for key in ("clinics", "practitioners"):
            counts[key] = self.counts[key]
        counts["events"] += self.counts["events"]
        return counts

    # --- set-up ------------------------------------------------------------------------------

    def _clinics(self, setup_dt: datetime) -> list[_Clinic]:
        first_id = _next_id(Clinic)
        clinics = []
        for offset, (name, zone, weight, opens, closes) in enumerate(CLINICS):
            brands = (BRANDS[offset % len(BRANDS)], BRANDS[(offset * 3 + 1) % len(BRANDS)])
            clinics.append(
                _Clinic(first_id + offset, name, ZoneInfo(zone), weight, opens, closes, brands)
            )
        self._insert(
            "clinics",
            ("id", "name", "timezone", "workday_start_hour", "workday_end_hour", "created_dt"),
            [(c.id, c.name, c.zone.key, c.opens, c.closes, self.dt(setup_dt)) for c in clinics],
        )
        audit.record_many(
            [Entry("clinic.create", None, "clinics", str(c.id)) for c in clinics], now=setup_dt
        )
        self.counts["clinics"] = len(clinics)
        self.counts["events"] += len(clinics)
        return clinics

    def _practitioners(self, setup_dt: datetime) -> None:
        # One hash for every generated account: they all share the demo password.
        password_hash = auth.hash_password(PASSWORD)
        user_id = _next_id(User)
        rows, events = [], []
        for clinic in self.clinics:
            for _ in range(max(2, round(PRACTITIONERS_PER_CLINIC * clinic.weight))):
                given, family = self.rng.choice(GIVEN), self.rng.choice(FAMILY)
                name = f"{given} {family}"
                email = _email(f"{given}.{family}.{user_id}", EMAIL_DOMAIN)
                at = self.dt(setup_dt)
                rows.append(
                    (
                        user_id,
                        email,
                        name,
                        Role.PRACTITIONER.value,
                        clinic.id,
                        password_hash,
                        True,
                        0,
                        at,
                        at,
                    )
                )
                events.append(
                    Entry("user.create", None, "users", str(user_id), {"role": "practitioner"})
                )
                clinic.practitioners.append((user_id, name))
                user_id += 1
        self._insert(
            "users",
            (
                "id",
                "email",
                "name",
                "role",
                "clinic_id",
                "password_hash",
                "is_enabled",
                "failed_login_count",
                "created_dt",
                "password_changed_dt",
            ),
            rows,
        )
        audit.record_many(events, now=setup_dt)
        self.counts["practitioners"] = len(rows)
        self.counts["events"] += len(events)

    def _plan_patients(self) -> None:
        """Give each clinic patients in proportion to its size, each with a first-visit day."""
        total = max(self.total // SESSIONS_PER_PATIENT, 2 * len(self.clinics))
        weight = sum(c.weight for c in self.clinics)
        planned = []
        for clinic in self.clinics:
            count = max(2, round(total * clinic.weight / weight))
            # The first patient predates the period, so every day has someone to treat.
            days = [-COURSE_DAYS] + sorted(
                self.rng.randrange(-COURSE_DAYS // 2, SPAN_DAYS) for _ in range(count - 1)
            )
            planned.extend((day, clinic) for day in days)
        planned.sort(key=lambda p: p[0])
        next_id = _next_id(Patient)
        #: (first-visit day, id, clinic), latest first: written when the days reach them.
        self.pending_patients: list[tuple[int, int, _Clinic]] = []
        for day, clinic in planned:
            clinic.patient_ids.append(next_id)
            clinic.patient_days.append(day)
            self.pending_patients.append((day, next_id, clinic))
            next_id += 1
        self.pending_patients.reverse()

    def _plan_lots(self) -> None:
        """Each brand releases a lot every day or two, with three to five years of shelf life."""
        self.lots: dict[str, list[_Lot]] = {}
        for brand in BRANDS:
            lots = []
            day = -90 + self.rng.randrange(3)
            while day < SPAN_DAYS:
                released = self.first_day + timedelta(days=day)
                code = _lot_code(brand, released, len(lots) + 1)
                expiry = released + timedelta(days=365 * self.rng.choice((3, 4, 5)))
                lots.append(_Lot(code, day, expiry.isoformat()))
                day += self.rng.choice((1, 1, 2))
            self.lots[brand] = lots
        self.lot_days = {b: [lot.released for lot in lots] for b, lots in self.lots.items()}

    # --- sessions ----------------------------------------------------------------------------

    def _day_weights(self) -> list[float]:
        """Weekdays busy, Saturdays lighter, Sundays closed; a winter peak; slow growth."""
        weights = []
        for n in range(SPAN_DAYS):
            day = self.first_day + timedelta(days=n)
            base = (1.0, 1.0, 1.0, 1.0, 1.0, 0.4, 0.0)[day.weekday()]
            season = 1 + 0.1 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 20) / 365)
            weights.append(base * season * (0.9 + 0.2 * n / SPAN_DAYS))
        return weights

    def _sessions(self) -> None:
        """Share the sessions out over days and clinics exactly, and write them day by day."""
        day_weights = self._day_weights()
        total_weight = sum(day_weights) * sum(c.weight for c in self.clinics)
        self._release_patients(-COURSE_DAYS)
        cumulative = 0.0
        assigned = 0
        for n in range(SPAN_DAYS):
            plan = []
            for clinic in self.clinics:
                cumulative += day_weights[n] * clinic.weight
                target = round(self.total * cumulative / total_weight)
                if target > assigned:
                    plan.append((clinic, target - assigned))
                    assigned = target
            self._write_day(n, plan)

    def _release_patients(self, day_number: int) -> None:
        """Register the patients whose first visit has come."""
        rng = self.rng
        while self.pending_patients and self.pending_patients[-1][0] <= day_number:
            day, patient_id, clinic = self.pending_patients.pop()
            given, family = rng.choice(GIVEN), rng.choice(FAMILY)
            consent = rng.random() < 0.85
            has_email = rng.random() < 0.85
            created = datetime.combine(
                self.first_day + timedelta(days=day),
                time(clinic.opens, rng.randrange(60), rng.randrange(60)),
                clinic.zone,
            ).astimezone(UTC)
            creator = rng.choice(clinic.practitioners)[0]
            email = _email(f"{given}.{family}{patient_id}", "example.org")
            self.patients.rows.append(
                (
                    patient_id,
                    clinic.id,
                    given,
                    family,
                    email if has_email else None,
                    f"+44 7700 9{patient_id % 100000:05d}",
                    consent,
                    self.dt(created),
                    creator,
                )
            )
            self.patient_events.append(
                Entry(
                    "patient.create",
                    creator,
                    "patients",
                    str(patient_id),
                    {"followup_consent": consent},
                )
            )
            self.last_patient_dt = created
            # What the patient agreed to decides the channel offered at sign out.
            self.channels[patient_id] = ("email" if has_email else "sms") if consent else "declined"

    def _write_day(self, n: int, plan: Sequence[tuple[_Clinic, int]]) -> None:
        self._release_patients(n)
        day = self.first_day + timedelta(days=n)
        rng = self.rng
        starts = []
        random = rng.random
        for clinic, count in plan:
            minutes = (clinic.closes - clinic.opens - 1) * 60
            for _ in range(count):
                minute = int(random() * minutes)
                local = datetime(
                    day.year,
                    day.month,
                    day.day,
                    clinic.opens + minute // 60,
                    minute % 60,
                    int(random() * 60),
                    int(random() * 1_000_000),
                    tzinfo=clinic.zone,
                )
                starts.append((local.astimezone(UTC), clinic))
        starts.sort(key=lambda s: s[0])
        for start, clinic in starts:
            self._session(n, day, start, clinic)
            if len(self.sessions.rows) >= self.batch:
                self._flush()

    def _patient(self, n: int, clinic: _Clinic) -> int:
        """A patient of the clinic whose course of treatment covers day n."""
        hi = bisect.bisect_right(clinic.patient_days, n)
        lo = min(bisect.bisect_right(clinic.patient_days, n - COURSE_DAYS), hi - 1)
        return clinic.patient_ids[lo + int(self.rng.random() * (hi - lo))]

    def _lot(self, n: int, clinic: _Clinic) -> _Lot:
        """A lot of the clinic's brand that is on its shelf on day n."""
        brand = clinic.brands[0] if self.rng.random() < 0.8 else clinic.brands[1]
        days = self.lot_days[brand]
        hi = bisect.bisect_right(days, n - LOT_SHELF_DAYS[0])
        lo = min(bisect.bisect_left(days, n - LOT_SHELF_DAYS[1]), hi - 1)
        return self.lots[brand][lo + int(self.rng.random() * (hi - lo))]

    def _session(self, n: int, day: date, start: datetime, clinic: _Clinic) -> None:
        """Draw one session as it went, phase by phase, then sign it and plan its follow-up.

        The steps draw from the one random stream in a fixed order, so a seed always gives the
        same data: change their order and every session after changes.
        """
        draft = self._open(n, day, clinic)
        self._sign_in(draft)
        self._time_out(draft, n)
        self._sign_out(draft)
        self._deviate(draft)
        times, signed_dt = self._moments(start)
        entries, texts = self._submit_phases(draft, times)
        self._sign(draft, times[0], entries, texts, signed_dt)
        if draft.channel != "declined":
            self._followup(draft.id, signed_dt, clinic, draft.channel)

    def _open(self, n: int, day: date, clinic: _Clinic) -> _Draft:
        """Start a session: which of the clinic's practitioners, for which of its patients."""
        session_id = self.session_id
        self.session_id += 1
        practitioner_id, practitioner_name = clinic.practitioners[
            int(self.rng.random() * len(clinic.practitioners))
        ]
        self.session_events.append(
            Entry(
                "session.create",
                practitioner_id,
                "treatment_sessions",
                str(session_id),
                {"template": self.version_number},
            )
        )
        return _Draft(
            session_id, day, clinic, practitioner_id, practitioner_name, self._patient(n, clinic)
        )

    def _sign_in(self, draft: _Draft) -> None:
        """Sign in: consent, anticoagulants, the regions to be needled and their precautions."""
        rng = self.rng
        anticoagulant = rng.random() < ANTICOAGULANT
        r = rng.random()
        k = 1 if r < 0.55 else (2 if r < 0.9 else 3)
        chosen = set(rng.choices(_REGIONS, cum_weights=_REGION_CUMULATIVE, k=k))
        signin: dict[str, Any] = {
            "signin.authorised": True,
            "signin.consent": True,
            "signin.anticoagulant": anticoagulant,
            "signin.skin_ok": True,
            "signin.regions": [code for code in _REGIONS if code in chosen],
        }
        if anticoagulant:
            signin["signin.bleeding_precaution"] = BLEEDING_PRECAUTION
        if "neck" in chosen or "thorax" in chosen:
            signin["signin.high_risk_precaution"] = HIGH_RISK_PRECAUTION
        draft.signin = signin

    def _time_out(self, draft: _Draft, n: int) -> None:
        """Time out: a lot on the clinic's shelf that day, the needles, the pain while needling."""
        rng = self.rng
        draft.lot = lot = self._lot(n, draft.clinic)
        inserted = NEEDLE_COUNTS[int(rng.random() * len(NEEDLE_COUNTS))]
        draft.pain = rng.choices(_PAIN_SCORES, cum_weights=_PAIN_CUMULATIVE)[0]
        draft.timeout = {
            "timeout.hand_hygiene": True,
            "timeout.needles_sterile": True,
            "timeout.needle_lot": lot.code,
            "timeout.needle_expiry": lot.expiry,
            "timeout.clean_field": True,
            "timeout.skin_prepared": True,
            "timeout.gloves": "worn" if rng.random() < 0.65 else "not_needed",
            "timeout.needles_inserted": inserted,
            "timeout.pain_during": draft.pain,
        }

    def _sign_out(self, draft: _Draft) -> None:
        """Sign out: the needle count, what happened, and whether the patient wants a follow-up."""
        rng = self.rng
        inserted = draft.timeout["timeout.needles_inserted"]
        removed = disposed = inserted
        discrepancy = rng.random() < COUNT_DISCREPANCY
        if discrepancy:
            draft.unusual = True
            if rng.random() < 0.5:
                removed = disposed = inserted - 1
            else:
                disposed = inserted - 1
        self._outcomes(draft)
        channel = self.channels[draft.patient_id]
        if channel != "declined" and rng.random() < FOLLOWUP_DECLINED_ON_THE_DAY:
            channel = "declined"
        draft.channel = channel
        draft.signout = {
            "signout.needles_removed": removed,
            "signout.needles_disposed": disposed,
            "signout.bleeding": draft.bleeding,
            "signout.bruising": draft.bruising,
            "signout.reaction": draft.reaction,
            "signout.fit_to_leave": True,
            "signout.hand_hygiene": True,
            "signout.aftercare": True,
            "signout.followup": channel,
        }
        if discrepancy:
            draft.signout["signout.count_discrepancy"] = COUNT_NOTE

    def _outcomes(self, draft: _Draft) -> None:
        """Bleeding (likelier on anticoagulants), bruising and any reaction, noted when unusual."""
        rng = self.rng
        r = rng.random()
        anticoagulant = draft.signin["signin.anticoagulant"]
        prolonged, minor = BLEEDING_PROLONGED[anticoagulant], BLEEDING_MINOR[anticoagulant]
        bleeding = "prolonged" if r < prolonged else ("minor" if r < prolonged + minor else "none")
        r = rng.random()
        if r < BRUISING_LARGE:
            bruising = "large"
        else:
            bruising = "small" if r < BRUISING_LARGE + BRUISING_SMALL else "none"
        r = rng.random()
        reaction = "none"
        for code, p in REACTIONS:
            if r < p:
                reaction = code
                break
            r -= p
        draft.bleeding, draft.bruising, draft.reaction = bleeding, bruising, reaction
        if bleeding == "prolonged" or bruising == "large" or reaction != "none":
            draft.unusual = True
            for link_id, value in (
                ("signout.bleeding", bleeding),
                ("signout.bruising", bruising),
                ("signout.reaction", reaction),
            ):
                if note := CHOICE_NOTES.get((link_id, value)):
                    draft.notes[link_id] = note

    def _deviate(self, draft: _Draft) -> None:
        """Now and then one check not done, with the practitioner's note, each at its own rate."""
        r = self.rng.random()
        if r >= _DEVIATION_TOTAL:
            return
        for link_id, p, note in DEVIATIONS:
            if r < p:
                draft.unusual = True
                phase = link_id.split(".")[0]
                getattr(draft, phase)[link_id] = False
                draft.notes[link_id] = note
                return
            r -= p

    def _moments(self, start: datetime) -> tuple[tuple[datetime, datetime, datetime], datetime]:
        """When each phase was submitted and when the record was signed.

        Each phase at its moment, or now and then all ticked together at the end.
        """
        random = self.rng.random
        if random() < TICKED_TOGETHER:
            end = start + timedelta(seconds=int(1500 + random() * 1200))
            times = (end, end + timedelta(seconds=20), end + timedelta(seconds=45))
        else:
            times = (
                start,
                start + timedelta(seconds=int(180 + random() * 360)),
                start + timedelta(seconds=int(1320 + random() * 1380)),
            )
        signed_dt = times[2] + timedelta(seconds=int(20 + random() * 280))
        return times, signed_dt

    def _submit_phases(
        self, draft: _Draft, times: Sequence[datetime]
    ) -> tuple[list[_Entry], list[str]]:
        """Write the three phase entries, each with its own notes, and their submit events."""
        notes = draft.notes
        entries = []
        texts = []
        for phase, answers, at in (
            ("signin", draft.signin, times[0]),
            ("timeout", draft.timeout, times[1]),
            ("signout", draft.signout, times[2]),
        ):
            own_notes = {k: v for k, v in notes.items() if k in answers} if notes else {}
            entries.append(
                _Entry(self.entry_id, phase, draft.practitioner_id, at, answers, own_notes)
            )
            self.session_events.append(
                Entry(
                    "session.phase_submit",
                    draft.practitioner_id,
                    "treatment_sessions",
                    str(draft.id),
                    {"phase": phase, "entry": self.entry_id, "resubmitted": False},
                )
            )
            text = self._answers_json(phase, answers)
            texts.append(text)
            self.entries.rows.append(
                (
                    self.entry_id,
                    draft.id,
                    phase,
                    text,
                    canonical_json(own_notes) if own_notes else "{}",
                    draft.practitioner_id,
                    self.dt(at),
                )
            )
            self.entry_id += 1
        return entries, texts

    def _sign(
        self,
        draft: _Draft,
        started: datetime,
        entries: list[_Entry],
        texts: list[str],
        signed_dt: datetime,
    ) -> None:
        """Sign the record as `apply_signature` does: its content hash, outcomes and flags."""
        answers = {**draft.signin, **draft.timeout, **draft.signout}
        notes = draft.notes
        record = _Signed(
            draft.id,
            draft.clinic.id,
            draft.patient_id,
            draft.practitioner_id,
            self.version_id,
            draft.day,
            answers,
            notes,
            entries,
            draft.practitioner_id,
            draft.practitioner_name,
            SIGNATURE_MEANING,
            signed_dt,
        )
        content_hash = checklist_rules.content_hash(signed_content(record))
        # A session without a flag-raising answer raises none (the tests hold every generated
        # session to flags_for); asking flags_for only about the others saves a fifth of the run.
        flags = checklist_rules.flags_for(self.template, answers) if draft.unusual else ()
        self.sessions.rows.append(
            (
                draft.id,
                draft.clinic.id,
                draft.patient_id,
                draft.practitioner_id,
                self.version_id,
                self.day(draft.day),
                self.dt(started),
                draft.lot.code,
                _merge_json(texts[0], texts[2], texts[1]),  # sign in, sign out, time out
                canonical_json(notes) if notes else "{}",
                self.dt(signed_dt),
                draft.practitioner_id,
                draft.practitioner_name,
                SIGNATURE_MEANING,
                content_hash,
                draft.bleeding,
                draft.bruising,
                draft.reaction,
                draft.pain,
                len(flags),
            )
        )
        for spec in flags:
            self.flags.rows.append(
                (
                    draft.id,
                    spec.kind,
                    spec.severity,
                    spec.link_id,
                    spec.message,
                    FlagStatus.OPEN.value,
                    self.dt(signed_dt),
                )
            )
        self.session_events.append(
            Entry(
                "session.sign",
                draft.practitioner_id,
                "treatment_sessions",
                str(draft.id),
                {"content_hash": content_hash},
            )
        )
        self.last_signed = signed_dt

    def _answers_json(self, phase: str, answers: dict[str, Any]) -> str:
        """Return the JSON of a phase's answers; sign in and sign out repeat, so keep them."""
        if phase == "timeout":
            return canonical_json(answers)
        key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in answers.items())
        text = self.answer_json.get(key)
        if text is None:
            text = self.answer_json[key] = canonical_json(answers)
        return text

    def _followup(self, session_id: int, signed_dt: datetime, clinic: _Clinic, channel: str):
        """The 24-hour check as it went: sent, and usually answered within hours."""
        rng = self.rng
        due = followup_rules.out_of_quiet_hours(
            followup_rules.local_offset(signed_dt, 1, clinic.zone), clinic.zone
        )
        followup_id = self.followup_id
        self.followup_id += 1
        answered = rng.random() < FOLLOWUP_ANSWERED
        answered_dt = due + timedelta(seconds=int(600 + rng.random() * 35400)) if answered else None
        self.followups.rows.append(
            (
                followup_id,
                session_id,
                Kind.DAY_1.value,
                channel,
                self.dt(due),
                (Status.ANSWERED if answered else Status.SENT).value,
                self.dt(answered_dt),
                self.dt(signed_dt),
            )
        )
        self.session_events.append(
            Entry(
                "followup.schedule",
                None,
                "treatment_sessions",
                str(session_id),
                {"kinds": [Kind.DAY_1.value], "channel": channel},
            )
        )
        if answered:
            self._answer(followup_id, session_id, answered_dt)

    def _answer(self, followup_id: int, session_id: int, answered_dt: datetime) -> None:
        """An uneventful answer: a little soreness, now and then a small bruise."""
        rng = self.rng
        key = (
            SORENESS[int(rng.random() * len(SORENESS))],
            "none" if rng.random() < 0.9 else "small",
        )
        text = self.response_json.get(key)
        if text is None:
            text = self.response_json[key] = canonical_json(
                {
                    "soreness": key[0],
                    "trend": "better",
                    "bleeding": "none",
                    "bruising": key[1],
                    "chest": "no",
                    "signs": [],
                }
            )
        self.responses.rows.append(
            (
                self.response_id,
                followup_id,
                session_id,
                text,
                followup_rules.NONE,
                self.dt(answered_dt),
            )
        )
        self.session_events.append(
            Entry(
                "followup.response",
                None,
                "patient_responses",
                str(self.response_id),
                {
                    "followup": followup_id,
                    "kind": Kind.DAY_1.value,
                    "escalation": followup_rules.NONE,
                },
            )
        )
        self.response_id += 1

    # --- writing -----------------------------------------------------------------------------

    def _insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        _write_rows(_Table(table, columns, rows), self.dialect)

    def _flush(self) -> None:
        """Hand the batch to the writer and start the next one."""
        self.writer.put(
            _Batch(
                tables=[_Table(t.name, t.columns, t.rows) for t in self.tables],
                patient_events=self.patient_events,
                patient_dt=self.last_patient_dt,
                session_events=self.session_events,
                signed_dt=self.last_signed,
            )
        )
        for table in self.tables:
            table.rows = []
        self.patient_events = []
        self.session_events = []


@dataclass
class _Batch:
    """The rows and audit events of one batch of sessions: one transaction."""

    tables: list[_Table]
    patient_events: list[Entry]
    patient_dt: datetime | None
    session_events: list[Entry]
    signed_dt: datetime | None


def _write_rows(table: _Table, dialect: str) -> None:
    if not table.rows:
        return
    connection = db.session.connection()
    if dialect != "postgresql":
        connection.exec_driver_sql(table.statement(dialect), table.rows)
        return
    # executemany costs a round trip per row even pipelined; COPY on the same connection, in
    # the same transaction, streams the rows (JSON as text).
    columns = ", ".join(table.columns)
    driver = connection.connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy,
    ):
        for row in table.rows:
            copy.write_row(row)


def _write_batch(batch: _Batch, dialect: str) -> None:
    """Write a batch in one transaction: parents first, then the batch's audit events."""
    _tune_connection()
    for table in batch.tables:
        _write_rows(table, dialect)
    if batch.patient_events:
        audit.record_many(batch.patient_events, now=batch.patient_dt)
    if batch.session_events:
        # record_many stamps a call's events with one time: the batch's last signature keeps
        # every event at or after the signing it records (answers come later in truth).
        audit.record_many(
            batch.session_events,
            now=batch.signed_dt,
            write=lambda rows: _write_rows(_event_table(rows, dialect), dialect),
        )
    db.session.commit()


_EVENT_COLUMNS = (
    "seq",
    "created_dt",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "details",
    "prev_hash",
    "hash",
)


def _event_table(rows: list[dict[str, Any]], dialect: str) -> _Table:
    """The audit events record_many chained, as rows for COPY or executemany (a batch's
    thousands of events through the ORM took a third of the run)."""
    dt = _sqlite_dt if dialect == "sqlite" else _same
    return _Table(
        "audit_events",
        _EVENT_COLUMNS,
        [
            (
                r["seq"],
                dt(r["created_dt"]),
                r["actor_id"],
                r["action"],
                r["object_type"],
                r["object_id"],
                canonical_json(r["details"]),
                r["prev_hash"],
                r["hash"],
            )
            for r in rows
        ],
    )


class _Writer:
    """Write batches in order, in a thread of its own, while the next batch is being built.

    The database works (indexes, constraints, COPY or executemany) while Python builds rows;
    both drivers let go of the GIL while they wait. One writer keeps the audit chain in order.
    An in-memory SQLite database exists per connection only, so it is written inline.
    """

    def __init__(self, dialect: str, progress, started: float) -> None:
        self.dialect = dialect
        self.progress = progress
        self.started = started
        self.counts = dict.fromkeys(
            ("sessions", "clinics", "practitioners", "patients", "flags", "followups", "events"),
            0,
        )
        self.error: BaseException | None = None
        url = db.engine.url
        self.inline = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        self.queue: Queue[_Batch | None] = Queue(maxsize=2)
        self.thread = None
        if not self.inline:
            app = current_app._get_current_object()
            self.thread = threading.Thread(target=self._run, args=(app,), name="bulk-writer")
            self.thread.start()

    def put(self, batch: _Batch) -> None:
        if self.error is not None:
            raise self.error
        if self.inline:
            self._write(batch)
        else:
            self.queue.put(batch)

    def close(self) -> None:
        """Wait for the last batch; raise what went wrong in the writer, if anything."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self, app) -> None:
        with app.app_context():
            try:
                while (batch := self.queue.get()) is not None:
                    if self.error is not None:
                        continue  # drain, so the producer never blocks on a full queue
                    try:
                        self._write(batch)
                    except BaseException as exc:  # handed to the producer thread
                        self.error = exc
                        db.session.rollback()
            finally:
                db.session.rollback()
                _tune_connection(loading=False)
                db.session.commit()

    def _write(self, batch: _Batch) -> None:
        _write_batch(batch, self.dialect)
        counts = self.counts
        by_name = {t.name: len(t.rows) for t in batch.tables}
        counts["sessions"] += by_name["treatment_sessions"]
        counts["patients"] += by_name["patients"]
        counts["flags"] += by_name["flags"]
        counts["followups"] += by_name["followups"]
        counts["events"] += len(batch.patient_events) + len(batch.session_events)
        if self.progress is not None:
            self.progress(counts["sessions"], clock.perf_counter() - self.started)


def _lot_code(brand: str, released: date, serial: int) -> str:
    """A lot number in the style each maker prints on its boxes."""
    yy, mm, dd = released.year % 100, released.month, released.day
    if brand == "HW":
        return f"HW{yy:02d}{mm:02d}{serial % 100:02d}"
    if brand == "SJ":
        return f"SJ-{40000 + serial}"
    if brand == "DBC":
        return f"DBC{yy:02d}{mm:02d}{dd:02d}{'ABC'[serial % 3]}"
    if brand == "AGP":
        return f"AGP-{yy:02d}{serial:04d}"
    return f"TW{yy:02d}{released.timetuple().tm_yday:03d}-{serial % 10}"
