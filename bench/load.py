"""`make bench-load`: NeedleSafe under load on this machine, beside a bare Flask app (the floor).

1. A PostgreSQL database of its own, `needlesafe_load`, made by `flask db upgrade` and
   `flask demo seed --sessions N`, plus a few accounts and patients for the load (dropped at
   the end unless --keep).
2. NeedleSafe served as the README's production section serves it
   (`gunicorn --workers 4 --threads 4`), NEEDLESAFE_ENV=production, and bench/floor_app.py served
   by the same gunicorn command. The only settings changed for the bench: cookies over plain
   HTTP on loopback, a sign-in throttle high enough for hundreds of sign-ins from one address,
   no second factor required of the load's accounts (their demo passwords, refused in
   production, replaced by a load password),
   the development outbox instead of SMTP for reminders, and a worker time budget long enough
   for one pass to drain the whole backlog.
3. A bounded asyncio load generator (aiohttp) on 127.0.0.1 only: per route and concurrency
   (1, 8, 32) a closed loop of signed-in clients for a fixed time and at most a fixed number
   of requests, floor first; then the practitioner flow (sign in, start, three phases, sign)
   at 1, 4 and 16 practitioners with a compliance officer reading at the same time; then the
   reminder drain with 1, 2 and 4 `reminders work --once` processes on one backlog.
4. bench/LOAD.md: the machine, the load average, every figure, and the issue's targets.

Every loop stops by itself (time and count); nothing is sent anywhere but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
REPORT = BENCH / "LOAD.md"
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from factories import CLEAN_PHASES  # noqa: E402  (the answers a clean checklist gets)

HOST = "127.0.0.1"
PG_URL_ADMIN = dict(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
DATABASE = "needlesafe_load"
DB_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
GUNICORN = ["--workers", "4", "--threads", "4"]  # README, Production
LOAD_PASSWORD = "load-bench-plinth-lantern-42"
PRACTITIONER = "practitioner@example.com"
COMPLIANCE = "compliance@example.com"
ROUTES = {
    "today": ("Practitioner's today page", "/sessions/", PRACTITIONER),
    "record": ("Record viewed by compliance (audited)", None, COMPLIANCE),
    "records": ("Compliance records list", "/review/records", COMPLIANCE),
    "dashboard": ("Dashboard", "/review/", COMPLIANCE),
}
#: The issue's targets at 32 clients, as ratios to the floor.
RATIO_TARGETS = {"today": 0.12, "records": 0.08, "record": 0.05, "dashboard": 0.02}
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass(frozen=True)
class Plan:
    sessions: int
    seconds: float  # per route and concurrency
    max_requests: int
    concurrencies: tuple[int, ...]
    practitioners: tuple[int, ...]
    flow_seconds: float
    backlog: int
    workers: tuple[int, ...]


FULL = Plan(100_000, 10.0, 20_000, (1, 8, 32), (1, 4, 16), 30.0, 5_000, (1, 2, 4))
QUICK = Plan(3_000, 1.5, 2_000, (1, 8, 32), (1, 4, 16), 4.0, 300, (1, 2, 4))


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the database --------------------------------------------------------------------------


def pg_admin():
    import psycopg

    return psycopg.connect(**PG_URL_ADMIN, autocommit=True, connect_timeout=3)


def env_for(work: Path, *, production: bool) -> dict[str, str]:
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": DB_URL,
        "SECRET_KEY": "load-bench-only-not-a-secret-" + "x" * 16,
        "NEEDLESAFE_INSTANCE": str(work / "instance"),
        "AUDIT_SIGNING_KEY_FILE": str(work / "audit-signing.key"),
        "AUDIT_CHECKPOINT_DIR": str(work / "checkpoints"),
        "REMINDER_BACKEND": "outbox",
        "BASE_URL": "http://127.0.0.1",
    }
    env["NEEDLESAFE_ENV"] = "production" if production else "development"
    if production:
        env["SESSION_COOKIE_SECURE"] = "0"  # plain HTTP on loopback
        env["LOGIN_RATE_LIMIT"] = "1000000 per minute"  # hundreds of sign-ins from one address
        env["REMINDER_WORK_BUDGET_SECONDS"] = "600"  # one pass drains the whole backlog
        # The load's accounts sign in with a password alone (a code from an app each time
        # would measure the bench, not the app); the TOTP check is one HMAC, not a hash.
        env["MFA_REQUIRED_ROLES"] = ""
    return env


def flask(work: Path, *args: str, production: bool = False, timeout: float = 1800) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env=env_for(work, production=production),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


PREPARE = """
import json, sys
from sqlalchemy import select
from safety import create_app
from safety.auth import services as auth
from safety.checklists.models import TreatmentSession as TS
from safety.clinics import services as clinics
from safety.clinics.models import Clinic
from safety.extensions import db
n, password = int(sys.argv[1]), sys.argv[2]
app = create_app("development")
with app.app_context():
    ids = list(db.session.scalars(select(Clinic.id).order_by(Clinic.id)))
    people = []
    for i in range(n):
        user = auth.create_user(email=f"load{i}@bench.test", name=f"Load Practitioner {i}",
                                role="practitioner", password=password, clinic_id=ids[i % len(ids)],
                                check_strength=False)
        patient = clinics.add_patient(user, given_name="Bench", family_name=f"Patient {i}",
                                      email=f"patient{i}@bench.test", phone=None,
                                      is_followup_consent=True)
        people.append((user.email, patient.id))
    # Production refuses the demo password (issue 16): the two demo accounts the routes are
    # read as get the load password instead.
    for email in ("practitioner@example.com", "compliance@example.com"):
        auth.find_user(email).password_hash = auth.hash_password(password)
    records = list(db.session.scalars(
        select(TS.id).where(TS.signed_dt.is_not(None)).order_by(TS.id.desc()).limit(400)))
    db.session.commit()
    print(json.dumps({"people": people, "records": records}))
