"""The compliance review on a bulk database: the services, timed against the same SQL run raw.

bench/run.py drives this file once per database, in subprocesses so that each measurement starts
from a clean interpreter:

    python bench/review_bench.py timed  URL   records, lot trace and dashboard (JSON on stdout)
    python bench/review_bench.py export URL   the CSV export of every record, with peak memory
    python bench/review_bench.py verify URL   `flask audit verify`, with the chain and the
                                              records timed apart

Each timed case calls a review service the way its route does, and replays the very statements
that call sent (captured from the engine, parameters included) on a raw driver connection
(sqlite3 or psycopg) in the same loop, interleaved, so both see the same machine. The raw side
runs the SQL and fetches the rows; the service side also builds its page objects.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sqlite3
import statistics
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from config import DevelopmentConfig  # noqa: E402
from safety import create_app  # noqa: E402
from safety.extensions import db  # noqa: E402

WARM_UP = 3
REPEAT = 30
#: How far the deep page of an unflagged list is (pages of 50).
DEEP_PAGES = 200


def app_for(url: str):
    config = type(
        "BenchConfig",
        (DevelopmentConfig,),
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-only-not-a-secret"},
    )
    return create_app(config)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(seconds: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(percentile(seconds, 95) * 1000, 2),
        "n": len(seconds),
    }


@contextmanager
def captured(engine):
    """Collect the (statement, parameters) the engine sends to the driver."""
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", keep)


class Raw:
    """A plain driver connection that replays captured statements and fetches every row."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self.connection = sqlite3.connect(parsed.database)
        else:
            import psycopg

            # No prepared statements, like the application's connections: psycopg drops its
            # prepared statements at every ROLLBACK, and the pool rolls back each connection
            # it gets back. Left to prepare (after 5 runs), PostgreSQL switches some of these
            # statements to a generic plan after 5 more: the year-wide lot prefix then takes
            # 250-1,000 ms instead of 10.
            self.connection = psycopg.connect(
                host=parsed.host,
                port=parsed.port,
                user=parsed.username,
                password=parsed.password,
                dbname=parsed.database,
                autocommit=True,
                prepare_threshold=None,
            )

    def run(self, statements) -> int:
        rows = 0
        cursor = self.connection.cursor()
        for statement, parameters in statements:
            cursor.execute(statement, parameters)
            if cursor.description is not None:
                rows += len(cursor.fetchall())
        return rows

    def plan(self, statement: str, parameters) -> list[str]:
        cursor = self.connection.cursor()
        if self.dialect == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            return [row[-1] for row in cursor.fetchall()]
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        return [row[0] for row in cursor.fetchall()]

    def slowest(self, statements, count: int = 2) -> list[dict]:
        """The statements that take longest raw, with their plans, to explain a figure."""
        timed = []
        for statement, parameters in statements:
            started = time.perf_counter()
            self.run([(statement, parameters)])
            timed.append((time.perf_counter() - started, statement, parameters))
        timed.sort(key=lambda t: t[0], reverse=True)
        return [
            {
                "ms": round(seconds * 1000, 2),
                "sql": " ".join(statement.split()),
                "params": repr(parameters)[:300],
                "plan": self.plan(statement, parameters),
            }
            for seconds, statement, parameters in timed[:count]
        ]


def compare(name: str, call, raw: Raw, repeat: int) -> dict:
    """Time a service call and the raw replay of its statements, interleaved."""
    for _ in range(WARM_UP):
        call()
        db.session.rollback()
    with captured(db.engine) as statements:
        call()
    db.session.rollback()
    for _ in range(WARM_UP):
        raw.run(statements)
    service, plain = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        service.append(time.perf_counter() - started)
        db.session.rollback()
        started = time.perf_counter()
        raw.run(statements)
        plain.append(time.perf_counter() - started)
    result = {
        "name": name,
        "service": summary(service),
        "raw": summary(plain),
        "statements": len(statements),
        "slowest": raw.slowest(statements),
    }
    result["ratio_p50"] = round(result["service"]["p50_ms"] / result["raw"]["p50_ms"], 2)
    result["ratio_p95"] = round(result["service"]["p95_ms"] / result["raw"]["p95_ms"], 2)
    return result


