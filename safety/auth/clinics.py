"""The clinics a practitioner works at, and the one they work at now.

A practitioner may belong to several clinics (a locum, a physiotherapist with two sites). They
work at one at a time: `User.clinic_id`, which every clinic-scoped rule reads through
`policy.working_clinic_id`, so another clinic's records stay "not found" until they switch.
The choice belongs to the person, not to the browser: switching on one tablet switches them
everywhere, as a person is at one clinic at a time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, select, update

from safety.audit import services as audit
from safety.auth import policy
from safety.auth import services as accounts
from safety.auth.models import ClinicMembership, User
from safety.clinics.models import Clinic
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, NotFound
from safety.extensions import db, take_turns_on
from safety.languages import N_


def clinics_of(user: User) -> list[Clinic]:
    """Return the clinics a practitioner works at, in name order (their current one included)."""
    if not policy.is_practitioner(user):
        return []
    ids = set(
        db.session.scalars(
            select(ClinicMembership.clinic_id).where(ClinicMembership.user_id == user.id)
        )
    )
    if user.clinic_id is not None:
        ids.add(user.clinic_id)
    if not ids:
        return []
    return list(db.session.scalars(select(Clinic).where(Clinic.id.in_(ids)).order_by(Clinic.name)))


def ensure_member(user: User, clinic_id: int, *, now: datetime | None = None) -> None:
    """Record that a practitioner works at a clinic (nothing if they already do)."""
    if db.session.get(ClinicMembership, (user.id, clinic_id)) is None:
        db.session.add(
            ClinicMembership(user_id=user.id, clinic_id=clinic_id, created_dt=now or utcnow())
        )
        db.session.flush()


def _lock(user_id: int) -> None:
    """Hold the person's row until the transaction ends, so a switch and an administrator's
    removal of a clinic take turns."""
    take_turns_on(User, user_id)


def _member(user_id: int, clinic_id: int):
    return exists().where(
        ClinicMembership.user_id == user_id, ClinicMembership.clinic_id == clinic_id
    )


def switch(user: User, clinic_id: int, *, now: datetime | None = None) -> Clinic:
    """Work at another of one's clinics from now on; a clinic one does not belong to is 404.

    The move is made only while the membership still exists, in the statement that makes it:
    a switch racing an administrator's removal of that clinic once left the person working
    at a clinic they no longer belonged to (found by an attacker's review)."""
    now = now or utcnow()
    clinic = next((c for c in clinics_of(user) if c.id == clinic_id), None)
    if clinic is None:
        raise NotFound(N_("No such clinic."))
    _lock(user.id)
    db.session.refresh(user)
    # Two taps at once: the second, after its turn, finds the move made and records nothing.
    if user.clinic_id == clinic.id:
        return clinic
    old = user.clinic_id
    moved = db.session.execute(
        update(User)
        .where(User.id == user.id, _member(user.id, clinic.id))
        .values(clinic_id=clinic.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(user)
    if not moved:
        raise NotFound(N_("No such clinic."))
    audit.record(
        "user.switch_clinic",
        actor=user,
        obj=user,
        details={"old_clinic_id": old, "new_clinic_id": clinic.id},
        now=now,
    )
    return clinic


def add(user_id: int, clinic_id: int | None, *, actor: User, now: datetime | None = None) -> User:
    """Let a practitioner work at one more clinic (an administrator's action)."""
    user = accounts.held_user(user_id)  # two clicks at once: the second sees the first's
    if not policy.is_practitioner(user):
        raise DomainError(
            "The clinic was not added.",
            {"membership": "Only practitioners work at clinics; change the role first."},
        )
    if clinic_id is None or db.session.get(Clinic, clinic_id) is None:
        raise DomainError(N_("The clinic was not added."), {"membership": "Choose a clinic."})
    if any(c.id == clinic_id for c in clinics_of(user)):
        raise Conflict(N_("This practitioner already works at that clinic."))
    ensure_member(user, user.clinic_id, now=now)
    ensure_member(user, clinic_id, now=now)
    audit.record(
        "user.clinic_add", actor=actor, obj=user, details={"clinic_id": clinic_id}, now=now
    )
    return user


def remove(user_id: int, clinic_id: int, *, actor: User, now: datetime | None = None) -> User:
    """Stop a practitioner working at a clinic; not the one they work at now."""
    user = accounts.get_user(user_id)
    _lock(user.id)
    # Not while it is the clinic they work at, asked in the statement that removes it (a
    # switch to it may have been made since the person was read).
    working_there = exists().where(User.id == user.id, User.clinic_id == clinic_id)
    removed = db.session.execute(
        delete(ClinicMembership)
        .where(
            ClinicMembership.user_id == user.id,
            ClinicMembership.clinic_id == clinic_id,
            ~working_there,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(user)
    if clinic_id == user.clinic_id:
        raise Conflict(
            "This is the clinic they work at now. Change their clinic (Role) first, or ask "
            "them to switch."
        )
    if removed != 1:
        raise NotFound(N_("No such clinic."))
    details = {"clinic_id": clinic_id}
    if user.lead_clinic_id == clinic_id:
        user.lead_clinic_id = None  # no longer working there, so no longer leading it
        details["was_lead"] = True
    audit.record("user.clinic_remove", actor=actor, obj=user, details=details, now=now)
    return user