"""

BACKLOG = """
import sys
from datetime import timedelta
from sqlalchemy import select, update
from safety import create_app
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.checklists.models import TreatmentSession as TS
from safety.clinics.models import Patient
from safety.followup.models import FollowUp, OutboxMessage
n = int(sys.argv[1])
app = create_app("development")
with app.app_context():
    followups = list(db.session.scalars(
        select(FollowUp.id)
        .join(TS, TS.id == FollowUp.session_id)
        .join(Patient, Patient.id == TS.patient_id)
        .where(FollowUp.channel == "email", FollowUp.status.in_(["scheduled", "sent"]),
               Patient.opted_out_dt.is_(None), Patient.email.is_not(None))
        .order_by(FollowUp.id).limit(50)))
    due = utcnow() - timedelta(minutes=1)
    db.session.add_all(OutboxMessage(purpose="patient_reminder", next_attempt_dt=due,
                                     followup_id=followups[i % len(followups)]) for i in range(n))
    db.session.commit()
"""

COUNT_SENT = """
from sqlalchemy import func, select
from safety import create_app
from safety.extensions import db
from safety.followup.models import DevMessage
app = create_app("development")
with app.app_context():
    total = db.session.scalar(select(func.count()).select_from(DevMessage))
    distinct = db.session.scalar(select(func.count(func.distinct(DevMessage.outbox_id))))
    print(total, distinct)
