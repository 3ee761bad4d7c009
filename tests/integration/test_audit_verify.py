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


@pytest.fixture
def addendum_id(signed_history) -> int:
    """A signed correction to the first record, committed."""
    from conftest import PASSWORD

    from safety.audit.addenda import add_addendum
    from safety.checklists.models import TreatmentSession

    author = db.session.get(TreatmentSession, signed_history[0]).practitioner
    added = add_addendum(
        author,
        signed_history[0],
        reason="Wrong site recorded",
        body="The second site was the left trapezius, not the right.",
        password=PASSWORD,
    )
    db.session.commit()
    return added.id


def test_an_altered_addendum_is_named_as_the_break(runner, signed_history, addendum_id):
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0

    _drop_trigger("addenda_append_only", "addenda")
    db.session.execute(
        text("UPDATE addenda SET body = 'Nothing to correct.' WHERE id = :id"), {"id": addendum_id}
    )
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"addendum {addendum_id} to record {signed_history[0]} was altered" in result.output


@pytest.fixture
def in_a_worker(monkeypatch):
    """Share the records between a worker process and this one, as on a large database."""
    from safety.audit import verify

    monkeypatch.setattr(verify, "PARALLEL_MIN_RECORDS", 0)
    monkeypatch.setattr(verify, "EVENT_COST", 0)  # the worker takes the older half
    return verify


@pytest.fixture
def unusual_history(make_user, make_session):
    """Records whose answers and notes hold quotes, backslashes, newlines and non-ASCII text."""
    practitioner = make_user(name='Zoë "Zed" Ó Briain')
    overrides = {
        "timeout.skin_prepared": ["no"],
        "timeout.skin_prepared.note": ['Wipes ran out; "soap" & water\\used.\nNext: ✓ café'],
        "signout.bleeding": ["minor"],
        "signout.bleeding.note": ["Pressure for six minutes — 止血\t(ok)"],
    }
    return [
        make_session(
            practitioner,
            phases=("signin", "timeout", "signout"),
            overrides=overrides if n % 2 else None,
            sign=True,
        ).id
        for n in range(4)
    ]


def test_records_with_unusual_text_verify_as_intact(runner, unusual_history):
    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "4 signed records" in result.output


def test_records_verified_in_a_worker_process_verify_as_intact(
    runner, in_a_worker, unusual_history
):
    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "4 signed records" in result.output
    assert "records_worker_s" in in_a_worker.verify().timings  # the worker did run


