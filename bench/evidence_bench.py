"""The evidence on a bulk database: making a checkpoint, and how long the chain lock is held.

bench/run.py drives this file once per database, in subprocesses (JSON on stdout):

    python bench/evidence_bench.py checkpoint URL [REPEAT]
        brings the checkpoint store up to date (the first time on a bulk database this signs
        every chain's whole tree: reported apart), then, REPEAT times, records 10,000 audit
        events across the clinics' chains as the application does and times making the next
        checkpoint over them. Those repetitions are rolled back and signed into a scratch
        store, so the database and its store stay as they were.
    python bench/evidence_bench.py lock URL PROCESSES SESSIONS
        PROCESSES practitioners of different clinics each sign SESSIONS sessions at once, one
        commit per step as the routes commit (start, three phases, signature; the password
        check, which runs before the lock, is left out), and for every transaction that took
        the chain lock the time from taking it to the end of the commit is measured.

On PostgreSQL the hold starts where the database takes the lock. The statement that locks a
chain head (the UPDATE of `audit_chain_head`, alone or inside the append's data-modifying
WITH) is sent with one more item in its RETURNING list, which stores the database's
`clock_timestamp()` for the row it has just locked in a session setting; the hold ends when
COMMIT has returned to the client (`time.time()`: the database must be on this host, so both
clocks are one, and the bench refuses any other), and the setting is read after that, outside
the hold. So the figure holds the rest of the locking statement, the client's turn before
COMMIT, COMMIT with its WAL flush, the reply's way back and SQLAlchemy's bookkeeping after it:
an upper bound. A transaction that sends more than one locking statement (a writer of the same
clinic moved the head first, so the append locked it again on the slow path; a chain's first
event; several chains) is timed from the moment the client sent the first of them, before any
lock: an upper bound too, since the lock the first one may have taken while waiting is not
stamped. (Until 2026-12-06 the start was a separate `SELECT clock_timestamp()` sent before the
locking statement and the end another one after COMMIT: two round trips more, each of which
waits for a core when four writers share two.) SQLite has no server clock and one writer at a
time; there both moments come from `time.perf_counter()`, from the statement that moves the
chain head (the transaction's own writes, flushed before it, hold SQLite's write lock a little
earlier) to COMMIT's return.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from review_bench import app_for, summary  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from safety.audit import services as audit  # noqa: E402
from safety.auth.models import User  # noqa: E402
from safety.checklists import services as checklists  # noqa: E402
from safety.checklists.models import TreatmentSession  # noqa: E402
from safety.clinics.models import Patient  # noqa: E402
from safety.dbtypes import utcnow  # noqa: E402
from safety.demo.services import answers_for  # noqa: E402
from safety.extensions import db  # noqa: E402
from safety.integrity import checkpoints  # noqa: E402

NEW_EVENTS = 10_000
LOCKING = "UPDATE audit_chain_head SET last_seq"
#: The RETURNING list of a statement that locks a chain head: one that ends the statement,
#: or the WITH's `moved` (up to the line's end).
LOCKING_RETURNING = re.compile(r"(UPDATE audit_chain_head SET last_seq.*?RETURNING [^\n)]*)", re.S)
#: Where the lock bench may compare the database's clock with its own.
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", None}
#: Keeps the first lock's moment when a transaction locks more than one chain.
STAMP = (
    "set_config('needlesafe.bench_locked', coalesce(nullif(current_setting("
    "'needlesafe.bench_locked', true), ''), extract(epoch FROM clock_timestamp())::text), false)"
)


def checkpoint(url: str, repeat: int) -> dict:
    app = app_for(url)
    with app.app_context():
        started = time.perf_counter()
        caught_up = checkpoints.make()
        db.session.commit()
        catch_up_s = time.perf_counter() - started
        sessions = db.session.scalars(select(TreatmentSession.id).limit(NEW_EVENTS)).all()
        clinics = dict(
            db.session.execute(
                select(TreatmentSession.id, TreatmentSession.clinic_id).where(
                    TreatmentSession.id.in_(sessions)
                )
            ).all()
        )
        reader = db.session.scalar(select(User).where(User.role == "compliance").limit(1))
        kept = app.config["AUDIT_CHECKPOINT_DIR"]
        seconds = []
        with tempfile.TemporaryDirectory() as scratch:
            app.config["AUDIT_CHECKPOINT_DIR"] = scratch
            try:
                for turn in range(repeat + 1):  # the first warms the caches, as in review_bench
                    now = utcnow()
                    for session_id in sessions:
                        audit.record(
                            "session.view",
                            actor=reader,
                            object_type="session",
                            object_id=session_id,
                            clinic_id=clinics[session_id],
                            now=now,
                        )
                    audit.append_pending(db.session)
                    db.session.flush()
                    started = time.perf_counter()
                    made = checkpoints.make(now=now)
                    db.session.flush()
                    if turn:
                        seconds.append(time.perf_counter() - started)
                    assert made is not None and made["events"] >= NEW_EVENTS
                    db.session.rollback()
            finally:
                app.config["AUDIT_CHECKPOINT_DIR"] = kept
        latest = checkpoints.latest()
        return {
            "catch_up": {
                "made": caught_up is not None,
                "events": latest.events if latest else 0,
                "seconds": round(catch_up_s, 2),
            },
            "new_events": len(sessions),
            "chains": len(set(clinics.values())),
            **summary(seconds),
        }


def lock(url: str, processes: int, sessions: int) -> dict:
    app = app_for(url)
    with app.app_context():
        practitioners = []
        seen = set()
        for user in db.session.scalars(
            select(User).where(User.role == "practitioner").order_by(User.id)
        ):
            if user.clinic_id not in seen:
                seen.add(user.clinic_id)
                practitioners.append(user.id)
        db.session.rollback()
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with context.Pool(processes) as pool:
        parts = pool.starmap(
            _sign_sessions, [(url, practitioners[i], sessions, i) for i in range(processes)]
        )
    wall = time.perf_counter() - started
    per_transaction = [hold for part in parts for session in part for hold in session]
    per_session = [sum(session) for part in parts for session in part]
    signing = [session[-1] for part in parts for session in part]
    return {
        "processes": processes,
        "sessions": len(per_session),
        "clock": "clock_timestamp()" if url.startswith("postgresql") else "perf_counter",
        "per_session": summary(per_session),
        "per_transaction": summary(per_transaction),
        "signature": summary(signing),
        "wall_s": round(wall, 2),
        "signed_per_s": round(len(per_session) / wall, 1),
    }


def _sign_sessions(url: str, practitioner_id: int, count: int, seed: int) -> list[list[float]]:
    """Sign `count` sessions as one practitioner; return each session's lock holds, in
    seconds, one per transaction that took the chain lock (the signature's last)."""
    app = app_for(url)
    rng = random.Random(seed)
    postgres = url.startswith("postgresql")
    holds: list[float] = []
    #: When the client sent each locking statement of the transaction being timed.
    sent: list[float] = []

    with app.app_context():
        if postgres and db.engine.url.host not in LOCAL_HOSTS:
            raise SystemExit("the lock bench compares the database's clock with this host's")

        @event.listens_for(db.engine, "before_cursor_execute", retval=True)
        def locking(conn, cursor, statement, parameters, context, executemany):
            if LOCKING in statement:
                sent.append(time.time() if postgres else time.perf_counter())
                if postgres:
                    statement, found = LOCKING_RETURNING.subn(rf"\1, {STAMP}", statement, 1)
                    if not found:
                        raise RuntimeError(f"cannot time the lock taken by: {statement}")
            return statement, parameters

        def commit() -> None:
            db.session.commit()
            released = time.time() if postgres else time.perf_counter()
            if not sent:
                return
            taken = sent[0]
            if postgres:
                locked = (
                    db.session.connection()
                    .exec_driver_sql(
                        "SELECT current_setting('needlesafe.bench_locked', true), "
                        "set_config('needlesafe.bench_locked', '', false)"
                    )
                    .scalar()
                )
                db.session.commit()
                if not locked:
                    raise RuntimeError("a transaction locked a chain but left no timestamp")
                if len(sent) == 1:
                    taken = float(locked)
            sent.clear()
            holds.append(released - taken)

        practitioner = db.session.get(User, practitioner_id)
        patients = db.session.scalars(
            select(Patient.id)
            .where(Patient.clinic_id == practitioner.clinic_id)
            .order_by(func.random())
            .limit(count)
        ).all()
        sessions = []
        for patient_id in patients:
            holds.clear()
            session = checklists.start_session(practitioner, patient_id=patient_id)
            commit()
            for phase, form in answers_for(session, rng):
                checklists.submit_phase(practitioner, session.id, phase, form)
                commit()
            signed = checklists.get_session(practitioner, session.id)
            checklists.apply_signature(signed, practitioner, now=utcnow())
            commit()
            sessions.append(list(holds))
        db.session.rollback()
    return sessions


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "checkpoint":
        print(json.dumps(checkpoint(url, int(sys.argv[3]) if len(sys.argv) > 3 else 10)))
    elif mode == "lock":
        print(json.dumps(lock(url, int(sys.argv[3]), int(sys.argv[4]))))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
