"""Incident use cases: report and sign, read, tick post-exposure steps, record a report to an
outside body, add a signed addendum. The clinic lead's alerts are in `alerts.py`, the sharps
injury log and the monthly counts in `log.py`.

Every use case takes plain values and the acting user, flushes, and writes its audit event in
the same transaction; the caller commits. The injured person's name never goes into an audit
event, a log line, a URL or a message: only the clinic lead and compliance read it, on the page.

One module (about 580 lines): the use cases share one scope for reading an incident and one
signed content with its hash (`signed_content`, `incident_hash`), which the report, the steps
and the addenda all build on; the list and its filters (kind, clinic, the clinic's days) read
through the same scope.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from safety.audit import services as audit
from safety.auth import policy
from safety.auth import services as auth
from safety.auth.models import User
from safety.checklists import addenda as checklist_addenda
from safety.checklists import services as checklists
from safety.checklists.models import Flag, TreatmentSession
from safety.clinics import services as clinics
from safety.dbtypes import utcnow
from safety.errors import SAME_ACT_WINDOW, Conflict, DomainError, NotFound
from safety.extensions import db, take_turns_on
from safety.hashing import canonical_json, hashed_time, sha256_hex
from safety.ids import is_id
from safety.incidents import rules
from safety.incidents.models import (
    ExternalReport,
    Incident,
    IncidentAddendum,
    IncidentStep,
    InjuredPerson,
)
from safety.languages import N_, Said
from safety.packs import rules as packs_rules

NOT_REPORTED = N_("The incident was not reported.")
WRONG_PASSWORD = N_("That password is not right. Enter your own password to sign.")
#: The meaning of an incident addendum's signature (Part 11 §11.50).
ADDENDUM_MEANING = "Authored and signed this correction"
REFERENCE_MAX = 100
STEP_NOTE_MAX = 1000


# --- reading -----------------------------------------------------------------------------------


def get_incident(actor: User, incident_id: int) -> Incident:
    """Return an incident in the actor's scope; anything else is not found, never forbidden."""
    found = (
        db.session.scalar(
            policy.visible_incidents(actor)
            .where(Incident.id == incident_id)
            .options(
                selectinload(Incident.steps),
                selectinload(Incident.reports),
                selectinload(Incident.addenda),
                selectinload(Incident.alerts),
            )
        )
        if is_id(incident_id)
        else None
    )
    if found is None:
        raise NotFound(N_("No such incident."))
    return found


def incident_view(actor: User, incident_id: int, *, now: datetime | None = None) -> Incident:
    """Return an incident for reading, auditing the view when the reader did not report it."""
    found = get_incident(actor, incident_id)
    if policy.is_audited_incident_view(actor, found):
        audit.record(
            "incident.view",
            actor=actor,
            obj=found,
            details={"identity_shown": policy.can_see_injured_identity(actor, found)},
            now=now,
        )
    return found


@dataclass(frozen=True)
class StepView:
    """One post-exposure step as the record shows it."""

    step: rules.Step
    state: rules.StepState
    entry: IncidentStep | None
    alerted: bool


def step_views(incident: Incident, *, now: datetime | None = None) -> list[StepView]:
    """Return a sharps injury's post-exposure steps with their state now."""
    if incident.kind != rules.Kind.SHARPS_INJURY:
        return []
    now = now or utcnow()
    done = {s.step: s for s in incident.steps}
    alerted = {a.step for a in incident.alerts}
    return [
        StepView(
            step,
            rules.step_state(step, incident.occurred_dt, step.id in done, now),
            done.get(step.id),
            step.id in alerted,
        )
        for step in rules.steps_for(incident.is_used_on_patient)
    ]


def list_incidents(
    actor: User,
    *,
    kind: str | None = None,
    clinic_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 200,
) -> list[Incident]:
    """Return the incidents the actor may read, newest first, filtered."""
    query = (
        policy.visible_incidents(actor)
        .options(
            selectinload(Incident.clinic),
            selectinload(Incident.steps),
            selectinload(Incident.reports),
            selectinload(Incident.addenda),
        )
        .order_by(Incident.occurred_dt.desc(), Incident.id.desc())
        .limit(limit)
    )
    if kind in set(rules.Kind):
        query = query.where(Incident.kind == kind)
    if clinic_id is not None and is_id(clinic_id):
        query = query.where(Incident.clinic_id == clinic_id)
    if since is not None or until is not None:
        query = query.where(occurred_within(since, until))
    return list(db.session.scalars(query))


def occurred_within(since: date | None, until: date | None) -> ColumnElement[bool]:
    """Incidents that happened from `since` to `until` (either may be open), each day read in
    the incident's own clinic's calendar, so a list or export of a day holds the same
    evening's sessions and incidents (`clinics.on_clinic_days`)."""
    return clinics.on_clinic_days(Incident.clinic_id, Incident.occurred_dt, since, until)


