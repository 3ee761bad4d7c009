"""Generate a large, realistic history of signed sessions in bulk (`flask demo seed --sessions N`).

The demo seed goes through the services one session at a time: right for a few dozen sessions,
far too slow for a million. This package writes the rows the services write when a checklist is
signed, a batch at a time (one transaction per batch of sessions):

- 20 clinics in 20 time zones, about 8 practitioners each, one patient per 20 sessions, and a
  few thousand needle lots of five brands, each in use for a couple of months before expiry;
- per session: the three phase entries, the frozen answers and notes, the signature, the
  content hash of `checklists.services.signed_content` (so `flask audit verify` recomputes the
  same hash), the outcome columns `apply_signature` copies, and the flags of
  `checklists.rules.flags_for`;
- per session the audit events the application writes for it: `session.create`, one
  `session.phase_submit` per phase, `session.sign` and a `flag.raise` per flag, and with a
  follow-up `followup.schedule` and, once answered, `followup.response` (plus
  `clinic.create`, `user.create` and `patient.create` for what it creates), appended with
  `audit.services.record_many`, so the chain verifies and is as long as a clinic's would be.
  Not written: `reminder.sent`, which names outbox rows the bulk data does not keep, and the
  logins and record views, which depend on how people work rather than on the sessions;
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

The package: `world` (the figures data is drawn from), `generator` (one run: set-up, then the
calendar), `sessions` (one session drawn step by step), `writer` (batches to the database).
This module is what the rest of the application uses.
"""

from __future__ import annotations

import random
import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from safety.checklists.models import TreatmentSession
from safety.clinics.models import Clinic
from safety.dbtypes import utcnow
from safety.demo.bulk.generator import Generator
from safety.demo.bulk.world import CLINIC_NAMES, CLINICS, SPAN_DAYS
from safety.demo.bulk.writer import reset_sequences, tune_connection
from safety.errors import Conflict
from safety.extensions import db

__all__ = [
    "BATCH",
    "CLINICS",
    "GENERATOR_VERSION",
    "SPAN_DAYS",
    "BulkResult",
    "bulk_exists",
    "bulk_session_count",
    "generate",
    "summary",
]

#: Bumped whenever the generated data changes shape, so `make bench` rebuilds its databases.
GENERATOR_VERSION = 6
#: Sessions per transaction (with their entries, flags, follow-ups and audit events).
BATCH = 5000


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
        counts = Generator(sessions, now, random.Random(seed), batch, progress).run()
        reset_sequences()
        db.session.commit()
    finally:
        db.session.rollback()
        tune_connection(loading=False)
    return BulkResult(**counts, seconds=clock.perf_counter() - started)
