"""Compliance review use cases: dashboard, records, record detail, flags, lot trace and exports.

Every function takes plain values and the acting user and scopes its queries on the server:
compliance officers read every clinic, practitioners only their own flags (and their clinic's
records), administrators nothing. Aggregates are SQL GROUP BYs over the columns the checklist
copies at signing, so the dashboard never loads a record.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from safety.audit import services as audit
from safety.audit.models import AuditEvent
from safety.auth import policy
from safety.auth.models import Role, User
from safety.checklists import services as checklists
from safety.checklists.models import Flag, PhaseEntry, TreatmentSession
from safety.clinics.models import Clinic, Patient, zone_for
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, NotFound
from safety.extensions import db
from safety.followup.models import FollowUp, PatientResponse
from safety.ids import is_id
from safety.integrity import verify
from safety.integrity.models import VerificationRun
from safety.review import rules
from safety.review.rules import LotQuery, MonthCounts, RecordFilters
from safety.risks.models import TemplateVersion

TS = TreatmentSession

PAGE_SIZE = 50
LOT_PAGE_SIZE = 100
FLAG_PAGE_SIZE = 50
#: Counting stops here: beyond it the page says "more than 10,000".
COUNT_CAP = 10_000
#: Rows per fetch while streaming a CSV; memory stays flat however many rows there are.
EXPORT_BATCH = 2_000
PATIENT_SEARCH_LIMIT = 50
RESOLUTION_NOTE_MAX = 2_000
#: Periods the dashboard offers, in months.
PERIODS = (3, 6, 12, 24, 60)


# --- SQL helpers -----------------------------------------------------------------------------


def _events(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _newest_first(after: tuple[date, int] | None) -> list[ColumnElement[bool]]:
    """Keyset condition for (session_date desc, id desc): rows after the cursor."""
    if after is None:
        return []
    day, session_id = after
    # Written so that an index on (session_date, id) answers it on every backend.
    return [TS.session_date <= day, or_(TS.session_date < day, TS.id < session_id)]


def _newer_than(before: tuple[date, int]) -> list[ColumnElement[bool]]:
    day, session_id = before
    return [TS.session_date >= day, or_(TS.session_date > day, TS.id > session_id)]


def _capped_count(query: Select) -> tuple[int, bool]:
    """Count a query's rows up to COUNT_CAP; return the count and whether it was capped."""
    limited = query.with_only_columns(TS.id).order_by(None).limit(COUNT_CAP + 1).subquery()
    found = _core().scalar(select(func.count()).select_from(limited)) or 0
    return min(found, COUNT_CAP), found > COUNT_CAP


def _require_compliance(actor: User) -> None:
    policy.require(policy.can_review(actor), "Only compliance officers can do this.")


def _clinics() -> list[Clinic]:
    return list(db.session.scalars(select(Clinic).order_by(Clinic.name, Clinic.id)))


def overdue_cutoffs(now: datetime) -> dict[int, date]:
    """Return, per clinic, the latest session date whose unsigned checklist is overdue."""
    clinics = _core().execute(select(Clinic.id, Clinic.timezone, Clinic.workday_end_hour))
    return {
        clinic_id: rules.overdue_cutoff(now, zone_for(timezone), end_hour)
        for clinic_id, timezone, end_hour in clinics
    }


def _needs_cutoffs(filters: RecordFilters) -> bool:
    """Whether the record conditions use the overdue cutoffs (only the state filter does)."""
    return filters.state in ("overdue", "in_progress")


def _core():
    """The session's connection, for column queries: no ORM result machinery per statement.

    Flushed first, as the session's own execute would autoflush.
    """
    if db.session.new or db.session.dirty or db.session.deleted:
        db.session.flush()
    return db.session.connection()


def _overdue(cutoffs: dict[int, date]) -> ColumnElement[bool]:
    """Unsigned sessions whose clinic's working day has ended."""
    by_day: dict[date, list[int]] = defaultdict(list)
    for clinic_id, day in cutoffs.items():
        by_day[day].append(clinic_id)
    if not by_day:
        return false()
    return and_(
        TS.signed_dt.is_(None),
        or_(
            *(
                and_(TS.clinic_id.in_(sorted(ids)), TS.session_date <= day)
                for day, ids in sorted(by_day.items())
            )
        ),
    )


