"""One bulk run: the clinics, practitioners and needle lots set up before the first day, then the
calendar walked day by day, registering patients as their first visit comes and drawing each
day's sessions (`sessions.SessionDrawer`) until a batch is full for the writer.

Sessions are shared out over days and clinics exactly (busy weekdays, lighter Saturdays, closed
Sundays, a winter peak), and every random draw comes from one stream in a fixed order, so a seed
and a time always give the same data.
"""

from __future__ import annotations

import math
import random
import time as clock
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from safety.audit import services as audit
from safety.audit.services import Entry
from safety.auth import services as auth
from safety.auth.models import Role, User
from safety.checklists.models import Flag, PhaseEntry, TreatmentSession
from safety.clinics.models import Clinic, Patient
from safety.clinics.rules import country_for_zone, search_key
from safety.demo.bulk.sessions import SessionDrawer, Version
from safety.demo.bulk.world import (
    BRANDS,
    CLINICS,
    COURSE_DAYS,
    EMAIL_DOMAIN,
    END_DAYS_AGO,
    FAMILY,
    GIVEN,
    PASSWORD,
    PRACTITIONERS_PER_CLINIC,
    SESSIONS_PER_PATIENT,
    SPAN_DAYS,
    VERSION_2_DAYS,
    Lot,
    PlannedClinic,
    email_address,
    lot_code,
)
from safety.demo.bulk.writer import Pending, Table, Writer, next_id, stored_time, write_rows
from safety.extensions import db
from safety.followup.models import FollowUp, PatientResponse
from safety.risks import services as risks
from safety.risks.rules import CURRENT_REGISTER, template_from_definition


def patient_language(patient_id: int, zone) -> str:
    """A patient's language, from their id so the random draws stay as they were: one in
    five Canadian patients French-speaking, one in twenty patients Spanish-speaking."""
    if patient_id % 20 == 7:
        return "es"
    if patient_id % 5 == 1 and country_for_zone(str(zone)) == "CA":
        return "fr_CA"
    return "en"


