"""`flask audit verify` finds what was altered behind the application's back."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from safety.extensions import db


@pytest.fixture
def signed_history(make_user, make_session):
    practitioner = make_user()
    sessions = [
        make_session(practitioner, phases=("signin", "timeout", "signout"), sign=True)
        for _ in range(2)
    ]
    return [s.id for s in sessions]


def _drop_trigger(name: str, table: str) -> None:
    """Do what an attacker with database access would: remove the guard first."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {name}"))
    else:
        db.session.execute(text(f"DROP TRIGGER {name}_update"))
        db.session.execute(text(f"DROP TRIGGER {name}_delete"))


def test_an_untouched_database_verifies_as_intact(runner, signed_history):
    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "Intact" in result.output
    assert "2 signed records" in result.output


def test_an_altered_phase_entry_breaks_its_record_hash(runner, signed_history):
    _drop_trigger("phase_entries_append_only", "phase_entries")
    db.session.execute(
        text("UPDATE phase_entries SET author_id = author_id WHERE id = 1")
    )  # a no-op update changes nothing and must not be reported
    db.session.commit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0

    entry_id = db.session.execute(
        text("SELECT id FROM phase_entries WHERE phase = 'timeout' ORDER BY id LIMIT 1")
    ).scalar_one()
    db.session.execute(
        text(
            "UPDATE phase_entries SET submitted_dt = submitted_dt - INTERVAL '1 hour' "
            "WHERE id = :id"
        )
        if db.engine.dialect.name == "postgresql"
        else text(
            "UPDATE phase_entries SET submitted_dt = '2000-01-01 00:00:00.000000' WHERE id = :id"
        ),
        {"id": entry_id},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {signed_history[0]}" in result.output


def test_a_deleted_audit_event_is_named_as_the_break(runner, signed_history):
    _drop_trigger("audit_events_append_only", "audit_events")
    db.session.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "audit event 3 is missing" in result.output


def test_an_edited_audit_event_is_named_as_the_break(runner, signed_history):
    _drop_trigger("audit_events_append_only", "audit_events")
    db.session.execute(text("UPDATE audit_events SET action = 'nothing.happened' WHERE seq = 4"))
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "audit event 4" in result.output and "altered" in result.output


def test_a_truncated_chain_tail_is_detected_by_the_head(runner, signed_history):
    _drop_trigger("audit_events_append_only", "audit_events")
    last = db.session.execute(text("SELECT max(seq) FROM audit_events")).scalar_one()
    db.session.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": last})
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "head" in result.output


def test_an_altered_addendum_is_named_as_the_break(runner, signed_history):
    from conftest import PASSWORD

    from safety.audit.addenda import add_addendum
    from safety.checklists.models import TreatmentSession

    author = db.session.get(TreatmentSession, signed_history[0]).practitioner
    addendum = add_addendum(
        author,
        signed_history[0],
        reason="Wrong site recorded",
        body="The second site was the left trapezius, not the right.",
        password=PASSWORD,
    )
    addendum_id = addendum.id
    db.session.commit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0

    _drop_trigger("addenda_append_only", "addenda")
    db.session.execute(
        text("UPDATE addenda SET body = 'Nothing to correct.' WHERE id = :id"), {"id": addendum_id}
    )
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"addendum {addendum_id} to record {signed_history[0]} was altered" in result.output
