"""`flask audit verify` writes the canonical JSON of events and records by hand, for speed;
these properties hold it to `safety.hashing.canonical_json`, the encoder every hash is made with.

Should they drift apart, a database that is intact would read "audit event 1 was altered" or
"signed record 1 does not match its content hash"; here it reads as what it is: the
hand-written encoding is out of step with the encoder. The rows are fed to verify's own walks
through a stand-in reader, spelled as SQLite stores them (the PostgreSQL spelling of times
comes from the database's `to_char`, covered by the integration tests).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Date, DateTime
from sqlalchemy.dialects import sqlite

from safety.audit import rules as audit_rules
from safety.checklists import rules as checklist_rules
from safety.checklists.models import PhaseEntry, TreatmentSession
from safety.checklists.services import signed_content
from safety.hashing import canonical_json
from safety.integrity import chains, reader
from safety.integrity import records as record_pass

DIALECT = sqlite.dialect()
_store_dt = DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
_store_date = Date().dialect_impl(DIALECT).bind_processor(DIALECT)

OUT_OF_STEP = "verify's hand-written {} JSON is out of step with safety.hashing.canonical_json"

ids = st.integers(min_value=1, max_value=2**31 - 1)
texts = st.text(max_size=40)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
#: JSON values as the application stores them: no NaN or infinity (PostgreSQL refuses them).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
documents = st.dictionaries(texts, json_values, max_size=6)
answers = st.dictionaries(texts, texts | st.lists(texts, max_size=3) | ids, max_size=6)
notes = st.dictionaries(texts, texts, max_size=3)


def stored_time(value: datetime) -> str:
    """A time as SQLAlchemy stores it in SQLite: naive UTC text."""
    return _store_dt(value.astimezone(UTC).replace(tzinfo=None))


def spelled(document, canonical: bool) -> str:
    """JSON text as the application stores it, or as another writer might have spelled it."""
    if canonical:
        return canonical_json(document)
    return json.dumps(document, indent=1, ensure_ascii=True)


class StandInReader:
    """Plays verify's `Reader` on SQLite, answering with rows given up front."""

    is_pg = False
    mark = "?"

    def __init__(self, *, events=(), records=(), entries=(), heads=None) -> None:
        self.iso = reader.sqlite_iso(DIALECT)
        self.day = reader.sqlite_day(DIALECT)
        self.events, self.records, self.entries = list(events), list(records), list(entries)
        self.heads = heads or {}

    def dt(self, column: str) -> str:
        return column

    date = json = dt

    def valid_json(self, table: str, *columns: str) -> str:
        return "1"

    def stream(self, sql: str, name: str):
        assert "FROM audit_events" in sql
        yield from self.events

    def one(self, sql: str):
        return None

    def all(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        if sql == chains.HEADS_SQL:
            return [(chain, *head) for chain, head in self.heads.items()]
        if "FROM treatment_sessions" in sql:
            after = parameters[0]
            return [r for r in self.records if r[0] > after][: reader.BATCH]
        assert "FROM phase_entries" in sql
        low, high = parameters
        return [e for e in self.entries if low <= e[0] <= high]


event = st.fixed_dictionaries(
    {
        "chain": st.just(0) | ids,
        "created_dt": times,
        "actor_id": st.none() | ids,
        "action": texts,
        "object_type": st.none() | texts,
        "object_id": st.none() | texts,
        "details": documents,
        "canonical": st.booleans(),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=1, max_size=4))
def test_verify_writes_each_event_as_canonical_json_writes_it(events):
    rows, heads = [], {}
    for e in events:
        seq, prev_hash = heads.get(e["chain"], (0, audit_rules.GENESIS_HASH))
        seq += 1
        payload = audit_rules.event_payload(
            chain=e["chain"],
            seq=seq,
            created_dt=e["created_dt"],
            actor_id=e["actor_id"],
            action=e["action"],
            object_type=e["object_type"],
            object_id=e["object_id"],
            details=e["details"],
        )
        stored_hash = audit_rules.chain_hash(prev_hash, payload)
        rows.append(
            (
                e["chain"],
                seq,
                stored_time(e["created_dt"]),
                e["actor_id"],
                e["action"],
                e["object_type"],
                e["object_id"],
                spelled(e["details"], e["canonical"]),
                prev_hash,
                stored_hash,
            )
        )
        heads[e["chain"]] = (seq, stored_hash)

    walked = chains.walk(StandInReader(events=rows, heads=heads), heads_before=heads)

    assert walked.problem is None, OUT_OF_STEP.format("event") + f": {walked.problem}"
    assert sum(chain.count for chain in walked.chains.values()) == len(events)


entry = st.fixed_dictionaries(
    {
        "phase": texts,
        "author_id": ids,
        "submitted_dt": times,
        "answers": answers,
        "notes": notes,
        "canonical": st.booleans(),
    }
)
record = st.fixed_dictionaries(
    {
        "clinic_id": ids,
        "patient_id": ids,
        "practitioner_id": ids,
        "template_version_id": ids,
        "session_date": st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
        "answers": answers,
        "notes": st.none() | notes,
        "signed_by_id": st.none() | ids,
        "signer_name": texts,
        "signature_meaning": texts,
        "signed_dt": times,
        "entries": st.lists(entry, max_size=3),
        "canonical": st.booleans(),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record, min_size=1, max_size=3))
def test_verify_writes_each_signed_record_as_canonical_json_writes_it(records):
    rows, entry_rows, entry_id = [], [], 0
    for record_id, r in enumerate(records, start=1):
        entries = []
        for e in r["entries"]:
            entry_id += 1
            entries.append(
                PhaseEntry(
                    id=entry_id,
                    phase=e["phase"],
                    author_id=e["author_id"],
                    submitted_dt=e["submitted_dt"],
                    answers=e["answers"],
                    notes=e["notes"],
                )
            )
            entry_rows.append(
                (
                    record_id,
                    entry_id,
                    e["phase"],
                    e["author_id"],
                    stored_time(e["submitted_dt"]),
                    spelled(e["answers"], e["canonical"]),
                    spelled(e["notes"], e["canonical"]),
                    e["canonical"],
                )
            )
        fields = {k: v for k, v in r.items() if k not in ("entries", "canonical")}
        session = TreatmentSession(id=record_id, entries=entries, **fields)
        rows.append(
            (
                record_id,
                r["clinic_id"],
                r["patient_id"],
                r["practitioner_id"],
                r["template_version_id"],
                _store_date(r["session_date"]),
                spelled(r["answers"], r["canonical"]),
                None if r["notes"] is None else spelled(r["notes"], r["canonical"]),
                r["signed_by_id"],
                r["signer_name"],
                r["signature_meaning"],
                stored_time(r["signed_dt"]),
                checklist_rules.content_hash(signed_content(session)),
                r["canonical"],
            )
        )
    reader.Reader.override = StandInReader(records=rows, entries=entry_rows)
    try:
        counted, problem = record_pass.verify_records()
    finally:
        reader.Reader.override = None

    assert problem is None, OUT_OF_STEP.format("record") + f": {problem}"
    assert counted == len(records)


def test_a_drifted_encoder_is_caught_by_these_properties(monkeypatch):
    """The properties would see a drift: verify writing spaces after colons, say."""
    row_time = datetime(2026, 3, 10, 14, 5, 7, 123456, tzinfo=UTC)
    payload = audit_rules.event_payload(
        seq=1,
        created_dt=row_time,
        actor_id=None,
        action="a",
        object_type=None,
        object_id=None,
        details={},
    )
    stored_hash = audit_rules.chain_hash(audit_rules.GENESIS_HASH, payload)
    row = (0, 1, stored_time(row_time), None, "a", None, None, "{}", audit_rules.GENESIS_HASH)
    row += (stored_hash,)
    heads = {0: (1, stored_hash)}

    def walked():
        return chains.walk(StandInReader(events=[row], heads=heads), heads_before=heads)

    assert walked().problem is None

    monkeypatch.setattr(chains, "number", lambda value: " null" if value is None else repr(value))

    assert walked().problem is not None
