"""The flags queue and the flag actions against a real database: who acknowledges and resolves
what, each once and audited, and the queue's order, filters and pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from review_helpers import NOW
from sqlalchemy import select

from safety.audit.models import AuditEvent
from safety.checklists.models import Flag
from safety.errors import Conflict, DomainError, Forbidden, NotFound
from safety.extensions import db
from safety.review import flags
from safety.review.rules.flags import FlagFilters

pytest_plugins = ["review_world"]


def open_flag(session_id: int) -> Flag:
    return db.session.scalar(select(Flag).where(Flag.session_id == session_id))


def test_acknowledging_a_flag_records_who_and_when_with_an_audit_event(cast, small_history):
    flag = open_flag(small_history["large_bruise"])

    flags.acknowledge_flag(cast.officer, flag.id, now=NOW)
    db.session.commit()

    db.session.expire_all()
    flag = db.session.get(Flag, flag.id)
    assert (flag.status, flag.acknowledged_by_id, flag.acknowledged_dt) == (
        "acknowledged",
        cast.officer.id,
        NOW,
    )
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "flag.acknowledge"))
    assert (event.object_type, event.object_id) == ("flags", str(flag.id))
    assert event.details["session"] == small_history["large_bruise"]


def test_a_flag_is_acknowledged_only_once(cast, small_history):
    flag = open_flag(small_history["large_bruise"])
    flags.acknowledge_flag(cast.officer, flag.id, now=NOW)
    db.session.commit()

    with pytest.raises(Conflict):
        flags.acknowledge_flag(cast.officer, flag.id, now=NOW)


def test_resolving_a_flag_keeps_the_note_and_audits_without_copying_it(cast, small_history):
    flag = open_flag(small_history["nausea"])

    flags.resolve_flag(cast.officer, flag.id, "  Called the patient; all well.  ", now=NOW)
    db.session.commit()

    db.session.expire_all()
    flag = db.session.get(Flag, flag.id)
    assert flag.status == "resolved"
    assert flag.resolution_note == "Called the patient; all well."
    assert flag.acknowledged_by_id == cast.officer.id  # resolving acknowledges it too
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "flag.resolve"))
    assert "Called" not in str(event.details)


@pytest.mark.parametrize("note", ["", "   ", "x" * 2001])
def test_a_flag_is_not_resolved_without_a_usable_note(cast, small_history, note):
    flag = open_flag(small_history["nausea"])

    with pytest.raises(DomainError) as refused:
        flags.resolve_flag(cast.officer, flag.id, note, now=NOW)

    assert "note" in refused.value.errors
    db.session.rollback()
    assert db.session.get(Flag, flag.id).status == "open"


def test_a_practitioner_acknowledges_only_flags_of_their_own_sessions(cast, small_history):
    own = open_flag(small_history["prolonged"])  # Ada's
    colleagues = open_flag(small_history["large_bruise"])  # Colin's, same clinic

    flags.acknowledge_flag(cast.ada, own.id, now=NOW)
    with pytest.raises(NotFound):
        flags.acknowledge_flag(cast.ada, colleagues.id, now=NOW)
    with pytest.raises(Forbidden):
        flags.resolve_flag(cast.ada, own.id, "Done", now=NOW)


def test_the_flags_queue_of_a_practitioner_holds_only_their_own_flags(cast, small_history):
    page = flags.list_flags(cast.ada, FlagFilters())

    assert {row.flag.session_id for row in page.rows} == {
        small_history["prolonged"],
        small_history["nausea"],
    }


def test_the_flags_queue_puts_urgent_escalations_first_then_severity(cast, small_history):
    urgent = Flag(
        session_id=small_history["clean_mar"],
        kind="same_day",
        severity="medium",
        message="Patient reports redness and warmth at a site.",
        created_dt=NOW - timedelta(days=30),
    )
    db.session.add(urgent)
    db.session.commit()

    page = flags.list_flags(cast.officer, FlagFilters())

    assert [row.flag.kind for row in page.rows] == [
        "same_day",
        "prolonged_bleeding",
        "large_bruise",
        "reaction",
    ]
    assert page.rows[0].is_urgent


def test_the_flags_queue_filters_by_status_severity_and_kind(cast, small_history):
    flags.resolve_flag(cast.officer, open_flag(small_history["nausea"]).id, "Done", now=NOW)
    db.session.commit()

    def kinds(**filters):
        page = flags.list_flags(cast.officer, FlagFilters(**filters))
        return sorted(row.flag.kind for row in page.rows)

    assert kinds() == ["large_bruise", "prolonged_bleeding"]
    assert kinds(status="resolved") == ["reaction"]
    assert kinds(status="all", severity="medium") == ["large_bruise"]
    assert kinds(status="all", kind="prolonged_bleeding") == ["prolonged_bleeding"]


def test_the_flags_queue_pages_through_every_flag(cast, small_history):
    first = flags.list_flags(cast.officer, FlagFilters(status="all"), page_size=2)
    second = flags.list_flags(cast.officer, FlagFilters(status="all"), page=2, page_size=2)

    assert first.count == 3
    assert (first.next_cursor, second.next_cursor, second.prev_cursor) == ("2", None, "1")
    assert len({r.flag.id for r in first.rows} | {r.flag.id for r in second.rows}) == 3


# --- lot trace -------------------------------------------------------------------------------
