"""`flask audit verify` finds what was altered behind the application's back."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DataError

from safety.extensions import db
from safety.integrity.triggers import SUPERSEDING_ONLY


def sign_two_records(make_user, make_session) -> list[int]:
    practitioner = make_user()
    sessions = [
        make_session(practitioner, phases=("signin", "timeout", "signout"), sign=True)
        for _ in range(2)
    ]
    return [s.id for s in sessions]


#: The two signed records are made once per module; each test that asks for them starts there.
pytestmark = pytest.mark.world.with_args(sign_two_records)


@pytest.fixture
def signed_history(world) -> list[int]:
    """Ids of two signed records."""
    return world


#: What puts back the guards a test took away, run before verify: an insider puts them back.
_PUT_BACK: list[str] = []


@pytest.fixture(autouse=True)
def _forget_the_guards():
    _PUT_BACK.clear()
    yield
    _PUT_BACK.clear()


def _drop_trigger(name: str, table: str) -> None:
    """Do what an attacker with database access would: remove the guard first (and put it back
    afterwards, exactly as it was: `put_back`, which `runner` does before verify runs)."""
    if db.engine.dialect.name == "postgresql":
        # Tables whose rows may change in one way have an UPDATE and a DELETE trigger (0013).
        names = (
            [f"{name}_{verb}" for verb in ("update", "delete")]
            if table in SUPERSEDING_ONLY
            else [name]
        )
        for each in names:
            db.session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {each}"))
            _PUT_BACK.append(f"ALTER TABLE {table} ENABLE TRIGGER {each}")
        return
    for verb in ("update", "delete"):
        trigger = f"{name}_{verb}"
        created = db.session.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
            {"n": trigger},
        ).scalar_one()
        db.session.execute(text(f"DROP TRIGGER {trigger}"))
        _PUT_BACK.append(created)


def put_back() -> None:
    """The triggers the test dropped, back as they were, committed."""
    while _PUT_BACK:
        db.session.execute(text(_PUT_BACK.pop()))
    db.session.commit()


@pytest.fixture
def runner(runner):
    """The CLI runner, run once the insider has put the guards back."""

    class PutsTheGuardsBack:
        def invoke(self, *args, **kwargs):
            put_back()
            return runner.invoke(*args, **kwargs)

    return PutsTheGuardsBack()


def _event_id(seq: int, *, chain: int | None = None) -> int:
    """The id of event `seq` of a chain: by default the first signed record's clinic's."""
    if chain is None:
        chain = db.session.execute(
            text("SELECT clinic_id FROM treatment_sessions ORDER BY id LIMIT 1")
        ).scalar_one()
    return db.session.execute(
        text("SELECT id FROM audit_events WHERE chain_id = :c AND seq = :s"),
        {"c": chain, "s": seq},
    ).scalar_one()


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
    _drop_trigger("phase_entries_append_only", "phase_entries")
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
    db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": _event_id(3)})
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "audit event 3 is missing" in result.output


def test_an_edited_audit_event_is_named_as_the_break(runner, signed_history):
    _drop_trigger("audit_events_append_only", "audit_events")
    db.session.execute(
        text("UPDATE audit_events SET action = 'nothing.happened' WHERE id = :id"),
        {"id": _event_id(4)},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "audit event 4" in result.output and "altered" in result.output


def test_a_truncated_chain_tail_is_detected_by_the_head(runner, signed_history):
    _drop_trigger("audit_events_append_only", "audit_events")
    last = db.session.execute(text("SELECT max(id) FROM audit_events")).scalar_one()
    db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": last})
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "head" in result.output


@pytest.fixture
def addendum_id(signed_history) -> int:
    """A signed correction to the first record, committed."""
    from conftest import PASSWORD

    from safety.checklists.addenda import add_addendum
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
def in_a_worker_process(monkeypatch):
    """Share the chain and the records with a worker process, as on a large database."""
    from safety.integrity import verify

    monkeypatch.setattr(verify, "PARALLEL_MIN_ROWS", 0)
    return verify


class _PipeEnd:
    """One end of an in-process pipe; messages are pickled, as between processes."""

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = messages

    def send(self, message) -> None:
        self.messages.append(pickle.dumps(message))

    def recv(self):
        if not self.messages:
            raise EOFError
        return pickle.loads(self.messages.pop(0))

    def close(self) -> None:
        pass


class _InlineProcess:
    """A worker "process" that runs its target in this one, to the end, when started."""

    exitcode = 0

    def __init__(self, target, args, daemon) -> None:
        self.target, self.args = target, args

    def start(self) -> None:
        from safety.integrity.reader import Reader

        # A process of its own would not share the class attribute the worker sets.
        parents = Reader.override
        try:
            self.target(*self.args)
        finally:
            Reader.override = parents

    def join(self) -> None:
        pass

    def terminate(self) -> None:
        pass


class _InlineContext:
    """multiprocessing's spawn context, as `_Worker` uses it, without the spawning."""

    def Pipe(self, duplex: bool):  # the names multiprocessing gives them
        messages: list[bytes] = []
        return _PipeEnd(messages), _PipeEnd(messages)

    def Process(self, target, args, daemon):
        return _InlineProcess(target, args, daemon)


