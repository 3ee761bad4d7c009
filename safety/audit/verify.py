"""Walk the audit chain and every signed record's content hash; report the first break.

A million events and a million records must verify in seconds, so this module reads plain
driver rows (no ORM objects, no SQLAlchemy type processing) and writes the canonical JSON of
each event and record by hand, in the fixed key order `canonical_json` would give. The hashes
are the very ones `audit.rules.chain_hash` and `checklists.rules.content_hash` compute:
tests/integration/test_audit_verify.py holds them to the reference with unusual text and details.
On a large database the records are re-hashed in a spawned worker process while this one walks
the chain, which halves the time on two cores. A record's own hash proves nothing to someone who
can rewrite the record and its hash together, so each one is also held to the hash its signing
event put on the chain.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Integer, String, and_, cast, func, or_, select

from safety.audit import rules
from safety.audit.models import AuditChainHead, AuditEvent, VerificationRun
from safety.dbtypes import UTCDateTime, utcnow
from safety.extensions import db

#: Rows fetched per round trip.
BATCH = 10_000
#: Signed records (estimated by the highest session id) from which the records are verified in
#: a worker process. Below it starting one costs more than it saves; tests set it to 0.
PARALLEL_MIN_RECORDS = 50_000
#: What verifying an event costs against re-hashing a record, to share the records out.
EVENT_COST = 0.25
#: Canonical JSON texts kept per stored JSON text. Checklist answers repeat from session to
#: session (most are "yes" throughout), so most documents are decoded and encoded once.
CACHE_LIMIT = 100_000

#: `canonical_json`'s encoder, built once: json.dumps builds one per call.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode
_loads = json.loads


@dataclass(frozen=True)
class VerifyResult:
    events: int
    records: int
    #: Description of the first break found, or None when everything is intact.
    problem: str | None
    #: Seconds spent on each part (chain, records, addenda), for the benchmark.
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def is_intact(self) -> bool:
        return self.problem is None


def verify() -> VerifyResult:
    """Recompute the chain from the first event and every signed record's content hash."""
    timings: dict[str, float] = {}
    split = _split_point()
    worker = None if split is None else _RecordsWorker.start(split)
    started = time.perf_counter()
    try:
        events, problem = _verify_chain()
    except BaseException:
        if worker is not None:
            worker.stop()
        raise
    timings["chain_s"] = round(time.perf_counter() - started, 2)
    records = 0
    if problem is not None:
        if worker is not None:
            worker.stop()
        return VerifyResult(events, records, problem, timings)
    started = time.perf_counter()
    if worker is None:
        records, problem = _verify_records()
    else:
        # The worker has the older records; this process takes the rest once the chain is done.
        rest, rest_problem = _verify_records(first_id=split)
        records, problem, timings["records_worker_s"] = worker.result()
        if problem is None:
            records, problem = records + rest, rest_problem
    timings["records_s"] = round(time.perf_counter() - started, 2)
    if problem is None:
        started = time.perf_counter()
        # The signing events first: a record forged with a recomputed hash is named for that,
        # not for a copied column that no longer matches its forged answers.
        problem = _verify_signing_events() or _verify_answer_columns() or _verify_addenda()
        timings["signatures_s"] = round(time.perf_counter() - started, 2)
    return VerifyResult(events, records, problem, timings)


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