# --- dashboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    """The compliance officer's overview of a period."""

    months: int
    start: date
    end: date
    clinic_id: int | None
    clinics: list[tuple[int, str]]
    started: int
    signed: int
    overdue: int
    open_flags: dict[str, int]
    acknowledged_flags: int
    urgent_flags: int
    followups: dict[str, int]
    tables: list[rules.MeasureTable]
    verification: VerificationRun | None

    @property
    def in_progress(self) -> int:
        return self.started - self.signed - self.overdue

    @property
    def completion(self) -> float | None:
        return rules.rate(self.signed, self.started)

    @property
    def response_rate(self) -> float | None:
        return rules.response_rate(self.followups)

    @property
    def reached(self) -> int:
        return self.followups.get("sent", 0) + self.followups.get("answered", 0)

    @property
    def open_flag_total(self) -> int:
        return sum(self.open_flags.values())


def monthly_counts(start: date, end: date, clinic_id: int | None = None) -> list[MonthCounts]:
    """Count sessions and minor events per clinic and month in one pass over the sessions.

    The database groups by (session_date, clinic_id), the order of the covering index
    `ix_treatment_sessions_outcomes`, so it neither sorts nor reads the table; the days are
    then rolled up into months here, the same way on SQLite and PostgreSQL.
    """
    query = (
        select(
            TS.session_date,
            TS.clinic_id,
            func.count(),
            func.count(TS.signed_dt),
            _events(TS.bleeding.in_(rules.BLEEDING_EVENTS)),
            func.count(TS.bleeding),
            _events(TS.bruising.in_(rules.BRUISING_EVENTS)),
            func.count(TS.bruising),
            _events(TS.pain_during >= rules.PAIN_THRESHOLD),
            func.count(TS.pain_during),
            _events(TS.reaction != rules.NO_REACTION),
            func.count(TS.reaction),
        )
        .where(TS.session_date >= start, TS.session_date <= end)
        .group_by(TS.session_date, TS.clinic_id)
    )
    if clinic_id is not None:
        query = query.where(TS.clinic_id == clinic_id)
    return rules.roll_up_months(tuple(row) for row in db.session.execute(query))


def dashboard(
    actor: User, *, months: int = 12, clinic_id: int | None = None, now: datetime | None = None
) -> Dashboard:
    """Return the figures of the dashboard for the months ending with the current one."""
    _require_compliance(actor)
    now = now or utcnow()
    all_clinics = _clinics()
    shown = [c for c in all_clinics if clinic_id is None or c.id == clinic_id]
    # The period follows the calendar of the clinic furthest ahead, so no session is "future".
    today = max((now.astimezone(c.zone).date() for c in all_clinics), default=now.date())
    start, end = rules.period_bounds(today, months)
    counts = monthly_counts(start, end, clinic_id)
    month_keys = rules.month_keys(start, end)
    names = [(c.id, c.name) for c in shown]
    tables = [rules.measure_table(m, counts, names, month_keys) for m in rules.MEASURES]

    cutoffs = overdue_cutoffs(now)
    unsigned = (
        select(TS.clinic_id, TS.session_date, func.count())
        .where(TS.signed_dt.is_(None), TS.session_date >= start, TS.session_date <= end)
        .group_by(TS.clinic_id, TS.session_date)
    )
    if clinic_id is not None:
        unsigned = unsigned.where(TS.clinic_id == clinic_id)
    overdue = sum(
        n
        for cid, day, n in db.session.execute(unsigned)
        if rules.session_state(False, day, cutoffs.get(cid)) == "overdue"
    )

    flags = select(Flag.status, Flag.severity, Flag.kind, func.count()).where(
        Flag.status.in_(("open", "acknowledged"))
    )
    if clinic_id is not None:
        flags = flags.join(TS, TS.id == Flag.session_id).where(TS.clinic_id == clinic_id)
    open_flags = dict.fromkeys(rules.SEVERITIES, 0)
    acknowledged = urgent = 0
    for status, severity, kind, n in db.session.execute(
        flags.group_by(Flag.status, Flag.severity, Flag.kind)
    ):
        if status == "open":
            open_flags[severity] = open_flags.get(severity, 0) + n
            urgent += n if kind in rules.URGENT_KINDS else 0
        else:
            acknowledged += n

    first = datetime.combine(start, time(), UTC)
    last = datetime.combine(end + timedelta(days=1), time(), UTC)
    followups = select(FollowUp.status, func.count()).where(
        FollowUp.due_dt >= first, FollowUp.due_dt < last
    )
    if clinic_id is not None:
        followups = followups.join(TS, TS.id == FollowUp.session_id).where(
            TS.clinic_id == clinic_id
        )
    by_status = {s: n for s, n in db.session.execute(followups.group_by(FollowUp.status))}

    return Dashboard(
        months=months,
        start=start,
        end=end,
        clinic_id=clinic_id,
        clinics=[(c.id, c.name) for c in all_clinics],
        started=sum(c.started for c in counts),
        signed=sum(c.signed for c in counts),
        overdue=overdue,
        open_flags=open_flags,
        acknowledged_flags=acknowledged,
        urgent_flags=urgent,
        followups=by_status,
        tables=tables,
        verification=verify.last_run(),
    )