@pytest.fixture
def in_a_worker(monkeypatch):
    """Split the chain and the records as on a large database, the worker's half run here.

    Everything but the spawning is the real path: the split points, `_Worker`, the worker's
    own connection and its `_worker_main`, the results pickled through the pipe and joined.
    A process costs a second or two; the few tests that take `in_a_worker_process` keep one.
    """
    from safety.integrity import verify

    monkeypatch.setattr(verify, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(verify, "multiprocessing", SimpleNamespace(get_context=_inline_context))
    return verify


def _inline_context(method: str) -> _InlineContext:
    assert method == "spawn"
    return _InlineContext()


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


@pytest.mark.real_commits
def test_records_verified_in_a_worker_process_verify_as_intact(
    runner, in_a_worker_process, unusual_history
):
    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "4 signed records" in result.output
    assert "worker_s" in in_a_worker_process.verify().timings  # the worker did run


def _chain_of(which: str) -> int:
    if which == "system":
        return 0
    return db.session.execute(
        text("SELECT clinic_id FROM treatment_sessions ORDER BY id LIMIT 1")
    ).scalar_one()


@pytest.mark.real_commits
def test_every_chain_counts_when_a_worker_walks_some(runner, in_a_worker, unusual_history):
    events = db.session.execute(text("SELECT count(*) FROM audit_events")).scalar_one()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert f"Intact: {events} audit events" in result.output
    assert "worker_s" in in_a_worker.verify().timings  # the work was split


@pytest.mark.parametrize("which", ["system", "clinic"])
@pytest.mark.real_commits
def test_an_edited_event_is_named_with_its_chain_whichever_process_walks_it(
    runner, in_a_worker, unusual_history, which
):
    chain = _chain_of(which)
    event_id = _event_id(2, chain=chain)
    _drop_trigger("audit_events_append_only", "audit_events")
    db.session.execute(
        text("UPDATE audit_events SET action = 'nothing.happened' WHERE id = :id"), {"id": event_id}
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    named = "the system chain" if which == "system" else f"the chain of clinic {chain} ("
    assert named in result.output
    assert "audit event 2 (nothing.happened) was altered" in result.output


@pytest.mark.parametrize("which", ["system", "clinic"])
@pytest.mark.real_commits
def test_an_event_deleted_from_either_process_s_chains_is_named(
    runner, in_a_worker, unusual_history, which
):
    event_id = _event_id(2, chain=_chain_of(which))
    _drop_trigger("audit_events_append_only", "audit_events")
    db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": event_id})
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "audit event 2 is missing" in result.output


@pytest.mark.parametrize("which", [0, 1, 3], ids=["worker", "worker-last", "parent"])
@pytest.mark.real_commits
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


@pytest.mark.real_commits
def test_the_first_altered_record_is_named_when_both_processes_find_one(
    runner, in_a_worker_process, unusual_history
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


@pytest.mark.real_commits
def test_a_broken_chain_is_reported_even_while_a_worker_checks_the_records(
    runner, in_a_worker_process, unusual_history
):
    _drop_trigger("audit_events_append_only", "audit_events")
    db.session.execute(
        text("UPDATE audit_events SET details = '{}' WHERE id = :id"), {"id": _event_id(5)}
    )
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


def _stored_json(table: str, column: str, row_id: int) -> str:
    """A JSON column's text exactly as the database holds it."""
    cast = "::text" if db.engine.dialect.name == "postgresql" else ""
    return db.session.execute(
        text(f"SELECT {column}{cast} FROM {table} WHERE id = :id"), {"id": row_id}
    ).scalar_one()


def test_hashed_documents_are_stored_in_the_canonical_form_the_hashes_cover(signed_history):
    """What lets verify hash stored text instead of decoding every document again."""
    from safety.audit.models import AuditEvent
    from safety.checklists.models import PhaseEntry
    from safety.hashing import canonical_json

    entry = db.session.scalars(db.select(PhaseEntry).where(PhaseEntry.phase == "timeout")).first()
    sign = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "session.sign")
    ).first()

    assert _stored_json("phase_entries", "answers", entry.id) == canonical_json(entry.answers)
    assert _stored_json("phase_entries", "notes", entry.id) == canonical_json(entry.notes)
    assert _stored_json("audit_events", "details", sign.id) == canonical_json(sign.details)


def test_documents_respelled_behind_the_application_still_verify_as_intact(runner, signed_history):
    """Same values in another spelling (as jsonb, or an older release, wrote them)."""
    from safety.audit.models import AuditEvent
    from safety.checklists.models import PhaseEntry

    entry = db.session.scalars(db.select(PhaseEntry)).first()
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.details != None)).first()  # noqa: E711
    respelled = {
        "answers": json.dumps(dict(reversed(list(entry.answers.items()))), indent=1),
        "details": json.dumps(dict(reversed(list(event.details.items()))), indent=1),
    }
    as_json = "CAST({} AS json)" if db.engine.dialect.name == "postgresql" else "{}"
    _drop_trigger("phase_entries_append_only", "phase_entries")
    _drop_trigger("audit_events_append_only", "audit_events")
    db.session.execute(
        text(f"UPDATE phase_entries SET answers = {as_json.format(':answers')} WHERE id = :id"),
        {"answers": respelled["answers"], "id": entry.id},
    )
    db.session.execute(
        text(f"UPDATE audit_events SET details = {as_json.format(':details')} WHERE id = :id"),
        {"details": respelled["details"], "id": event.id},
    )
    db.session.commit()
    assert _stored_json("phase_entries", "answers", entry.id) == respelled["answers"]

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output


