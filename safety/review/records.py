"""The record list, its filters and patient search, and the page of one record.

Every query is scoped on the server by `auth.policy`: compliance officers read every clinic,
practitioners their own clinic's records, administrators nothing. The list pages by keyset on
(session date, id) (`queries.keyset_page`), so a deep page costs what the first one does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select

from safety.audit.models import AuditEvent
from safety.auth import policy
from safety.auth.models import Role, User
from safety.checklists import services as checklists
from safety.checklists.models import Flag, FlagStatus, PhaseEntry, Severity, TreatmentSession
from safety.clinics import rules as clinic_rules
from safety.clinics.models import Clinic, Patient
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup.models import FollowUp, PatientResponse
from safety.ids import is_id
from safety.languages import N_, Said, Words
from safety.packs import services as packs
from safety.packs.models import SessionPack
from safety.review.queries import (
    Page,
    capped_count,
    core,
    in_order,
    keyset_page,
    overdue,
    overdue_cutoffs,
)
from safety.review.rules import flags as flag_rules
from safety.review.rules import history
from safety.review.rules import records as rules
from safety.risks.models import TemplateVersion

TS = TreatmentSession

PAGE_SIZE = 50
PATIENT_SEARCH_LIMIT = 50

#: Who the history names for an event no person caused (the worker, a patient).
SYSTEM = Said(N_("System"))


# --- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterOptions:
    """What the record filters offer: clinics, practitioners and template versions."""

    clinics: list[tuple[int, str]]
    practitioners: list[tuple[int, str, str]]
    versions: list[tuple[int, int]]
    #: The patient currently filtered on, as (id, name, clinic), if any.
    patient: tuple[int, str, str] | None = None


def filter_options(actor: User, *, patient_id: int | None = None) -> FilterOptions:
    """Return the choices of the record filters within the actor's scope."""
    clinic_rows = db.session.scalars(select(Clinic).where(policy.clinic_scope(actor)))
    clinic_list = sorted(((c.id, c.name) for c in clinic_rows), key=lambda c: c[1])
    clinic_names = dict(clinic_list)
    people = db.session.execute(
        select(User.id, User.name, User.clinic_id)
        .where(User.role == Role.PRACTITIONER, User.clinic_id.in_(list(clinic_names)))
        .order_by(User.name, User.id)
    ).all()
    versions = db.session.execute(
        select(TemplateVersion.id, TemplateVersion.version)
        .where(TemplateVersion.published_dt.is_not(None))
        .order_by(TemplateVersion.version.desc())
    ).all()
    patient = None
    if patient_id is not None and is_id(patient_id):
        found = db.session.scalar(
            policy.visible_patients(actor).where(Patient.id == patient_id).limit(1)
        )
        if found is not None:
            patient = (found.id, found.display_name, clinic_names.get(found.clinic_id, ""))
    return FilterOptions(
        clinics=clinic_list,
        practitioners=[(p.id, p.name, clinic_names.get(p.clinic_id, "")) for p in people],
        versions=[(v.id, v.version) for v in versions],
        patient=patient,
    )


def cutoffs_for(filters: rules.RecordFilters, now: datetime) -> dict[int, date]:
    """Return the overdue cutoffs when the filters need them (only the state filter does)."""
    return overdue_cutoffs(now) if filters.state in ("overdue", "in_progress") else {}