# --- records ---------------------------------------------------------------------------------


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
    clinic_rows = db.session.scalars(
        select(Clinic).where(
            true() if policy.can_review(actor) else Clinic.id == policy.working_clinic_id(actor)
        )
    )
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


def _record_conditions(
    actor: User, filters: RecordFilters, cutoffs: dict[int, date]
) -> list[ColumnElement[bool]]:
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
    elif filters.flag in rules.SEVERITIES:
        flagged = select(Flag.session_id).where(Flag.severity == filters.flag)
        conditions.append(TS.id.in_(flagged))
    if filters.state == "signed":
        conditions.append(TS.signed_dt.is_not(None))
    elif filters.state == "overdue":
        conditions.append(_overdue(cutoffs))
    elif filters.state == "in_progress":
        conditions.append(and_(TS.signed_dt.is_(None), ~_overdue(cutoffs)))
    return conditions


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


@dataclass(frozen=True)
class Page:
    """A page of a keyset-paginated list, with how many rows match in all."""

    rows: list[Any]
    count: int
    is_count_capped: bool
    next_cursor: str | None
    prev_cursor: str | None


def _keyset_page(
    conditions: Sequence[ColumnElement[bool]],
    *,
    after: tuple[date, int] | None,
    before: tuple[date, int] | None,
    size: int,
) -> tuple[list[int], str | None, str | None]:
    """Return the ids of a page of sessions ordered newest first by (session_date, id).

    Only the sessions table takes part, so the database walks (or sorts) narrow rows; the
    caller then reads the details of just these ids.
    """
    query = select(TS.id, TS.session_date).where(*conditions)
    if before is not None:
        rows = (
            _core()
            .execute(
                query.where(*_newer_than(before))
                .order_by(TS.session_date.asc(), TS.id.asc())
                .limit(size + 1)
            )
            .all()
        )
        more = len(rows) > size
        rows = rows[:size][::-1]
        prev_cursor = rules.encode_cursor(rows[0].session_date, rows[0].id) if more else None
        next_cursor = rules.encode_cursor(rows[-1].session_date, rows[-1].id) if rows else None
        return [r.id for r in rows], next_cursor, prev_cursor
    rows = (
        _core()
        .execute(
            query.where(*_newest_first(after))
            .order_by(TS.session_date.desc(), TS.id.desc())
            .limit(size + 1)
        )
        .all()
    )
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = rules.encode_cursor(rows[-1].session_date, rows[-1].id) if more else None
    prev_cursor = None
    if after is not None and rows:
        prev_cursor = rules.encode_cursor(rows[0].session_date, rows[0].id)
    return [r.id for r in rows], next_cursor, prev_cursor


def _in_order(query: Select, ids: Sequence[int]) -> list[Any]:
    """Run a details query for some session ids and return its rows in the order of the ids."""
    if not ids:
        return []
    found = {row.id: row for row in _core().execute(query.where(TS.id.in_(list(ids))))}
    return [found[i] for i in ids if i in found]


def _flags_by_session(session_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if not session_ids:
        return found
    for session_id, severity, kind in _core().execute(
        select(Flag.session_id, Flag.severity, Flag.kind).where(
            Flag.session_id.in_(list(session_ids))
        )
    ):
        found[session_id].append((severity, kind))
    return found


def find_records(
    actor: User,
    filters: RecordFilters,
    *,
    after: tuple[date, int] | None = None,
    before: tuple[date, int] | None = None,
    page_size: int | None = None,
    now: datetime | None = None,
) -> Page:
    """Return a page of records, newest first by (session date, id), with the matching count."""
    now = now or utcnow()
    page_size = page_size or PAGE_SIZE
    cutoffs = overdue_cutoffs(now) if _needs_cutoffs(filters) else {}
    conditions = _record_conditions(actor, filters, cutoffs)
    ids, next_cursor, prev_cursor = _keyset_page(
        conditions, after=after, before=before, size=page_size
    )
    details = (
        select(
            TS.id,
            TS.session_date,
            TS.signed_dt,
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
    rows = _in_order(details, ids)
    if not cutoffs and any(r.signed_dt is None for r in rows):
        cutoffs = overdue_cutoffs(now)  # the state of an unsigned row on the page
    count, capped = _capped_count(select(TS.id).where(*conditions))
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
                    r.signed_dt is not None, r.session_date, cutoffs.get(r.clinic_id)
                ),
                flags={s: by_severity[s] for s in rules.SEVERITIES if s in by_severity},
            )
        )
    return Page(result, count, capped, next_cursor, prev_cursor)