def test_a_phase_entry_folded_into_its_neighbours_notes_is_caught(runner, signed_history):
    """The one forgery that rebuilds a record's bytes from stored text: delete the sign out
    entry and move its text into the time out entry's notes, which takes its phase and time.
    Only a check that each column holds one JSON value tells it apart."""
    from safety.checklists import services as checklists
    from safety.checklists.models import TreatmentSession
    from safety.hashing import canonical_json

    session = db.session.get(TreatmentSession, signed_history[0])
    timeout, signout = session.entries[1], session.entries[2]
    content = canonical_json(checklists.signed_content(session))
    start = content.index(f'"id":{timeout.id},"notes":') + len(f'"id":{timeout.id},"notes":')
    end = content.index(',"phase":"signout","submitted_dt":')
    folded = content[start:end]
    _drop_trigger("phase_entries_append_only", "phase_entries")
    move = text(
        "UPDATE phase_entries SET notes = :notes, phase = 'signout', submitted_dt = "
        "(SELECT submitted_dt FROM phase_entries WHERE id = :signout) WHERE id = :timeout"
        if db.engine.dialect.name != "postgresql"
        else "UPDATE phase_entries SET notes = CAST(:notes AS json), phase = 'signout', "
        "submitted_dt = (SELECT submitted_dt FROM phase_entries WHERE id = :signout) "
        "WHERE id = :timeout"
    )
    parameters = {"notes": folded, "signout": signout.id, "timeout": timeout.id}

    if db.engine.dialect.name == "postgresql":
        with pytest.raises(DataError):  # the json type refuses text that is no JSON value
            db.session.execute(move, parameters)
        return
    db.session.execute(move, parameters)
    db.session.execute(text("DELETE FROM phase_entries WHERE id = :id"), {"id": signout.id})
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {signed_history[0]} does not match its content hash" in result.output


