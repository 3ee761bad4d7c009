"""Nothing escalated is left unread (DESIGN §4): the people side of a worrying answer.

An emergency answer nobody acknowledged within 15 minutes, a same-day answer within two of
the clinic's working hours, or a review answer within two working days (what its advice page
promised the patient), goes to the clinic's duty address and heads the compliance queue;
the reminder worker runs `escalate_unacknowledged` on every pass, so the deadline holds
whatever else is happening. A practitioner keeps each of their patients' answers in "needs you
now" until they record what they did (called, advised, referred), even when compliance
acknowledged the flag first: acknowledging is not the same as looking after the patient. A
call that found no reply keeps it there and acknowledges nothing. A 48-hour chest check nobody
answered joins the list too, and goes on to the duty address as a same-day answer does; so
does one that never reached the patient (`fail_unsendable_checks`, and a failed delivery).
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from safety.audit import services as audit
from safety.auth import policy
from safety.auth.models import Role, User
from safety.checklists.models import Flag, FlagStatus, TreatmentSession
from safety.checklists.rules import Severity
from safety.dbtypes import utcnow
from safety.errors import SAME_ACT_WINDOW, DomainError, NotFound
from safety.extensions import db, take_sqlite_write_lock, take_turns_on
from safety.followup import rules
from safety.followup.backends import can_send_texts
from safety.followup.models import (
    FollowUp,
    OutboxMessage,
    OutboxStatus,
    PatientResponse,
    Purpose,
)
from safety.hashing import sha256_hex
from safety.ids import is_id
from safety.languages import N_, Said
from safety.risks.models import TemplateVersion

#: What a practitioner can say they did about a patient's answer.
ACTIONS = rules.HANDLED_ACTIONS
NOTE_MAX_LENGTH = 1000
#: What reaches a practitioner's list, most urgent first: a chest check nobody answered is
#: called about before an answer that waits for review (a clinical review).
PERSONAL = (rules.EMERGENCY, rules.SAME_DAY, rules.NO_ANSWER, rules.REVIEW)
#: What goes on to the duty address when nobody acknowledges it in time. A silence too: it
#: is the treating practitioner's call to make, but they may be away or have left, and a chest
#: check nobody answered must reach a person (a clinical review). Each has a deadline, so a
#: flag is read by the passes up to it and once after, not for ever.
ESCALATING = PERSONAL


def escalate_unacknowledged(*, now: datetime | None = None) -> int:
    """Send every overdue, unacknowledged emergency, same-day or review answer, and every
    chest check nobody answered or called about, to its clinic's duty address, once, and text
    an emergency or same-day one to the clinic's on-call mobile where it has one; returns how
    many went. The caller commits.

    A silence on the sessions of a practitioner who is gone (`practitioner_gone`) goes at
    once, even one they acknowledged before they left: it is on nobody else's list, and they
    will not call. A silence older than `rules.SILENCE_ESCALATES_FOR` goes nowhere new."""
    now = now or utcnow()
    take_sqlite_write_lock(Flag)  # SQLite has no FOR UPDATE: its one write lock, first
    left = select(User.id).where(or_(User.is_enabled.is_(False), User.role != Role.PRACTITIONER))
    gone = and_(
        Flag.kind == rules.NO_ANSWER,
        Flag.status == FlagStatus.ACKNOWLEDGED,
        or_(
            TreatmentSession.practitioner_id.in_(left),
            ~policy.works_at(TreatmentSession.practitioner_id, TreatmentSession.clinic_id),
        ),
    )
    waiting = db.session.scalars(
        select(Flag)
        .join(TreatmentSession, TreatmentSession.id == Flag.session_id)
        .where(
            Flag.kind.in_(ESCALATING),
            # Acknowledged stops it, except a silence its practitioner saw and then left.
            or_(Flag.status == FlagStatus.OPEN, gone),
            Flag.escalated_dt.is_(None),
            Flag.handled_dt.is_(None),
            or_(Flag.kind != rules.NO_ANSWER, Flag.created_dt > now - rules.SILENCE_ESCALATES_FOR),
        )
        .options(
            # The session joined above is the flag's: loaded from that join, not joined again.
            contains_eager(Flag.session).joinedload(TreatmentSession.clinic),
            contains_eager(Flag.session).joinedload(TreatmentSession.practitioner),
        )
        .order_by(Flag.created_dt, Flag.id)
        # Workers run this at once: each flag is escalated by the one that holds it, and the
        # others pass it by (a review sent one silence to the duty address three times).
        .with_for_update(of=Flag, skip_locked=True)
    ).all()
    sent = 0
    texts_can_go = can_send_texts(current_app.config)
    for flag in waiting:
        clinic = flag.session.clinic
        due = rules.acknowledge_by(
            flag.kind,
            flag.created_dt,
            clinic.zone,
            day_start_hour=clinic.workday_start_hour,
            day_end_hour=clinic.workday_end_hour,
            working_days=clinic.working_days,
            practitioner_gone=practitioner_gone(flag.session),
        )
        if due is None or now < due:
            continue
        flag.escalated_dt = now
        purposes = [Purpose.DUTY_ESCALATION]
        if clinic.duty_phone and flag.kind in rules.URGENT_LEVELS and texts_can_go:
            purposes.append(Purpose.ON_CALL_ESCALATION)
        for purpose in purposes:
            db.session.add(
                OutboxMessage(purpose=purpose, flag_id=flag.id, next_attempt_dt=now, created_dt=now)
            )
        audit.record(
            "flag.escalate",
            obj=flag,
            details={"kind": flag.kind, "session": flag.session_id, "due": due.isoformat()},
            now=now,
        )
        sent += 1
    db.session.flush()
    return sent


def practitioner_gone(session: TreatmentSession) -> bool:
    """Whether a session's practitioner can no longer have its patient on a list: their
    account is disabled, they are no longer a practitioner (a role change takes the list
    away), or they no longer work at its clinic (`policy.flag_scope`)."""
    practitioner = session.practitioner
    if not (practitioner.is_enabled and policy.is_practitioner(practitioner)):
        return True
    if practitioner.clinic_id == session.clinic_id:
        return False
    return not db.session.scalar(select(policy.works_at(practitioner.id, session.clinic_id)))


def flag_unanswered_chest_checks(*, now: datetime) -> int:
    """Put each chest check that went out `rules.CHEST_SILENCE` ago and was not answered on
    its practitioner's "needs you now" list, once; returns how many. Counted from when the
    message went out, not when it was due (a mail outage once flagged one a minute after it
    was sent). Only until `rules.CHEST_SILENCE_ENDS`: a silence first found days later (a
    worker first run after an upgrade, or stopped for days) is history, not a call to make,
    and a practitioner's list of week-old silences would only teach them to clear it.
    The caller commits.

    Workers run this at once. The follow-ups are locked first (FOR UPDATE on PostgreSQL, the
    write lock on SQLite), and the flags already raised are read in a second statement: its
    snapshot holds a flag another worker committed while this one waited for the rows, which
    a condition in the locking statement would not (found by a code review)."""
    take_sqlite_write_lock(Flag)
    candidates = list(
        db.session.scalars(
            select(FollowUp)
            .join(OutboxMessage, OutboxMessage.followup_id == FollowUp.id)
            .where(
                FollowUp.kind == rules.Kind.DAY_2,
                FollowUp.status == rules.Status.SENT,
                FollowUp.due_dt > now - rules.LINK_LIFETIME,
                OutboxMessage.purpose == Purpose.PATIENT_REMINDER,
                OutboxMessage.status == OutboxStatus.SENT,
                OutboxMessage.sent_dt <= now - rules.CHEST_SILENCE,
                OutboxMessage.sent_dt > now - rules.CHEST_SILENCE_ENDS,
            )
            .order_by(FollowUp.id)
            .with_for_update(of=FollowUp, skip_locked=True)
        ).unique()
    )
    if not candidates:
        return 0
    flagged = set(
        db.session.scalars(
            select(Flag.followup_id).where(
                Flag.kind == rules.NO_ANSWER,
                Flag.followup_id.in_([followup.id for followup in candidates]),
            )
        )
    )
    silent = [followup for followup in candidates if followup.id not in flagged]
    for followup in silent:
        flag = Flag(
            session_id=followup.session_id,
            kind=rules.NO_ANSWER,
            severity=Severity.MEDIUM,
            message=rules.NO_CHEST_ANSWER,
            followup_id=followup.id,
            created_dt=now,
        )
        db.session.add(flag)
        db.session.flush()
        audit.record(
            "flag.raise",
            obj=flag,
            details=flag.raise_details,
            now=now,
        )
    return len(silent)


def fail_unsendable_checks(*, now: datetime) -> int:
    """Mark failed each check that is due and that nothing will send, and tell a person why;
    returns how many. The caller commits.

    A check is "scheduled" while a message of its own is on its way in the outbox (pending)
    or has gone (sent). With neither, nothing will send it: the worker dropped its message
    because the address it was to go to was removed at the desk, or the message was stopped
    some other way (`rules.not_sent_flag` says where each flag goes). Run after the
    deliveries of a pass, so a message dropped in it is told at once. Locked as the chest
    checks' silences are, so two workers tell it once."""
    take_sqlite_write_lock(Flag)
    on_its_way = select(OutboxMessage.id).where(
        OutboxMessage.followup_id == FollowUp.id,
        OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENT]),
    )
    stuck = db.session.scalars(
        select(FollowUp)
        .where(
            FollowUp.status == rules.Status.SCHEDULED,
            FollowUp.due_dt <= now,
            ~on_its_way.exists(),
        )
        .order_by(FollowUp.id)
        .with_for_update(of=FollowUp, skip_locked=True)
    ).all()
    for followup in stuck:
        patient = followup.session.patient
        address = patient.email if followup.channel == "email" else patient.phone
        if patient.opted_out_dt is not None or not patient.is_followup_consent:
            # The patient said no more messages (a check scheduled as the desk recorded it,
            # which that cancel could not see): cancelled, as the stop would have done.
            why, followup.status = rules.CONSENT_GONE, rules.Status.CANCELLED
        else:
            why = rules.STOPPED if address else rules.NO_ADDRESS
            followup.status = rules.Status.FAILED
        audit.record(
            "followup.unsent",
            obj=followup,
            details={"kind": followup.kind, "why": why},
            now=now,
        )
        if why != rules.CONSENT_GONE:
            raise_not_sent(followup, why, now=now)
    return len(stuck)