def _verify_chain() -> tuple[int, str | None]:
    reader = _Reader.for_session()
    iso, text = reader.iso, _Text().__getitem__
    # The head is read before the walk and again after it: events the clinic appends while
    # verify runs come after the first reading and are no break.
    before = reader.one(_HEAD_SQL)
    hash_at_before = rules.GENESIS_HASH if before and before[0] == 0 else None
    prev_hash = rules.GENESIS_HASH
    expected_seq = 1
    rows = reader.stream(
        f"SELECT seq, {reader.dt('created_dt')}, actor_id, action, object_type, object_id, "
        f"{reader.json('details')}, prev_hash, hash FROM audit_events ORDER BY id",
        "audit_verify_chain",
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
        if seq != expected_seq:
            return expected_seq - 1, f"audit event {expected_seq} is missing (found {seq})"
        # canonical_json(rules.event_payload(...)): its keys in sorted order.
        payload = (
            f'{{"action":{text(action)},"actor_id":{_number(actor_id)},'
            f'"created_dt":"{iso(created)}","details":{_canonical(details)},'
            f'"object_id":{text(object_id)},"object_type":{text(object_type)},"seq":{seq}}}'
        )
        if stored_prev != prev_hash or sha256((prev_hash + payload).encode()).hexdigest() != stored:
            return expected_seq - 1, f"audit event {seq} ({action}) was altered"
        prev_hash = stored
        if before and seq == before[0]:
            hash_at_before = stored
        expected_seq += 1
    count = expected_seq - 1
    after = reader.one(_HEAD_SQL)
    return count, _head_problem(count, prev_hash, before, hash_at_before, after)


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


def _verify_records(first_id: int = 0, last_id: int | None = None) -> tuple[int, str | None]:
    """Re-hash the signed records with first_id < id <= last_id (all of them by default)."""
    reader = _Reader.for_session()
    iso, day = reader.iso, reader.day
    text, document = _Text().__getitem__, _Documents().__getitem__
    count = 0
    upper = "" if last_id is None else f" AND id <= {int(last_id)}"
    sessions_sql = (
        "SELECT id, clinic_id, patient_id, practitioner_id, template_version_id, "
        f"{reader.date('session_date')}, {reader.json('answers')}, {reader.json('notes')}, "
        f"signed_by_id, signer_name, signature_meaning, {reader.dt('signed_dt')}, content_hash "
        f"FROM treatment_sessions WHERE signed_dt IS NOT NULL AND id > {reader.mark}{upper} "
        f"ORDER BY id LIMIT {BATCH}"
    )
    entries_sql = (
        f"SELECT session_id, id, phase, author_id, {reader.dt('submitted_dt')}, "
        f"{reader.json('answers')}, {reader.json('notes')} FROM phase_entries "
        f"WHERE session_id >= {reader.mark} AND session_id <= {reader.mark} "
        "ORDER BY session_id, id"
    )
    after = first_id
    while True:
        batch = reader.all(sessions_sql, (after,))
        if not batch:
            return count, None
        entries: dict[int, list[str]] = {}
        for session_id, entry_id, phase, author, submitted, answers, notes in reader.all(
            entries_sql, (batch[0][0], batch[-1][0])
        ):
            # The keys of one entry in `signed_content`, in sorted order.
            entries.setdefault(session_id, []).append(
                f'{{"answers":{document(answers)},"author":{author!r},'
                f'"id":{entry_id},"notes":{document(notes)},"phase":{text(phase)},'
                f'"submitted_dt":"{iso(submitted)}"}}'
            )
        for (
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
            stored,
        ) in batch:
            # canonical_json(checklists.services.signed_content(session)), keys sorted. Ids
            # that cannot be NULL are written with repr: a NULL forced in shows as "None".
            content = (
                f'{{"answers":{document(answers)},"clinic":{clinic_id!r},'
                f'"entries":[{",".join(entries.get(record_id, ()))}],'
                f'"notes":{document(notes)},"patient":{patient_id!r},'
                f'"practitioner":{practitioner_id!r},"record":{record_id},'
                f'"session_date":"{day(session_date)}","signature":{{'
                f'"meaning":{text(meaning)},"name":{text(signer_name)},'
                f'"signed_dt":"{iso(signed)}","signer":{_number(signer_id)}}},'
                f'"template_version":{template_version_id!r}}}'
            )
            if sha256(content.encode()).hexdigest() != stored:
                return count, f"signed record {record_id} does not match its content hash"
            count += 1
        after = batch[-1][0]


class _RecordsWorker:
    """Records up to an id, verified in a worker process while this one walks the chain.

    The worker is spawned, not forked: it opens its own connection from the database URL and
    shares nothing with this process, so threads running here (a web server, a test's mail
    server) can leave no lock held in it, and Python 3.12+ has nothing to warn about.
    """

    def __init__(self, process, connection) -> None:
        self.process, self.connection = process, connection

    @classmethod
    def start(cls, last_id: int) -> _RecordsWorker:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=False)
        url = db.engine.url.render_as_string(hide_password=False)
        process = context.Process(
            target=_records_worker_main, args=(child, url, last_id), daemon=True
        )
        process.start()
        child.close()
        return cls(process, parent)

    def result(self) -> tuple[int, str | None, float]:
        try:
            status, records, problem, seconds = self.connection.recv()
        except EOFError:
            status, records = "error", f"the worker exited with code {self.process.exitcode}"
        self.process.join()
        if status != "ok":
            raise RuntimeError(f"verifying the records failed in the worker: {records}")
        return records, problem, seconds

    def stop(self) -> None:
        self.process.terminate()
        self.process.join()


def _records_worker_main(connection, url: str, last_id: int) -> None:
    """The worker process: verify the records up to `last_id` and send the outcome back."""
    from sqlalchemy import create_engine

    started = time.perf_counter()
    engine = create_engine(url)
    try:
        with engine.connect() as own:
            _Reader.override = _Reader(own)
            records, problem = _verify_records(last_id=last_id)
        connection.send(("ok", records, problem, round(time.perf_counter() - started, 2)))
    except BaseException as exc:  # reported by the parent, which raises it
        connection.send(("error", repr(exc), None, None))
    finally:
        engine.dispose()
        connection.close()


