"""Walk the audit chain and every signed record's content hash; report the first break.

A million events and a million records must verify in seconds, so this module reads plain
driver rows (no ORM objects, no SQLAlchemy type processing) and writes the canonical JSON of
each event and record by hand, in the fixed key order `canonical_json` would give. The hashes
are the very ones `audit.rules.chain_hash` and `checklists.rules.content_hash` compute:
tests/integration/test_audit_verify.py holds them to the reference with unusual text and details.
JSON documents are hashed as stored where that is sound (see `_walk_chain` and
`_verify_records`): the application stores them canonical, so most are never decoded. On a
large database a spawned worker process takes half of the chain and half of the records, so
both cores work. A record's own hash proves nothing to someone who can rewrite the
record and its hash together, so each one is also held to the hash its signing event put on
the chain.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from hashlib import sha256
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    create_engine,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

import safety.models  # noqa: F401  (every model, so a worker's ORM can configure their relations)
from safety.audit import rules
from safety.audit.models import AuditChainHead, AuditEvent
from safety.checklists.addenda import addendum_hash
from safety.checklists.models import Addendum, TreatmentSession
from safety.checklists.rules import (
    ANSWER_COLUMNS,
    NO_REACTION,
    REACTIONS_LINK_ID,
    REACTIONS_WORST_FIRST,
)
from safety.dbtypes import UTCDateTime, utcnow
from safety.extensions import db
from safety.hashing import encode_canonical, hashed_time
from safety.integrity.models import VerificationRun

TS = TreatmentSession

#: Rows fetched per round trip.
BATCH = 10_000
#: Events and signed records (estimated from the ids) from which half the work goes to a worker
#: process. Below it starting one costs more than it saves; tests set it to 0.
PARALLEL_MIN_ROWS = 50_000
#: Canonical JSON texts kept per stored JSON text, for the documents decoded: checklist answers
#: repeat from session to session (most are "yes" throughout), so most are decoded once.
CACHE_LIMIT = 100_000

_ENCODER = encode_canonical
_loads = json.loads


@dataclass(frozen=True)
class VerifyResult:
    events: int
    records: int
    #: Description of the first break found, or None when everything is intact.
    problem: str | None
    #: Seconds spent on each part (chain, records, signatures), for the benchmark.
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def is_intact(self) -> bool:
        return self.problem is None


def verify() -> VerifyResult:
    """Recompute the chain from the first event and every signed record's content hash.

    On a large database a worker process takes the newer half of the chain and the older half
    of the records while this process does the rest; the two stretches of the chain are then
    held to each other where they meet.
    """
    reader = _Reader.for_session()
    # The head is read before the walk and again after it, by whoever walks to the chain's
    # end: events the clinic appends while verify runs come after the first reading.
    before = reader.one(_HEAD_SQL)
    watch = before[0] if before else 0
    split = _split_points()
    found = _here(reader, watch) if split is None else _with_worker(reader, watch, split)
    chain = found.chain
    problem = (
        chain.problem
        or _head_problem(chain.count, chain.last_hash, before, chain.hash_at, chain.head_after)
        or found.records_problem
        or found.signatures()
    )
    return VerifyResult(chain.count, found.records, problem, found.timings)


@dataclass
class _Found:
    """What the parts of a run found, before they are put in order."""

    chain: _ChainPart
    records: int
    records_problem: str | None
    #: What `_verify_signatures` finds: run here on demand, or already run by the worker.
    signatures: Callable[[], str | None]
    timings: dict[str, float]


def _here(reader: _Reader, watch: int) -> _Found:
    """Everything in this process; the signatures are checked only if all else is intact."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    chain = _walk_chain(reader, watch=watch)
    timings["chain_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    records, problem = (0, None) if chain.problem else _verify_records()
    timings["records_s"] = round(time.perf_counter() - started, 2)

    def signatures() -> str | None:
        started = time.perf_counter()
        found = _verify_signatures(db.session)
        timings["signatures_s"] = round(time.perf_counter() - started, 2)
        return found

    return _Found(chain, records, problem, signatures, timings)


def _with_worker(reader: _Reader, watch: int, split: tuple[int, int]) -> _Found:
    """The older half of the chain and the newer records here, the rest in a worker."""
    timings: dict[str, float] = {}
    worker = _Worker.start(split, watch)
    try:
        started = time.perf_counter()
        chain = _walk_chain(reader, last_id=split[0], watch=watch)
        timings["chain_s"] = round(time.perf_counter() - started, 2)
        if chain.problem is not None:
            return _Found(chain, 0, None, lambda: None, timings)
        started = time.perf_counter()
        records, problem = _verify_records(first_id=split[1])
        timings["records_s"] = round(time.perf_counter() - started, 2)
        newer, older, older_problem, signatures, timings["worker_s"] = worker.result()
    finally:
        worker.stop()
    # The worker's records are the older ones: its break comes first.
    return _Found(
        _joined(chain, newer),
        records + older,
        older_problem or problem,
        lambda: signatures,
        timings,
    )


def _verify_signatures(db_: Connection | Session) -> str | None:
    """Hold the records and addenda to their signing events, and the copied columns to the
    answers. The signing events first: a record forged with a recomputed hash is named for
    that, not for a copied column that no longer matches its forged answers."""
    return (
        _verify_signing_events(db_)
        or _verify_answer_columns(db_)
        or _verify_addenda(db_)
        or _verify_cancellations(db_)
    )


def verify_and_record(*, now: datetime | None = None) -> VerifyResult:
    """Verify, then keep the outcome so the compliance dashboard can show it."""
    started = now or utcnow()
    result = verify()
    db.session.add(
        VerificationRun(
            started_dt=started,
            finished_dt=utcnow(),
            events=result.events,
            records=result.records,
            is_intact=result.is_intact,
            problem=result.problem,
        )
    )
    db.session.flush()
    return result


def last_run() -> VerificationRun | None:
    """Return the most recent verification run."""
    return db.session.scalar(select(VerificationRun).order_by(VerificationRun.id.desc()).limit(1))


# --- the chain -------------------------------------------------------------------------------


@dataclass
class _ChainPart:
    """What walking one stretch of the chain found."""

    #: Events found intact, from the start of the stretch.
    count: int = 0
    #: Sequence number, action and stored prev_hash of the stretch's first event.
    first: tuple[int, str, str] | None = None
    last_seq: int = 0
    last_hash: str = rules.GENESIS_HASH
    #: The hash of the event the head named before the walk, when it is in this stretch.
    hash_at: str | None = None
    problem: str | None = None
    #: The head read again once the stretch that runs to the chain's end was walked.
    head_after: tuple | None = None


def _walk_chain(
    reader: _Reader, *, after_id: int | None = None, last_id: int | None = None, watch: int = 0
) -> _ChainPart:
    """Walk the events with after_id < id <= last_id: every row, by default.

    The first stretch has no lower bound, so no row escapes the walk whatever id someone gave
    it, and starts from the genesis hash at event 1. A later one takes its first event's
    prev_hash on trust: `_joined` holds it to the hash the stretch before ended on.
    """
    iso, text, document = reader.iso, _Text().__getitem__, _Documents().__getitem__
    is_first = after_id is None
    part = _ChainPart(hash_at=rules.GENESIS_HASH if is_first and watch == 0 else None)
    prev_hash, expected_seq = (rules.GENESIS_HASH, 1) if is_first else (None, None)
    bounds = [f"id > {int(after_id)}"] if not is_first else []
    if last_id is not None:
        bounds.append(f"id <= {int(last_id)}")
    where = f" WHERE {' AND '.join(bounds)}" if bounds else ""
    rows = reader.stream(
        f"SELECT seq, {reader.dt('created_dt')}, actor_id, action, object_type, object_id, "
        f"{reader.json('details')}, prev_hash, hash FROM audit_events{where} ORDER BY id",
        "audit_verify_chain" if is_first else "audit_verify_chain_newer",
    )
    for (
        seq,
        created,
        actor_id,
        action,
        object_type,
        object_id,
        details,
        stored_prev,
        stored,
    ) in rows:
        if part.first is None:
            part.first = (seq, action, stored_prev)
            if prev_hash is None:
                prev_hash, expected_seq = stored_prev, seq
        if seq != expected_seq:
            part.problem = f"audit event {expected_seq} is missing (found {seq})"
            break
        # prev_hash + canonical_json(rules.event_payload(...)), its keys in sorted order. The
        # details are taken as stored first: the application stores them canonical, so most
        # events hash without decoding them. That is sound because they are the only text
        # spliced in as stored: every other part has a fixed length (the hash, the time) or
        # is self-delimiting (digits or null from `_number`, escaped string literals from
        # `_Text`, read unambiguously from either end), so equal bytes mean equal details.
        # Changing how those parts are written must keep that true.
        start = (
            f'{prev_hash}{{"action":{text(action)},"actor_id":{_number(actor_id)},'
            f'"created_dt":"{iso(created)}","details":'
        )
        end = f',"object_id":{text(object_id)},"object_type":{text(object_type)},"seq":{seq}}}'
        if stored_prev != prev_hash or (
            _sha(f"{start}{details}{end}") != stored
            and _sha(f"{start}{document(details)}{end}") != stored
        ):
            part.problem = f"audit event {seq} ({action}) was altered"
            break
        prev_hash = stored
        if seq == watch:
            part.hash_at = stored
        expected_seq += 1
        part.count += 1
    if prev_hash is not None:
        part.last_seq, part.last_hash = expected_seq - 1, prev_hash
    if last_id is None and part.problem is None:
        part.head_after = reader.one(_HEAD_SQL)
    return part


def _joined(older: _ChainPart, newer: _ChainPart) -> _ChainPart:
    """The two stretches as one chain: the newer must carry on where the older ended."""
    if older.problem is not None:
        return older
    if newer.first is None:  # nothing after the middle: the worker only read the head
        return replace(older, head_after=newer.head_after)
    seq, action, prev_hash = newer.first
    if seq != older.last_seq + 1:
        problem = f"audit event {older.last_seq + 1} is missing (found {seq})"
    elif prev_hash != older.last_hash:
        problem = f"audit event {seq} ({action}) was altered"
    else:
        return _ChainPart(
            count=older.count + newer.count,
            first=older.first,
            last_seq=newer.last_seq,
            last_hash=newer.last_hash,
            hash_at=older.hash_at or newer.hash_at,
            problem=newer.problem,
            head_after=newer.head_after,
        )
    return replace(older, hash_at=None, problem=problem)


_HEAD_SQL = "SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1"


def _head_problem(
    count: int,
    last_hash: str,
    before: tuple | None,
    hash_at_before: str | None,
    after: tuple | None,
) -> str | None:
    """Compare the walked chain with the head read before and after it.

    The chain must reach the first reading with the hash it recorded (nothing cut from the
    tail or replaced), and reach no further than the second (nothing added behind the
    application's back); where the second reading is the chain's end, their hashes must agree.
    """
    if before is None or after is None:
        return "the audit chain has no head"
    if count < before[0] or hash_at_before != before[1]:
        return f"the chain ends at event {count} but the head records {before[0]}"
    if after[0] < count or (after[0] == count and after[1] != last_hash):
        return f"the chain ends at event {count} but the head records {after[0]}"
    return None


# --- the records -----------------------------------------------------------------------------


def _verify_records(
    first_id: int | None = None, last_id: int | None = None
) -> tuple[int, str | None]:
    """Re-hash the signed records with first_id < id <= last_id (all of them by default).

    As with the chain's details, the JSON columns are taken as stored first. But a record
    splices several of them, and text moved from one into the next (a phase entry folded into
    its neighbour's notes) would rebuild the very same bytes; so stored text is used as it is
    only where the database vouches that each column holds one JSON value (SQLite's
    `json_valid`, PostgreSQL's `json` type). Otherwise, and when that does not give the hash
    (text stored before the application wrote it canonical), each column is decoded and
    encoded again.
    """
    reader = _Reader.for_session()
    iso, day = reader.iso, reader.day
    text, document = _Text().__getitem__, _Documents().__getitem__
    count = 0
    upper = "" if last_id is None else f" AND id <= {int(last_id)}"
    sessions_sql = (
        "SELECT id, clinic_id, patient_id, practitioner_id, template_version_id, "
        f"{reader.date('session_date')}, {reader.json('answers')}, {reader.json('notes')}, "
        f"signed_by_id, signer_name, signature_meaning, {reader.dt('signed_dt')}, content_hash, "
        f"{reader.valid_json('treatment_sessions', 'answers', 'notes')} "
        f"FROM treatment_sessions WHERE signed_dt IS NOT NULL AND id > {reader.mark}{upper} "
        f"ORDER BY id LIMIT {BATCH}"
    )
    entries_sql = (
        f"SELECT session_id, id, phase, author_id, {reader.dt('submitted_dt')}, "
        f"{reader.json('answers')}, {reader.json('notes')}, "
        f"{reader.valid_json('phase_entries', 'answers', 'notes')} FROM phase_entries "
        f"WHERE session_id >= {reader.mark} AND session_id <= {reader.mark} "
        "ORDER BY session_id, id"
    )

    def content(record: tuple, entries: list[tuple], session_json, entry_json) -> str:
        """canonical_json(checklists.services.signed_content(session)), keys sorted. Ids that
        cannot be NULL are written with repr: a NULL forced in shows as "None"."""
        (
            record_id,
            clinic_id,
            patient_id,
            practitioner_id,
            template_version_id,
            session_date,
            answers,
            notes,
            signer_id,
            signer_name,
            meaning,
            signed,
            _stored,
            _valid,
        ) = record
        listed = ",".join(
            f'{{"answers":{entry_json(e_answers)},"author":{author!r},'
            f'"id":{entry_id},"notes":{entry_json(e_notes)},"phase":{text(phase)},'
            f'"submitted_dt":"{iso(submitted)}"}}'
            for _, entry_id, phase, author, submitted, e_answers, e_notes, _ in entries
        )
        return (
            f'{{"answers":{session_json(answers)},"clinic":{clinic_id!r},'
            f'"entries":[{listed}],"notes":{session_json(notes)},"patient":{patient_id!r},'
            f'"practitioner":{practitioner_id!r},"record":{record_id},'
            f'"session_date":"{day(session_date)}","signature":{{'
            f'"meaning":{text(meaning)},"name":{text(signer_name)},'
            f'"signed_dt":"{iso(signed)}","signer":{_number(signer_id)}}},'
            f'"template_version":{template_version_id!r}}}'
        )

    after = _LOWEST_ID if first_id is None else first_id
    while True:
        batch = reader.all(sessions_sql, (after,))
        if not batch:
            return count, None
        entries: dict[int, list[tuple]] = {}
        for entry in reader.all(entries_sql, (batch[0][0], batch[-1][0])):
            entries.setdefault(entry[0], []).append(entry)
        for record in batch:
            record_id, stored, is_valid = record[0], record[12], record[13]
            listed = entries.get(record_id, [])
            # The stored spelling where the database vouches for it, then every column decoded.
            first_try = (
                _as_stored if is_valid else document,
                _as_stored if all(e[7] for e in listed) else document,
            )
            if _sha(content(record, listed, *first_try)) != stored and (
                first_try == (document, document)
                or _sha(content(record, listed, document, document)) != stored
            ):
                return count, f"signed record {record_id} does not match its content hash"
            count += 1
        after = batch[-1][0]


#: Below any id: the records pass, like the chain walk, leaves out no row whatever its id.
_LOWEST_ID = -(2**63)


def _sha(text: str) -> str:
    """SHA-256 of a text as the application hashes it. A lone surrogate (which signing could
    never have hashed) gets a hash of its own instead of stopping the run."""
    return sha256(text.encode(errors="surrogatepass")).hexdigest()


def _as_stored(stored: str | None) -> str:
    """A JSON column spliced in as the database holds it."""
    return "null" if stored is None else stored


class _Worker:
    """The newer half of the chain and the older half of the records, in a worker process.

    The worker is spawned, not forked: it opens its own connection from the database URL and
    shares nothing with this process, so threads running here (a web server, a test's mail
    server) can leave no lock held in it, and Python 3.12+ has nothing to warn about.
    """

    def __init__(self, process, connection) -> None:
        self.process, self.connection = process, connection

    @classmethod
    def start(cls, split: tuple[int, int], watch: int) -> _Worker:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=False)
        url = db.engine.url.render_as_string(hide_password=False)
        process = context.Process(target=_worker_main, args=(child, url, split, watch), daemon=True)
        process.start()
        child.close()
        return cls(process, parent)

    def result(self) -> tuple[_ChainPart, int, str | None, str | None, float]:
        """The worker's stretch of the chain, its records and their first break, what
        `_verify_signatures` found, and its seconds."""
        try:
            status, *outcome = self.connection.recv()
        except EOFError:
            status, outcome = "error", [f"the worker exited with code {self.process.exitcode}"]
        self.process.join()
        if status != "ok":
            raise RuntimeError(f"verifying in the worker process failed: {outcome[0]}")
        chain, records, problem, signatures, seconds = outcome
        return chain, records, problem, signatures, seconds

    def stop(self) -> None:
        self.process.terminate()
        self.process.join()
        self.connection.close()


