"""The patient's side of a follow-up: the link, the answer, the opt-out (DESIGN §4).

The patient has no account, only a link holding a random token, so everything a patient can do
starts from a token and fails the same way for a forged, expired, used or revoked one. The answer
is recorded once and escalated in the same transaction: the flag, the alerts to people, and the
72-hour check when the soreness calls for it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from safety.audit import services as audit
from safety.auth.models import User
from safety.checklists.models import Flag, TreatmentSession
from safety.clinics import rules as clinic_rules
from safety.clinics.models import Patient
from safety.dbtypes import utcnow
from safety.errors import DomainError, NotFound
from safety.extensions import db, take_turns_on
from safety.followup import escalations, rules, texts
from safety.followup.backends import can_send_texts
from safety.followup.models import (
    FollowUp,
    OutboxMessage,
    OutboxStatus,
    PatientLink,
    PatientResponse,
    Purpose,
)
from safety.followup.rules import Kind, Status
from safety.followup.schedule import needled_neck, questions_asked, schedule_72h_check
from safety.hashing import hashed_time, sha256_hex

#: A follow-up in one of these states takes no answer, and its messages are not sent.
CLOSED = frozenset({Status.ANSWERED, Status.CANCELLED})


# --- links ------------------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(followup: FollowUp, *, now: datetime) -> str:
    """Create a fresh patient link and return its token (stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        PatientLink(
            followup_id=followup.id,
            token_hash=_hash_token(token),
            created_dt=now,
            expires_dt=now + rules.LINK_LIFETIME,
        )
    )
    return token


def find_link(token: str, *, now: datetime | None = None, for_answer: bool = True) -> PatientLink:
    """Return the link for a token, or NotFound for anything forged, expired, used or revoked.

    The same answer for every failure, so a link never reveals whether a patient exists.
    """
    now = now or utcnow()
    if not (20 <= len(token) <= 100) or not token.replace("-", "").replace("_", "").isalnum():
        raise NotFound()
    link = db.session.scalar(
        select(PatientLink).where(PatientLink.token_hash == _hash_token(token))
    )
    if link is None or link.revoked_dt is not None:
        raise NotFound()
    if for_answer and (link.used_dt is not None or now >= link.expires_dt):
        raise NotFound()
    if for_answer and link.followup.status in CLOSED:
        raise NotFound()
    return link


def revoke_links(followup_id: int, *, actor, now: datetime | None = None) -> int:
    """Revoke every open link of a follow-up (e.g. sent to the wrong address)."""
    now = now or utcnow()
    result = db.session.execute(
        update(PatientLink)
        .where(PatientLink.followup_id == followup_id, PatientLink.revoked_dt.is_(None))
        .values(revoked_dt=now)
    )
    followup = db.session.get(FollowUp, followup_id)
    audit.record(
        "followup.revoke_links",
        clinic_id=followup.audit_chain if followup is not None else None,
        actor=actor,
        object_type="followups",
        object_id=followup_id,
        now=now,
    )
    return result.rowcount


