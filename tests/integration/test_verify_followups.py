"""`flask audit verify` holds the follow-ups to their schedule and to the patients' answers
(safety/integrity/followups.py).

An insider's review marked a 24-hour check answered with no answer (its reminders and the
chest check's silence flag stop), deleted a 7-day check, and verify said intact.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from followup_helpers import (
    ALL_PHASES,
    NEAR_LUNG,
    answer,
    deliver_first_check,
    deliver_first_checks,
    followups_of,
    signer,
)
from insider import guards_off
from sqlalchemy import delete, select, update

from safety.checklists.models import Flag
from safety.extensions import db
from safety.followup.models import FollowUp, OutboxMessage, PatientResponse
from safety.followup.rules import Kind
from safety.integrity.verify import verify


def verified() -> str | None:
    db.session.expire_all()
    return verify().problem


def test_a_check_marked_answered_with_no_answer_is_named(make_user, make_session):
    session = make_session(make_user(), phases=ALL_PHASES, sign=True)
    day_1, _ = followups_of(session.id)
    assert verified() is None

    db.session.execute(
        update(FollowUp)
        .where(FollowUp.id == day_1.id)
        .values(status="answered", answered_dt=day_1.due_dt + timedelta(hours=2))
    )
    db.session.commit()

    assert verified() == (
        f"follow-up {day_1.id} reads answered without the patient's answer, or the other way round"
    )


def test_an_answered_check_made_to_read_unanswered_is_named(make_user, make_session):
    """The record and the dashboard then read that the patient never answered."""
    session = signer(make_session, make_user())()
    due, token = deliver_first_check(session)
    answer(token, {}, now=due + timedelta(hours=1))
    day_1 = followups_of(session.id)[0]
    assert (day_1.status, verified()) == ("answered", None)

    db.session.execute(update(FollowUp).where(FollowUp.id == day_1.id).values(status="sent"))
    db.session.commit()

    assert verified() == (
        f"follow-up {day_1.id} reads answered without the patient's answer, or the other way round"
    )


def test_a_scheduled_check_deleted_is_named(make_user, make_session):
    session = make_session(make_user(), phases=ALL_PHASES, sign=True)
    _, day_7 = followups_of(session.id)
    assert day_7.kind == "7d"

    db.session.execute(delete(OutboxMessage).where(OutboxMessage.followup_id == day_7.id))
    db.session.execute(delete(FollowUp).where(FollowUp.id == day_7.id))
    db.session.commit()

    assert verified() == (
        f"the 7d follow-up its schedule event lists for session {session.id} is missing"
    )


def test_a_chest_check_turned_into_a_second_7_day_check_is_named(make_user, make_session):
    """No trigger to drop: the 48-hour chest check after needling near the lung became a
    7-day one, so its silence was never flagged, and verify (comparing totals) said intact
    (a review)."""
    session = signer(make_session, make_user())(NEAR_LUNG)
    chest = next(f for f in followups_of(session.id) if f.kind == Kind.DAY_2)
    assert verified() is None

    db.session.execute(update(FollowUp).where(FollowUp.id == chest.id).values(kind="7d"))
    db.session.commit()

    assert verified() == (
        f"the 48h follow-up its schedule event lists for session {session.id} is missing"
    )


def test_a_72_hour_check_an_answer_asked_for_is_on_the_chain_and_held(make_user, make_session):
    """A sore patient's 72-hour check: deleted, nothing counted it (a review)."""
    session = signer(make_session, make_user())()
    due, token = deliver_first_check(session)
    answer(token, {"soreness": ["7"], "trend": ["worse"]}, now=due + timedelta(hours=1))
    day_3 = next(f for f in followups_of(session.id) if f.kind == Kind.DAY_3)
    assert verified() is None

    db.session.execute(delete(OutboxMessage).where(OutboxMessage.followup_id == day_3.id))
    db.session.execute(delete(FollowUp).where(FollowUp.id == day_3.id))
    db.session.commit()

    assert verified() == (
        f"the 72h follow-up its schedule event lists for session {session.id} is missing"
    )


def test_a_check_put_in_that_no_schedule_lists_is_named(make_user, make_session):
    session = make_session(make_user(), phases=ALL_PHASES, sign=True)
    _, day_7 = followups_of(session.id)
    db.session.add(
        FollowUp(
            session_id=session.id,
            kind="7d",
            channel=day_7.channel,
            due_dt=day_7.due_dt,
            status="scheduled",
        )
    )
    db.session.commit()

    assert verified() == "the follow-ups are 3 where their schedule events list 2"


def test_a_chest_check_and_a_7_day_check_swapping_kinds_is_named(make_user, make_session):
    """The chest question then went out only after a week, and every (session, kind) pair
    was still there (a review)."""
    session = signer(make_session, make_user())(NEAR_LUNG)
    chest = next(f for f in followups_of(session.id) if f.kind == Kind.DAY_2)
    week = next(f for f in followups_of(session.id) if f.kind == Kind.DAY_7)
    assert verified() is None

    db.session.execute(update(FollowUp).where(FollowUp.id == chest.id).values(kind="7d"))
    db.session.execute(update(FollowUp).where(FollowUp.id == week.id).values(kind="48h"))
    db.session.commit()

    assert verified() == (
        f"follow-up {chest.id} is not the 48h check of session {session.id} its schedule "
        "event named"
    )


@pytest.mark.parametrize("older", [False, True], ids=["this version", "older schedule events"])
def test_two_records_swapping_answered_checks_with_their_answers_is_named(
    make_user, make_session, monkeypatch, older
):
    """An answer moved onto another patient's record with its check kept the answer and its
    check on one record, and every (session, kind) pair (a review). A schedule event names
    each check by its id now; under an older one, the flag a large bruise raised stays on its
    own record and names it."""
    from safety.audit import services as audit

    real = audit.record

    def as_older_versions_did(action, **kw):
        if action == "followup.schedule":
            kw["details"] = {k: v for k, v in kw["details"].items() if k != "followups"}
        return real(action, **kw)

    if older:
        monkeypatch.setattr(audit, "record", as_older_versions_did)
    sign = signer(make_session, make_user())
    a, b = sign(), sign()
    monkeypatch.setattr(audit, "record", real)
    due, (token_a, token_b) = deliver_first_checks(a, b)
    answer(token_a, {"bruising": ["large"]} if older else {}, now=due)
    answer(token_b, {}, now=due)
    assert verified() is None
    fa, fb = followups_of(a.id)[0], followups_of(b.id)[0]

    with guards_off():
        for check, record in ((fa, b), (fb, a)):
            db.session.execute(
                update(FollowUp).where(FollowUp.id == check.id).values(session_id=record.id)
            )
            db.session.execute(
                update(PatientResponse)
                .where(PatientResponse.followup_id == check.id)
                .values(session_id=record.id)
            )

    flag_id = db.session.scalars(select(Flag.id)).first()
    assert verified() == (
        f"flag {flag_id} is on another record than the patient answer it was raised on"
        if older
        else f"follow-up {fa.id} is not the 24h check of session {a.id} its schedule event named"
    )