def _worker_main(connection, url: str, split: tuple[int, int], watch: int) -> None:
    """The worker process: walk the chain after split[0], verify the records up to split[1],
    then the signatures."""
    started = time.perf_counter()
    engine = create_engine(url)
    try:
        with engine.connect() as own:
            _Reader.override = reader = _Reader(own)
            chain = _walk_chain(reader, after_id=split[0], watch=watch)
            records, problem = _verify_records(last_id=split[1])
            # The signature checks are SQL the database runs; this process has its half of the
            # records to finish when its stretch of the chain is done.
            signatures = _verify_signatures(own)
        seconds = round(time.perf_counter() - started, 2)
        connection.send(("ok", chain, records, problem, signatures, seconds))
    except BaseException:  # reported by the parent, which raises it
        connection.send(("error", traceback.format_exc()))
    finally:
        engine.dispose()
        connection.close()


def _split_points() -> tuple[int, int] | None:
    """The last event id and record id this process keeps, or None to do everything here.

    A worker needs a spare core, a database another process can open (not SQLite in memory),
    nothing pending or uncommitted in this session's chain, and enough rows to be worth a
    process. Each process then takes half the events and half the records, so neither waits
    long for the other whatever either costs; the worker also runs the signature checks.
    """
    if (os.cpu_count() or 1) < 2:
        return None
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    if db.session.new or db.session.dirty or db.session.deleted:
        return None
    first_event, last_event = db.session.execute(
        select(func.min(AuditEvent.id), func.max(AuditEvent.id))
    ).one()
    first_record, last_record = db.session.execute(select(func.min(TS.id), func.max(TS.id))).one()
    if last_event is None:
        return None
    rows = last_event - first_event + 1
    if last_record is not None:
        rows += last_record - first_record + 1
    if rows < PARALLEL_MIN_ROWS:
        return None
    # Events this session wrote but has not committed: the worker could not see them. Asked
    # last, since it takes a second connection.
    with db.engine.connect() as other:
        committed = other.scalar(select(AuditChainHead.last_seq))
    if committed != db.session.scalar(select(AuditChainHead.last_seq)):
        return None
    event_id = (first_event + last_event) // 2
    record_id = 0 if last_record is None else (first_record + last_record) // 2
    return event_id, record_id