"""


def python(work: Path, code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env_for(work, production=False),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench helper failed:\n{done.stderr[-3000:]}")
    return done.stdout


def build_database(work: Path, plan: Plan, people: int) -> dict:
    import json

    with pg_admin() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    started = time.perf_counter()
    flask(work, "db", "upgrade")
    flask(work, "audit", "create-key", str(work / "audit-signing.key"))
    flask(work, "demo", "seed", "--sessions", str(plan.sessions))
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname=DATABASE, autocommit=True
    ) as connection:
        connection.execute("VACUUM ANALYZE")
    made = json.loads(python(work, PREPARE, str(people), LOAD_PASSWORD))
    made["build_s"] = round(time.perf_counter() - started, 1)
    return made


def drop_database() -> None:
    with pg_admin() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Server:
    """One gunicorn, started with the README's options, stopped by its own pid."""

    def __init__(self, app: str, env: dict[str, str], *, chdir: Path, probe: str) -> None:
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *GUNICORN, "--bind", f"{HOST}:{self.port}", app],
            cwd=chdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        import urllib.request

        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {app} exited:\n{self.process.stderr.read()}")
            try:
                with urllib.request.urlopen(self.base + probe, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn {app} did not answer within 60 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# --- the load generator ---------------------------------------------------------------------


@dataclass
class Tally:
    """Latencies (seconds) and outcomes of one run."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0  # 5xx or no answer
    unexpected: int = 0  # any other status than the one expected
    elapsed: float = 0.0
    statuses: Counter = field(default_factory=Counter)

    def add(self, seconds: float, status: int, expected: int) -> None:
        self.latencies.append(seconds)
        self.statuses[status] += 1
        if status == 0 or status >= 500:
            self.errors += 1
        elif status != expected:
            self.unexpected += 1

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def new_client() -> aiohttp.ClientSession:
    # unsafe=True: keep cookies for an IP address (127.0.0.1), which aiohttp otherwise drops.
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=1),
    )


async def call(client, method: str, url: str, data=None) -> tuple[int, str, str | None]:
    """One request; returns (status, body, Location). A failure to connect is status 0."""
    try:
        async with client.request(method, url, data=data, allow_redirects=False) as answer:
            body = await answer.text()
            return answer.status, body, answer.headers.get("Location")
    except (TimeoutError, aiohttp.ClientError):
        return 0, "", None


async def sign_in(client, base: str, email: str, password: str) -> str:
    """Sign a client in; returns its CSRF token for later forms."""
    status, page, _ = await call(client, "GET", base + "/auth/login")
    token = CSRF.search(page).group(1)
    form = {"csrf_token": token, "email": email, "password": password}
    status, _, _ = await call(client, "POST", base + "/auth/login", form)
    if status != 302:
        raise RuntimeError(f"{email} could not sign in (HTTP {status})")
    return token


async def closed_loop(clients, urls, *, seconds: float, max_requests: int) -> Tally:
    """Each client asks, waits for the answer and asks again, until time or count runs out."""
    tally = Tally()
    deadline = time.perf_counter() + seconds
    issued = 0

    async def run(index: int, client) -> None:
        nonlocal issued
        n = index
        while time.perf_counter() < deadline and issued < max_requests:
            issued += 1
            url = urls[n % len(urls)]
            n += len(clients)
            started = time.perf_counter()
            status, _, _ = await call(client, "GET", url)
            tally.add(time.perf_counter() - started, status, 200)

    started = time.perf_counter()
    await asyncio.gather(*(run(i, c) for i, c in enumerate(clients)))
    tally.elapsed = time.perf_counter() - started
    return tally


async def measure_route(base: str, floor: str, key: str, records, concurrency, plan) -> dict:
    _label, path, email = ROUTES[key]
    urls = [f"{base}/review/records/{r}" for r in records] if path is None else [base + path]
    floor_clients = [new_client() for _ in range(concurrency)]
    app_clients = [new_client() for _ in range(concurrency)]
    try:
        for client in app_clients:
            await sign_in(client, base, email, LOAD_PASSWORD)
        _status, page, _location = await call(app_clients[0], "GET", urls[0])
        # A short warm-up of both, so neither pays for its first connections and imports.
        await closed_loop(floor_clients, [floor + "/"], seconds=0.3, max_requests=200)
        await closed_loop(app_clients, urls, seconds=0.3, max_requests=50)
        floor_tally = await closed_loop(
            floor_clients, [floor + "/"], seconds=plan.seconds, max_requests=plan.max_requests
        )
        app_tally = await closed_loop(
            app_clients, urls, seconds=plan.seconds, max_requests=plan.max_requests
        )
    finally:
        for client in floor_clients + app_clients:
            await client.close()
    return {
        "route": key,
        "c": concurrency,
        "app": app_tally,
        "floor": floor_tally,
        "kb": len(page.encode()) / 1000,
    }


# --- the practitioner flow -----------------------------------------------------------------

STEPS = (
    "sign-in page",
    "sign in",
    "today page",
    "start page",
    "start",
    "record page",
    "phase page",
    "phase save",
    "signature",
)


async def practitioner(base, email, patient_id, deadline, steps, signed) -> None:
    """Sign in, start a session, fill its three phases and sign it; again until the deadline."""
    while time.perf_counter() < deadline:
        async with new_client() as client:

            async def step(name, method, url, data=None, expect=200):
                started = time.perf_counter()
                status, body, location = await call(client, method, base + url, data)
                steps[name].add(time.perf_counter() - started, status, expect)
                return status, body, location

            _, page, _ = await step("sign-in page", "GET", "/auth/login")
            token = CSRF.search(page).group(1)
            login = {"csrf_token": token, "email": email, "password": LOAD_PASSWORD}
            status, _, _ = await step("sign in", "POST", "/auth/login", login, 302)
            if status != 302:
                return
            await step("today page", "GET", "/sessions/")
            _, page, _ = await step("start page", "GET", "/sessions/new")
            token = CSRF.search(page).group(1)
            form = {"csrf_token": token, "patient_id": str(patient_id)}
            status, _, location = await step("start", "POST", "/sessions/new", form, 302)
            if status != 302:
                return
            record = location.split("?")[0]
            record = record[record.index("/sessions/") :]
            await step("record page", "GET", record, expect=302)  # on to the first phase
            for phase, answers in CLEAN_PHASES.items():
                await step("phase page", "GET", f"{record}/phase/{phase}")
                data = [("csrf_token", token)] + [(k, v) for k, vs in answers.items() for v in vs]
                await step("phase save", "POST", f"{record}/phase/{phase}", data, 302)
            sign = {"csrf_token": token, "password": LOAD_PASSWORD}
            status, _, _ = await step("signature", "POST", f"{record}/sign", sign, 302)
            if status == 302:
                signed.append(time.perf_counter())


async def reader(base, records, deadline, tally) -> None:
    """A compliance officer reading at the same time: list, a record, the dashboard."""
    async with new_client() as client:
        await sign_in(client, base, COMPLIANCE, LOAD_PASSWORD)
        n = 0
        while time.perf_counter() < deadline:
            for url in (
                "/review/records",
                f"/review/records/{records[n % len(records)]}",
                "/review/",
            ):
                started = time.perf_counter()
                status, _, _ = await call(client, "GET", base + url)
                tally.add(time.perf_counter() - started, status, 200)
            n += 1


async def measure_flow(base, people, records, count, plan) -> dict:
    steps = {name: Tally() for name in STEPS}
    signed: list[float] = []
    reading = Tally()
    started = time.perf_counter()
    deadline = started + plan.flow_seconds
    await asyncio.gather(
        reader(base, records, deadline, reading),
        *(practitioner(base, e, p, deadline, steps, signed) for e, p in people[:count]),
    )
    elapsed = time.perf_counter() - started
    for tally in steps.values():
        tally.elapsed = elapsed
    reading.elapsed = elapsed
    return {
        "n": count,
        "elapsed": elapsed,
        "signed": len(signed),
        "steps": steps,
        "reader": reading,
    }


# --- the reminder drain --------------------------------------------------------------------


def measure_drain(work: Path, plan: Plan) -> list[dict]:
    env = env_for(work, production=True)
    command = [sys.executable, "-m", "flask", "reminders", "work", "--once"]
    # What the demo seed left due goes first, untimed; an empty pass is the start-up cost.
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=600, check=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=600, check=True)
    startup = time.perf_counter() - started
    results = []
    for workers in plan.workers:
        before = python(work, COUNT_SENT).split()
        python(work, BACKLOG, str(plan.backlog))
        started = time.perf_counter()
        processes = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(workers)
        ]
        outputs = [p.communicate(timeout=600)[0] for p in processes]
        elapsed = time.perf_counter() - started
        after = python(work, COUNT_SENT).split()
        sent = int(after[0]) - int(before[0])
        distinct = int(after[1]) - int(before[1])
        results.append(
            {
                "workers": workers,
                "backlog": plan.backlog,
                "sent": sent,
                "duplicates": sent - distinct,
                "elapsed": elapsed,
                "startup": startup,
                "outputs": [o.strip() for o in outputs],
            }
        )
        log(f"drain: {workers} worker(s) sent {sent} of {plan.backlog} in {elapsed:.1f} s")
    return results


# --- the report ----------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    with pg_admin() as admin:
        pg = admin.execute("SHOW server_version").fetchone()[0]
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "memory": f"{kb / 2**20:.1f} GiB",
        "python": platform.python_version(),
        "postgresql": pg,
        "aiohttp": aiohttp.__version__,
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def write_report(plan, quick, info, built, routes, flows, drains, load_before, load_after) -> str:
    lines = [
        "# NeedleSafe under load",
        "",
        f"Written by `make bench-load{' LOAD_ARGS=--quick' if quick else ''}` (bench/load.py) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC."
        + (" **Quick run: short and noisy, for checking the tooling only.**" if quick else ""),
        "",
        f"Machine: {info['cpu']}, {info['nproc']} cores, {info['memory']}; Python "
        f"{info['python']}, PostgreSQL {info['postgresql']}, aiohttp {info['aiohttp']} (load "
        "generator, on the same machine).",
        f"Load average (1, 5, 15 min) before: {load_before}; after: {load_after}.",
        "",
        f"Data: `flask demo seed --sessions {plan.sessions}` on PostgreSQL ({DATABASE}, built in "
        f"{built['build_s']} s, dropped afterwards). Servers: `gunicorn {' '.join(GUNICORN)}` "
        "for NeedleSafe (NEEDLESAFE_ENV=production) and for bench/floor_app.py. Each cell: "
        f"{plan.seconds:g} s or {plan.max_requests:,} requests, whichever comes first, after a "
        "short warm-up; the floor is measured just before the route, at the same concurrency.",
        "",
        "## Pages",
        "",
        "| route | page KB | clients | req/s | p50 ms | p95 ms | p99 ms | 5xx | other "
        "| floor req/s | ratio | target at 32 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in routes:
        app, floor = r["app"], r["floor"]
        ratio = app.rate / floor.rate if floor.rate else 0.0
        target = ""
        if r["c"] == 32:
            goal = RATIO_TARGETS[r["route"]]
            target = f"≥ {goal} {verdict(ratio >= goal and app.errors == 0)}"
        lines.append(
            f"| {ROUTES[r['route']][0]} | {r['kb']:.0f} | {r['c']} | {app.rate:.0f} | "
            f"{app.pct(50):.0f} | "
            f"{app.pct(95):.0f} | {app.pct(99):.0f} | {app.errors} | {app.unexpected} | "
            f"{floor.rate:.0f} | {ratio:.3f} | {target} |"
        )
    lines += [
        "",
        "## A practitioner's whole session, with a compliance officer reading",
        "",
        "Each practitioner signs in, opens today's page, starts a session, opens and saves each "
        "of the three phases and signs (13 requests), then starts again with a new sign-in; a "
        "compliance officer reads the records list, a record and the dashboard meanwhile. "
        f"{plan.flow_seconds:g} s per row.",
        "",
        "| practitioners | signed sessions/s | p95 sign in ms | p95 start ms | p95 phase save ms "
        "| p95 signature ms | p95 reader ms | 5xx | other |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in flows:
        s = f["steps"]
        errors = sum(t.errors for t in s.values()) + f["reader"].errors
        other = sum(t.unexpected for t in s.values()) + f["reader"].unexpected
        lines.append(
            f"| {f['n']} | {f['signed'] / f['elapsed']:.1f} | {s['sign in'].pct(95):.0f} | "
            f"{s['start'].pct(95):.0f} | {s['phase save'].pct(95):.0f} | "
            f"{s['signature'].pct(95):.0f} | {f['reader'].pct(95):.0f} | {errors} | {other} |"
        )
    top = next((f for f in flows if f["n"] == 16), None)
    if top:
        s = top["steps"]
        rate = top["signed"] / top["elapsed"]
        lines += [
            "",
            f"Targets at 16 practitioners: ≥ 10 signed sessions/s {verdict(rate >= 10)}; "
            f"p95 phase save < 250 ms {verdict(s['phase save'].pct(95) < 250)}; "
            f"p95 signature < 500 ms {verdict(s['signature'].pct(95) < 500)}.",
        ]
    lines += [
        "",
        "## Reminder drain",
        "",
        f"A backlog of due reminders, drained by that many `flask reminders work --once` "
        "processes started together (development outbox backend: the message is written to "
        f"the database instead of sent). The time includes each process's start-up; the last "
        f"column takes off the time of a pass with nothing due ({drains[0]['startup']:.1f} s).",
        "",
        "| workers | backlog | sent | sent twice | seconds | reminders/s | reminders/s less "
        "start-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in drains:
        net = d["elapsed"] - d["startup"]
        lines.append(
            f"| {d['workers']} | {d['backlog']:,} | {d['sent']:,} | {d['duplicates']} | "
            f"{d['elapsed']:.1f} | {d['sent'] / d['elapsed']:.0f} | "
            f"{d['sent'] / net if net > 0 else float('nan'):.0f} |"
        )
    all_errors = sum(r["app"].errors for r in routes) + sum(
        sum(t.errors for t in f["steps"].values()) + f["reader"].errors for f in flows
    )
    lines += ["", f"5xx or no answer over the whole run: {all_errors} {verdict(all_errors == 0)}."]
    text = "\n".join(lines) + "\n"
    REPORT.write_text(text)
    return text


# --- main ----------------------------------------------------------------------------------


async def pages(base, floor, records, plan) -> list[dict]:
    results = []
    for key in ROUTES:
        for concurrency in plan.concurrencies:
            result = await measure_route(base, floor, key, records, concurrency, plan)
            app, fl = result["app"], result["floor"]
            log(
                f"{key} x{concurrency}: {app.rate:.0f} req/s (p95 {app.pct(95):.0f} ms, "
                f"{app.errors} errors, {app.unexpected} other), floor {fl.rate:.0f} req/s"
            )
            results.append(result)
    return results


async def flows(base, people, records, plan) -> list[dict]:
    results = []
    for count in plan.practitioners:
        result = await measure_flow(base, people, records, count, plan)
        log(
            f"flow x{count}: {result['signed']} signed in {result['elapsed']:.1f} s, "
            f"p95 phase save {result['steps']['phase save'].pct(95):.0f} ms, "
            f"signature {result['steps']['signature'].pct(95):.0f} ms"
        )
        for name, tally in result["steps"].items():
            if tally.unexpected or tally.errors:
                log(f"  {name}: answers {dict(tally.statuses)}")
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run to check the tooling")
    parser.add_argument("--sessions", type=int, help="bulk sessions to seed")
    parser.add_argument("--seconds", type=float, help="seconds per route and concurrency")
    parser.add_argument("--keep", action="store_true", help=f"keep the {DATABASE} database")
    parser.add_argument(
        "--only",
        choices=("pages", "flow", "drain"),
        help="measure one part only (no report is written)",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.sessions or args.seconds:
        plan = Plan(
            args.sessions or plan.sessions,
            args.seconds or plan.seconds,
            plan.max_requests,
            plan.concurrencies,
            plan.practitioners,
            plan.flow_seconds,
            plan.backlog,
            plan.workers,
        )
    load_before = loadavg()
    info = machine()
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="needlesafe-load-") as tmp:
        work = Path(tmp)
        try:
            log(f"building {DATABASE} with {plan.sessions:,} sessions (load average {load_before})")
            built = build_database(work, plan, max(plan.practitioners))
            app = Server("wsgi:app", env_for(work, production=True), chdir=ROOT, probe="/healthz")
            servers.append(app)
            floor = Server("floor_app:app", {**os.environ}, chdir=BENCH, probe="/")
            servers.append(floor)
            people, records = built["people"], built["records"]
            only = args.only
            route_results = flow_results = drains = []
            if only in (None, "pages"):
                route_results = asyncio.run(pages(app.base, floor.base, records, plan))
            if only in (None, "flow"):
                flow_results = asyncio.run(flows(app.base, people, records, plan))
            for server in servers:
                server.stop()
            if only in (None, "drain"):
                drains = measure_drain(work, plan)
            if only:
                return
            text = write_report(
                plan,
                args.quick,
                info,
                built,
                route_results,
                flow_results,
                drains,
                load_before,
                loadavg(),
            )
            print(text)
            log(f"wrote {REPORT.relative_to(ROOT)}")
        finally:
            for server in servers:
                server.stop()
            if not args.keep:
                drop_database()


if __name__ == "__main__":
    main()