def find_patients(actor: User, name: str) -> list[tuple[int, str, str]]:
    """Return patients in the actor's scope whose names contain every word typed."""
    policy.require(
        policy.can_read_records(actor), "Only clinical and compliance staff can search patients."
    )
    words = name.split()[:5]
    if not words:
        return []
    query = policy.visible_patients(actor)
    for word in words:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                Patient.given_name.ilike(pattern, escape="\\"),
                Patient.family_name.ilike(pattern, escape="\\"),
            )
        )
    found = db.session.scalars(query.limit(PATIENT_SEARCH_LIMIT)).all()
    names = dict(db.session.execute(select(Clinic.id, Clinic.name)).tuples().all())
    return [(p.id, p.display_name, names.get(p.clinic_id, "")) for p in found]


# --- record detail ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEvent:
    created_dt: datetime
    actor: str
    action: str
    summary: str


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
    history: list[HistoryEvent]
    names: dict[int, str]


def record_detail(actor: User, session_id: int, *, now: datetime | None = None) -> RecordDetail:
    """Return a record with its phases, signature, addenda, flags, follow-ups and audit history.

    Reading a record someone else wrote is itself audited.
    """
    policy.require(policy.can_read_records(actor), "Your role does not give access to records.")
    now = now or utcnow()
    record = checklists.record_view(actor, session_id, now=now)
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
    events = db.session.scalars(select(AuditEvent).where(or_(*objects)).order_by(AuditEvent.seq))
    events = list(events)
    user_ids = {e.actor_id for e in events if e.actor_id} | {e.author_id for e in entries}
    user_ids |= {a.author_id for a in record.addenda}
    user_ids |= {f.acknowledged_by_id for f in flags if f.acknowledged_by_id}
    user_ids |= {f.resolved_by_id for f in flags if f.resolved_by_id}
    names = dict(
        db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).tuples().all()
    )
    history = [
        HistoryEvent(
            e.created_dt,
            names.get(e.actor_id, "System") if e.actor_id else "System",
            rules.action_label(e.action),
            rules.history_summary(e.action, e.details or {}),
        )
        for e in events
    ]
    cutoffs = overdue_cutoffs(now)
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
            record.is_signed, record.session_date, cutoffs.get(record.clinic_id)
        ),
        ticked_together=rules.ticked_together(
            list(first_saved.values()), phases=len(state.template.phases)
        ),
        flags=flags,
        can_acknowledge={
            f.id for f in flags if f.status == "open" and policy.can_acknowledge_flag(actor, record)
        },
        can_resolve=policy.can_resolve_flags(actor),
        followups=followups,
        responses=responses,
        history=history,
        names=names,
    )


# --- flags -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagRow:
    flag: Flag
    session_date: date
    clinic: str
    practitioner: str
    is_urgent: bool
    can_acknowledge: bool


def flag_kinds(actor: User) -> list[str]:
    """Return the kinds of flag that exist, for the queue's filter."""
    query = policy.flags_in_scope(actor, select(Flag.kind).distinct().order_by(Flag.kind))
    return list(db.session.scalars(query))


def list_flags(
    actor: User, filters: rules.FlagFilters, *, page: int = 1, page_size: int | None = None
) -> Page:
    """Return a page of the flags queue: urgent escalations first, then open by severity."""
    policy.require(
        policy.can_read_records(actor), "Your role does not give access to the flags queue."
    )
    page_size = page_size or FLAG_PAGE_SIZE
    conditions: list[ColumnElement[bool]] = []
    if filters.status == "unresolved":
        conditions.append(Flag.status.in_(("open", "acknowledged")))
    elif filters.status in rules.FLAG_STATUSES:
        conditions.append(Flag.status == filters.status)
    if filters.severity:
        conditions.append(Flag.severity == filters.severity)
    if filters.kind:
        conditions.append(Flag.kind == filters.kind)
    urgent = case((and_(Flag.kind.in_(rules.URGENT_KINDS), Flag.status != "resolved"), 0), else_=1)
    status_rank = case({s: i for i, s in enumerate(rules.FLAG_STATUSES)}, value=Flag.status)
    severity_rank = case({s: i for i, s in enumerate(rules.SEVERITIES)}, value=Flag.severity)
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
            select(Flag, TS.session_date, TS.practitioner_id, Clinic.name, User.name)
            .join(TS, TS.id == Flag.session_id)
            .join(Clinic, Clinic.id == TS.clinic_id)
            .join(User, User.id == TS.practitioner_id)
            .where(Flag.id.in_(ids))
        )
        found = {row[0].id: row for row in db.session.execute(details)}
    limited = matching.order_by(None).limit(COUNT_CAP + 1).subquery()
    total = db.session.scalar(select(func.count()).select_from(limited)) or 0
    result = []
    for flag_id in ids:
        flag, session_date, practitioner_id, clinic, practitioner = found[flag_id]
        result.append(
            FlagRow(
                flag=flag,
                session_date=session_date,
                clinic=clinic,
                practitioner=practitioner,
                is_urgent=flag.kind in rules.URGENT_KINDS and flag.status != "resolved",
                can_acknowledge=flag.status == "open"
                and policy.can_acknowledge_flags_of(actor, practitioner_id),
            )
        )
    return Page(
        result,
        min(total, COUNT_CAP),
        total > COUNT_CAP,
        str(page + 1) if more else None,
        str(page - 1) if page > 1 else None,
    )


