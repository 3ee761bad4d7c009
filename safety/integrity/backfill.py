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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from safety.audit import services as audit
from safety.audit.models import AuditEvent
from safety.checklists.models import Flag, TreatmentSession
from safety.dbtypes import utcnow
from safety.errors import DomainError
from safety.extensions import db
from safety.hashing import hashed_time
from safety.integrity.flags import BACKFILLED
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
    event that says it was done; refused while verify finds the database altered."""
    if problem := verify().problem:
        raise DomainError(
            f"Verify finds the audit trail broken ({problem}). A backfill would vouch for the "
            "flags as they are now: find out what happened first."
        )
    now = now or utcnow()
    held = {
        int(object_id)
        for object_id, details in db.session.execute(
            select(AuditEvent.object_id, AuditEvent.details).where(
                AuditEvent.action == "flag.raise",
                AuditEvent.object_type == Flag.__tablename__,
            )
        )
        if object_id and object_id.isdecimal() and "message_hash" in (details or {})
    }
    unheld = [
        (flag, clinic_id)
        for flag, clinic_id in db.session.execute(
            select(Flag, TreatmentSession.clinic_id)
            .join(TreatmentSession, TreatmentSession.id == Flag.session_id)
            .order_by(Flag.id)
        )
        if flag.id not in held
    ]
    done_before = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == BACKFILLED)
    )
    if not unheld and done_before:
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
        for flag, clinic_id in unheld
    ]
    entries.append(audit.Entry(action=BACKFILLED, details={"flags": len(unheld)}))
    audit.record_many(entries, now=now)
    return Backfill(flags=len(unheld), clinics=len({clinic for _, clinic in unheld}), wrote=True)