# --- the answers copied to columns -----------------------------------------------------------


def _verify_answer_columns(db_: Connection | Session) -> str | None:
    """Hold the lot and outcome columns of each signed record to its signed answers.

    The lot trace and the dashboard read these columns, not the answers: a lot changed here
    would leave a patient out of a recall while the content hash still matched. The answers
    themselves were verified just before.
    """

    def signed_answer(column: str):
        is_number = isinstance(getattr(TS, column).type, Integer)
        values = [
            TS.answers[link_id].as_integer() if is_number else TS.answers[link_id].as_string()
            for link_id in ANSWER_COLUMNS[column]
        ]
        if column == "reaction":
            values.append(_worst_reaction())
        return values[0] if len(values) == 1 else func.coalesce(*values)

    differs = {
        column: getattr(TS, column).is_distinct_from(signed_answer(column))
        for column in ANSWER_COLUMNS
    }
    first = db_.scalar(
        select(func.min(TS.id)).where(TS.signed_dt.is_not(None), or_(*differs.values()))
    )
    if first is None:
        return None
    found = db_.execute(select(*differs.values()).where(TS.id == first)).one()
    changed = ", ".join(c for c, is_changed in zip(differs, found, strict=True) if is_changed)
    return f"signed record {first}: {changed} no longer matches its signed answers"