@pytest.mark.parametrize("which", [0, 1, 3], ids=["worker", "worker-last", "parent"])
def test_an_altered_record_is_named_whichever_process_checks_it(
    runner, in_a_worker, unusual_history, which
):
    _drop_trigger("treatment_sessions_signed", "treatment_sessions")
    db.session.execute(
        text("UPDATE treatment_sessions SET notes = NULL WHERE id = :id"),
        {"id": unusual_history[which]},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {unusual_history[which]} does not match" in result.output


def test_the_first_altered_record_is_named_when_both_processes_find_one(
    runner, in_a_worker, unusual_history
):
    _drop_trigger("treatment_sessions_signed", "treatment_sessions")
    db.session.execute(
        text("UPDATE treatment_sessions SET notes = NULL WHERE id IN (:a, :b)"),
        {"a": unusual_history[1], "b": unusual_history[3]},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {unusual_history[1]} does not match" in result.output


def test_a_broken_chain_is_reported_even_while_a_worker_checks_the_records(
    runner, in_a_worker, unusual_history
):
    _drop_trigger("audit_events_append_only", "audit_events")
    db.session.execute(text("UPDATE audit_events SET details = '{}' WHERE seq = 5"))
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "audit event 5" in result.output and "altered" in result.output


def test_events_with_unusual_details_verify_as_intact(runner, signed_history):
    from safety.audit import services as audit

    audit.record(
        "test.unusual",
        object_type=None,
        details={"note": 'Zoë "q" \\ \n\t✓', "ratio": 1.5, "nested": {"b": [1, None], "a": True}},
    )
    audit.record("test.system", object_type="clinic", object_id="Nörd-7 x")
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output


def _rehash_behind_the_application(session_id: int, change: str) -> None:
    """Rewrite a signed record and then its content hash, with the application's own recipe.

    The hash is public arithmetic: whoever can write the table can make a record agree with
    its own hash again. Only the signing event on the chain still knows what was signed.
    """
    from safety.checklists import rules
    from safety.checklists.models import TreatmentSession
    from safety.checklists.services import signed_content

    _drop_trigger("treatment_sessions_signed", "treatment_sessions")
    db.session.execute(text(change), {"id": session_id})
    db.session.commit()
    db.session.expire_all()
    rehashed = rules.content_hash(signed_content(db.session.get(TreatmentSession, session_id)))
    db.session.execute(
        text("UPDATE treatment_sessions SET content_hash = :h WHERE id = :id"),
        {"h": rehashed, "id": session_id},
    )
    db.session.commit()


def test_a_record_rewritten_with_a_matching_hash_is_caught_by_its_signing_event(
    runner, signed_history
):
    rename = "UPDATE treatment_sessions SET signer_name = 'Someone Else' WHERE id = :id"
    _rehash_behind_the_application(signed_history[1], rename)

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {signed_history[1]} does not carry the hash audit event" in result.output


def test_a_record_unsigned_behind_the_application_is_caught(runner, signed_history):
    _drop_trigger("treatment_sessions_signed", "treatment_sessions")
    db.session.execute(
        text("UPDATE treatment_sessions SET signed_dt = NULL WHERE id = :id"),
        {"id": signed_history[0]},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {signed_history[0]} (audit event" in result.output
    assert "missing or no longer signed" in result.output


def test_a_record_signed_behind_the_application_is_caught(
    runner, make_user, make_session, monkeypatch
):
    from types import SimpleNamespace

    from safety.checklists import rules, services
    from safety.checklists.models import TreatmentSession
    from safety.checklists.services import signed_content
    from safety.dbtypes import utcnow

    practitioner = make_user()
    make_session(practitioner, phases=("signin", "timeout", "signout"), sign=True)
    forged = make_session(practitioner, phases=("signin", "timeout", "signout"))
    # Everything signing writes, without the signing event: what someone writing to the
    # database directly would do.
    monkeypatch.setattr(services, "audit", SimpleNamespace(record=lambda *a, **k: None))
    services.apply_signature(forged, practitioner, now=utcnow())
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(TreatmentSession, forged.id)
    assert stored.content_hash == rules.content_hash(signed_content(stored))  # self-consistent

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {forged.id} has no signing event on the audit chain" in result.output


def test_an_addendum_rewritten_with_a_matching_hash_is_caught_by_its_event(
    runner, signed_history, addendum_id
):
    from safety.audit.addenda import addendum_hash
    from safety.checklists.models import Addendum

    _drop_trigger("addenda_append_only", "addenda")
    db.session.execute(
        text("UPDATE addenda SET body = 'Nothing to correct.' WHERE id = :id"), {"id": addendum_id}
    )
    db.session.commit()
    db.session.expire_all()
    addendum = db.session.get(Addendum, addendum_id)
    rehashed = addendum_hash(addendum, record_hash=addendum.session.content_hash)
    db.session.execute(
        text("UPDATE addenda SET content_hash = :h WHERE id = :id"),
        {"h": rehashed, "id": addendum_id},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"addendum {addendum_id} to record {signed_history[0]} was altered" in result.output


def test_a_deleted_addendum_is_caught_by_its_event(runner, addendum_id):
    _drop_trigger("addenda_append_only", "addenda")
    db.session.execute(text("DELETE FROM addenda WHERE id = :id"), {"id": addendum_id})
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"addendum {addendum_id} is on the audit chain but missing" in result.output


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("needle_lot", "'OTHER-LOT'"),
        ("bleeding", "'minor'"),
        ("bruising", "'small'"),
        ("reaction", "'vasovagal'"),
        ("pain_during", "0"),
    ],
)
def test_a_lot_or_outcome_column_changed_behind_the_application_is_named(
    runner, signed_history, column, value
):
    from safety.checklists.models import TreatmentSession

    record = db.session.get(TreatmentSession, signed_history[1])
    assert record.needle_lot == record.answers["timeout.needle_lot"]  # the trace finds it today
    _drop_trigger("treatment_sessions_signed", "treatment_sessions")
    db.session.execute(
        text(f"UPDATE treatment_sessions SET {column} = {value} WHERE id = :id"),
        {"id": signed_history[1]},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    expected = f"signed record {signed_history[1]}: {column} no longer matches its signed answers"
    assert expected in result.output


def test_forged_answers_are_named_by_the_signing_event_not_by_a_copied_column(
    runner, signed_history
):
    forge = (
        "UPDATE treatment_sessions SET answers = "
        + (
            "jsonb_set(answers, '{timeout.needle_lot}', '\"FORGED-1\"')"
            if db.engine.dialect.name == "postgresql"
            else "json_set(answers, '$.\"timeout.needle_lot\"', 'FORGED-1')"
        )
        + " WHERE id = :id"
    )
    _rehash_behind_the_application(signed_history[0], forge)

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {signed_history[0]} does not carry the hash audit event" in result.output


def test_an_addendum_whose_record_is_gone_is_named(runner, addendum_id):
    # Foreign keys off for one statement, as someone at the database could do.
    is_postgres = db.engine.dialect.name == "postgresql"
    guard_off, guard_on = (
        ("ALTER TABLE addenda DISABLE TRIGGER ALL", "ALTER TABLE addenda ENABLE TRIGGER ALL")
        if is_postgres
        else ("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON")
    )
    if not is_postgres:
        _drop_trigger("addenda_append_only", "addenda")
        db.session.commit()
    db.session.execute(text(guard_off))
    db.session.execute(
        text("UPDATE addenda SET session_id = 99999 WHERE id = :id"), {"id": addendum_id}
    )
    db.session.commit()
    db.session.execute(text(guard_on))
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"addendum {addendum_id} belongs to record 99999, which is missing" in result.output


def test_a_checklist_signed_while_verify_runs_is_no_break(
    runner, signed_history, make_user, make_session, monkeypatch
):
    from safety.audit import verify

    practitioner = make_user()
    records_pass = verify._verify_records

    def records_then_a_clinic_signs(*args, **kwargs):
        counted = records_pass(*args, **kwargs)
        make_session(practitioner, phases=("signin", "timeout", "signout"), sign=True)
        db.session.commit()
        return counted

    monkeypatch.setattr(verify, "_verify_records", records_then_a_clinic_signs)

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output


def test_events_appended_while_the_chain_is_walked_are_no_break(
    runner, signed_history, monkeypatch
):
    from config import TestingConfig
    from safety import create_app
    from safety.audit import services as audit
    from safety.audit import verify

    url = db.engine.url.render_as_string(hide_password=False)
    clinic = create_app(type("ElsewhereConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    stream = verify._Reader.stream

    def walk_then_the_clinic_writes(self, sql, name):
        yield from stream(self, sql, name)
        if name == "audit_verify_chain":  # another connection appends before the head is read
            with clinic.app_context():
                audit.record("test.meanwhile", object_type=None)
                db.session.commit()
                db.session.remove()
                db.engine.dispose()

    monkeypatch.setattr(verify._Reader, "stream", walk_then_the_clinic_writes)

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
