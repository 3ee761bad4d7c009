"""Verify from the app: a compliance officer asks, the worker runs it (DESIGN §5).

`flask audit verify` reads every event and every signed record: seconds on a small clinic,
a minute or more on a million records, too long for a web request. "Verify now" records a
request; the reminder worker (`flask reminders work`, which already signs the checkpoints)
takes the oldest waiting one, runs the same verification as the command and links the run it
recorded, and the page shows the request waiting, running and finished.

One request at a time: asking while one waits or runs joins it. A worker that died while
running one leaves it for another after `VERIFY_REQUEST_LEASE`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import joinedload

from safety.audit import services as audit
from safety.auth import policy
from safety.auth.models import User
from safety.dbtypes import utcnow
from safety.extensions import db, take_sqlite_write_lock
from safety.integrity.models import VerificationRequest
from safety.integrity.verify import last_run, verify_and_record
from safety.languages import N_

log = logging.getLogger(__name__)

#: How long a worker may run one verification before another may take it over (a worker
#: killed mid-run never finishes it). Verify reads a million records in about a minute.
VERIFY_REQUEST_LEASE = timedelta(hours=1)

VR = VerificationRequest


def request_verification(
    actor: User, *, now: datetime | None = None
) -> tuple[VerificationRequest, bool]:
    """Ask for a verification: (the request, True), or (the one already waiting or running,
    False), which answers this request too."""
    policy.require(policy.can_review(actor), N_("Only compliance officers verify the audit trail."))
    now = now or utcnow()
    _take_turns()
    pending = open_request()
    if pending is not None:
        return pending, False
    request = VerificationRequest(requested_by_id=actor.id, requested_dt=now)
    db.session.add(request)
    db.session.flush()
    audit.record("audit.verify_requested", actor=actor, obj=request, now=now)
    return request, True


#: The PostgreSQL advisory lock "Verify now" clicks take turns under (any fixed number).
TURNS_KEY = 0x5E21F1


def _take_turns() -> None:
    """Make two clicks on "Verify now" take turns from here to their commit, so the second
    finds the first's request and joins it. Six clicks at once once queued three full
    verifications, run one after another in the worker that also sends patients' alerts
    (found by an attacker's review)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TURNS_KEY})
    take_sqlite_write_lock(VR)


def open_request() -> VerificationRequest | None:
    """The request waiting or running, if any (one a dead worker left is taken over)."""
    return db.session.scalar(select(VR).where(VR.finished_dt.is_(None)).order_by(VR.id).limit(1))


def recent(limit: int = 10) -> list[VerificationRequest]:
    """The latest requests, newest first, with who asked and the run each recorded."""
    return list(
        db.session.scalars(
            select(VR)
            .options(joinedload(VR.run), joinedload(VR.requested_by))
            .order_by(VR.id.desc())
            .limit(limit)
        )
    )


def run_next(worker: str, *, now: datetime | None = None) -> VerificationRequest | None:
    """Take the oldest waiting request and verify; None when nothing waits.

    The request is taken by a conditional UPDATE and committed before verify starts, so two
    workers never run the same one and the page shows it running meanwhile. Commits."""
    now = now or utcnow()
    waiting = db.session.scalar(
        select(VR.id)
        .where(VR.finished_dt.is_(None), or_(VR.started_dt.is_(None), _takeable(now)))
        .order_by(VR.id)
        .limit(1)
    )
    if waiting is None:
        return None
    taken = db.session.execute(
        update(VR)
        .where(
            VR.id == waiting,
            VR.finished_dt.is_(None),
            or_(VR.started_dt.is_(None), _takeable(now)),
        )
        .values(started_dt=now, worker=worker[:100])
    ).rowcount
    db.session.commit()
    if not taken:
        return None  # another worker took it first
    try:
        verify_and_record(now=now)
        run_id = last_run().id
        failure = None
    except Exception as exc:  # the officer sees that it could not run; the log says why
        db.session.rollback()
        log.exception("verification request %s could not run", waiting)
        run_id, failure = None, f"Verification could not run ({exc.__class__.__name__})."
    request = db.session.get(VR, waiting)
    request.finished_dt, request.run_id, request.failure = utcnow(), run_id, failure
    db.session.commit()
    return request


def _takeable(now: datetime):
    """Started so long ago that its worker is presumed dead."""
    return VR.started_dt < now - VERIFY_REQUEST_LEASE


def outcome(request: VerificationRequest) -> str:
    """The result in a few words, for the worker's log line and the page."""
    if request.failure:
        return request.failure
    if request.run is None:
        return "waiting" if request.started_dt is None else "running"
    if request.run.is_intact:
        return f"intact ({request.run.events:,} audit events, {request.run.records:,} records)"
    return f"a problem was found: {request.run.problem}"