def raise_not_sent(followup: FollowUp, why: str, *, now: datetime) -> Flag | None:
    """Flag a check that never reached the patient where `rules.not_sent_flag` says: a chest
    check on its practitioner's list to call, another on the flags queue. The caller commits."""
    said = rules.not_sent_flag(followup.kind, why, due=followup.due_dt, now=now)
    if said is None:
        return None
    kind, message = said
    flag = Flag(
        session_id=followup.session_id,
        kind=kind,
        severity=Severity.MEDIUM,
        message=message,
        followup_id=followup.id,
        created_dt=now,
    )
    db.session.add(flag)
    db.session.flush()
    audit.record("flag.raise", obj=flag, details=flag.raise_details, now=now)
    return flag


def close_silence(followup: FollowUp, *, now: datetime) -> None:
    """The patient answered a chest check after it was put on the list as unanswered: the
    call it asked for is not needed for the silence any more, so its flag is resolved,
    saying so (whatever they answered is escalated on its own). A clinical review found
    "call the patient" left on the list over a "no"."""
    for flag in db.session.scalars(
        select(Flag).where(
            Flag.followup_id == followup.id,
            Flag.kind == rules.NO_ANSWER,
            Flag.status != FlagStatus.RESOLVED,
        )
    ):
        flag.status = FlagStatus.RESOLVED
        flag.resolved_dt = now
        flag.resolution_note = rules.SILENCE_ANSWERED
        audit.record(
            "flag.resolve",
            obj=flag,
            details={
                **flag.audit_details,
                "note_length": len(flag.resolution_note),
                "note_hash": sha256_hex(flag.resolution_note),
            },
            now=now,
        )