def prefill_from_flag(
    actor: User, flag_id: int, said: Callable[[Flag], str] | None = None
) -> tuple[int, dict[str, str]] | None:
    """Return the session and the report fields a flag the actor may see suggests, or None.

    "Record as an incident" on a count that does not reconcile, a faint, or a patient's
    emergency or same-day answer opens the report with these filled in; the description is
    the flag's message as `said` says it (the reporter's language), as stored without.
    """
    if not is_id(flag_id):
        return None
    flag = db.session.scalar(policy.flags_in_scope(actor, select(Flag).where(Flag.id == flag_id)))
    if flag is None:
        return None
    fields = rules.incident_from_flag(flag.kind, flag.message)
    if fields is None:
        return None
    if said is not None:
        fields["description"] = said(flag)
    return flag.session_id, fields


def recent_sessions(actor: User, chosen_id: int | None = None) -> list[TreatmentSession]:
    """Return the sessions a report may name: today's at the clinic and the open ones, and
    the one already chosen (a report from an older session's record)."""
    sessions = checklists.sessions_for_today(actor)
    if chosen_id is not None and all(s.id != chosen_id for s in sessions):
        with contextlib.suppress(NotFound):  # not the actor's to name: not offered
            sessions.insert(0, checklists.get_session(actor, chosen_id))
    return sessions


# --- reporting ---------------------------------------------------------------------------------


def signed_content(incident: Incident, person: InjuredPerson | None) -> dict[str, Any]:
    """Return what an incident signature covers: the report, who was injured, the signer.

    Not the incident's own id, which the row gets as it is written: the `incident.report`
    audit event binds that id to this hash on the clinic's chain.
    """
    return {
        "clinic": incident.clinic_id,
        "kind": incident.kind,
        "session": incident.session_id,
        "occurred_dt": hashed_time(incident.occurred_dt),
        "work_area": incident.work_area,
        "description": incident.description,
        "action_taken": incident.action_taken,
        "device": {
            "type": incident.device_type,
            "brand": incident.device_brand,
            "gtin": incident.device_gtin,
            "lot": incident.device_lot,
            "purpose": incident.device_purpose,
            "how": incident.how,
            "body_site": incident.body_site,
            "used_on_patient": incident.is_used_on_patient,
        },
        "event": {"type": incident.event_type, "grade": incident.grade},
        "injured": None if person is None else {"name": person.name, "job": person.job},
        "signature": {
            "signer": incident.reported_by_id,
            "name": incident.signer_name,
            "meaning": incident.signature_meaning,
            "signed_dt": hashed_time(incident.signed_dt),
        },
    }


def incident_hash(incident: Incident) -> str:
    """Recompute an incident's content hash from its stored rows."""
    return sha256_hex(canonical_json(signed_content(incident, incident.person)))


def report_incident(
    actor: User,
    report: rules.Report,
    *,
    session_id: int | None,
    password: str,
    now: datetime | None = None,
) -> Incident:
    """Report an incident at the practitioner's clinic and sign it; it never changes after.

    Bad fields are refused before the password is checked, and nothing is saved.
    """
    now = now or utcnow()
    policy.require(policy.can_report_incident(actor), N_("Only practitioners report incidents."))
    errors = rules.check_report(report, now)
    session = None
    if session_id is not None:
        try:
            session = checklists.get_session(actor, session_id)
        except NotFound:
            errors["session_id"] = N_("Choose a session of your clinic, or none.")
        else:
            if late := rules.check_session_time(report.occurred_dt, session.started_dt):
                errors["session_id"] = late
    if not password:
        errors["password"] = N_("Enter your password to sign the report.")
    if errors:
        raise DomainError(NOT_REPORTED, errors)
    auth.check_password_again(
        actor,
        password,
        action="incident.sign_failed",
        refused=NOT_REPORTED,
        wrong=WRONG_PASSWORD,
        now=now,
        object_type="incidents",
        clinic_id=actor.clinic_id,
    )
    is_sharps = report.kind == rules.Kind.SHARPS_INJURY
    incident = Incident(
        clinic_id=actor.clinic_id,
        kind=report.kind,
        session_id=session.id if session is not None else None,
        occurred_dt=report.occurred_dt,
        work_area=report.work_area.strip(),
        description=report.description.strip(),
        action_taken=report.action_taken.strip() or None,
        device_type=report.device_type or None,
        device_brand=report.device_brand.strip() or None,
        # The 14 digits a pack's GTIN is kept as, whichever length was typed (checked already).
        device_gtin=packs_rules.check_gtin(report.device_gtin) if report.device_gtin else None,
        device_lot=report.device_lot.strip() or None,
        device_purpose=(report.device_purpose or None) if is_sharps else None,
        how=(report.how or None) if is_sharps else None,
        body_site=(report.body_site or None) if is_sharps else None,
        is_used_on_patient=report.is_used_on_patient if is_sharps else None,
        event_type=None if is_sharps else report.event_type,
        grade=report.grade if report.kind == rules.Kind.ADVERSE_EVENT else None,
        reported_by_id=actor.id,
        signer_name=actor.name,
        signature_meaning=rules.SIGNATURE_MEANING,
        signed_dt=now,
        content_hash="",
    )
    person = None
    if is_sharps:
        person = InjuredPerson(
            name=report.injured_name.strip(), job=report.injured_job.strip() or None
        )
    repeat = _just_reported(actor, incident, person, now=now)
    if repeat is not None:
        return repeat
    # Written once, hash and all: the triggers refuse any later change to the row.
    incident.content_hash = sha256_hex(canonical_json(signed_content(incident, person)))
    db.session.add(incident)
    db.session.flush()
    if person is not None:
        person.incident_id = incident.id
        db.session.add(person)
        db.session.flush()
    audit.record(
        "incident.report",
        actor=actor,
        obj=incident,
        details={
            "kind": incident.kind,
            "session": incident.session_id,
            "content_hash": incident.content_hash,
        },
        now=now,
    )
    return incident