def record_conditions(
    actor: User, filters: rules.RecordFilters, cutoffs: dict[int, date]
) -> list[ColumnElement[bool]]:
    """Return the conditions on the sessions that the actor may read and the filters match.

    The record list and the CSV export both narrow by these, so they never disagree.
    """
    conditions: list[ColumnElement[bool]] = [policy.session_scope(actor)]
    if filters.clinic_id is not None:
        conditions.append(TS.clinic_id == filters.clinic_id)
    if filters.practitioner_id is not None:
        conditions.append(TS.practitioner_id == filters.practitioner_id)
    if filters.patient_id is not None:
        conditions.append(TS.patient_id == filters.patient_id)
    if filters.date_from is not None:
        conditions.append(TS.session_date >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(TS.session_date <= filters.date_to)
    if filters.template_version_id is not None:
        conditions.append(TS.template_version_id == filters.template_version_id)
    if filters.flag == "any":
        conditions.append(exists().where(Flag.session_id == TS.id))
    elif filters.flag == "none":
        conditions.append(~exists().where(Flag.session_id == TS.id))
    elif filters.flag in tuple(Severity):
        flagged = select(Flag.session_id).where(Flag.severity == filters.flag)
        conditions.append(TS.id.in_(flagged))
    if filters.state == "signed":
        conditions.append(TS.signed_dt.is_not(None))
    elif filters.state == "overdue":
        conditions.append(overdue(cutoffs))
    elif filters.state == "in_progress":
        conditions.append(
            and_(TS.signed_dt.is_(None), TS.cancelled_dt.is_(None), ~overdue(cutoffs))
        )
    elif filters.state == "cancelled":
        conditions.append(TS.cancelled_dt.is_not(None))
    return conditions


# --- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRow:
    """One line of the records list."""

    id: int
    session_date: date
    clinic: str
    practitioner: str
    patient: str
    version: int
    needle_lot: str | None
    state: str
    #: severity -> number of flags on the record.
    flags: dict[str, int]


def _flags_by_session(session_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if not session_ids:
        return found
    for session_id, severity, kind in core().execute(
        select(Flag.session_id, Flag.severity, Flag.kind).where(
            Flag.session_id.in_(list(session_ids))
        )
    ):
        found[session_id].append((severity, kind))
    return found


def find_records(
    actor: User,
    filters: rules.RecordFilters,
    *,
    after: tuple[date, int] | None = None,
    before: tuple[date, int] | None = None,
    page_size: int | None = None,
    now: datetime | None = None,
) -> Page:
    """Return a page of records, newest first by (session date, id), with the matching count."""
    now = now or utcnow()
    page_size = page_size or PAGE_SIZE
    cutoffs = cutoffs_for(filters, now)
    conditions = record_conditions(actor, filters, cutoffs)
    ids, next_cursor, prev_cursor = keyset_page(
        conditions, after=after, before=before, size=page_size
    )
    details = (
        select(
            TS.id,
            TS.session_date,
            TS.signed_dt,
            TS.cancelled_dt,
            TS.clinic_id,
            TS.needle_lot,
            Clinic.name.label("clinic"),
            User.name.label("practitioner"),
            Patient.given_name,
            Patient.family_name,
            TemplateVersion.version,
        )
        .outerjoin(Clinic, Clinic.id == TS.clinic_id)
        .outerjoin(User, User.id == TS.practitioner_id)
        .outerjoin(Patient, Patient.id == TS.patient_id)
        .outerjoin(TemplateVersion, TemplateVersion.id == TS.template_version_id)
    )
    rows = in_order(details, ids)
    if not cutoffs and any(r.signed_dt is None for r in rows):
        cutoffs = overdue_cutoffs(now)  # the state of an unsigned row on the page
    count, capped = capped_count(select(TS.id).where(*conditions))
    flags = _flags_by_session([r.id for r in rows])
    result = []
    for r in rows:
        by_severity: dict[str, int] = {}
        for severity, _kind in flags.get(r.id, ()):
            by_severity[severity] = by_severity.get(severity, 0) + 1
        result.append(
            RecordRow(
                id=r.id,
                session_date=r.session_date,
                clinic=r.clinic,
                practitioner=r.practitioner,
                patient=f"{r.given_name} {r.family_name}",
                version=r.version,
                needle_lot=r.needle_lot,
                state=rules.session_state(
                    r.signed_dt is not None,
                    r.session_date,
                    cutoffs.get(r.clinic_id),
                    is_cancelled=r.cancelled_dt is not None,
                ),
                flags={s: by_severity[s] for s in Severity if s in by_severity},
            )
        )
    return Page(result, count, capped, next_cursor, prev_cursor)


def find_patients(actor: User, name: str) -> list[tuple[int, str, str]]:
    """Return patients in the actor's scope whose names contain every word typed."""
    policy.require(
        policy.can_read_records(actor),
        N_("Only clinical and compliance staff can search patients."),
    )
    words = name.split()[:5]
    if not words:
        return []
    query = policy.visible_patients(actor)
    for word in words:
        # Accents and case aside (clinic_rules.search_key): "lucia" finds Lucía.
        query = query.where(
            Patient.search_name.contains(clinic_rules.search_key(word), autoescape=True)
        )
    found = db.session.scalars(query.limit(PATIENT_SEARCH_LIMIT)).all()
    names = dict(db.session.execute(select(Clinic.id, Clinic.name)).tuples().all())
    return [(p.id, p.display_name, names.get(p.clinic_id, "")) for p in found]


# --- one record ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEvent:
    created_dt: datetime
    actor: str
    action: str
    summary: str
    #: Who acted (None: the system or a patient); runs of views are folded by it, not by name.
    actor_id: int | None = None


@dataclass(frozen=True)
class RecordDetail:
    """Everything the record page shows about one session."""

    record: TreatmentSession
    progress: checklists.Progress
    #: Every phase submission, oldest first.
    entries: list[PhaseEntry]
    state: str
    ticked_together: bool
    flags: list[Flag]
    #: Flag ids the actor may acknowledge.
    can_acknowledge: set[int]
    can_resolve: bool
    followups: list[FollowUp]
    responses: dict[int, PatientResponse]
    #: In the order the events were appended, a run of one reader's views as one line.
    history: list[history.HistoryLine]
    names: dict[int, str]
    #: The needle packs the session opened, first pack first.
    packs: list[SessionPack]


def _history(
    record: TreatmentSession,
    entries: list[PhaseEntry],
    flags: list[Flag],
    followups: list[FollowUp],
    responses: dict[int, PatientResponse],
    phase_titles: dict[str, Words],
) -> tuple[list[history.HistoryLine], dict[int, str]]:
    """The record's audit history (its own events and those of its flags, follow-ups and
    answers, in the order they were appended, a reader's run of views as one line) and the
    names of everyone who acts in it or on the page."""
    objects = [
        and_(
            AuditEvent.object_type == TreatmentSession.__tablename__,
            AuditEvent.object_id == str(record.id),
        )
    ]
    related = [
        (Flag.__tablename__, [f.id for f in flags]),
        (FollowUp.__tablename__, [f.id for f in followups]),
        (PatientResponse.__tablename__, [r.id for r in responses.values()]),
    ]
    for object_type, ids in related:
        if ids:
            objects.append(
                and_(
                    AuditEvent.object_type == object_type,
                    AuditEvent.object_id.in_([str(i) for i in ids]),
                )
            )
    runs = db.session.execute(_folded_history(or_(*objects))).all()
    user_ids = {e.actor_id for e in runs if e.actor_id} | {e.author_id for e in entries}
    user_ids |= {a.author_id for a in record.addenda}
    user_ids |= {f.acknowledged_by_id for f in flags if f.acknowledged_by_id}
    user_ids |= {f.resolved_by_id for f in flags if f.resolved_by_id}
    names = dict(
        db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).tuples().all()
    )
    lines = [
        history.HistoryLine(
            HistoryEvent(
                e.created_dt,
                names.get(e.actor_id, SYSTEM) if e.actor_id else SYSTEM,
                history.action_label(e.action),
                history.history_summary(e.action, e.details or {}, phase_titles),
                e.actor_id,
            ),
            e.count,
            e.until if e.count > 1 else None,
        )
        for e in runs
    ]
    return lines, names


#: The action whose runs the history folds: one reader reading the same record again.
VIEW = "session.view"


def _folded_history(events: ColumnElement[bool]):
    """The events matching `events` in the order they were appended, each run of one reader's
    consecutive views as one row (its first view, with how many and the last one's time).

    A record read often gathers an event per reading, so the database folds the runs
    (`history.fold_views` is the rule): the page then costs the same after a thousand reads as
    after one, where reading each view and folding it here grew the page by about 10 µs a
    read. A run starts at every event that is not a view following the same reader's view;
    a running count of the starts numbers the runs.

    The order is the events' id, which is unique: a record's events can lie on two chains
    (before migration 0009 every event went on one), where sequence numbers repeat, and two
    events must never share a place and so a run.
    """
    appended = {"order_by": AuditEvent.id}
    starts = (
        select(
            AuditEvent.id,
            AuditEvent.created_dt,
            AuditEvent.actor_id,
            AuditEvent.action,
            AuditEvent.details,
            case(
                (
                    and_(
                        AuditEvent.action == VIEW,
                        func.lag(AuditEvent.action).over(**appended) == VIEW,
                        func.lag(AuditEvent.actor_id).over(**appended) == AuditEvent.actor_id,
                    ),
                    0,
                ),
                else_=1,
            ).label("starts"),
        )
        .where(events)
        .subquery("starts")
    )
    numbered = select(
        starts,
        func.sum(starts.c.starts).over(order_by=starts.c.id, rows=(None, 0)).label("run"),
    ).subquery("numbered")
    first_last = {"partition_by": numbered.c.run, "order_by": numbered.c.id.desc()}
    runs = select(
        numbered.c.id,
        numbered.c.created_dt,
        numbered.c.actor_id,
        numbered.c.action,
        numbered.c.details,
        func.count().over(partition_by=numbered.c.run).label("count"),
        func.first_value(numbered.c.created_dt, type_=AuditEvent.created_dt.type)
        .over(**first_last)
        .label("until"),
        func.row_number().over(partition_by=numbered.c.run, order_by=numbered.c.id).label("place"),
    ).subquery("runs")
    return (
        select(
            runs.c.created_dt,
            runs.c.actor_id,
            runs.c.action,
            runs.c.details,
            runs.c["count"],
            runs.c.until,
        )
        .where(runs.c.place == 1)
        .order_by(runs.c.id)
    )


def record_detail(actor: User, session_id: int, *, now: datetime | None = None) -> RecordDetail:
    """Return a record with its phases, signature, addenda, flags, follow-ups and audit history.

    Reading a record someone else wrote is itself audited (last: see `checklists.note_view`).
    """
    policy.require(policy.can_read_records(actor), N_("Your role does not give access to records."))
    now = now or utcnow()
    record = checklists.get_session(actor, session_id, page=True)
    state = checklists.progress(record)
    entries = sorted(record.entries, key=lambda e: e.id)
    flags = list(record.flags)
    followups = list(
        db.session.scalars(
            select(FollowUp).where(FollowUp.session_id == record.id).order_by(FollowUp.due_dt)
        )
    )
    responses = {
        r.followup_id: r
        for r in db.session.scalars(
            select(PatientResponse).where(PatientResponse.session_id == record.id)
        )
    }
    phase_titles = {phase.id: Words(phase.title) for phase in state.template.phases}
    lines, names = _history(record, entries, flags, followups, responses, phase_titles)
    cutoffs = overdue_cutoffs(now)
    # Audited last, so the clinic's chain is held only from here to the commit; the page
    # shows this view in the history as the event records it.
    if checklists.note_view(actor, record, now=now):
        viewed = HistoryEvent(
            now,
            actor.name,
            history.action_label(VIEW),
            history.history_summary(VIEW, {}, phase_titles),
            actor.id,
        )
        lines = history.fold_views([*lines, history.HistoryLine(viewed)])
    # The first save of each phase: saving one phase again later must not hide a checklist
    # that was ticked all at once at the end.
    first_saved: dict[str, datetime] = {}
    for entry in entries:
        first_saved.setdefault(entry.phase, entry.submitted_dt)
    return RecordDetail(
        record=record,
        progress=state,
        entries=entries,
        state=rules.session_state(
            record.is_signed,
            record.session_date,
            cutoffs.get(record.clinic_id),
            is_cancelled=record.is_cancelled,
        ),
        ticked_together=rules.ticked_together(
            list(first_saved.values()), phases=len(state.template.phases)
        ),
        flags=flags,
        can_acknowledge={
            f.id
            for f in flags
            if f.status == FlagStatus.OPEN
            and policy.can_acknowledge_flag(
                actor, record, needs_clinician=f.kind in flag_rules.CLINICIAN_ACKNOWLEDGES
            )
        },
        can_resolve=policy.can_resolve_flags(actor),
        packs=packs.packs_of_session(record.id),
        followups=followups,
        responses=responses,
        history=lines,
        names=names,
    )
