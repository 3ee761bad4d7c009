"""Walk the audit chain and every signed record's content hash; report the first break."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from safety.audit import rules
from safety.audit.models import AuditChainHead, AuditEvent, VerificationRun
from safety.checklists import rules as checklist_rules
from safety.checklists.models import TreatmentSession
from safety.dbtypes import utcnow
from safety.extensions import db

BATCH = 5000


@dataclass(frozen=True)
class VerifyResult:
    events: int
    records: int
    #: Description of the first break found, or None when everything is intact.
    problem: str | None

    @property
    def is_intact(self) -> bool:
        return self.problem is None


def verify() -> VerifyResult:
    """Recompute the chain from the first event and every signed record's content hash."""
    events, problem = _verify_chain()
    records = 0
    if problem is None:
        records, problem = _verify_records()
    if problem is None:
        problem = _verify_addenda()
    return VerifyResult(events, records, problem)


def verify_and_record(*, now: datetime | None = None) -> VerifyResult:
    """Verify, then keep the outcome so the compliance dashboard can show it."""
    started = now or utcnow()
    result = verify()
    db.session.add(
        VerificationRun(
            started_dt=started,
            finished_dt=utcnow(),
            events=result.events,
            records=result.records,
            is_intact=result.is_intact,
            problem=result.problem,
        )
    )
    db.session.flush()
    return result


def last_run() -> VerificationRun | None:
    """Return the most recent verification run."""
    return db.session.scalar(select(VerificationRun).order_by(VerificationRun.id.desc()).limit(1))


def _verify_chain() -> tuple[int, str | None]:
    prev_hash = rules.GENESIS_HASH
    expected_seq = 1
    last_id = 0
    while True:
        batch = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(BATCH)
        ).all()
        if not batch:
            break
        for event in batch:
            if event.seq != expected_seq:
                found = event.seq
                return expected_seq - 1, f"audit event {expected_seq} is missing (found {found})"
            payload = rules.event_payload(
                seq=event.seq,
                created_dt=event.created_dt,
                actor_id=event.actor_id,
                action=event.action,
                object_type=event.object_type,
                object_id=event.object_id,
                details=event.details,
            )
            if event.prev_hash != prev_hash or rules.chain_hash(prev_hash, payload) != event.hash:
                return expected_seq - 1, f"audit event {event.seq} ({event.action}) was altered"
            prev_hash = event.hash
            expected_seq += 1
            last_id = event.id
        db.session.expunge_all()
    head = db.session.get(AuditChainHead, 1)
    count = expected_seq - 1
    if head is None or head.last_seq != count or head.last_hash != prev_hash:
        recorded = head.last_seq if head else None
        return count, f"the chain ends at event {count} but the head records {recorded}"
    return count, None


def _verify_records() -> tuple[int, str | None]:
    from safety.checklists.services import signed_content

    count = 0
    last_id = 0
    while True:
        batch = db.session.scalars(
            select(TreatmentSession)
            .where(TreatmentSession.signed_dt.is_not(None), TreatmentSession.id > last_id)
            .options(selectinload(TreatmentSession.entries))
            .order_by(TreatmentSession.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return count, None
        for session in batch:
            if checklist_rules.content_hash(signed_content(session)) != session.content_hash:
                return count, f"signed record {session.id} does not match its content hash"
            count += 1
            last_id = session.id
        db.session.expunge_all()


def _verify_addenda() -> str | None:
    """Recompute each addendum's hash, which also covers its record's content hash."""
    from safety.audit.addenda import addendum_hash
    from safety.checklists.models import Addendum

    rows = db.session.execute(
        select(Addendum, TreatmentSession.content_hash)
        .join(TreatmentSession, TreatmentSession.id == Addendum.session_id)
        .order_by(Addendum.id)
    )
    for addendum, record_hash in rows:
        if addendum_hash(addendum, record_hash=record_hash) != addendum.content_hash:
            return f"addendum {addendum.id} to record {addendum.session_id} was altered"
    return None