class _HasCode(FunctionElement):
    """Whether a signed multiple-choice answer (a JSON array) holds one code."""

    type = Boolean()
    inherit_cache = True


@compiles(_HasCode, "sqlite")
def _has_code_sqlite(element, compiler, **kw) -> str:
    answers, link_id, code = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM json_each({answers}, '$.\"' || {link_id} || '\"') "
        f"WHERE json_each.value = {code})"
    )


@compiles(_HasCode, "postgresql")
def _has_code_postgresql(element, compiler, **kw) -> str:
    answers, link_id, code = (compiler.process(c, **kw) for c in element.clauses)
    return f"(({answers} -> {link_id}) ? {code})"


def _worst_reaction():
    """The reaction column of a version 2 record: its most serious immediate reaction, as
    `checklists.rules.worst_reaction` chose it at signing."""
    link_id = REACTIONS_LINK_ID
    cases = [
        (_HasCode(TS.answers, literal(link_id), literal(code)), literal(code))
        for code in REACTIONS_WORST_FIRST
    ]
    answered = TS.answers[link_id].as_json().is_not(None)
    return case(*cases, (answered, literal(NO_REACTION)), else_=null())


# --- what the chain says was signed ----------------------------------------------------------


def _verify_signing_events(db_: Connection | Session) -> str | None:
    """Hold every signed record to the content hash its `session.sign` event put on the chain.

    A record that hashes to its own content_hash proves nothing against someone who rewrote
    both: the hash is public arithmetic. The signing event is on the chain, so it cannot be
    rewritten, and it names the hash that was signed. Each event must find its record signed
    with that hash, and there must be as many events as signed records (the application signs
    a record once): no record was unsigned, deleted, or marked signed without the application.
    """
    signed_hash = AuditEvent.details["content_hash"].as_string()
    is_sign = and_(AuditEvent.action == "session.sign", AuditEvent.object_type == TS.__tablename__)
    # min() lets PostgreSQL hash-join the million rows; ORDER BY ... LIMIT 1 walked them in
    # order through the index, at twice the cost. The details come once a break is found.
    first = db_.scalar(
        select(func.min(AuditEvent.seq))
        .outerjoin(TS, TS.id == cast(AuditEvent.object_id, Integer))
        .where(is_sign, or_(TS.signed_dt.is_(None), TS.content_hash.is_distinct_from(signed_hash)))
    )
    if first is not None:
        record_id, signed_dt = db_.execute(
            select(AuditEvent.object_id, TS.signed_dt)
            .outerjoin(TS, TS.id == cast(AuditEvent.object_id, Integer))
            .where(AuditEvent.seq == first)
        ).one()
        if signed_dt is None:
            return f"signed record {record_id} (audit event {first}) is missing or no longer signed"
        return f"signed record {record_id} does not carry the hash audit event {first} signed"
    # Both counts in one statement, so a checklist signed meanwhile is in both or in neither.
    events, records = db_.execute(
        select(
            select(func.count()).where(is_sign).scalar_subquery(),
            select(func.count()).where(TS.signed_dt.is_not(None)).scalar_subquery(),
        )
    ).one()
    if events == records:
        return None
    unsigned_for = db_.scalar(
        select(func.min(TS.id)).where(
            TS.signed_dt.is_not(None),
            ~select(AuditEvent.id)
            .where(is_sign, AuditEvent.object_id == cast(TS.id, String))
            .exists(),
        )
    )
    if unsigned_for is not None:
        return f"signed record {unsigned_for} has no signing event on the audit chain"
    return f"the audit chain records {events} signings for {records} signed records"