def compliance_user():
    from safety.auth.models import Role, User

    return db.session.scalar(select(User).where(User.role == Role.COMPLIANCE).limit(1))


def timed(url: str, repeat: int = REPEAT) -> dict:
    """Records (first and deep pages, with filters), lot trace and dashboard."""
    from safety.checklists.models import TreatmentSession as TS
    from safety.clinics.models import Clinic
    from safety.demo import bulk
    from safety.packs.models import SessionPack
    from safety.packs.rules import normalise_lot
    from safety.review import dashboard, lots
    from safety.review.records import find_records
    from safety.review.rules.lots import LotQuery
    from safety.review.rules.records import RecordFilters

    app = app_for(url)
    raw = Raw(url)
    results = []
    with app.app_context():
        actor = compliance_user()
        clinic_id = db.session.scalar(select(Clinic.id).where(Clinic.name == bulk.CLINICS[0][0]))
        last = db.session.scalar(select(func.max(TS.session_date)).where(TS.clinic_id == clinic_id))
        year = {"date_from": last - timedelta(days=364), "date_to": last}
        flagged = RecordFilters(clinic_id=clinic_id, flag="any", **year)
        unflagged = RecordFilters(clinic_id=clinic_id, **year)
        high = RecordFilters(clinic_id=clinic_id, flag="high", **year)

        def cursor_after(filters, pages: int | None):
            """The cursor of a page deep in the results: `pages` in, or the last page."""
            after, seen, cursor = None, 0, None
            while pages is None or seen < pages:
                page = find_records(actor, filters, after=after)
                seen += 1
                if page.next_cursor is None:
                    break
                cursor, after = page.next_cursor, _decode(page.next_cursor)
            db.session.rollback()
            return after, seen, cursor

        def records(filters, after=None):
            return lambda: find_records(actor, filters, after=after)

        deep_flagged, flagged_pages, _ = cursor_after(flagged, None)
        deep_unflagged, unflagged_pages, _ = cursor_after(unflagged, DEEP_PAGES)
        first = find_records(actor, flagged)
        matches = {"flagged": first.count, "flagged_pages": flagged_pages}
        db.session.rollback()
        cases = [
            ("records.first", records(flagged)),
            ("records.deep", records(flagged, deep_flagged)),
            ("records.first_unflagged", records(unflagged)),
            ("records.deep_unflagged", records(unflagged, deep_unflagged)),
            ("records.first_high", records(high)),
        ]
        # The busiest lot of one brand a year back, in the middle of the history: recent lots
        # would flatter a plan that walks the sessions newest first.
        first = db.session.scalar(
            select(func.min(TS.session_date)).where(TS.clinic_id == clinic_id)
        )
        middle = first + (last - first) / 2
        lot = db.session.scalar(
            select(TS.needle_lot)
            .where(
                TS.needle_lot.like("HW%"),
                TS.session_date.between(middle - timedelta(days=15), middle + timedelta(days=15)),
            )
            .group_by(TS.needle_lot)
            .order_by(func.count().desc(), TS.needle_lot)
            .limit(1)
        )
        # A recall names a device by its UDI: the GTIN of a pack of that lot, with the lot.
        gtin = db.session.scalar(
            select(SessionPack.gtin)
            .where(SessionPack.lot_key == normalise_lot(lot), SessionPack.gtin.is_not(None))
            .limit(1)
        )
        lot_counts = {}
        for name, query in (
            ("lot.exact", LotQuery(lot)),
            ("lot.gtin", LotQuery(lot, gtin=gtin)),
            ("lot.prefix", LotQuery(lot[:6], is_prefix=True)),
            ("lot.prefix_year", LotQuery(lot[:4], is_prefix=True)),
        ):
            page = lots.lot_trace(actor, query)
            lot_counts[name] = {
                "lot": query.lot,
                "count": page.count,
                "capped": page.is_count_capped,
            }
            db.session.rollback()
            cases.append((name, lambda q=query: lots.lot_trace(actor, q)))
        cases.append(("dashboard", lambda: dashboard.dashboard(actor, months=12)))
        for name, call in cases:
            results.append(compare(name, call, raw, repeat))
            print(f"  {name}: {results[-1]['service']} raw {results[-1]['raw']}", file=sys.stderr)
    return {
        "cases": results,
        "filters": {
            "clinic": bulk.CLINICS[0][0],
            "from": year["date_from"].isoformat(),
            "to": year["date_to"].isoformat(),
            **matches,
            "deep_unflagged_page": DEEP_PAGES,
        },
        "lots": lot_counts,
    }