def _split_point() -> int | None:
    """The last record id the worker verifies, or None to verify everything in this process.

    A worker needs a spare core, a database another process can open (not SQLite in memory),
    nothing pending in this session, and enough records to be worth a process. It takes the share
    of the records that makes both processes finish together: this one walks the chain first,
    and an event costs about EVENT_COST of a record (measured on the bench databases).
    """
    from safety.checklists.models import TreatmentSession as TS

    if (os.cpu_count() or 1) < 2:
        return None
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    if db.session.new or db.session.dirty or db.session.deleted:
        return None
    low, high = db.session.execute(select(func.min(TS.id), func.max(TS.id))).one()
    if high is None or high < PARALLEL_MIN_RECORDS:
        return None
    events = db.session.scalar(select(AuditChainHead.last_seq)) or 0
    share = min(1.0, (1 + EVENT_COST * events / max(high - low + 1, 1)) / 2)
    return low - 1 + round(share * (high - low + 1))


# --- the answers copied to columns -----------------------------------------------------------


def _verify_answer_columns() -> str | None:
    """Hold the lot and outcome columns of each signed record to its signed answers.

    The lot trace and the dashboard read these columns, not the answers: a lot changed here
    would leave a patient out of a recall while the content hash still matched. The answers
    themselves were verified just before.
    """
    from safety.checklists.models import TreatmentSession as TS
    from safety.checklists.rules import ANSWER_COLUMNS

    def signed_answer(column: str):
        value = TS.answers[ANSWER_COLUMNS[column]]
        is_number = isinstance(getattr(TS, column).type, Integer)
        return value.as_integer() if is_number else value.as_string()

    differs = {
        column: getattr(TS, column).is_distinct_from(signed_answer(column))
        for column in ANSWER_COLUMNS
    }
    first = db.session.scalar(
        select(func.min(TS.id)).where(TS.signed_dt.is_not(None), or_(*differs.values()))
    )
    if first is None:
        return None
    found = db.session.execute(select(*differs.values()).where(TS.id == first)).one()
    changed = ", ".join(c for c, is_changed in zip(differs, found, strict=True) if is_changed)
    return f"signed record {first}: {changed} no longer matches its signed answers"


# --- what the chain says was signed ----------------------------------------------------------


def _verify_signing_events() -> str | None:
    """Hold every signed record to the content hash its `session.sign` event put on the chain.

    A record that hashes to its own content_hash proves nothing against someone who rewrote
    both: the hash is public arithmetic. The signing event is on the chain, so it cannot be
    rewritten, and it names the hash that was signed. Each event must find its record signed
    with that hash, and there must be as many events as signed records (the application signs
    a record once): no record was unsigned, deleted, or marked signed without the application.
    """
    from safety.checklists.models import TreatmentSession as TS

    signed_hash = AuditEvent.details["content_hash"].as_string()
    is_sign = and_(AuditEvent.action == "session.sign", AuditEvent.object_type == TS.__tablename__)
    # min() lets PostgreSQL hash-join the million rows; ORDER BY ... LIMIT 1 walked them in
    # order through the index, at twice the cost. The details come once a break is found.
    first = db.session.scalar(
        select(func.min(AuditEvent.seq))
        .outerjoin(TS, TS.id == cast(AuditEvent.object_id, Integer))
        .where(is_sign, or_(TS.signed_dt.is_(None), TS.content_hash.is_distinct_from(signed_hash)))
    )
    if first is not None:
        record_id, signed_dt = db.session.execute(
            select(AuditEvent.object_id, TS.signed_dt)
            .outerjoin(TS, TS.id == cast(AuditEvent.object_id, Integer))
            .where(AuditEvent.seq == first)
        ).one()
        if signed_dt is None:
            return f"signed record {record_id} (audit event {first}) is missing or no longer signed"
        return f"signed record {record_id} does not carry the hash audit event {first} signed"
    # Both counts in one statement, so a checklist signed meanwhile is in both or in neither.
    events, records = db.session.execute(
        select(
            select(func.count()).where(is_sign).scalar_subquery(),
            select(func.count()).where(TS.signed_dt.is_not(None)).scalar_subquery(),
        )
    ).one()
    if events == records:
        return None
    unsigned_for = db.session.scalar(
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


# --- the addenda -----------------------------------------------------------------------------


def _verify_addenda() -> str | None:
    """Recompute each addendum's hash and hold it to the one its event put on the chain."""
    from safety.audit.addenda import addendum_hash
    from safety.checklists.models import Addendum, TreatmentSession

    # Corrections are rare: the hashes their events signed fit in memory, by addendum id.
    signed = dict(
        db.session.execute(
            select(
                AuditEvent.details["addendum"].as_integer(),
                AuditEvent.details["content_hash"].as_string(),
            ).where(AuditEvent.action == "session.addendum")
        ).all()
    )
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
    rows = db.session.execute(
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
        return converted.astimezone(UTC).isoformat(timespec="microseconds")

    return iso


def _sqlite_day(dialect) -> Callable[[str | None], str]:
    from sqlalchemy import Date

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
    """`canonical_json` of a stored JSON text (SQL NULL reads as None, as the ORM gives it)."""
    return "null" if stored is None else _ENCODER(_loads(stored))


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