def test_details_that_are_no_json_at_all_are_named_as_altered(runner, signed_history):
    _drop_trigger("audit_events_append_only", "audit_events")
    broken = text("UPDATE audit_events SET details = '{\"a\":' WHERE id = :id")
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(DataError):  # the json type refuses it; SQLite stores it
            db.session.execute(broken, {"id": _event_id(4)})
        return
    db.session.execute(broken, {"id": _event_id(4)})
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "audit event 4" in result.output and "altered" in result.output


@pytest.mark.parametrize("share", ["here", pytest.param("worker", marks=pytest.mark.real_commits)])
def test_an_event_slipped_in_below_the_first_id_is_named(runner, request, signed_history, share):
    """An off-chain signing event with an id below every other: it must not escape the walk,
    or the signing checks would trust it."""
    if share == "worker":
        request.getfixturevalue("in_a_worker")
    db.session.execute(
        text(
            "INSERT INTO audit_events (id, seq, created_dt, action, object_type, object_id, "
            "details, prev_hash, hash) VALUES (-1, -1, '2026-01-01 00:00:00', 'session.sign', "
            "'treatment_sessions', '1', '{}', :zero, :zero)"
        ),
        {"zero": "0" * 64},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "audit event 1 is missing (found -1)" in result.output


def test_an_addendum_signed_twice_on_the_chain_is_named(runner, addendum_id):
    """A second, well-chained event naming another hash must not get to choose which holds."""
    from safety.audit import services as audit

    audit.record(
        "session.addendum",
        object_type="addenda",
        object_id=addendum_id,
        details={"addendum": addendum_id, "content_hash": "f" * 64},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"addendum {addendum_id} is signed twice on the audit chain" in result.output


@pytest.mark.parametrize(
    "stored",
    ["5", '"\\ud800"', "[" * 5000 + "]" * 5000],
    ids=["a-number", "a-lone-surrogate", "nested-past-recursion"],
)
def test_details_no_signature_covers_are_named_as_altered_not_a_crash(
    runner, signed_history, stored
):
    _drop_trigger("audit_events_append_only", "audit_events")
    as_json = "CAST(:stored AS json)" if db.engine.dialect.name == "postgresql" else ":stored"
    db.session.execute(
        text(f"UPDATE audit_events SET details = {as_json} WHERE id = :id"),
        {"stored": stored, "id": _event_id(4)},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1, result.output
    assert "audit event 4" in result.output and "altered" in result.output


@pytest.mark.real_commits
def test_events_this_transaction_has_not_committed_are_no_break(in_a_worker, signed_history):
    """verify() called with an event written but not committed: a worker could not see it."""
    from safety.audit import services as audit

    audit.record("test.uncommitted", object_type=None)
    audit.append_pending(db.session)  # written, not committed

    result = in_a_worker.verify()

    assert result.is_intact, result.problem
    db.session.rollback()


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
    from safety.checklists.addenda import addendum_hash
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


def test_an_addendum_whose_signing_event_was_removed_is_named_for_that_not_as_altered(
    runner, signed_history, addendum_id
):
    """The insider's review deleted only the event and re-chained the rest: verify called the
    untouched addendum "altered"."""
    from insider import guards_off, rechain

    event = db.session.execute(
        text(
            "SELECT id, chain_id FROM audit_events WHERE action = 'session.addendum' "
            "ORDER BY id DESC LIMIT 1"
        )
    ).one()
    with guards_off():
        db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": event.id})
        rechain(event.chain_id)

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert (
        f"addendum {addendum_id} to record {signed_history[0]} has no signing event"
        in result.output
    )


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
    from safety.integrity import verify

    practitioner = make_user()
    records_pass = verify.verify_records

    def records_then_a_clinic_signs(*args, **kwargs):
        counted = records_pass(*args, **kwargs)
        make_session(practitioner, phases=("signin", "timeout", "signout"), sign=True)
        db.session.commit()
        return counted

    monkeypatch.setattr(verify, "verify_records", records_then_a_clinic_signs)

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output


@pytest.mark.real_commits
def test_events_appended_while_the_chain_is_walked_are_no_break(
    runner, signed_history, monkeypatch
):
    from config import TestingConfig
    from safety import create_app
    from safety.audit import services as audit
    from safety.integrity.reader import Reader

    url = db.engine.url.render_as_string(hide_password=False)
    clinic = create_app(type("ElsewhereConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    stream = Reader.stream

    def walk_then_the_clinic_writes(self, sql, name):
        yield from stream(self, sql, name)
        if name == "audit_verify_chains":  # another connection appends before heads are read
            with clinic.app_context():
                audit.record("test.meanwhile", object_type=None)
                db.session.commit()
                db.session.remove()
                db.engine.dispose()

    monkeypatch.setattr(Reader, "stream", walk_then_the_clinic_writes)

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE session_packs SET lot_key = 'OTHER-LOT' WHERE session_id = :id",
        "DELETE FROM session_packs WHERE session_id = :id",
    ],
    ids=["re-keyed", "deleted"],
)
def test_a_needle_pack_changed_behind_the_application_is_named(runner, signed_history, statement):
    # The lot trace reads the packs: a pack re-keyed or deleted would drop a patient from a
    # recall while every content hash still matched.
    _drop_trigger("session_packs_append_only", "session_packs")
    db.session.execute(text(statement), {"id": signed_history[1]})
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {signed_history[1]}: its needle packs no longer match" in result.output


def test_a_signed_records_pack_marked_superseded_behind_the_application_is_named(
    runner, signed_history
):
    # The triggers let a pack be marked superseded (a resubmitted Time out does it), with no
    # guard to switch off: that would drop the patient from every recall, so verify holds
    # the current packs to the signed answers.
    db.session.execute(
        text("UPDATE session_packs SET superseded = :yes WHERE session_id = :id"),
        {"yes": True, "id": signed_history[1]},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {signed_history[1]}: its needle packs no longer match" in result.output


@pytest.mark.real_commits  # the worker opens a connection of its own
@pytest.mark.parametrize("which", [0, 1], ids=["older, the worker's", "newer, this process's"])
def test_a_needle_pack_changed_is_named_in_either_half_when_verify_splits_the_work(
    runner, signed_history, in_a_worker, which
):
    # With a worker, the worker holds the older records' packs and this process the newer.
    _drop_trigger("session_packs_append_only", "session_packs")
    db.session.execute(
        text("UPDATE session_packs SET lot_key = 'OTHER-LOT' WHERE session_id = :id"),
        {"id": signed_history[which]},
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {signed_history[which]}: its needle packs no longer" in result.output


def test_a_needle_pack_slipped_in_beside_a_signed_record_is_named(runner, signed_history):
    from safety.packs.models import SessionPack

    pack = db.session.scalars(
        db.select(SessionPack).where(SessionPack.session_id == signed_history[1])
    ).one()
    db.session.add(
        SessionPack(
            entry_id=pack.entry_id,
            session_id=pack.session_id,
            clinic_id=pack.clinic_id,
            session_date=pack.session_date,
            position=2,
            lot="RECALLED-1",
            lot_key="RECALLED-1",
            expiry=pack.expiry,
        )
    )
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"signed record {signed_history[1]}: its needle packs no longer match" in result.output


@pytest.mark.real_commits
@pytest.mark.parametrize("side", ["worker", "this process"])
def test_with_a_worker_what_lies_beyond_the_signatures_is_held_on_either_side(
    runner, in_a_worker, signed_history, side
):
    """The worker runs the signature checks, the sessions' and the follow-ups', and this
    process the answers' and the flags' meanwhile (with all of them the worker once took
    twice as long as this side): a follow-up marked answered with no answer, and a flag dated
    before its session, are named either way."""
    from safety.checklists.models import Flag, TreatmentSession
    from safety.followup.models import FollowUp

    if side == "worker":
        altered = db.session.scalars(
            select(FollowUp).where(FollowUp.session_id == signed_history[0]).order_by(FollowUp.id)
        ).first()
        db.session.execute(
            update(FollowUp)
            .where(FollowUp.id == altered.id)
            .values(status="answered", answered_dt=altered.due_dt)
        )
        said = f"follow-up {altered.id} reads answered without the patient's answer"
    else:
        record = db.session.get(TreatmentSession, signed_history[0])
        altered = Flag(
            session_id=record.id,
            kind="count_discrepancy",
            severity="critical",
            message="Needle counts do not reconcile: 6 used / 5 removed.",
            created_dt=record.started_dt - timedelta(days=1),
        )
        db.session.add(altered)
        db.session.flush()
        said = f"flag {altered.id} is dated before its session began"
    db.session.commit()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert said in result.output