# --- cancellations ---------------------------------------------------------------------------


def _verify_cancellations(db_: Connection | Session) -> str | None:
    """Hold every cancelled session to the reason its `session.cancel` event put on the chain.

    A cancelled row is final (a trigger refuses changes), but someone who drops the trigger
    could cancel a session behind the application's back, or rewrite why. Cancellations are
    rare, so the few rows and events are compared here rather than in SQL.
    """
    chained: dict[int, tuple[str, int]] = {}
    for object_id, reason_hash, seq in db_.execute(
        select(
            AuditEvent.object_id,
            AuditEvent.details["reason_hash"].as_string(),
            AuditEvent.seq,
        ).where(AuditEvent.action == "session.cancel", AuditEvent.object_type == TS.__tablename__)
    ):
        record_id = int(object_id) if object_id and object_id.isdecimal() else -1
        if record_id in chained:
            return f"session {record_id} is cancelled twice on the audit chain (event {seq})"
        chained[record_id] = (reason_hash, seq)
    for record_id, reason in db_.execute(
        select(TS.id, TS.cancel_reason).where(TS.cancelled_dt.is_not(None)).order_by(TS.id)
    ):
        found = chained.pop(record_id, None)
        if found is None:
            return f"session {record_id} is cancelled without a cancel event on the audit chain"
        if _sha(reason or "") != found[0]:
            return f"the cancel reason of session {record_id} is not the one event {found[1]} holds"
    if chained:
        record_id, (_, seq) = min(chained.items())
        return f"session {record_id} (audit event {seq}) is no longer cancelled"
    return None


