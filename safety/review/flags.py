"""The flags queue and the two things done to a flag: acknowledge it, resolve it with a note.

Compliance works every clinic's flags; a practitioner sees and acknowledges only the flags of
their own sessions (`auth.policy.flag_scope`). Both actions are conditional updates, so of two
people acting at once exactly one succeeds, and each is audited in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.orm import selectinload

from safety.audit import services as audit
from safety.auth import policy
from safety.auth.models import User
from safety.checklists.models import Flag, FlagStatus, Severity, TreatmentSession
from safety.clinics.models import Clinic, Patient
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, NotFound
from safety.extensions import db
from safety.followup.models import FollowUp, PatientResponse
from safety.hashing import sha256_hex
from safety.ids import is_id
from safety.languages import N_, Said
from safety.review.queries import Page, capped_count
from safety.review.rules import flags as rules
from safety.risks.models import TemplateVersion

TS = TreatmentSession

FLAG_PAGE_SIZE = 50
RESOLUTION_NOTE_MAX = 2_000
#: Flags still waiting for someone: open, or seen but not yet resolved.
UNRESOLVED = (FlagStatus.OPEN, FlagStatus.ACKNOWLEDGED)


@dataclass(frozen=True)
class FlagRow:
    flag: Flag
    session_date: date
    clinic: str
    practitioner: str
    #: The patient's name: the queue is worked by people who call the patient back.
    patient: str
    is_urgent: bool
    can_acknowledge: bool
    #: Sent to the duty address and not looked after since (rules.waits_at_the_duty_address).
    waits_at_the_duty_address: bool = False
    #: Only the treating practitioner acknowledges it (rules.CLINICIAN_ACKNOWLEDGES).
    needs_clinician: bool = False


def flag_kinds(actor: User) -> list[str]:
    """Return the kinds of flag that exist, for the queue's filter."""
    query = policy.flags_in_scope(actor, select(Flag.kind).distinct().order_by(Flag.kind))
    return list(db.session.scalars(query))


def list_flags(
    actor: User, filters: rules.FlagFilters, *, page: int = 1, page_size: int | None = None
) -> Page:
    """Return a page of the flags queue: patient answers nobody acknowledged in time first (they
    went to the clinic's duty address), then urgent escalations, then open by severity."""
    policy.require(
        policy.can_read_records(actor), N_("Your role does not give access to the flags queue.")
    )
    page_size = page_size or FLAG_PAGE_SIZE
    conditions: list[ColumnElement[bool]] = []
    if filters.status == "unresolved":
        conditions.append(Flag.status.in_(UNRESOLVED))
    elif filters.status in tuple(FlagStatus):
        conditions.append(Flag.status == filters.status)
    if filters.severity:
        conditions.append(Flag.severity == filters.severity)
    if filters.kind:
        conditions.append(Flag.kind == filters.kind)
    if filters.clinic_id is not None:
        conditions.append(
            Flag.session_id.in_(select(TS.id).where(TS.clinic_id == filters.clinic_id))
        )
    # rules.waits_at_the_duty_address, as SQL: escalated and open, or a silence acknowledged
    # before it was sent on.
    urgent = case(
        (
            and_(
                Flag.escalated_dt.is_not(None),
                Flag.status != FlagStatus.RESOLVED,
                or_(
                    Flag.status == FlagStatus.OPEN,
                    and_(Flag.kind == rules.NO_ANSWER, Flag.acknowledged_dt < Flag.escalated_dt),
                ),
            ),
            0,
        ),
        (and_(Flag.kind.in_(rules.URGENT_KINDS), Flag.status != FlagStatus.RESOLVED), 1),
        else_=2,
    )
    # The enums list statuses in the order a queue works them and severities most serious first.
    status_rank = case({s: i for i, s in enumerate(FlagStatus)}, value=Flag.status)
    severity_rank = case({s: i for i, s in enumerate(Severity)}, value=Flag.severity)
    # First the order, on the flags alone; then the details of just this page's flags.
    matching = policy.flags_in_scope(actor, select(Flag.id).where(*conditions))
    ids = list(
        db.session.scalars(
            matching.order_by(
                urgent, status_rank, severity_rank, Flag.created_dt.desc(), Flag.id.desc()
            )
            .offset((page - 1) * page_size)
            .limit(page_size + 1)
        )
    )
    more = len(ids) > page_size
    ids = ids[:page_size]
    found = {}
    if ids:
        details = (
            select(
                Flag,
                TS.session_date,
                TS.practitioner_id,
                Clinic.name,
                User.name,
                Patient.given_name,
                Patient.family_name,
            )
            .join(TS, TS.id == Flag.session_id)
            .join(Clinic, Clinic.id == TS.clinic_id)
            .join(Patient, Patient.id == TS.patient_id)
            .join(User, User.id == TS.practitioner_id)
            .where(Flag.id.in_(ids))
            # The patient's answer behind an escalation is read on the queue itself, with what
            # an urgent one left out (`schedule.unanswered`: the check, the regions needled).
            .options(
                selectinload(Flag.response)
                .joinedload(PatientResponse.followup)
                .joinedload(FollowUp.session)
                .joinedload(TS.template_version)
                .defer(TemplateVersion.definition)
            )
        )
        found = {row[0].id: row for row in db.session.execute(details)}
    count, capped = capped_count(matching)
    result = []
    for flag_id in ids:
        flag, session_date, practitioner_id, clinic, practitioner, given, family = found[flag_id]
        result.append(
            FlagRow(
                flag=flag,
                session_date=session_date,
                clinic=clinic,
                practitioner=practitioner,
                patient=f"{given} {family}",
                is_urgent=flag.kind in rules.URGENT_KINDS and flag.status != FlagStatus.RESOLVED,
                can_acknowledge=flag.status == FlagStatus.OPEN
                and policy.can_acknowledge_flags_of(
                    actor,
                    practitioner_id,
                    needs_clinician=flag.kind in rules.CLINICIAN_ACKNOWLEDGES,
                ),
                waits_at_the_duty_address=rules.waits_at_the_duty_address(
                    flag.kind, flag.status, flag.escalated_dt, flag.acknowledged_dt
                ),
                needs_clinician=flag.kind in rules.CLINICIAN_ACKNOWLEDGES,
            )
        )
    return Page(
        result,
        count,
        capped,
        str(page + 1) if more else None,
        str(page - 1) if page > 1 else None,
    )


