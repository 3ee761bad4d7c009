"""`flask audit verify` holds every flag to the flag.raise event that raised it: the flags a
signature raises, a failed delivery's, and the words of each.

An insider's review reworded a missing needle's critical flag to "Nothing to see.", made it
low, then deleted it, and verify said intact each time: the signature's flags were on no
event, and no event held what any flag said.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from followup_helpers import answer, deliver_first_check, first_check, signer
from smtp_capture import free_port
from sqlalchemy import func, insert, select, text, update

from safety.admin import services as admin
from safety.audit import services as audit
from safety.audit.models import AuditEvent
from safety.checklists.models import Flag
from safety.extensions import db
from safety.followup import escalations, rules
from safety.followup.models import PatientResponse
from safety.followup.worker import work_once
from safety.hashing import sha256_hex
from safety.integrity import backfill as backfill_module
from safety.integrity.verify import verify
from safety.review.records import record_detail

ALL_PHASES = ("signin", "timeout", "signout")
#: One needle of six not found at Sign out: the signature raises two critical count flags.
MISSING_NEEDLE = {
    "signout.needles_removed": ["5"],
    "signout.needles_disposed": ["5"],
    "signout.count_discrepancy": ["Couch and floor searched; not found."],
}


def verified() -> str | None:
    db.session.expire_all()
    return verify().problem


def change(statement: str, flag_id: int) -> None:
    """What an insider does: flags carry no trigger, so a plain statement is enough."""
    db.session.execute(text(statement), {"f": flag_id})
    db.session.commit()


@pytest.fixture
def missing_needle(make_session, make_user) -> Flag:
    """The critical flag a signed record with a needle not found raised."""
    session = make_session(make_user(), phases=ALL_PHASES, overrides=MISSING_NEEDLE, sign=True)
    flags = db.session.scalars(select(Flag).where(Flag.session_id == session.id)).all()
    assert {(f.kind, f.severity) for f in flags} == {("count_discrepancy", "critical")}
    return flags[0]


def test_a_signatures_flags_are_each_raised_on_the_chain(missing_needle):
    raised = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "flag.raise").order_by(AuditEvent.seq)
    ).all()
    flags = db.session.scalars(select(Flag).order_by(Flag.id)).all()

    assert [event.object_id for event in raised] == [str(flag.id) for flag in flags]
    assert raised[0].details == {
        "session": missing_needle.session_id,
        "kind": "count_discrepancy",
        "severity": "critical",
        "message_hash": sha256_hex(missing_needle.message),
    }
    assert verified() is None


@pytest.mark.parametrize(
    ("statement", "said"),
    [
        (
            "UPDATE flags SET message = 'Nothing to see.' WHERE id = :f",
            "the message of flag {id} is not the one its flag.raise event recorded",
        ),
        (
            "UPDATE flags SET severity = 'low' WHERE id = :f",
            "flag {id} is not of the severity its flag.raise event recorded",
        ),
        (
            "UPDATE flags SET kind = 'deviation' WHERE id = :f",
            "flag {id} is not of the kind its flag.raise event recorded",
        ),
        ("DELETE FROM flags WHERE id = :f", "flag {id}, raised on the audit chain, is missing"),
    ],
    ids=["reworded", "made milder", "of another kind", "deleted"],
)
def test_a_signatures_flag_changed_behind_the_applications_back_is_named(
    missing_needle, statement, said
):
    flag_id = missing_needle.id
    change(statement, flag_id)

    assert verified() == said.format(id=flag_id)


def test_a_patients_flag_reworded_or_parted_from_the_answer_is_named(make_session, make_user):
    """Staff read the patient's answer through its flag: parted from it, the large bruise
    is not shown beside "Same-day answer"."""
    session = signer(make_session, make_user())()
    due, token = deliver_first_check(session)
    answer(token, {"bruising": ["large"]}, now=due)
    flag = db.session.scalars(select(Flag)).one()
    assert verified() is None

    change("UPDATE flags SET message = 'Patient is well.' WHERE id = :f", flag.id)
    assert (
        verified() == f"the message of flag {flag.id} is not the one its flag.raise event recorded"
    )

    db.session.execute(
        text("UPDATE flags SET message = :m, response_id = NULL WHERE id = :f"),
        {"m": flag.message, "f": flag.id},
    )
    db.session.commit()
    assert (
        verified() == f"flag {flag.id} is not on the patient answer its flag.raise event recorded"
    )


def forge_flag(session_id: int, created) -> int:
    """An insider's false alarm: a critical count flag, with no event, on a clean record."""
    flag_id = db.session.execute(
        insert(Flag)
        .values(
            session_id=session_id,
            kind="count_discrepancy",
            severity="critical",
            message="Needle counts do not reconcile: 6 used / 5 removed.",
            status="open",
            created_dt=created,
            call_attempts=0,
        )
        .returning(Flag.id)
    ).scalar_one()
    db.session.commit()
    return flag_id