# --- the addenda -----------------------------------------------------------------------------


def _verify_addenda(db_: Connection | Session) -> str | None:
    """Recompute each addendum's hash and hold it to the one its event put on the chain."""
    # Corrections are rare: the hashes their events signed fit in memory, by addendum id. The
    # application signs an addendum once; a second event for it would pick which hash holds.
    signed: dict[int, str] = {}
    for addendum_id, content_hash, seq in db_.execute(
        select(
            AuditEvent.details["addendum"].as_integer(),
            AuditEvent.details["content_hash"].as_string(),
            AuditEvent.seq,
        )
        .where(AuditEvent.action == "session.addendum")
        .order_by(AuditEvent.seq)
    ):
        if addendum_id in signed:
            return f"addendum {addendum_id} is signed twice on the audit chain (event {seq})"
        signed[addendum_id] = content_hash
    columns = (
        Addendum.id,
        Addendum.session_id,
        Addendum.author_id,
        Addendum.reason,
        Addendum.body,
        Addendum.signer_name,
        Addendum.signature_meaning,
        Addendum.signed_dt,
        Addendum.content_hash,
    )
    rows = db_.execute(
        select(*columns, TreatmentSession.content_hash.label("record_hash"))
        .outerjoin(TreatmentSession, TreatmentSession.id == Addendum.session_id)
        .order_by(Addendum.id)
        .execution_options(yield_per=BATCH)
    )
    for row in rows:
        if row.record_hash is None:
            return f"addendum {row.id} belongs to record {row.session_id}, which is missing"
        # addendum_hash reads these attributes; a namespace spares building ORM objects.
        addendum = SimpleNamespace(**row._mapping)
        recomputed = addendum_hash(addendum, record_hash=row.record_hash)
        if not recomputed == addendum.content_hash == signed.pop(addendum.id, None):
            return f"addendum {addendum.id} to record {addendum.session_id} was altered"
    if signed:
        return f"addendum {min(signed)} is on the audit chain but missing from the records"
    return None


