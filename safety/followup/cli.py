"""`flask reminders work`: the follow-up delivery worker (long-running, or --once for cron)."""

from __future__ import annotations

import os
import signal
import socket
import time

import click
from flask.cli import with_appcontext

from safety.extensions import db
from safety.followup.worker import work_once
from safety.integrity import checkpoints
from safety.integrity import requests as verification


@click.group("reminders")
def reminders_cli() -> None:
    """Patient follow-up reminders."""


@reminders_cli.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now and exit (for cron).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
@click.option(
    "--budget",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds one pass may keep sending [default: REMINDER_WORK_BUDGET_SECONDS, 50].",
)
@with_appcontext
def work(once: bool, interval: float, budget: float | None) -> None:
    """Claim due reminders under a lease and send them until none is due or the pass's time
    budget is spent, recording each outcome; sign an audit checkpoint every
    AUDIT_CHECKPOINT_MINUTES when anything was audited; run the verification a compliance
    officer asked for with "Verify now"."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        counts = work_once(worker, budget=budget)
        db.session.remove()
        more = counts.pop("budget_spent", 0)
        if counts:
            click.echo(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        if more:
            click.echo("time budget spent; what is still due goes out on the next pass")
        evidence = checkpoints.tend()
        db.session.remove()
        if "checkpoint" in evidence:
            click.echo(f"signed audit checkpoint {evidence['checkpoint']}")
        if "checkpoint_mailed" in evidence:
            mailed = evidence["checkpoint_mailed"]
            click.echo(f"mailed the day's last checkpoint to {mailed} compliance officers")
        verified = verification.run_next(worker)
        if verified is not None:
            click.echo(f"verified the audit trail as asked: {verification.outcome(verified)}")
        db.session.remove()
        if once or stopping:
            return
        if more:
            continue
        deadline = time.monotonic() + interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.2)
        if stopping:
            return