def link_context(token: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Return what the patient's pages may show: no clinical detail, only who, where, when,
    what this check asks, and the numbers to call."""
    link = find_link(token, now=now)
    return _context(link.followup)


def _context(followup: FollowUp) -> dict[str, Any]:
    session = followup.session
    clinic = session.clinic
    return {
        "first_name": session.patient.given_name,
        #: The patient's own language: their pages use it unless they switch.
        "language": session.patient.language,
        "country": clinic.country,
        "clinic": clinic.name,
        "clinic_phone": clinic.phone,
        "clinic_zone": clinic.timezone,
        "emergency_number": clinic_rules.emergency_number(clinic.country),
        "urgent_line": clinic_rules.urgent_line(clinic.country),
        "appointment": session.session_date,
        "kind": followup.kind,
        "questions": questions_asked(followup),
        "neck": needled_neck(session),
    }


@dataclass(frozen=True)
class ClosedLink:
    """A real link that takes no answer any more: what the patient is told instead."""

    #: "answered" or "expired".
    reason: str
    answered_dt: datetime | None
    context: dict[str, Any]
    #: An urgent answer's advice, said again: a patient who comes back to the link after
    #: answering "chest pain" read only "thank you" (a review).
    outcome: Outcome | None = None


def closed_link(token: str, *, now: datetime | None = None) -> ClosedLink:
    """Say why a real link takes no answer (already answered, or expired), or NotFound.

    A forged or revoked token is still just "not found"; only the holder of a link that was
    really sent learns that it was answered, and when.
    """
    now = now or utcnow()
    link = find_link(token, now=now, for_answer=False)
    followup = link.followup
    if link.used_dt is not None or followup.status == Status.ANSWERED:
        return ClosedLink(
            "answered",
            followup.answered_dt or link.used_dt,
            _context(followup),
            _urgent_outcome(followup),
        )
    if now >= link.expires_dt:
        return ClosedLink("expired", None, _context(followup))
    raise NotFound()


def _urgent_outcome(followup: FollowUp) -> Outcome | None:
    """The advice an emergency or same-day answer was given, worked out again from what was
    answered, in the patient's language; None for any other answer."""
    response = db.session.scalar(
        select(PatientResponse).where(PatientResponse.followup_id == followup.id)
    )
    if response is None or response.escalation not in rules.URGENT_LEVELS:
        return None
    languages = {followup.session.patient.language}
    return _outcome(followup, response.answers, response.escalation, languages)


# --- the answer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What the patient sees after answering: the level, and the advice for this answer."""

    level: str
    followup_kind: str
    #: texts.ADVICE keys, most urgent first.
    advice: tuple[str, ...] = ()


def answer(
    token: str, form, *, language: str | None = None, now: datetime | None = None
) -> Outcome:
    """Record a patient's answer once, escalate it, and plan the 72 h check when needed.

    An urgent answer (emergency or same-day) is never sent back for the questions left out:
    a patient with chest pain who skipped the bruising question, or who wrote "I can barely
    breathe" and answered nothing else, must reach someone today, so what they did answer is
    recorded and escalated, and the missing answers simply stay missing (a clinical review
    found a breathless patient's words sent back with seven "please answer" errors and
    nothing recorded). What is missing from any other answer is said in `language` (the
    page's), the patient's own by default.
    """
    now = now or utcnow()
    link = find_link(token, now=now)
    followup = link.followup
    session = followup.session
    said = texts.for_language(language or session.patient.language)
    read = rules.read_form(form, questions_asked(followup), said)
    # The screen of what they wrote reads English, their own language and the page's.
    languages = {said.language, session.patient.language}
    reasons = rules.reasons(followup.kind, read.answers, languages)
    level = next(iter(reasons), rules.NONE)
    if read.errors and level not in rules.URGENT_LEVELS:
        raise DomainError(said.pages["form_errors"], read.errors)
    answers = rules.partial_answers(read.answers, read.errors)
    response = PatientResponse(
        followup_id=followup.id,
        session_id=session.id,
        answers=answers,
        escalation=level,
        created_dt=now,
    )
    db.session.add(response)
    link.used_dt = now
    followup.status = Status.ANSWERED
    followup.answered_dt = now
    try:
        db.session.flush()
    except IntegrityError:  # the same form sent twice at once: the first answer stands
        db.session.rollback()
        raise NotFound() from None
    content = rules.response_content(
        followup_id=followup.id,
        answers=answers,
        escalation=level,
        created=hashed_time(now),
    )
    audit.record(
        "followup.response",
        obj=response,
        details={
            "followup": followup.id,
            "kind": followup.kind,
            "escalation": level,
            "content_hash": sha256_hex(content),
        },
        now=now,
    )
    # The unanswered-check reminder is no longer needed.
    db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.followup_id == followup.id,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.CANCELLED)
    )
    if followup.kind == Kind.DAY_2:
        escalations.close_silence(followup, now=now)
    if level != rules.NONE:
        _escalate(level, reasons, followup, response, now=now)
    if followup.kind == Kind.DAY_1 and rules.needs_72h(answers):
        schedule_72h_check(followup, now=now)
    return _outcome(followup, answers, level, languages)


def _outcome(followup: FollowUp, answers, level: str, languages: set[str]) -> Outcome:
    """What the patient is told for this answer to this check (`rules.advice`)."""
    neck = needled_neck(followup.session)
    advice = rules.advice(followup.kind, answers, level, languages, neck=neck)
    return Outcome(level, followup.kind, tuple(advice))


def _escalate(
    level: str,
    reasons: dict[str, list[str]],
    followup: FollowUp,
    response: PatientResponse,
    *,
    now: datetime,
) -> None:
    """Raise the answer's flag and, for an emergency or same-day answer, alert people now."""
    session = followup.session
    flag = Flag(
        session_id=session.id,
        kind=level,
        severity=rules.SEVERITY[level],
        link_id=None,
        message=_flag_message(level, followup.kind, reasons),
        response_id=response.id,
        created_dt=now,
    )
    db.session.add(flag)
    db.session.flush()
    if level in rules.URGENT_LEVELS:
        for purpose in _alert_purposes(level, session):
            db.session.add(
                OutboxMessage(purpose=purpose, flag_id=flag.id, next_attempt_dt=now, created_dt=now)
            )
    audit.record("flag.raise", obj=flag, details=flag.raise_details, now=now)