def _just_reported(
    actor: User, incident: Incident, person: InjuredPerson | None, *, now: datetime
) -> Incident | None:
    """The very same report signed by the same person a moment ago (`SAME_ACT_WINDOW`): a
    second tap on "Report and sign", which once signed two incidents (a review). Everything
    the signature covers must match but its time: a colleague's needlestick from the same
    tray a minute later, in the same words, is an incident of its own (a review). The
    reporter's row is held first, so two taps at once take turns and the second finds the
    first."""
    take_turns_on(User, actor.id)
    wanted = _unsigned(signed_content(incident, person))
    earlier = db.session.scalars(
        select(Incident)
        .where(Incident.reported_by_id == actor.id, Incident.signed_dt >= now - SAME_ACT_WINDOW)
        .order_by(Incident.id)
    )
    return next((e for e in earlier if _unsigned(signed_content(e, e.person)) == wanted), None)


def _unsigned(content: dict[str, Any]) -> dict[str, Any]:
    """Signed content without the moment of signing."""
    return {**content, "signature": {**content["signature"], "signed_dt": None}}


# --- follow-through ----------------------------------------------------------------------------


def _followed_incident(actor: User, incident_id: int) -> Incident:
    incident = get_incident(actor, incident_id)
    policy.require(
        policy.can_follow_up_incident(actor, incident),
        N_("Only practitioners of the clinic record what was done about an incident."),
    )
    return incident


def tick_step(
    actor: User,
    incident_id: int,
    step_id: str,
    *,
    done_dt: datetime | None,
    note: str = "",
    now: datetime | None = None,
) -> IncidentStep:
    """Tick one post-exposure step with the time it was done; each step is ticked once."""
    now = now or utcnow()
    incident = _followed_incident(actor, incident_id)
    own = {s.id for s in rules.steps_for(incident.is_used_on_patient)}
    if incident.kind != rules.Kind.SHARPS_INJURY or step_id not in own:
        raise NotFound(N_("No such step."))
    errors: dict[str, str] = {}
    if problem := rules.check_step_time(done_dt, incident.occurred_dt, now):
        errors["done_dt"] = problem
    note = (note or "").strip()
    if len(note) > STEP_NOTE_MAX:
        errors["note"] = Said(N_("Keep the note under %(max)s characters."), max=STEP_NOTE_MAX)
    if errors:
        raise DomainError(N_("The step was not ticked."), errors)
    # Two taps at once take turns; the second finds the first's tick and, when it is the same
    # tick by the same person a moment ago, lands on it instead of an "already ticked" page.
    take_turns_on(Incident, incident.id)
    ticked = db.session.scalar(
        select(IncidentStep).where(
            IncidentStep.incident_id == incident.id, IncidentStep.step == step_id
        )
    )
    if ticked is not None:
        if (ticked.recorded_by_id, ticked.done_dt, ticked.note) == (
            actor.id,
            done_dt,
            note or None,
        ) and now - ticked.recorded_dt < SAME_ACT_WINDOW:
            return ticked
        raise Conflict(N_("This step is already ticked. Add an addendum to correct it."))
    entry = IncidentStep(
        incident_id=incident.id,
        step=step_id,
        done_dt=done_dt,
        note=note or None,
        recorded_by_id=actor.id,
        recorded_dt=now,
    )
    try:
        with db.session.begin_nested():  # two taps at once: the second finds the first
            db.session.add(entry)
    except IntegrityError:
        raise Conflict(N_("This step is already ticked. Add an addendum to correct it.")) from None
    audit.record(
        "incident.step",
        actor=actor,
        obj=incident,
        # The note and who ticked it are signed too: verify holds the row to them (an
        # insider's review added "Occupational health: no PEP needed" unnoticed).
        details={
            "step": step_id,
            "entry": entry.id,
            "done_dt": hashed_time(done_dt),
            "note_hash": sha256_hex(entry.note or ""),
            "by": actor.id,
        },
        now=now,
    )
    return entry