def waiting_for(actor) -> list[Flag]:
    """Return what waits for this practitioner: every emergency, same-day and review answer,
    and every chest check nobody answered, on their own sessions that they have not recorded
    handling."""
    if not policy.is_practitioner(actor):
        return []
    flags = db.session.scalars(
        select(Flag)
        .join(TreatmentSession, TreatmentSession.id == Flag.session_id)
        .where(
            policy.flag_scope(actor),
            Flag.kind.in_(PERSONAL),
            Flag.handled_dt.is_(None),
            Flag.status != FlagStatus.RESOLVED,
        )
        .options(
            # Each flag has one session, patient, clinic and answer: joined in, one round trip
            # (the clinic's zone says when the last call was, as the session's times are).
            joinedload(Flag.session).joinedload(TreatmentSession.patient),
            joinedload(Flag.session).joinedload(TreatmentSession.clinic),
            # What an urgent answer left out reads from the check and the regions the
            # session needled (`schedule.unanswered`); the checklist document stays behind.
            joinedload(Flag.session)
            .joinedload(TreatmentSession.template_version)
            .defer(TemplateVersion.definition),
            joinedload(Flag.response).joinedload(PatientResponse.followup),
        )
    ).all()
    return sorted(flags, key=lambda f: (PERSONAL.index(f.kind), f.created_dt))


