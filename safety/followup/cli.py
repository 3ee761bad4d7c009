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


@click.group("reminders")
def reminders_cli() -> None:
    """Patient follow-up reminders."""


@reminders_cli.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now and exit (for cron).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
@with_appcontext
def work(once: bool, interval: float) -> None:
    """Claim due reminders under a lease, send them and record the outcome; sign an audit
    checkpoint every AUDIT_CHECKPOINT_MINUTES when anything was audited."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        counts = work_once(worker)
        db.session.remove()
        if counts:
            click.echo(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        evidence = checkpoints.tend()
        db.session.remove()
        if "checkpoint" in evidence:
            click.echo(f"signed audit checkpoint {evidence['checkpoint']}")
        if "checkpoint_mailed" in evidence:
            mailed = evidence["checkpoint_mailed"]
            click.echo(f"mailed the day's last checkpoint to {mailed} compliance officers")
        if once or stopping:
            return
        deadline = time.monotonic() + interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.2)
        if stopping:
            return