def test_a_false_alarm_put_on_a_colleagues_clean_record_is_named(
    missing_needle, make_session, make_user
):
    """Once flags are raised with their words on the chain, one without an event was put
    there behind the application's back, whether dated now or back before its session."""
    clean = make_session(make_user(), phases=ALL_PHASES, sign=True)
    assert verified() is None

    forged = forge_flag(clean.id, clean.signed_dt)
    assert verified() == (
        f"flag {forged} has no flag.raise event on the audit chain: it was added behind the "
        "application's back"
    )

    db.session.execute(
        update(Flag)
        .where(Flag.id == forged)
        .values(created_dt=missing_needle.created_dt - timedelta(days=30))
    )
    db.session.commit()
    assert verified() == f"flag {forged} is dated before its session began"


def test_a_flag_an_older_version_raised_without_an_event_is_not_called_forged(
    make_session, make_user
):
    """Before this version no signature's flag had an event: a clinic upgrading must not
    read its history as tampering."""
    signed = make_session(make_user(), phases=ALL_PHASES, sign=True)
    forge_flag(signed.id, signed.signed_dt)

    assert verified() is None


def test_a_calm_answer_pinned_to_a_signatures_flag_is_named(missing_needle):
    """Staff read "What the patient answered" on a flag: the patient's calm next-day answer
    pinned to the missing needle's flag read as if the needle had been dealt with."""
    due, token = deliver_first_check(missing_needle.session)
    answer(token, {}, now=due)
    calm = db.session.scalars(select(PatientResponse.id)).one()
    flag_id = missing_needle.id
    db.session.execute(
        text("UPDATE flags SET response_id = :r WHERE id = :f"), {"r": calm, "f": flag_id}
    )
    db.session.commit()

    assert (
        verified() == f"flag {flag_id} is not on the patient answer its flag.raise event recorded"
    )


def test_an_emergency_flag_dated_later_to_stop_its_escalation_is_named(make_session, make_user):
    """Escalation to the duty address counts from when the flag was raised: moved a year
    on, an answer of bleeding that will not stop was never sent there."""
    session = signer(make_session, make_user())()
    due, token = deliver_first_check(session)
    answer(token, {"bleeding": ["wont_stop"]}, now=due)
    flag = db.session.scalars(select(Flag)).one()
    assert verified() is None
    flag_id = flag.id
    db.session.execute(
        update(Flag).where(Flag.id == flag_id).values(created_dt=due + timedelta(days=365))
    )
    db.session.commit()

    assert escalations.escalate_unacknowledged(now=due + timedelta(hours=2)) == 0
    assert verified() == f"flag {flag_id} is dated at a time its flag.raise event was not written"