# --- reading plain rows ----------------------------------------------------------------------


class _Reader:
    """Plain driver rows, with the SQL and conversions that differ between the two databases.

    PostgreSQL formats times and dates as the hashes wrote them (`to_char`) and hands JSON
    back as text; on SQLite they are the text SQLAlchemy stored, converted here.
    """

    #: The connection of the worker process, which has its own.
    override: _Reader | None = None

    def __init__(self, connection) -> None:
        self.dbapi = connection.connection.dbapi_connection
        self.is_pg = connection.dialect.name == "postgresql"
        self.mark = "%s" if self.is_pg else "?"
        if self.is_pg:
            self.iso: Callable[[Any], str] = str
            self.day: Callable[[Any], str] = str
        else:
            self.iso = _sqlite_iso(connection.dialect)
            self.day = _sqlite_day(connection.dialect)

    @classmethod
    def for_session(cls) -> _Reader:
        return cls.override or cls(db.session.connection())

    def dt(self, column: str) -> str:
        if self.is_pg:
            return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
        return column

    def date(self, column: str) -> str:
        return f"to_char({column}, 'YYYY-MM-DD')" if self.is_pg else column

    def json(self, column: str) -> str:
        return f"{column}::text" if self.is_pg else column

    def valid_json(self, table: str, *columns: str) -> str:
        """SQL that is true when each column holds one JSON value, spelled as stored.

        SQLite checks each value (`json_valid`). PostgreSQL's `json` type refuses anything
        else and keeps the text as written; `jsonb` (or a column someone made plain text)
        does not vouch for the spelling, so its values are always decoded.
        """
        if not self.is_pg:
            return " AND ".join(f"json_valid({c})" for c in columns)
        kept = self.all(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s AND column_name = ANY(%s) "
            "AND data_type = 'json'",
            (table, list(columns)),
        )[0][0]
        return "TRUE" if kept == len(columns) else "FALSE"

    def all(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(sql, parameters)
            return cursor.fetchall()
        finally:
            cursor.close()

    def one(self, sql: str) -> tuple | None:
        rows = self.all(sql)
        return rows[0] if rows else None

    def stream(self, sql: str, name: str) -> Iterator[tuple]:
        """Rows of a long result in constant memory (a server-side cursor on PostgreSQL)."""
        cursor = self.dbapi.cursor(name=name) if self.is_pg else self.dbapi.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(BATCH):
                yield from rows
        finally:
            cursor.close()


def _sqlite_iso(dialect) -> Callable[[str | None], str]:
    """Turn SQLite's stored UTC time into `_iso`'s form: `2026-03-10T14:05:07.123456+00:00`.

    SQLAlchemy stores `2026-03-10 14:05:07.123456`; that shape is rewritten as text, anything
    else goes through SQLAlchemy's own conversion, as the ORM would read it.
    """
    convert = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)

    def iso(value):
        if type(value) is str and len(value) == 26 and value[10] == " " and value[19] == ".":
            return f"{value[:10]}T{value[11:]}+00:00"
        converted = convert(value) if convert else value
        if converted is None:
            return "None"  # what no signed hash covers: reported as altered
        return hashed_time(converted)

    return iso


