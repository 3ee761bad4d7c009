"""The compliance dashboard: a period's sessions, overdue checklists, flags and follow-ups.

Aggregates are SQL GROUP BYs over the columns the checklist copies at signing, so the
dashboard never loads a record; the rules in `rules/dashboard.py` roll them up into months
and rates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select

from safety.auth.models import User
from safety.checklists.models import Flag, FlagStatus, Severity, TreatmentSession
from safety.clinics import services as clinics
from safety.clinics.models import Clinic
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup.models import FollowUp
from safety.followup.rules import Status
from safety.incidents import log as incident_log
from safety.integrity import checkpoints, verify
from safety.integrity.models import VerificationRun
from safety.review.flags import UNRESOLVED
from safety.review.queries import overdue_cutoffs, require_compliance
from safety.review.recent import Recent
from safety.review.rules import dashboard as rules
from safety.review.rules.flags import URGENT_KINDS
from safety.review.rules.records import session_state

TS = TreatmentSession

#: Periods the dashboard offers, in months.
PERIODS = (3, 6, 12, 24, 60)


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
    #: Started in the period and cancelled: never signed, left out of the completion.
    cancelled: int
    open_flags: dict[str, int]
    acknowledged_flags: int
    urgent_flags: int
    followups: dict[str, int]
    tables: list[rules.MeasureTable]
    #: Incidents per clinic, month and kind, counted with the monthly figures.
    incident_counts: list[incident_log.MonthCount]
    #: When the sessions, completion, overdue and monthly figures were counted.
    figures_as_of: datetime
    #: How old those may be (DASHBOARD_CACHE_SECONDS); 0 when counted for this request.
    keep_seconds: float
    verification: VerificationRun | None
    #: The last checkpoint and whether the evidence calls for a red banner (checkpoints.health).
    evidence: dict[str, Any]

    @property
    def in_progress(self) -> int:
        return self.started - self.signed - self.overdue - self.cancelled

    @property
    def counted(self) -> int:
        """The sessions a checklist was owed for: a cancelled one (started by mistake, or
        stopped because consent was refused) will never be signed and is not counted."""
        return self.started - self.cancelled

    @property
    def completion(self) -> float | None:
        return rules.rate(self.signed, self.counted)

    @property
    def response_rate(self) -> float | None:
        return rules.response_rate(self.followups)

    @property
    def reached(self) -> int:
        return self.followups.get(Status.SENT, 0) + self.followups.get(Status.ANSWERED, 0)

    @property
    def clinic_name(self) -> str | None:
        """The name of the one clinic shown, if the dashboard shows one."""
        return next((name for cid, name in self.clinics if cid == self.clinic_id), None)

    @property
    def open_flag_total(self) -> int:
        return sum(self.open_flags.values())


def _events(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def monthly_counts(start: date, end: date, clinic_id: int | None = None) -> list[rules.MonthCounts]:
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


@dataclass(frozen=True)
class Figures:
    """The slow half of the dashboard: the period's counts and monthly tables, as of a time."""

    started: int
    signed: int
    overdue: int
    cancelled: int
    tables: list[rules.MeasureTable]
    #: Incidents per clinic, month and kind: a monthly table like the rates (the incidents
    #: page lists each one as it is reported).
    incidents: list[incident_log.MonthCount]
    #: The period's follow-ups by status, for the response rate: counting them read every
    #: reminder of the year (25 ms of PostgreSQL on 100,000 sessions, each dashboard view).
    #: A patient's worrying answer is a flag, and flags are read for every view.
    followups: dict[str, int]
    as_of: datetime


#: Figures computed in this process, by period and clinic (recent.py says why).
RECENT = Recent()


def dashboard(
    actor: User,
    *,
    months: int = 12,
    clinic_id: int | None = None,
    now: datetime | None = None,
    keep_seconds: float = 0,
) -> Dashboard:
    """Return the figures of the dashboard for the months ending with the current one.

    With `keep_seconds` the counts, the follow-ups' response and the monthly tables may come
    from a computation of this process at most that old (the page says when); flags and the
    audit trail's state are always read now.
    """
    require_compliance(actor)
    fresh = now is not None
    now = now or utcnow()
    all_clinics = list(db.session.scalars(select(Clinic).order_by(Clinic.name, Clinic.id)))
    shown = [c for c in all_clinics if clinic_id is None or c.id == clinic_id]
    # The period follows the calendar of the clinic furthest ahead among those shown, so no
    # session is "future" and one clinic's period ends on its own today.
    today = max((now.astimezone(c.zone).date() for c in shown), default=now.date())
    start, end = rules.period_bounds(today, months)
    names = [(c.id, c.name) for c in shown]
    figures = RECENT.get(
        (start, end, clinic_id, tuple(names)),
        0 if fresh else keep_seconds,
        lambda: _figures(actor, start, end, clinic_id, names, now=now),
    )

    flags = select(Flag.status, Flag.severity, Flag.kind, func.count()).where(
        Flag.status.in_(UNRESOLVED)
    )
    if clinic_id is not None:
        flags = flags.join(TS, TS.id == Flag.session_id).where(TS.clinic_id == clinic_id)
    open_flags = dict.fromkeys(Severity, 0)
    acknowledged = urgent = 0
    for status, severity, kind, n in db.session.execute(
        flags.group_by(Flag.status, Flag.severity, Flag.kind)
    ):
        if status == FlagStatus.OPEN:
            open_flags[severity] = open_flags.get(severity, 0) + n
            urgent += n if kind in URGENT_KINDS else 0
        else:
            acknowledged += n

    run = verify.last_run()  # one read serves the verification panel and the evidence banner

    return Dashboard(
        months=months,
        start=start,
        end=end,
        clinic_id=clinic_id,
        clinics=[(c.id, c.name) for c in all_clinics],
        started=figures.started,
        signed=figures.signed,
        overdue=figures.overdue,
        cancelled=figures.cancelled,
        open_flags=open_flags,
        acknowledged_flags=acknowledged,
        urgent_flags=urgent,
        followups=figures.followups,
        tables=figures.tables,
        incident_counts=figures.incidents,
        figures_as_of=figures.as_of,
        keep_seconds=0 if fresh else keep_seconds,
        verification=run,
        evidence=checkpoints.health(run, altered=verify.run_problem(run) if run else None),
    )