def test_a_failed_deliverys_flag_is_raised_on_the_chain_and_its_deletion_named(
    app, make_session, make_user
):
    """A follow-up that never reached the patient is only known by its flag: deleted, the
    record read as if the check went out."""
    app.config.update(REMINDER_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    session = signer(make_session, make_user())()
    now = first_check(session.id).next_attempt_dt
    for _ in range(rules.MAX_ATTEMPTS):
        work_once("worker", now=now)
        db.session.expire_all()
        now = first_check(session.id).next_attempt_dt
    flag = db.session.scalars(select(Flag).where(Flag.kind == "reminder_failed")).one()
    assert db.session.scalars(
        select(AuditEvent.object_id).where(AuditEvent.action == "flag.raise")
    ).all() == [str(flag.id)]
    assert verified() is None

    flag_id = flag.id
    change("DELETE FROM flags WHERE id = :f", flag_id)

    assert verified() == f"flag {flag_id}, raised on the audit chain, is missing"


# --- `flask audit backfill-flags`: the older versions' flags held to their words ----------


def old_flags(make_session, make_user) -> tuple[int, int]:
    """Two flags an older version raised on a signed record: a signature's, with no event,
    and a patient answer's, whose event kept its kind and severity but not its words."""
    signed = make_session(make_user(), phases=ALL_PHASES, sign=True)
    silent = forge_flag(signed.id, signed.signed_dt)
    worded = forge_flag(signed.id, signed.signed_dt + timedelta(milliseconds=1))
    flag = db.session.get(Flag, worded)
    audit.record(
        "flag.raise",
        obj=flag,
        details=flag.audit_details,
        now=signed.signed_dt + timedelta(hours=20),
    )
    db.session.commit()
    return silent, worded


def backfill(runner) -> str:
    result = runner.invoke(args=["audit", "backfill-flags"])
    assert result.exit_code == 0, result.output
    return result.output


def redate(flag_id: int, by: timedelta) -> None:
    flag = db.session.get(Flag, flag_id)
    db.session.execute(
        update(Flag).where(Flag.id == flag_id).values(created_dt=flag.created_dt + by)
    )
    db.session.commit()


@pytest.mark.parametrize(
    ("alter", "said"),
    [
        (
            lambda f: change("UPDATE flags SET message = 'Nothing to see.' WHERE id = :f", f),
            "the message of flag {id} is not the one its flag.raise event recorded",
        ),
        (
            lambda f: change("UPDATE flags SET severity = 'low' WHERE id = :f", f),
            "flag {id} is not of the severity its flag.raise event recorded",
        ),
        (
            lambda f: redate(f, timedelta(hours=1)),
            "flag {id} is dated at another time than its flag.raise event recorded",
        ),
        (
            lambda f: change("DELETE FROM flags WHERE id = :f", f),
            "flag {id}, raised on the audit chain, is missing",
        ),
    ],
    ids=["reworded", "made milder", "dated later", "deleted"],
)
@pytest.mark.parametrize("which", ["a signature's, with no event", "a patient's, without words"])
def test_after_a_backfill_an_older_versions_flag_is_held_to_its_words(
    request, runner, make_session, make_user, alter, said, which
):
    """Before the backfill, a flag an older version raised could be reworded, softened,
    re-dated or deleted unnoticed (its event, if any, held no words); the backfill writes its
    words, and the time it was raised, on its clinic's chain, and seals them in a checkpoint."""
    silent, worded = old_flags(make_session, make_user)
    request.getfixturevalue("missing_needle")  # raised since, with its words
    flag_id = silent if which.endswith("no event") else worded
    message = db.session.get(Flag, flag_id).message
    change("UPDATE flags SET message = 'Nothing to see.' WHERE id = :f", flag_id)
    assert verified() is None  # what the backfill is for
    db.session.execute(
        text("UPDATE flags SET message = :m WHERE id = :f"), {"m": message, "f": flag_id}
    )
    db.session.commit()

    said_back = backfill(runner)

    # The two older flags only: the missing needle's was raised with its words.
    assert (
        "Wrote the words of 2 flags raised by older versions to the audit chains of 1 clinic, "
        "as they are now" in said_back
    )
    assert "Signed checkpoint" in said_back
    backfilled = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "flag.raise").order_by(AuditEvent.id)
    ).all()[-2:]
    assert [(e.object_id, e.details["backfilled"]) for e in backfilled] == [
        (str(silent), True),
        (str(worded), True),
    ]
    assert verified() is None

    alter(flag_id)
    assert verified() == said.format(id=flag_id)


def test_after_a_backfill_a_flag_dated_back_among_the_old_ones_is_named(
    runner, make_session, make_user
):
    """The one a date could not tell: a false alarm on a record from before the upgrade,
    dated among that record's own flags."""
    signed = make_session(make_user(), phases=ALL_PHASES, sign=True)
    forge_flag(signed.id, signed.signed_dt)  # an older version's, no event
    forged_before = forge_flag(signed.id, signed.signed_dt + timedelta(minutes=1))
    assert verified() is None  # reads as one of the old ones
    change("DELETE FROM flags WHERE id = :f", forged_before)

    backfill(runner)
    forged = forge_flag(signed.id, signed.signed_dt + timedelta(minutes=1))

    assert verified() == (
        f"flag {forged} has no flag.raise event on the audit chain: it was added behind the "
        "application's back"
    )