def record_handling(
    actor, flag_id: int, *, action: str, note: str, now: datetime | None = None
) -> Flag:
    """Record what the practitioner did about a patient's answer; it leaves their list.

    An open flag is acknowledged by the same act: the practitioner has seen it. Two taps at
    once take turns, so one is recorded: both had read it unhandled, and each wrote its own
    record and event (a review). The same record tapped again within
    `SAME_ACT_WINDOW` is that record, not a refusal.
    """
    now = now or utcnow()
    flag = _waiting(actor, flag_id)
    take_turns_on(Flag, flag.id)
    db.session.refresh(flag)
    note = (note or "").strip()
    errors = {}
    if action not in ACTIONS:
        errors["action"] = N_("Say what you did: called, advised or referred.")
    if len(note) > NOTE_MAX_LENGTH:
        errors["note"] = Said(N_("Keep the note under %(max)s characters."), max=NOTE_MAX_LENGTH)
    if flag.handled_dt is not None:
        if (flag.handled_by_id, flag.handled_action, flag.handled_note) == (
            actor.id,
            action,
            note or None,
        ) and now - flag.handled_dt < SAME_ACT_WINDOW:
            return flag
        errors["action"] = N_("This answer was already handled.")
    if errors:
        raise DomainError(N_("Nothing was recorded."), errors)
    flag.handled_dt = now
    flag.handled_by_id = actor.id
    flag.handled_action = action
    flag.handled_note = note or None
    if flag.status == FlagStatus.OPEN:
        flag.status = FlagStatus.ACKNOWLEDGED
        flag.acknowledged_dt = now
        flag.acknowledged_by_id = actor.id
    db.session.flush()
    audit.record(
        "flag.handled",
        actor=actor,
        obj=flag,
        details={
            "kind": flag.kind,
            "session": flag.session_id,
            "action": action,
            "note_hash": sha256_hex(note),
        },
        now=now,
    )
    return flag


def record_no_reply(actor, flag_id: int, *, now: datetime | None = None) -> Flag:
    """Record a call about a patient's answer (or silence) that found no reply.

    The patient is not reached, so it stays on the practitioner's list, saying how often and
    when they tried: "called" would have taken it off (a clinical review). It does not
    acknowledge the flag: a patient nobody reached still goes to the duty address (and an
    emergency to the on-call mobile) when its time comes (found by a review). A second tap
    within `rules.NO_REPLY_REPEAT` is the same call and changes nothing.
    """
    now = now or utcnow()
    flag = _waiting(actor, flag_id)
    take_turns_on(Flag, flag.id)  # two taps at once: the second sees the first's call
    db.session.refresh(flag)
    if flag.handled_dt is not None:
        already = N_("This answer was already handled.")
        raise DomainError(N_("Nothing was recorded."), {"action": already})
    if flag.status == FlagStatus.RESOLVED:
        closed = N_("This is no longer on your list: the record says why.")
        raise DomainError(N_("Nothing was recorded."), {"action": closed})
    if flag.last_attempt_dt is not None and now - flag.last_attempt_dt < rules.NO_REPLY_REPEAT:
        return flag
    flag.call_attempts += 1
    flag.last_attempt_dt = now
    db.session.flush()
    audit.record(
        "flag.no_reply",
        actor=actor,
        obj=flag,
        details={**flag.audit_details, "attempt": flag.call_attempts},
        now=now,
    )
    return flag


def _waiting(actor, flag_id: int) -> Flag:
    """The patient's answer or silence on this practitioner's list, or NotFound."""
    flag = (
        db.session.scalar(
            select(Flag)
            .join(TreatmentSession, TreatmentSession.id == Flag.session_id)
            .where(Flag.id == flag_id, policy.flag_scope(actor), Flag.kind.in_(PERSONAL))
        )
        if is_id(flag_id) and policy.is_practitioner(actor)
        else None
    )
    if flag is None:
        raise NotFound(N_("No such patient answer."))
    return flag