def _flag_message(level: str, kind: str, reasons: dict[str, list[str]]) -> str:
    """Say what in the answer needs a person, most urgent first ("Emergency answer on the
    24-hour check: chest pain, pain breathing in or breathlessness.")."""
    said = [
        "; ".join(found)
        if found_level == level
        else rules.ALSO % {"level": rules.LEVEL_LABELS[found_level], "reasons": "; ".join(found)}
        for found_level, found in reasons.items()
    ]
    return rules.FLAG_MESSAGES[level] % {
        "check": rules.kind_label(kind),
        "reasons": "; ".join(said),
    }


def _alert_purposes(level: str, session: TreatmentSession) -> list[Purpose]:
    """Who is alerted: the practitioner, and the clinic's duty address for an emergency,
    which is also texted to the clinic's on-call mobile where it has one and a text can go
    out (at night nobody may read the duty address; without a gateway a text would only fail
    and hold up the mail behind it).

    A practitioner who has left (deactivated, or no longer working at the clinic) cannot act
    on an alert, so the clinic's address takes it instead. With no one to write to, the flag
    still heads the compliance queue.
    """
    purposes = []
    practitioner_here = not escalations.practitioner_gone(session)
    if practitioner_here:
        purposes.append(Purpose.PRACTITIONER_ALERT)
    if session.clinic.duty_email and (level == rules.EMERGENCY or not practitioner_here):
        purposes.append(Purpose.CLINIC_ALERT)
    if (
        session.clinic.duty_phone
        and level == rules.EMERGENCY
        and can_send_texts(current_app.config)
    ):
        purposes.append(Purpose.ON_CALL_ALERT)
    return purposes


# --- opting out -------------------------------------------------------------------------------


def opt_out(token: str, *, now: datetime | None = None) -> None:
    """Stop every message to the patient a link belongs to; nothing more is sent."""
    now = now or utcnow()
    link = find_link(token, now=now, for_answer=False)
    session = link.followup.session
    patient = session.patient
    # Two taps on "Stop" at once take turns; once stopped, a tap again changes nothing and
    # records nothing (each tap wrote its own opt-out event, a review).
    take_turns_on(Patient, patient.id)
    db.session.refresh(patient)
    if patient.opted_out_dt is not None:
        return
    patient.opted_out_dt = now
    patient.is_followup_consent = False
    _cancel_open_followups(patient.id)
    audit.record("patient.opt_out", obj=patient, now=now)


def _open_followups(patient_id: int):
    """The patient's follow-ups still to be sent or answered."""
    return (
        select(FollowUp.id)
        .join(TreatmentSession)
        .where(
            TreatmentSession.patient_id == patient_id,
            FollowUp.status.in_([Status.SCHEDULED, Status.SENT]),
        )
    )


def _cancel_open_followups(patient_id: int) -> None:
    """Cancel what is still to go to a patient: their messages waiting, their open checks."""
    open_ids = _open_followups(patient_id)
    db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.followup_id.in_(open_ids), OutboxMessage.status == OutboxStatus.PENDING
        )
        .values(status=OutboxStatus.CANCELLED)
    )
    db.session.execute(
        update(FollowUp).where(FollowUp.id.in_(open_ids)).values(status=Status.CANCELLED)
    )


def after_details_changed(
    actor: User, patient_id: int, changed: list[str], *, consent: bool, now: datetime | None = None
) -> None:
    """What a correction of a patient's details does to the follow-ups on their way.

    Consent withdrawn at the desk stops them as the patient's own "stop" link does: a
    patient who said no more messages was still sent the 7-day check (a review). A corrected
    email or phone revokes every link still live, so whoever got the message sent to the
    wrong address cannot read the form, answer it as the patient, or stop their messages; the
    next message (a reminder, a later check) goes with a new link to the new address. An
    answered check's link too: it still opened the "you answered" page and its "stop" link,
    which cancelled the chest check going to the right address (a review).
    """
    if "is_followup_consent" in changed and not consent:
        _cancel_open_followups(patient_id)
    elif {"email", "phone"} & set(changed):
        live = (
            select(PatientLink.followup_id)
            .join(FollowUp, FollowUp.id == PatientLink.followup_id)
            .join(TreatmentSession, TreatmentSession.id == FollowUp.session_id)
            .where(TreatmentSession.patient_id == patient_id, PatientLink.revoked_dt.is_(None))
            .distinct()
            .order_by(PatientLink.followup_id)
        )
        for followup_id in db.session.scalars(live).all():
            revoke_links(followup_id, actor=actor, now=now)