def test_a_backfill_is_refused_while_verify_finds_the_trail_broken(runner, missing_needle):
    """It vouches for the flags as they are: on an altered database it would vouch for the
    alteration."""
    change("UPDATE flags SET severity = 'low' WHERE id = :f", missing_needle.id)
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))

    result = runner.invoke(args=["audit", "backfill-flags"])

    assert result.exit_code == 1
    assert "Verify finds the audit trail broken (flag " in result.output
    assert "find out what happened first" in result.output
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_a_second_backfill_writes_nothing(runner, make_session, make_user):
    old_flags(make_session, make_user)
    backfill(runner)
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))

    assert "nothing to write" in backfill(runner)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_a_backfill_reads_as_what_it_was_in_the_record_and_the_activity_log(
    runner, make_session, make_user
):
    """Its events are written now about flags raised long ago: the record's history and the
    administrators' activity log say so, rather than "Raised a flag" at the backfill's time."""
    silent, _ = old_flags(make_session, make_user)
    session_id = db.session.get(Flag, silent).session_id
    backfill(runner)

    detail = record_detail(make_user("compliance"), session_id)
    said = [(line.event.action, line.event.summary) for line in detail.history]
    assert (
        "Raised a flag",
        "Count discrepancy (Critical), raised earlier: its words put on the audit trail",
    ) in said
    assert (
        "audit.flags_backfilled",
        "Flags raised by older versions put on the audit trail: 2 flag(s)",
    ) in [(row.action, row.what) for row in admin.history()]


def test_a_flag_forged_while_the_backfill_verifies_is_refused_not_vouched_for(
    monkeypatch, runner, missing_needle, make_session, make_user
):
    """Verify takes minutes on a large database: a false alarm put on a clean record
    meanwhile was given a backfilled event and read intact ever after (review)."""
    clean = make_session(make_user(), phases=ALL_PHASES, sign=True)
    forged: list[int] = []
    real_verify = backfill_module.verify

    def verify_then_an_insider_writes():
        found = real_verify()
        forged.append(forge_flag(clean.id, clean.signed_dt))
        return found

    monkeypatch.setattr(backfill_module, "verify", verify_then_an_insider_writes)
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))

    result = runner.invoke(args=["audit", "backfill-flags"])

    assert result.exit_code == 1
    assert f"flag {forged[0]} has no flag.raise event on the audit chain" in result.output
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events


@pytest.mark.parametrize("object_id", ["{id}", "0{id}"], ids=["its own id", "a padded id"])
def test_words_appended_on_a_second_event_do_not_replace_the_sealed_ones(
    runner, make_session, make_user, object_id
):
    """An insider appended one more flag.raise, with new words, for a flag the backfill had
    sealed: under "0<id>" it was read first and stood in for the sealed event (review)."""
    silent, _ = old_flags(make_session, make_user)
    backfill(runner)
    flag = db.session.get(Flag, silent)
    audit.record_many(
        [
            audit.Entry(
                action="flag.raise",
                object_type="flags",
                object_id=object_id.format(id=silent),
                details={**flag.raise_details, "message_hash": sha256_hex("Nothing to see.")},
                chain=flag.session.clinic_id,
            )
        ]
    )
    db.session.commit()
    change("UPDATE flags SET message = 'Nothing to see.' WHERE id = :f", silent)

    assert verified() == (
        f"flag {silent} has flag.raise events on the audit chain that disagree"
        if object_id == "{id}"
        else f"the message of flag {silent} is not the one its flag.raise event recorded"
    )


def test_a_backfill_with_no_older_flags_still_closes_the_gap(runner, make_session, make_user):
    """A clinic whose history has no flag: the backfill writes only its own event, and a false
    alarm dated back on an old record is named from then on."""
    signed = make_session(make_user(), phases=ALL_PHASES, sign=True)

    said = backfill(runner)
    forged = forge_flag(signed.id, signed.signed_dt)

    assert "No flag lacked its words on the audit chain." in said
    assert verified() == (
        f"flag {forged} has no flag.raise event on the audit chain: it was added behind the "
        "application's back"
    )