def get_flag(actor: User, flag_id: int) -> Flag:
    """Return a flag the actor may act on; anything else is simply not found."""
    if not is_id(flag_id):
        raise NotFound("No such flag.")
    flag = db.session.scalar(
        select(Flag)
        .join(TS, TS.id == Flag.session_id)
        .where(Flag.id == flag_id, policy.flag_scope(actor))
    )
    if flag is None:
        raise NotFound("No such flag.")
    return flag


def _flag_details(flag: Flag) -> dict[str, Any]:
    return {"session": flag.session_id, "kind": flag.kind, "severity": flag.severity}


def acknowledge_flag(actor: User, flag_id: int, *, now: datetime | None = None) -> Flag:
    """Mark an open flag as seen by the actor, audited in the same transaction."""
    policy.require(policy.can_read_records(actor), "Your role cannot acknowledge flags.")
    now = now or utcnow()
    flag = get_flag(actor, flag_id)
    # Conditional update: of two people acknowledging at once, exactly one succeeds.
    done = db.session.execute(
        update(Flag)
        .where(Flag.id == flag.id, Flag.status == "open")
        .values(status="acknowledged", acknowledged_dt=now, acknowledged_by_id=actor.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        db.session.refresh(flag)
        if flag.status == "resolved":
            raise Conflict("This flag is already resolved.")
        raise Conflict("This flag was already acknowledged.")
    db.session.refresh(flag)
    audit.record("flag.acknowledge", actor=actor, obj=flag, details=_flag_details(flag), now=now)
    return flag


def resolve_flag(actor: User, flag_id: int, note: str, *, now: datetime | None = None) -> Flag:
    """Close a flag with a note saying what was done, audited in the same transaction."""
    policy.require(policy.can_resolve_flags(actor), "Only compliance officers resolve flags.")
    now = now or utcnow()
    note = (note or "").strip()
    if not note:
        raise DomainError(
            "The flag was not resolved.", {"note": "Write what was done about this flag."}
        )
    if len(note) > RESOLUTION_NOTE_MAX:
        raise DomainError(
            "The flag was not resolved.",
            {"note": f"Keep the note under {RESOLUTION_NOTE_MAX:,} characters."},
        )
    flag = get_flag(actor, flag_id)
    done = db.session.execute(
        update(Flag)
        .where(Flag.id == flag.id, Flag.status.in_(("open", "acknowledged")))
        .values(
            status="resolved",
            resolved_dt=now,
            resolved_by_id=actor.id,
            resolution_note=note,
            acknowledged_dt=func.coalesce(Flag.acknowledged_dt, now),
            acknowledged_by_id=func.coalesce(Flag.acknowledged_by_id, actor.id),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        raise Conflict("This flag was already resolved.")
    db.session.refresh(flag)
    # The note may hold clinical detail, so the audit event records only that one was written.
    audit.record(
        "flag.resolve",
        actor=actor,
        obj=flag,
        details={**_flag_details(flag), "note_length": len(note)},
        now=now,
    )
    return flag


# --- lot trace -------------------------------------------------------------------------------


def _lot_conditions(query: LotQuery) -> list[ColumnElement[bool]]:
    spellings = rules.lot_variants(query.lot)
    if query.is_prefix:
        matches = []
        for prefix in spellings:
            bound = rules.prefix_upper_bound(prefix)
            parts = [
                TS.needle_lot >= prefix,
                # The range uses the index; this keeps the match exact under any collation.
                func.substr(TS.needle_lot, 1, len(prefix)) == prefix,
            ]
            if bound is not None:
                parts.append(TS.needle_lot < bound)
            matches.append(and_(*parts))
        lot = or_(*matches)
    elif len(spellings) == 1:
        lot = TS.needle_lot == spellings[0]
    else:
        lot = TS.needle_lot.in_(spellings)
    conditions = [lot]
    if query.date_from is not None:
        conditions.append(TS.session_date >= query.date_from)
    if query.date_to is not None:
        conditions.append(TS.session_date <= query.date_to)
    return conditions


@dataclass(frozen=True)
class LotRow:
    id: int
    session_date: date
    needle_lot: str
    clinic: str
    practitioner: str
    patient_id: int
    patient: str
    is_signed: bool


def _lot_select() -> Select:
    return (
        select(
            TS.id,
            TS.session_date,
            TS.needle_lot,
            TS.signed_dt,
            Clinic.name.label("clinic"),
            User.name.label("practitioner"),
            Patient.id.label("patient_id"),
            Patient.given_name,
            Patient.family_name,
            Patient.email,
            Patient.phone,
            Patient.opted_out_dt,
        )
        .outerjoin(Clinic, Clinic.id == TS.clinic_id)
        .outerjoin(User, User.id == TS.practitioner_id)
        .outerjoin(Patient, Patient.id == TS.patient_id)
    )


def lot_trace(
    actor: User,
    query: LotQuery,
    *,
    after: tuple[date, int] | None = None,
    before: tuple[date, int] | None = None,
    page_size: int | None = None,
) -> Page:
    """Return every session that used a lot (or lots with a prefix), newest first, a page a time."""
    _require_compliance(actor)
    ids, next_cursor, prev_cursor = _keyset_page(
        _lot_conditions(query), after=after, before=before, size=page_size or LOT_PAGE_SIZE
    )
    rows = _in_order(_lot_select(), ids)
    count, capped = _capped_count(select(TS.id).where(*_lot_conditions(query)))
    return Page(
        [
            LotRow(
                r.id,
                r.session_date,
                r.needle_lot,
                r.clinic,
                r.practitioner,
                r.patient_id,
                f"{r.given_name} {r.family_name}",
                r.signed_dt is not None,
            )
            for r in rows
        ],
        count,
        capped,
        next_cursor,
        prev_cursor,
    )


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def lot_trace_csv(actor: User, query: LotQuery, *, now: datetime | None = None) -> Iterator[str]:
    """Audit the export, then return the lines of the recall CSV (with patient contacts)."""
    _require_compliance(actor)
    audit.record("export.lot_trace", actor=actor, details=query.as_args(), now=now)
    select_rows = _lot_select().where(*_lot_conditions(query)).order_by(TS.id)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(rules.LOT_TRACE_COLUMNS)
        yield _drain(buffer)
        last_id = 0
        while True:
            batch = db.session.execute(select_rows.where(TS.id > last_id).limit(EXPORT_BATCH)).all()
            for r in batch:
                writer.writerow(
                    [
                        r.id,
                        r.session_date.isoformat(),
                        rules.csv_text(r.needle_lot or ""),
                        rules.csv_text(r.clinic or ""),
                        rules.csv_text(r.practitioner or ""),
                        r.patient_id,
                        rules.csv_text(r.given_name or ""),
                        rules.csv_text(r.family_name or ""),
                        rules.csv_text(r.email or ""),
                        rules.csv_text(r.phone or ""),
                        "yes" if r.opted_out_dt else "no",
                        "yes" if r.signed_dt else "no",
                    ]
                )
            if batch:
                yield _drain(buffer)
            if len(batch) < EXPORT_BATCH:
                return
            last_id = batch[-1].id

    return lines()


# --- CSV export of records -------------------------------------------------------------------


class _Cell(FunctionElement):
    """One CSV cell computed by the database: an answer (or a text column) formatted as text.

    `how` is bool (yes/no), list (codes joined with ';'), text (free text, guarded against
    spreadsheet formulas) or plain. The key and the constants are written into the SQL, not
    bound, so the database parses each JSON path once per statement rather than once per row.
    """

    type = String()
    name = "cell"
    inherit_cache = False

    def __init__(self, column, key: str | None, how: str) -> None:
        if key is not None and not rules.SAFE_LINK_ID.match(key):
            raise ValueError(f"linkId {key!r} cannot be exported")
        self.key, self.how = key, how
        super().__init__(column)


def _guarded(value: str, tab: str, cr: str) -> str:
    starts = ", ".join([*(f"'{c}'" for c in rules.FORMULA_START if c.isprintable()), tab, cr])
    quote = "''''"  # a single quote, as a SQL string literal
    return f"CASE WHEN substr({value}, 1, 1) IN ({starts}) THEN {quote} || {value} ELSE {value} END"


@compiles(_Cell)
def _cell_sqlite(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    if element.key is None:
        return _guarded(column, "char(9)", "char(13)")
    path = f"'$.\"{element.key}\"'"
    value = f"json_extract({column}, {path})"
    if element.how == "bool":
        # SQLite reads JSON true and false as 1 and 0; boolean items hold nothing else.
        return f"CASE {value} WHEN 1 THEN 'yes' WHEN 0 THEN 'no' END"
    if element.how == "list":
        return f"(SELECT group_concat(value, ';') FROM json_each({column}, {path}))"
    if element.how == "text":
        return _guarded(value, "char(9)", "char(13)")
    return value


@compiles(_Cell, "postgresql")
def _cell_postgresql(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    if element.key is None:
        return _guarded(column, "chr(9)", "chr(13)")
    key = f"'{element.key}'"
    if element.how == "bool":
        return (
            f"CASE {column} -> {key} WHEN 'true'::jsonb THEN 'yes' "
            f"WHEN 'false'::jsonb THEN 'no' END"
        )
    if element.how == "list":
        elements = f"jsonb_array_elements_text({column} -> {key})"
        return f"(SELECT string_agg(value, ';') FROM {elements})"
    if element.how == "text":
        return _guarded(f"({column} ->> {key})", "chr(9)", "chr(13)")
    return f"({column} ->> {key})"


class _UtcIso(FunctionElement):
    """A UTC timestamp as text, e.g. 2026-03-10T09:32:00Z."""

    type = String()
    name = "utc_iso"
    inherit_cache = True


@compiles(_UtcIso)
def _utc_iso_sqlite(element, compiler, **kw) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {compiler.process(element.clauses, **kw)})"


@compiles(_UtcIso, "postgresql")
def _utc_iso_postgresql(element, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


class _CsvField(FunctionElement):
    """A cell as csv.writer writes it: in quotes, its own quotes doubled, when it holds a comma,
    a quote or a line break; as it is otherwise (and empty when NULL, see _CsvLine)."""

    type = String()
    name = "csv_field"
    inherit_cache = True


@compiles(_CsvField, "sqlite")
def _csv_field_sqlite(element, compiler, **kw) -> str:
    value = compiler.process(element.clauses, **kw)
    separators = "'*[\",' || char(10) || char(13) || ']*'"  # constant: SQLite computes it once
    return (
        f"CASE WHEN {value} GLOB {separators} "
        f"THEN '\"' || replace({value}, '\"', '\"\"') || '\"' ELSE {value} END"
    )


class _CsvLine(FunctionElement):
    """A CSV line without its line end: the fields joined with commas, NULL written as nothing."""

    type = String()
    name = "csv_line"
    inherit_cache = True


#: SQLite takes at most 127 arguments per function call, so wider lines print in parts.
_PRINTF_FIELDS = 100


@compiles(_CsvLine, "sqlite")
def _csv_line_sqlite(element, compiler, **kw) -> str:
    parts = [compiler.process(field, **kw) for field in element.clauses]
    while True:
        # printf('%s', NULL) writes nothing, as csv.writer does for None.
        parts = [
            f"printf('{','.join(['%s'] * len(chunk))}', {', '.join(chunk)})"
            for chunk in (
                parts[i : i + _PRINTF_FIELDS] for i in range(0, len(parts), _PRINTF_FIELDS)
            )
        ]
        if len(parts) == 1:
            return parts[0]


class _FlagsText(FunctionElement):
    """A session's flags as 'severity:kind; ...', most serious first, or NULL."""

    type = String()
    name = "flags_text"
    inherit_cache = True


_SEVERITY_ORDER = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(rules.SEVERITIES))


@compiles(_FlagsText)
def _flags_text_sqlite(element, compiler, **kw) -> str:
    session_id = compiler.process(element.clauses, **kw)
    return (
        "(SELECT group_concat(severity || ':' || kind, '; ') FROM (SELECT severity, kind "
        f"FROM flags WHERE flags.session_id = {session_id} "
        f"ORDER BY CASE severity {_SEVERITY_ORDER} END, kind))"
    )


@compiles(_FlagsText, "postgresql")
def _flags_text_postgresql(element, compiler, **kw) -> str:
    session_id = compiler.process(element.clauses, **kw)
    return (
        "(SELECT string_agg(severity || ':' || kind, '; ' "
        f"ORDER BY CASE severity {_SEVERITY_ORDER} END, kind) "
        f"FROM flags WHERE flags.session_id = {session_id})"
    )


def _answer_column(link_id: str, item_type: str) -> ColumnElement[Any]:
    """Return the SQL that formats one answer: yes/no, codes joined with ";", text guarded."""
    how = {"boolean": "bool", "multichoice": "list", "string": "text", "text": "text"}
    return _Cell(TS.answers, link_id, how.get(item_type, "plain"))


def export_columns() -> list[str]:
    """Return the CSV header: record metadata, then every linkId of every template version."""
    return [*rules.EXPORT_METADATA, *(k for k, _t in _export_items())]


def _export_items() -> list[tuple[str, str]]:
    definitions = db.session.scalars(
        select(TemplateVersion.definition).order_by(TemplateVersion.version)
    )
    return rules.export_items(definitions)


def export_query(actor: User, filters: RecordFilters, *, now: datetime | None = None) -> Select:
    """Return the query behind the CSV export: one row per signed record, every cell as text.

    The database formats every cell, so streaming is a loop of fetch and write; `make bench`
    runs this same statement through the database's own CSV output for comparison.
    """
    conditions = [
        *_record_conditions(
            actor, filters, overdue_cutoffs(now or utcnow()) if _needs_cutoffs(filters) else {}
        ),
        TS.signed_dt.is_not(None),
    ]
    return (
        select(
            TS.id,
            _Cell(Clinic.name, None, "text"),
            _Cell(TS.signer_name, None, "text"),
            type_coerce(TS.session_date, String),
            _UtcIso(TS.signed_dt),
            TemplateVersion.version,
            TS.content_hash,
            _FlagsText(TS.id),
            *(_answer_column(k, t) for k, t in _export_items()),
        )
        .outerjoin(Clinic, Clinic.id == TS.clinic_id)
        .outerjoin(TemplateVersion, TemplateVersion.id == TS.template_version_id)
        .where(*conditions)
        .order_by(TS.id)
    )


def export_csv(
    actor: User, filters: RecordFilters, *, now: datetime | None = None
) -> Iterator[str]:
    """Audit the export, then return the CSV lines of every signed record the filters match.

    The lines are produced a batch at a time from one streamed statement, so memory stays flat.
    """
    _require_compliance(actor)
    now = now or utcnow()
    header = export_columns()
    query = export_query(actor, filters, now=now)
    audit.record(
        "export.csv",
        actor=actor,
        details={"filters": filters.as_args(), "columns": len(header)},
        now=now,
    )

    if db.session.connection().dialect.name == "postgresql":
        return _copy_lines(header, query)
    return _printed_lines(header, query)


def _printed_lines(header: list[str], query: Select) -> Iterator[str]:
    """The export's lines from SQLite, each printed whole by the database (see _CsvLine).

    Fetching every cell of every record into a Python object for csv.writer took 1.7 to 2 times
    as long as `sqlite3 -csv` on the same statement. One printf per record (quoting only the
    cells that hold a comma, a quote or a line break) leaves Python one string per record to
    pass on, and takes about 1.5 times as long (bench/RESULTS.md). The cursor steps through the
    result as it is fetched, so memory stays flat.
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(header)
    yield _drain(buffer)
    written_by_database = rules.export_cells_without_separators(_export_items())
    # An OFFSET keeps SQLite from flattening the subquery into the outer SELECT (see "query
    # flattening" in sqlite.org/optoverview.html): each cell is computed once, although
    # _CsvField reads it twice, and the lines come out in the subquery's order.
    cells = query.offset(0).subquery()
    fields = (
        column if name in written_by_database else _CsvField(column)
        for name, column in zip(header, cells.c, strict=True)
    )
    result = db.session.connection().execute(select(_CsvLine(*fields)))
    lines = result.scalars()
    try:
        while True:
            batch = lines.fetchmany(EXPORT_BATCH)
            if batch:
                yield "\r\n".join(batch) + "\r\n"
            if len(batch) < EXPORT_BATCH:
                return
    finally:
        result.close()


def _copy_lines(header: list[str], query: Select) -> Iterator[str]:
    """The export's lines from PostgreSQL's own CSV writer (COPY ... TO STDOUT).

    Writing the rows in Python took twice as long as psql's COPY of the same statement. COPY
    is told to write what csv.writer writes: every cell as text with empty strings as NULL
    (so an empty cell is never quoted), and each row's line feed becomes CRLF outside quoted
    cells. tests/integration/test_review_services.py compares it with csv.writer's.
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(header)
    yield _drain(buffer)
    as_text = query.with_only_columns(
        *(func.nullif(cast(c, Text), literal_column("''")) for c in query.selected_columns)
    )
    connection = db.session.connection()
    compiled = as_text.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    processors = compiled._bind_processors
    parameters = {
        name: processors[name](value) if name in processors else value
        for name, value in compiled.construct_params().items()
    }
    inside_quotes = False
    rows: list[str] = []
    with (
        connection.connection.dbapi_connection.cursor() as cursor,
        cursor.copy(f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)", parameters) as copy,
    ):
        # One block per row, so each block decodes on its own (rows end on whole characters).
        for block in copy:
            rows.append(str(block, "utf-8"))
            if len(rows) == EXPORT_BATCH:
                text, inside_quotes = rules.crlf_lines("".join(rows), inside_quotes)
                rows.clear()
                yield text
    if rows:
        yield rules.crlf_lines("".join(rows), inside_quotes)[0]
