"""Signed addenda: corrections to a signed record that never overwrite it (Part 11 §11.10(e)).

A practitioner of the record's clinic re-enters their password, gives a reason and writes the
correction; the addendum's content hash binds it to the record's own content hash, and the
`session.addendum` audit event is written in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from safety.audit import services as audit
from safety.auth import policy
from safety.auth import services as auth
from safety.auth.models import User
from safety.checklists import services as checklists
from safety.checklists.models import Addendum, TreatmentSession
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError
from safety.extensions import db, take_sqlite_write_lock
from safety.hashing import canonical_json, hashed_time, sha256_hex
from safety.languages import N_, Said

#: The meaning of an addendum signature, shown with it (21 CFR Part 11 §11.50).
ADDENDUM_MEANING = N_("Authored and signed this correction")
REASON_MAX_LENGTH = 500
BODY_MAX_LENGTH = 5000

NOT_ADDED = N_("The addendum was not added.")
WRONG_PASSWORD = N_("That password is not right. Enter your own password to sign the addendum.")


def addendum_content(
    *,
    record_id: int,
    record_hash: str,
    author_id: int,
    signer_name: str,
    reason: str,
    body: str,
    signed_dt: datetime,
    meaning: str,
) -> dict[str, Any]:
    """Return what an addendum signature covers, including the record's own content hash."""
    return {
        "record": record_id,
        "record_hash": record_hash,
        "author": author_id,
        "name": signer_name,
        "reason": reason,
        "body": body,
        "signed_dt": hashed_time(signed_dt),
        "meaning": meaning,
    }


def addendum_hash(addendum: Addendum, record_hash: str | None = None) -> str:
    """Recompute an addendum's content hash from its stored columns.

    `record_hash` defaults to the stored content hash of the addendum's record; `flask audit
    verify` compares the result with `addendum.content_hash`.
    """
    if record_hash is None:
        record_hash = addendum.session.content_hash
    content = addendum_content(
        record_id=addendum.session_id,
        record_hash=record_hash or "",
        author_id=addendum.author_id,
        signer_name=addendum.signer_name,
        reason=addendum.reason,
        body=addendum.body,
        signed_dt=addendum.signed_dt,
        meaning=addendum.signature_meaning,
    )
    return sha256_hex(canonical_json(content))


def field_problems(reason: str, body: str, password: str) -> dict[str, str]:
    """Return what is missing or too long in an addendum, by field name."""
    errors: dict[str, str] = {}
    if not reason.strip():
        errors["reason"] = N_("Say why the record needs a correction.")
    elif len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = Said(
            N_("Keep the reason under %(max)s characters."), max=REASON_MAX_LENGTH
        )
    if not body.strip():
        errors["body"] = N_("Write the correction.")
    elif len(body) > BODY_MAX_LENGTH:
        errors["body"] = Said(
            N_("Keep the correction under %(max)s characters."), max=BODY_MAX_LENGTH
        )
    if not password:
        errors["password"] = N_("Enter your password to sign the addendum.")
    return errors


def add_addendum(
    actor: User,
    session_id: int,
    *,
    reason: str,
    body: str,
    password: str,
    now: datetime | None = None,
) -> Addendum:
    """Add a signed correction to a signed record of the practitioner's clinic.

    Bad fields raise before the password is checked; a wrong password counts towards the
    lockout and is audited (the caller commits that), and nothing else is saved.
    """
    now = now or utcnow()
    policy.require(
        policy.is_practitioner(actor),
        N_("Only practitioners of the clinic add addenda to its records."),
    )
    record = checklists.get_session(actor, session_id)  # another clinic's record: not found
    if not policy.can_add_addendum(actor, record):
        raise Conflict(
            N_(
                "Only a signed record takes addenda: change the checklist itself until it is "
                "signed."
            )
        )
    reason, body = reason.strip(), body.strip()
    errors = field_problems(reason, body, password)
    if errors:
        raise DomainError(NOT_ADDED, errors)
    auth.check_password_again(
        actor,
        password,
        action="session.addendum_failed",
        refused=NOT_ADDED,
        wrong=WRONG_PASSWORD,
        now=now,
        obj=record,
    )
    refuse_a_repeat(
        Addendum, Addendum.session_id, TreatmentSession, record.id, actor.id, reason, body, now=now
    )
    addendum = Addendum(
        session_id=record.id,
        author_id=actor.id,
        reason=reason,
        body=body,
        signer_name=actor.name,
        signature_meaning=ADDENDUM_MEANING,
        signed_dt=now,
    )
    addendum.content_hash = sha256_hex(
        canonical_json(
            addendum_content(
                record_id=record.id,
                record_hash=record.content_hash or "",
                author_id=actor.id,
                signer_name=actor.name,
                reason=reason,
                body=body,
                signed_dt=now,
                meaning=ADDENDUM_MEANING,
            )
        )
    )
    db.session.add(addendum)
    db.session.flush()
    audit.record(
        "session.addendum",
        actor=actor,
        obj=record,
        details={"addendum": addendum.id, "content_hash": addendum.content_hash},
        now=now,
    )
    return addendum


#: How long the same correction by the same person counts as the same tap sent twice.
REPEAT_WINDOW = timedelta(minutes=10)
ALREADY_ADDED = N_("This correction was just added to the record; it is there once.")


def refuse_a_repeat(
    addenda, on, parent, parent_id: int, author_id: int, reason: str, body: str, *, now
) -> None:
    """Refuse the same correction from the same person again within minutes, to a record
    (`addenda` is Addendum, `on` its record column, `parent` the record's model) or to an
    incident: a double tap on Add (or a form sent again) once signed it twice (found by an
    attacker's review). The record is locked first, so two requests at once take turns."""
    take_sqlite_write_lock(addenda)
    db.session.execute(select(parent.id).where(parent.id == parent_id).with_for_update())
    repeat = db.session.scalar(
        select(addenda.id)
        .where(
            on == parent_id,
            addenda.author_id == author_id,
            addenda.reason == reason,
            addenda.body == body,
            addenda.signed_dt >= now - REPEAT_WINDOW,
        )
        .limit(1)
    )
    if repeat is not None:
        raise Conflict(ALREADY_ADDED)


def addenda_for(record_id: int) -> list[Addendum]:
    """Return a record's addenda, oldest first."""
    return list(
        db.session.scalars(
            select(Addendum)
            .where(Addendum.session_id == record_id)
            .order_by(Addendum.signed_dt, Addendum.id)
        )
    )