class Generator:
    """One bulk run: plan clinics, people and lots, then write the sessions day by day."""

    def __init__(self, total: int, now: datetime, rng: random.Random, batch: int, progress):
        self.total = total
        self.rng = rng
        self.batch = batch
        self.progress = progress
        self.last_day = (now - timedelta(days=END_DAYS_AGO)).date()
        self.first_day = self.last_day - timedelta(days=SPAN_DAYS - 1)
        self.started = clock.perf_counter()
        self.counts = dict.fromkeys(("clinics", "practitioners", "events"), 0)
        self.dialect = db.session.get_bind().dialect.name
        self.dt = stored_time(self.dialect)
        self.pending = Pending()
        #: The channel each registered patient agreed to: the one offered at sign out.
        self.channels: dict[int, str] = {}

    def run(self) -> dict[str, int]:
        """Set up, then write every session; return what was written, by kind."""
        setup_dt = datetime.combine(self.first_day - timedelta(days=90), time(9), UTC)
        version_2_dt = datetime.combine(
            self.first_day + timedelta(days=SPAN_DAYS - VERSION_2_DAYS), time(0), UTC
        ) - timedelta(days=1)
        versions = tuple(
            Version(v.id, v.version, template_from_definition(v.definition))
            for v in (
                risks.default_of_register(1, now=setup_dt),
                risks.default_of_register(CURRENT_REGISTER, now=version_2_dt),
            )
        )
        self.clinics = self._clinics(setup_dt)
        self._practitioners(setup_dt)
        self._plan_patients()
        lots = self._plan_lots()
        self.drawer = SessionDrawer(
            self.rng,
            self.pending,
            self.dialect,
            versions=versions,
            version_2_from=SPAN_DAYS - VERSION_2_DAYS,
            lots=lots,
            channels=self.channels,
            first_ids=(
                next_id(TreatmentSession),
                next_id(PhaseEntry),
                next_id(FollowUp),
                next_id(PatientResponse),
                next_id(Flag),
            ),
        )
        db.session.commit()
        self.writer = Writer(self.dialect, self.progress, self.started)
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

    def _clinics(self, setup_dt: datetime) -> list[PlannedClinic]:
        """Write the bulk clinics, each buying needles mostly from one brand."""
        first_id = next_id(Clinic)
        clinics = []
        for offset, (name, zone, weight, opens, closes) in enumerate(CLINICS):
            brands = (BRANDS[offset % len(BRANDS)], BRANDS[(offset * 3 + 1) % len(BRANDS)])
            clinics.append(
                PlannedClinic(
                    first_id + offset, name, ZoneInfo(zone), weight, opens, closes, brands
                )
            )
        self._insert(
            "clinics",
            (
                "id",
                "name",
                "timezone",
                "workday_start_hour",
                "workday_end_hour",
                "working_days",
                "duty_email",
                "phone",
                "country",
                "created_dt",
            ),
            [
                (
                    c.id,
                    c.name,
                    c.zone.key,
                    c.opens,
                    c.closes,
                    "123456",
                    email_address(f"duty.{c.id}", EMAIL_DOMAIN),
                    f"+1 555 01{c.id % 100:02d}",
                    country_for_zone(c.zone.key),
                    self.dt(setup_dt),
                )
                for c in clinics
            ],
        )
        audit.record_many(
            [Entry("clinic.create", None, "clinics", str(c.id)) for c in clinics], now=setup_dt
        )
        self.counts["clinics"] = len(clinics)
        self.counts["events"] += len(clinics)
        return clinics

    def _practitioners(self, setup_dt: datetime) -> None:
        """Write about eight practitioners per clinic, more in the larger ones."""
        # One hash for every generated account: they all share the demo password.
        password_hash = auth.hash_password(PASSWORD)
        user_id = next_id(User)
        rows, events = [], []
        for clinic in self.clinics:
            for _ in range(max(2, round(PRACTITIONERS_PER_CLINIC * clinic.weight))):
                given, family = self.rng.choice(GIVEN), self.rng.choice(FAMILY)
                name = f"{given} {family}"
                email = email_address(f"{given}.{family}.{user_id}", EMAIL_DOMAIN)
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
                    Entry(
                        "user.create",
                        None,
                        "users",
                        str(user_id),
                        {"role": Role.PRACTITIONER.value},
                    )
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
        patient_id = next_id(Patient)
        #: (first-visit day, id, clinic), latest first: written when the days reach them.
        self.upcoming_patients: list[tuple[int, int, PlannedClinic]] = []
        for day, clinic in planned:
            clinic.patient_ids.append(patient_id)
            clinic.patient_days.append(day)
            self.upcoming_patients.append((day, patient_id, clinic))
            patient_id += 1
        self.upcoming_patients.reverse()

    def _plan_lots(self) -> dict[str, list[Lot]]:
        """Each brand releases a lot every day or two, with three to five years of shelf life."""
        by_brand: dict[str, list[Lot]] = {}
        for brand in BRANDS:
            lots = []
            day = -90 + self.rng.randrange(3)
            while day < SPAN_DAYS:
                released = self.first_day + timedelta(days=day)
                code = lot_code(brand, released, len(lots) + 1)
                expiry = released + timedelta(days=365 * self.rng.choice((3, 4, 5)))
                lots.append(Lot(code, day, expiry.isoformat()))
                day += self.rng.choice((1, 1, 2))
            by_brand[brand] = lots
        return by_brand

    # --- the calendar ------------------------------------------------------------------------

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
        while self.upcoming_patients and self.upcoming_patients[-1][0] <= day_number:
            day, patient_id, clinic = self.upcoming_patients.pop()
            given, family = rng.choice(GIVEN), rng.choice(FAMILY)
            consent = rng.random() < 0.85
            has_email = rng.random() < 0.85
            created = datetime.combine(
                self.first_day + timedelta(days=day),
                time(clinic.opens, rng.randrange(60), rng.randrange(60)),
                clinic.zone,
            ).astimezone(UTC)
            creator = rng.choice(clinic.practitioners)[0]
            email = email_address(f"{given}.{family}{patient_id}", "example.org")
            language = patient_language(patient_id, clinic.zone)
            self.pending.patients.rows.append(
                (
                    patient_id,
                    clinic.id,
                    given,
                    family,
                    search_key(given, family),
                    email if has_email else None,
                    f"+44 7700 9{patient_id % 100000:05d}",
                    consent,
                    language,
                    self.dt(created),
                    creator,
                )
            )
            self.pending.patient_events.append(
                Entry(
                    "patient.create",
                    creator,
                    "patients",
                    str(patient_id),
                    {"followup_consent": consent, "language": language},
                    clinic.id,
                )
            )
            self.pending.last_patient_dt = created
            # What the patient agreed to decides the channel offered at sign out.
            self.channels[patient_id] = ("email" if has_email else "sms") if consent else "declined"

    def _write_day(self, n: int, plan: Sequence[tuple[PlannedClinic, int]]) -> None:
        """Spread a day's sessions over each clinic's opening hours and draw them in time order."""
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
            self.drawer.session(n, day, start, clinic)
            if len(self.pending.sessions.rows) >= self.batch:
                self._flush()

    # --- writing -----------------------------------------------------------------------------

    def _insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        write_rows(Table(table, columns, rows), self.dialect)

    def _flush(self) -> None:
        """Hand the batch to the writer and start the next one."""
        self.writer.put(self.pending.take())
