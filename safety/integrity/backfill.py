"""Put the words of the flags older versions raised on the audit chain, once, after an upgrade
(`flask audit backfill-flags`).

Until 2026-12-07 a signature's flags (a missing needle's critical count flags among them) and
a failed delivery's had no flag.raise event, and no event held any flag's words: an insider
could reword, soften or delete such a flag, or add one dated back among them, and verify
said intact (integrity/flags.py, "What it cannot hold"). This writes, for every flag whose
words are on no event, a flag.raise event with `Flag.raise_details`, marked backfilled and
with the time the flag was raised, on its clinic's chain; then one `audit.flags_backfilled`
event on the system chain. From that event on, verify names any flag without its words on
the chain, whenever it is dated.

It vouches for the flags as they are now, so it runs only on a database verify finds intact:
it cannot tell an old flag an insider already reworded from one nobody touched, and says so.
A flag put there while verify ran is read in the same statement as the events (so one the
application raises meanwhile is never taken for an old one) and refused where verify would
name it (`flags.misplaced`); a review's insider wrote one during verify's minutes and the
backfill vouched for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, select, update

from safety.audit import services as audit
from safety.audit.models import AuditChainHead, AuditEvent
from safety.audit.rules import SYSTEM_CHAIN
from safety.checklists.models import Flag, TreatmentSession
from safety.dbtypes import utcnow
from safety.errors import DomainError
from safety.extensions import db
from safety.hashing import hashed_time
from safety.integrity.flags import BACKFILLED, backfilled, misplaced, worded_since
from safety.integrity.verify import verify


@dataclass(frozen=True)
class Backfill:
    """What a backfill wrote: the flags given their words, on how many clinics' chains."""

    flags: int
    clinics: int
    #: False when an earlier backfill had already done it and every flag since had its words.
    wrote: bool


def backfill_flags(*, now: datetime | None = None) -> Backfill:
    """Write a backfilled flag.raise event for every flag whose words are on no event, and the
    event that says it was done; refused while verify finds the database altered, or when a
    flag without its words is one verify would name (`flags.misplaced`)."""
    if problem := verify().problem:
        raise _refused(problem)
    now = now or utcnow()
    # The system chain's head first (a row lock on PostgreSQL, the write lock on SQLite): a
    # second backfill waits for this one and then finds nothing left to write.
    db.session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == SYSTEM_CHAIN)
        .values(last_seq=AuditChainHead.last_seq)
    )
    worded = (
        select(AuditEvent.id)
        .where(
            AuditEvent.action == "flag.raise",
            AuditEvent.object_type == Flag.__tablename__,
            AuditEvent.object_id == cast(Flag.id, String),
            AuditEvent.details["message_hash"].as_string().is_not(None),
        )
        .exists()
    )
    # One statement, so a flag the application raises meanwhile is read with its event or
    # not at all: it is never written up as an older version's.
    unheld = db.session.execute(
        select(Flag, TreatmentSession.started_dt, TreatmentSession.clinic_id)
        .join(TreatmentSession, TreatmentSession.id == Flag.session_id)
        .where(~worded)
        .order_by(Flag.id)
    ).all()
    since = worded_since(db.session)
    for flag, started, _ in unheld:
        # Added since verify ran, as verify would have named it: not vouched for.
        if problem := misplaced(flag.id, flag.created_dt, started, since, raised=False):
            raise _refused(problem)
    if not unheld and backfilled(db.session):
        return Backfill(flags=0, clinics=0, wrote=False)
    entries = [
        audit.Entry(
            action="flag.raise",
            object_type=Flag.__tablename__,
            object_id=str(flag.id),
            details={
                **flag.raise_details,
                "backfilled": True,
                "raised": hashed_time(flag.created_dt),
            },
            chain=clinic_id,
        )
        for flag, _, clinic_id in unheld
    ]
    entries.append(audit.Entry(action=BACKFILLED, details={"flags": len(unheld)}))
    audit.record_many(entries, now=now)
    return Backfill(flags=len(unheld), clinics=len({clinic for *_, clinic in unheld}), wrote=True)


def _refused(problem: str) -> DomainError:
    return DomainError(
        f"Verify finds the audit trail broken ({problem}). A backfill would vouch for the "
        "flags as they are now: find out what happened first."
    )