def _sqlite_day(dialect) -> Callable[[str | None], str]:
    convert = Date().dialect_impl(dialect).result_processor(dialect, None)

    def day(value):
        if type(value) is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
            return value
        converted = convert(value) if convert else value
        return "None" if converted is None else converted.isoformat()

    return day


def _number(value: int | None) -> str:
    """`canonical_json` of an id: its repr, so a number stored as text does not pass for one."""
    return "null" if value is None else repr(value)


def _canonical(stored: str | None) -> str:
    """`canonical_json` of a stored JSON text (SQL NULL reads as None, as the ORM gives it).

    Text that is no JSON at all (written behind the application's back) gets a form no hash
    covers, so it reads as altered instead of stopping the run.
    """
    if stored is None:
        return "null"
    try:
        return _ENCODER(_loads(stored))
    except (ValueError, TypeError, RecursionError):  # not JSON text, or nested past reason
        return "\x00not JSON"


class _Text(dict):
    """JSON string literals (`canonical_json` of a str or None), remembered by value."""

    def __missing__(self, value: str | None) -> str:
        if len(self) > CACHE_LIMIT:
            self.clear()
        self[value] = literal = _ENCODER(value)
        return literal


class _Documents(dict):
    """Canonical JSON of stored JSON texts, remembered by text (SQL NULL is JSON null)."""

    def __missing__(self, stored: str | None) -> str:
        if len(self) > CACHE_LIMIT:
            self.clear()
        self[stored] = canonical = _canonical(stored)
        return canonical