def record_external_report(
    actor: User,
    incident_id: int,
    *,
    body: str,
    reported_on: date | None,
    reference: str,
    now: datetime | None = None,
) -> ExternalReport:
    """Record that the incident was reported outside the clinic, when, and the reference."""
    now = now or utcnow()
    incident = _followed_incident(actor, incident_id)
    reference = (reference or "").strip()
    errors: dict[str, str] = {}
    if body not in rules.REPORT_BODY_CODES:
        errors["body"] = N_("Choose where it was reported.")
    if reported_on is None:
        errors["reported_on"] = N_("Give the date it was reported.")
    elif reported_on > now.astimezone(incident.clinic.zone).date():
        errors["reported_on"] = N_("That date is in the future.")
    elif reported_on < incident.occurred_dt.astimezone(incident.clinic.zone).date():
        errors["reported_on"] = N_("That date is before the incident.")
    if not reference:
        errors["reference"] = N_("Give the reference you were given (or 'none given').")
    elif len(reference) > REFERENCE_MAX:
        errors["reference"] = Said(
            N_("Keep the reference under %(max)s characters."), max=REFERENCE_MAX
        )
    if errors:
        raise DomainError(N_("The report was not recorded."), errors)
    # Sent again this soon by the same person, the same report is that one (a double tap
    # once recorded it twice, each with its event); two taps at once take turns.
    take_turns_on(Incident, incident.id)
    repeat = db.session.scalar(
        select(ExternalReport)
        .where(
            ExternalReport.incident_id == incident.id,
            ExternalReport.body == body,
            ExternalReport.reported_on == reported_on,
            ExternalReport.reference == reference,
            ExternalReport.recorded_by_id == actor.id,
            ExternalReport.recorded_dt >= now - SAME_ACT_WINDOW,
        )
        .limit(1)
    )
    if repeat is not None:
        return repeat
    row = ExternalReport(
        incident_id=incident.id,
        body=body,
        reported_on=reported_on,
        reference=reference,
        recorded_by_id=actor.id,
        recorded_dt=now,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "incident.external_report",
        actor=actor,
        obj=incident,
        details={
            "body": body,
            "report": row.id,
            "reported_on": reported_on.isoformat(),
            "reference_hash": sha256_hex(reference),
        },
        now=now,
    )
    return row


def addendum_content(addendum: IncidentAddendum, incident_hash_: str) -> dict[str, Any]:
    """Return what an incident addendum's signature covers, the incident's hash included."""
    return {
        "incident": addendum.incident_id,
        "incident_hash": incident_hash_,
        "author": addendum.author_id,
        "name": addendum.signer_name,
        "reason": addendum.reason,
        "body": addendum.body,
        "signed_dt": hashed_time(addendum.signed_dt),
        "meaning": addendum.signature_meaning,
    }


def add_addendum(
    actor: User,
    incident_id: int,
    *,
    reason: str,
    body: str,
    password: str,
    now: datetime | None = None,
) -> IncidentAddendum:
    """Add a signed correction to an incident; the report stays as it was."""
    now = now or utcnow()
    incident = _followed_incident(actor, incident_id)
    reason, body = (reason or "").strip(), (body or "").strip()
    errors = checklist_addenda.field_problems(reason, body, password)
    if errors:
        raise DomainError(checklist_addenda.NOT_ADDED, errors)
    auth.check_password_again(
        actor,
        password,
        action="incident.addendum_failed",
        refused=checklist_addenda.NOT_ADDED,
        wrong=WRONG_PASSWORD,
        now=now,
        obj=incident,
    )
    checklist_addenda.refuse_a_repeat(
        IncidentAddendum,
        IncidentAddendum.incident_id,
        Incident,
        incident.id,
        actor.id,
        reason,
        body,
        now=now,
    )
    addendum = IncidentAddendum(
        incident_id=incident.id,
        author_id=actor.id,
        reason=reason,
        body=body,
        signer_name=actor.name,
        signature_meaning=ADDENDUM_MEANING,
        signed_dt=now,
    )
    addendum.content_hash = sha256_hex(
        canonical_json(addendum_content(addendum, incident.content_hash))
    )
    db.session.add(addendum)
    db.session.flush()
    audit.record(
        "incident.addendum",
        actor=actor,
        obj=incident,
        details={"addendum": addendum.id, "content_hash": addendum.content_hash},
        now=now,
    )
    return addendum