def _figures(
    actor: User,
    start: date,
    end: date,
    clinic_id: int | None,
    names: list[tuple[int, str]],
    *,
    now: datetime,
) -> Figures:
    """Count the period's sessions by clinic and month, the overdue checklists, the
    follow-ups by status and the incidents (the actor reads every clinic's: only compliance
    reaches the dashboard, so the figures kept serve every reader alike)."""
    counts = monthly_counts(start, end, clinic_id)
    month_keys = rules.month_keys(start, end)
    tables = [rules.measure_table(m, counts, names, month_keys) for m in rules.MEASURES]
    cutoffs = overdue_cutoffs(now)
    # The unsigned sessions, cancelled or not, in one read: a cancelled session is never
    # signed, so both come from the index's unsigned rows.
    was_cancelled = case((TS.cancelled_dt.is_(None), 0), else_=1)
    unsigned = (
        select(TS.clinic_id, TS.session_date, was_cancelled, func.count())
        .where(TS.signed_dt.is_(None), TS.session_date >= start, TS.session_date <= end)
        .group_by(TS.clinic_id, TS.session_date, was_cancelled)
    )
    if clinic_id is not None:
        unsigned = unsigned.where(TS.clinic_id == clinic_id)
    overdue = cancelled = 0
    for cid, day, is_cancelled, n in db.session.execute(unsigned):
        if is_cancelled:
            cancelled += n
        elif session_state(False, day, cutoffs.get(cid)) == "overdue":
            overdue += n
    return Figures(
        started=sum(c.started for c in counts),
        signed=sum(c.signed for c in counts),
        overdue=overdue,
        cancelled=cancelled,
        tables=tables,
        incidents=incident_log.counts_by_clinic_and_month(actor, since=start, clinic_id=clinic_id),
        followups=followups_due(start, end, clinic_id),
        as_of=now,
    )


def followups_due(start: date, end: date, clinic_id: int | None = None) -> dict[str, int]:
    """Count the follow-ups due from `start` to `end` by status, each day read in the calendar
    of the session's clinic (a Toronto check due at 20:00 on the period's last day is in it,
    though UTC has moved on to the next day).

    Counted first on UTC days, over `ix_followups_status_due` without reading a session (a
    period holds most of the table); then mended within a day of either end, the only place
    a clinic's midnight and UTC's can disagree (no zone is a day from UTC): there each
    follow-up is counted by its clinic's day instead. Joining every follow-up to its session
    for its clinic would read the whole sessions table for a dozen rows at the edges."""
    first = datetime.combine(start, time(), UTC)
    last = datetime.combine(end + timedelta(days=1), time(), UTC)
    on_utc_days = and_(FollowUp.due_dt >= first, FollowUp.due_dt < last)
    on_clinic_days = clinics.on_clinic_days(TS.clinic_id, FollowUp.due_dt, start, end)
    counted = select(FollowUp.status, func.count()).where(on_utc_days)
    if clinic_id is not None:
        counted = counted.join(TS, TS.id == FollowUp.session_id).where(TS.clinic_id == clinic_id)
    queries = [counted]
    day = timedelta(days=1)
    # The two ends' days apart, so a short period's follow-up is never mended twice.
    for low, high in ((first - day, first + day), (max(first + day, last - day), last + day)):
        mended = (
            select(FollowUp.status, _events(on_clinic_days) - _events(on_utc_days))
            .join(TS, TS.id == FollowUp.session_id)
            # Every status (the column's CHECK allows these only), named so each edge is one
            # range of `ix_followups_status_due` (status first) per status rather than a read
            # of every follow-up.
            .where(
                FollowUp.status.in_(list(Status)),
                FollowUp.due_dt >= low,
                FollowUp.due_dt < high,
            )
        )
        if clinic_id is not None:
            mended = mended.where(TS.clinic_id == clinic_id)
        queries.append(mended)
    totals: Counter[str] = Counter()
    for query in queries:
        for status, n in db.session.execute(query.group_by(FollowUp.status)):
            totals[status] += n
    return {status: n for status, n in totals.items() if n}
