"""What is written when a patient is to be asked how they are (DESIGN §4).

At signing, in the signing transaction, the follow-ups the patient agreed to and one outbox row
per message: so a signature never stands without its reminders, and a failure rolls back both.
A worrying 24-hour answer adds the 72-hour check the same way. Nothing here sends anything:
`worker` delivers what these rows ask for once they are committed and due.
"""

from __future__ import annotations

from datetime import datetime

from safety.audit import services as audit
from safety.checklists.models import TreatmentSession
from safety.clinics.models import Patient
from safety.extensions import db
from safety.followup import rules
from safety.followup.models import FollowUp, OutboxMessage, PatientResponse, Purpose
from safety.followup.rules import Kind
from safety.risks import services as risks


def schedule_for_signed_session(session: TreatmentSession, *, now: datetime) -> list[FollowUp]:
    """Write the follow-ups of a just-signed session in the signing transaction.

    Only when the patient agreed, chose a channel at sign out, has a contact for it and has
    not opted out.
    """
    patient: Patient = session.patient
    channel = (session.answers or {}).get(rules.CHANNEL_ITEM)
    # Sign out refuses an unreachable channel, but consent or contacts may change before
    # signing: then nothing is sent, as the patient's record now says.
    if channel not in rules.CHANNEL_LABELS or rules.channel_refusal(
        channel, rules.Reach.of(patient)
    ):
        return []
    zone = session.clinic.zone
    followups: dict[str, FollowUp] = {}
    plans = rules.plan_at_signing(
        session.signed_dt, zone, near_lung=near_lung(session), treated=treated_at(session)
    )
    for plan in plans:
        followup = followups.get(plan.kind)
        if followup is None:
            followup = FollowUp(
                session_id=session.id,
                kind=plan.kind,
                channel=channel,
                due_dt=plan.due,
                created_dt=now,
            )
            db.session.add(followup)
            db.session.flush()
            followups[plan.kind] = followup
        db.session.add(
            OutboxMessage(
                purpose=Purpose.PATIENT_REMINDER,
                followup_id=followup.id,
                is_reminder=plan.is_reminder,
                next_attempt_dt=plan.due,
                created_dt=now,
            )
        )
    db.session.flush()
    audit.record(
        "followup.schedule",
        obj=session,
        # Each check by its id, which verify holds to its session and kind: a chest check
        # and a 7-day check swapping kinds, or two records swapping answered checks, kept
        # the kinds each session listed (a review).
        details={
            "kinds": sorted(followups),
            "channel": channel,
            "followups": {kind: f.id for kind, f in sorted(followups.items())},
        },
        now=now,
    )
    return list(followups.values())


def treated_at(session: TreatmentSession) -> datetime | None:
    """When the needles came out: the session's first sign-out, which the follow-ups count
    from (`rules.plan_at_signing`); None before sign out. Not the last: a sign-out corrected
    the next morning once moved the chest check a day again (two reviews)."""
    return min((e.submitted_dt for e in session.entries if e.phase == "signout"), default=None)


def near_lung(session: TreatmentSession) -> bool:
    """Whether the session needled a region its template counts as over the lung."""
    regions = (session.answers or {}).get("signin.regions")
    return rules.near_lung(regions, risks.typed(session.template_version).high_risk_regions)


def needled_neck(session: TreatmentSession) -> bool:
    """Whether the session needled the head or neck (`rules.NECK_REGIONS`)."""
    return rules.needled_neck((session.answers or {}).get("signin.regions"))


def questions_asked(followup: FollowUp) -> tuple[str, ...]:
    """What a follow-up asks, by its kind and what its session needled (`rules.questions_for`)."""
    session = followup.session
    return rules.questions_asked(
        followup.kind,
        (session.answers or {}).get("signin.regions"),
        risks.typed(session.template_version).high_risk_regions,
    )


def unanswered(response: PatientResponse) -> tuple[str, ...]:
    """The questions a stored answer left out. Only an urgent answer may leave any out, so
    only an urgent one costs the look at its session's regions (`questions_asked`)."""
    if response.escalation not in rules.URGENT_LEVELS:
        return ()
    return rules.unanswered(questions_asked(response.followup), response.answers)


def schedule_72h_check(answered: FollowUp, *, now: datetime) -> FollowUp:
    """Write the 72-hour soreness check a 24-hour answer asked for, by the same channel.

    It is due three days after the session (`treated_at`; out of quiet hours), or at once
    when the answer came in later than that.
    """
    session = answered.session
    due = rules.due_72h(treated_at(session) or session.signed_dt, session.clinic.zone)
    later = FollowUp(
        session_id=session.id, kind=Kind.DAY_3, channel=answered.channel, due_dt=due, created_dt=now
    )
    db.session.add(later)
    db.session.flush()
    db.session.add(
        OutboxMessage(
            purpose=Purpose.PATIENT_REMINDER,
            followup_id=later.id,
            next_attempt_dt=max(due, now),
            created_dt=now,
        )
    )
    # On the chain as the signature's checks are, so verify holds it (integrity/followups.py).
    audit.record(
        "followup.schedule",
        obj=session,
        details={
            "kinds": [Kind.DAY_3.value],
            "channel": answered.channel,
            "followups": {Kind.DAY_3.value: later.id},
        },
        now=now,
    )
    return later