def get_flag(actor: User, flag_id: int) -> Flag:
    """Return a flag the actor may act on; anything else is simply not found."""
    if not is_id(flag_id):
        raise NotFound(N_("No such flag."))
    flag = db.session.scalar(
        select(Flag)
        .join(TS, TS.id == Flag.session_id)
        .where(Flag.id == flag_id, policy.flag_scope(actor))
    )
    if flag is None:
        raise NotFound(N_("No such flag."))
    return flag


#: Why compliance cannot acknowledge a patient's urgent answer (`policy.can_acknowledge_flag`).
WAITS_FOR_THE_PRACTITIONER = N_(
    "This waits for the practitioner who treated the patient: until they acknowledge it, it "
    "goes on to the clinic's duty address. Resolve it with a note once the patient has been "
    "contacted."
)


def acknowledge_flag(actor: User, flag_id: int, *, now: datetime | None = None) -> Flag:
    """Mark an open flag as seen by the actor, audited in the same transaction
    (`policy.can_acknowledge_flag` says whose)."""
    policy.require(policy.can_read_records(actor), N_("Your role cannot acknowledge flags."))
    now = now or utcnow()
    flag = get_flag(actor, flag_id)
    clinical = flag.kind in rules.CLINICIAN_ACKNOWLEDGES
    if not policy.can_acknowledge_flag(actor, flag.session, needs_clinician=clinical):
        raise Conflict(
            WAITS_FOR_THE_PRACTITIONER
            if clinical and policy.is_compliance(actor)
            else N_("Only the practitioner who treated the patient can acknowledge this flag.")
        )
    # Conditional update: of two people acknowledging at once, exactly one succeeds.
    done = db.session.execute(
        update(Flag)
        .where(Flag.id == flag.id, Flag.status == FlagStatus.OPEN)
        .values(status=FlagStatus.ACKNOWLEDGED, acknowledged_dt=now, acknowledged_by_id=actor.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        db.session.refresh(flag)
        if flag.status == FlagStatus.RESOLVED:
            raise Conflict(N_("This flag is already resolved."))
        raise Conflict(N_("This flag was already acknowledged."))
    db.session.refresh(flag)
    audit.record("flag.acknowledge", actor=actor, obj=flag, details=flag.audit_details, now=now)
    return flag


def resolve_flag(actor: User, flag_id: int, note: str, *, now: datetime | None = None) -> Flag:
    """Close a flag with a note saying what was done, audited in the same transaction."""
    policy.require(policy.can_resolve_flags(actor), N_("Only compliance officers resolve flags."))
    now = now or utcnow()
    note = (note or "").strip()
    if not note:
        raise DomainError(
            N_("The flag was not resolved."), {"note": N_("Write what was done about this flag.")}
        )
    if len(note) > RESOLUTION_NOTE_MAX:
        raise DomainError(
            N_("The flag was not resolved."),
            {"note": Said(N_("Keep the note under %(max)s characters."), max=RESOLUTION_NOTE_MAX)},
        )
    flag = get_flag(actor, flag_id)
    done = db.session.execute(
        update(Flag)
        .where(Flag.id == flag.id, Flag.status.in_(UNRESOLVED))
        .values(
            status=FlagStatus.RESOLVED,
            resolved_dt=now,
            resolved_by_id=actor.id,
            resolution_note=note,
            acknowledged_dt=func.coalesce(Flag.acknowledged_dt, now),
            acknowledged_by_id=func.coalesce(Flag.acknowledged_by_id, actor.id),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        raise Conflict(N_("This flag was already resolved."))
    db.session.refresh(flag)
    # The note may hold clinical detail, so the audit event records only its length and digest.
    audit.record(
        "flag.resolve",
        actor=actor,
        obj=flag,
        details={**flag.audit_details, "note_length": len(note), "note_hash": sha256_hex(note)},
        now=now,
    )
    return flag
