"""`flask audit verify`: prove that nothing was altered behind the application's back.

In order, and stopping at the first break: the immutability triggers are all there and
enabled (`triggers`); every signed checkpoint in the store, and any handed in, is signed by
the trusted key and follows the one before (`evidence`); every chain's events hash and link
up, and reach their heads (`chains`); every checkpoint's chain roots are the roots of the
database's chains at the sizes it counted, so a rewritten record, a re-chained tail, a cut
tail or a rebuilt table is named by the first checkpoint it contradicts; every signed record
hashes to its content hash and is held to its signing event (`records`).

A million events and a million records must verify in seconds: on a large database a spawned
worker process walks about half of the chains and re-hashes half of the records, so both
cores work.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, create_engine, func, select

import safety.models  # noqa: F401  (every model, so a worker's ORM can configure their relations)
from safety.audit import services as audit
from safety.audit.models import AuditEvent
from safety.checklists.models import TreatmentSession
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.hashing import sha256_hex
from safety.integrity import checkpoints, triggers
from safety.integrity.chains import (
    Heads,
    Selection,
    Walk,
    clinic_names,
    read_heads,
    walk,
)
from safety.integrity.evidence import EvidenceError
from safety.integrity.models import VerificationRun
from safety.integrity.packs import verify_packs
from safety.integrity.reader import Reader
from safety.integrity.records import verify_answers, verify_records, verify_signatures

TS = TreatmentSession

#: Events and signed records (estimated from the ids) from which half the work goes to a worker
#: process. Below it starting one costs more than it saves; tests set it to 0.
PARALLEL_MIN_ROWS = 50_000


@dataclass(frozen=True)
class VerifyResult:
    events: int
    records: int
    #: Description of the first break found, or None when everything is intact.
    problem: str | None
    #: Seconds spent on each part (chains, records, signatures), for the benchmark.
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    #: How many signed checkpoints the database was held to, and the newest of them.
    checkpoints: int = 0
    newest: Mapping[str, Any] | None = None

    @property
    def is_intact(self) -> bool:
        return self.problem is None


def verify(*, handed_in: Sequence[Mapping[str, Any]] = ()) -> VerifyResult:
    """Verify the whole database, held to the checkpoint store and to `handed_in` checkpoints
    (kept elsewhere, such as the e-mailed one)."""
    reader = Reader.for_session()
    problem = triggers.problem(reader)
    held, problem = _checkpoints(handed_in, problem)
    labels = clinic_names(reader)
    wanted = checkpoints.wanted_sizes(held)
    # Heads are read before the walk and again after it: events the clinics append while
    # verify runs come after the first reading.
    before = read_heads(reader)
    split = _split_points(before)
    found = (
        _here(reader, before, wanted, labels)
        if split is None
        else _with_worker(reader, before, wanted, labels, split)
    )
    walked = found.walk
    events = sum(chain.count for chain in walked.chains.values())
    problem = (
        problem
        or walked.problem
        or checkpoints.contradiction(held, walked, labels)
        or found.records_problem
        or found.signatures()
        or run_problem()
    )
    newest = held[-1] if held else None
    return VerifyResult(events, found.records, problem, found.timings, len(held), newest)


def _checkpoints(
    handed_in: Sequence[Mapping[str, Any]], problem: str | None
) -> tuple[list[Mapping[str, Any]], str | None]:
    """The checkpoints to hold the database to, oldest first, or the first that is not sound."""
    try:
        return checkpoints.to_hold(handed_in), problem
    except EvidenceError as exc:
        return [], problem or str(exc)


@dataclass
class _Found:
    """What the parts of a run found, before they are put in order."""

    walk: Walk
    records: int
    records_problem: str | None
    #: What `verify_signatures` finds: run here on demand, or already run by the worker.
    signatures: Callable[[], str | None]
    timings: dict[str, float]


def _here(reader: Reader, before: Heads, wanted, labels) -> _Found:
    """Everything in this process; the signatures are checked only if all else is intact."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    walked = walk(reader, heads_before=before, wanted=wanted, labels=labels)
    timings["chain_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    records, problem = (0, None) if walked.problem else verify_records()
    timings["records_s"] = round(time.perf_counter() - started, 2)

    def signatures() -> str | None:
        started = time.perf_counter()
        found = verify_signatures(db.session)
        timings["signatures_s"] = round(time.perf_counter() - started, 2)
        return found

    return _Found(walked, records, problem, signatures, timings)


def _with_worker(reader: Reader, before: Heads, wanted, labels, split: _Split) -> _Found:
    """The chains the split leaves here and the newer records here, the rest in a worker."""
    timings: dict[str, float] = {}
    worker = _Worker.start(split, before, wanted, labels)
    try:
        started = time.perf_counter()
        mine = Selection(split.worker_chains, others=True)
        walked = walk(reader, heads_before=before, wanted=wanted, selection=mine, labels=labels)
        timings["chain_s"] = round(time.perf_counter() - started, 2)
        if walked.problem is not None:
            return _Found(walked, 0, None, lambda: None, timings)
        started = time.perf_counter()
        records, problem = verify_records(first_id=split.record_id)
        timings["records_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        newer_packs = None if problem else verify_packs(db.session, first_id=split.record_id)
        timings["packs_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        answers = verify_answers(db.session)
        timings["answers_s"] = round(time.perf_counter() - started, 2)
        theirs, older, older_problem, signatures, timings["worker_s"] = worker.result()
    finally:
        worker.stop()
    joined = Walk({**walked.chains, **theirs.chains}, walked.problem or theirs.problem)
    # The worker's records are the older ones: its break comes first; it checked the packs of
    # the older records, this process those of the newer.
    found = signatures or newer_packs or answers
    return _Found(joined, records + older, older_problem or problem, lambda: found, timings)


def verify_and_record(
    *, handed_in: Sequence[Mapping[str, Any]] = (), now: datetime | None = None
) -> VerifyResult:
    """Verify, then keep the outcome so the compliance dashboard can show it, and put it on
    the audit chain: a kept result is a row like any other, and an insider's review turned a
    broken one into "intact" with one UPDATE (`run_problem` holds the row to its event)."""
    started = now or utcnow()
    result = verify(handed_in=handed_in)
    run = VerificationRun(
        started_dt=started,
        finished_dt=utcnow(),
        events=result.events,
        records=result.records,
        is_intact=result.is_intact,
        problem=None if result.problem is None else result.problem[:500],
        checkpoints=result.checkpoints,
        checkpoint_number=result.newest["number"] if result.newest else None,
    )
    db.session.add(run)
    db.session.flush()
    audit.record("audit.verify", obj=run, details=_run_details(run), now=run.finished_dt)
    return result


def _run_details(run: VerificationRun) -> dict[str, Any]:
    """What a verification run's event holds: its verdict and a hash of what it found."""
    return {"is_intact": bool(run.is_intact), "problem_hash": sha256_hex(run.problem or "")}


def run_problem(run: VerificationRun | None = None) -> str | None:
    """Say so when a kept verification result (`run`, or any) is not the one its event
    recorded; runs kept before their events were recorded have none to be held to."""
    runs = select(VerificationRun, AuditEvent.details).join(
        AuditEvent,
        (AuditEvent.action == "audit.verify")
        & (AuditEvent.object_type == VerificationRun.__tablename__)
        & (AuditEvent.object_id == cast(VerificationRun.id, String)),
    )
    recorded_runs = select(AuditEvent.object_id).where(
        AuditEvent.action == "audit.verify",
        AuditEvent.object_type == VerificationRun.__tablename__,
    )
    if run is not None:
        runs = runs.where(VerificationRun.id == run.id)
        # The last result shown must be the last one recorded: deleting a broken one left
        # the intact one before it on the dashboard.
        newest = db.session.scalar(recorded_runs.order_by(AuditEvent.id.desc()).limit(1))
        if newest is not None and newest != str(run.id):
            return f"the kept result of verification run {newest} is missing"
    else:
        kept_ids = set(map(str, db.session.scalars(select(VerificationRun.id))))
        gone = sorted(
            (
                int(i)
                for i in db.session.scalars(recorded_runs)
                if i not in kept_ids and i.isdecimal()
            ),
        )
        if gone:
            return f"the kept result of verification run {gone[0]} is missing"
    for kept, recorded in db.session.execute(runs.order_by(VerificationRun.id)):
        if recorded != _run_details(kept):
            return (
                f"the kept result of verification run {kept.id} was altered after it was recorded"
            )
    return None


def last_run() -> VerificationRun | None:
    """Return the most recent verification run."""
    return db.session.scalar(select(VerificationRun).order_by(VerificationRun.id.desc()).limit(1))


# --- the worker process ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Split:
    """What the worker takes: some chains, and the records with ids up to `record_id`."""

    worker_chains: frozenset[int]
    record_id: int


class _Worker:
    """Some chains and the older half of the records, in a worker process.

    The worker is spawned, not forked: it opens its own connection from the database URL and
    shares nothing with this process, so threads running here (a web server, a test's mail
    server) can leave no lock held in it, and Python 3.12+ has nothing to warn about.
    """

    def __init__(self, process, connection) -> None:
        self.process, self.connection = process, connection

    @classmethod
    def start(cls, split: _Split, before: Heads, wanted, labels) -> _Worker:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=False)
        url = db.engine.url.render_as_string(hide_password=False)
        process = context.Process(
            target=_worker_main,
            args=(child, url, split, before, dict(wanted), dict(labels)),
            daemon=True,
        )
        process.start()
        child.close()
        return cls(process, parent)

    def result(self) -> tuple[Walk, int, str | None, str | None, float]:
        """The worker's walk, its records and their first break, what `verify_signatures`
        found, and its seconds."""
        try:
            status, *outcome = self.connection.recv()
        except EOFError:
            status, outcome = "error", [f"the worker exited with code {self.process.exitcode}"]
        self.process.join()
        if status != "ok":
            raise RuntimeError(f"verifying in the worker process failed: {outcome[0]}")
        walked, records, problem, signatures, seconds = outcome
        return walked, records, problem, signatures, seconds

    def stop(self) -> None:
        self.process.terminate()
        self.process.join()
        self.connection.close()


def _worker_main(connection, url: str, split: _Split, before: Heads, wanted, labels) -> None:
    """The worker process: walk its chains, verify the records up to the split, then the
    signatures."""
    started = time.perf_counter()
    engine = create_engine(url)
    try:
        with engine.connect() as own:
            Reader.override = reader = Reader(own)
            theirs = Selection(split.worker_chains, others=False)
            walked = walk(
                reader, heads_before=before, wanted=wanted, selection=theirs, labels=labels
            )
            for chain in walked.chains.values():
                chain.frontier = None  # nothing more to compute; not worth pickling
            records, problem = verify_records(last_id=split.record_id)
            # The signature checks are SQL the database runs; this process has its half of the
            # records to finish when its chains are done.
            signatures = verify_signatures(own, packs_up_to=split.record_id, answers=False)
        seconds = round(time.perf_counter() - started, 2)
        connection.send(("ok", walked, records, problem, signatures, seconds))
    except BaseException:  # reported by the parent, which raises it
        connection.send(("error", traceback.format_exc()))
    finally:
        engine.dispose()
        connection.close()


def _split_points(before: Heads) -> _Split | None:
    """What the worker takes, or None to do everything here.

    A worker needs a spare core, a database another process can open (not SQLite in memory),
    nothing pending or uncommitted in this session's chains, and enough rows to be worth a
    process. The chains are dealt out largest first to whichever side has fewer events, and
    the records split at the middle id; the worker also runs the signature checks, and this
    process `verify_answers`.
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
        committed = read_heads(Reader(other))
    if any(size > committed.get(chain, (0, ""))[0] for chain, (size, _) in before.items()):
        return None
    loads = {True: 0, False: 0}  # worker's side, this side
    worker_chains = set()
    for chain, (size, _) in sorted(before.items(), key=lambda item: -item[1][0]):
        to_worker = loads[True] < loads[False]
        loads[to_worker] += size
        if to_worker:
            worker_chains.add(chain)
    record_id = 0 if last_record is None else (first_record + last_record) // 2
    return _Split(frozenset(worker_chains), record_id)