def _decode(cursor: str):
    from safety.review.rules.records import decode_cursor

    return decode_cursor(cursor)


def export(url: str) -> dict:
    """Stream the CSV of every signed record as the route does; rows, seconds, peak memory."""
    from safety.review import export
    from safety.review.rules.records import RecordFilters

    app = app_for(url)
    with app.app_context():
        actor = compliance_user()
        query = export.export_query(actor, RecordFilters())
        rows = db.session.scalar(select(func.count()).select_from(query.subquery()))
        db.session.rollback()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        lines = export.export_csv(actor, RecordFilters())
        db.session.commit()  # the route commits the export's audit event before streaming
        written = 0
        with open(os.devnull, "w", encoding="utf-8") as out:
            for chunk in lines:
                out.write(chunk)
                written += len(chunk)
        seconds = time.perf_counter() - started
        db.session.rollback()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "bytes": written,
        "maxrss_mb_before": round(before / 1024, 1),
        "maxrss_mb": round(peak / 1024, 1),
    }


def export_sql(url: str) -> str:
    """The export's statement with its values written in, for the database's own CSV output."""
    from safety.review import export
    from safety.review.rules.records import RecordFilters

    app = app_for(url)
    with app.app_context():
        query = export.export_query(compliance_user(), RecordFilters())
        sql = str(query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
        db.session.rollback()
    return sql


def verify(url: str) -> dict:
    """Run `flask audit verify` in this process; the chain and the records are timed apart.

    verify() reports its parts' seconds (on a large database a worker process takes about half
    of the chains and the older half of the records, so the parts overlap); the figure for
    this process's chains also goes straight to the file descriptor as soon as it is known, so
    that run.py has it even when it stops a slow verify.
    """
    from safety.integrity import verify as verification

    timings = {}
    walk = verification.walk

    def timed_walk(reader, **kwargs):
        started = time.perf_counter()
        part = walk(reader, **kwargs)
        timings["chain_s"] = round(time.perf_counter() - started, 2)
        count = sum(chain.count for chain in part.chains.values())
        line = json.dumps({"chain_s": timings["chain_s"], "chain_count": count})
        os.write(2, (line + "\n").encode())  # the CLI runner swaps sys.stderr
        return part

    verification.walk = timed_walk
    original = verification.verify

    def keep_timings(**kwargs):
        result = original(**kwargs)
        timings.update(result.timings)
        return result

    verification.verify = keep_timings
    app = app_for(url)
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return {
        "exit_code": result.exit_code,
        "output": (result.output or repr(result.exception)).strip(),
        "command_s": round(time.perf_counter() - started, 2),
        **timings,
    }


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "timed":
        repeat = int(sys.argv[3]) if len(sys.argv) > 3 else REPEAT
        print(json.dumps(timed(url, repeat)))
    elif mode == "export":
        print(json.dumps(export(url)))
    elif mode == "export-sql":
        print(export_sql(url))
    elif mode == "verify":
        print(json.dumps(verify(url)))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
