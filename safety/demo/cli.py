"""`flask demo seed`: demo clinics, accounts and a few weeks of sessions (never in production).

`flask demo seed --sessions N` also generates N signed sessions in bulk (safety.demo.bulk) for
performance work: 20 more clinics, their practitioners and patients, two years of history. Bulk
data is generated once per database; asking again refuses, whatever N, and changes nothing.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from safety.demo import bulk, services
from safety.extensions import db


@click.group("demo")
def demo_cli() -> None:
    """Demo data for trying NeedleSafe out."""


@demo_cli.command("seed")
@click.option(
    "--sessions",
    type=click.IntRange(min=1),
    default=None,
    help="Also generate this many signed sessions in bulk (20 more clinics, two years). "
    "Refused when bulk data already exists.",
)
@with_appcontext
def seed(sessions: int | None) -> None:
    """Create the demo clinics, accounts and sessions (idempotent), and any bulk sessions."""
    if not current_app.config.get("DEMO_MODE"):
        raise click.ClickException(
            "Demo data is refused in this environment (demo accounts exist only in demo mode)."
        )
    if sessions is not None:
        if bulk.bulk_exists():
            raise click.ClickException(
                f"Bulk demo data already exists ({bulk.bulk_session_count():,} sessions); "
                "nothing changed. Seed a fresh database to generate another amount."
            )
        # Before the small demo set on a fresh database, so the default template is published
        # before the first generated session (two years ago).
        result = bulk.generate(sessions, progress=_progress(sessions))
        click.echo(bulk.summary(result))
    created = services.seed()
    db.session.commit()
    if created:
        click.echo(f"Demo data created: {created} signed sessions.")
    else:
        click.echo("Demo data already present; nothing changed.")
    click.echo("Demo accounts (password: needlesafe-demo):")
    for email, role in services.DEMO_ACCOUNTS:
        click.echo(f"  {email:<28} {role}")


def _progress(total: int):
    """Report every tenth of the way (or so) on standard error."""
    step = max(total // 10, bulk.BATCH)
    reported = [0]

    def report(done: int, seconds: float) -> None:
        if done - reported[0] >= step or (done == total and reported[0] != total):
            reported[0] = done
            click.echo(
                f"  {done:>10,} / {total:,} sessions, {seconds:6.1f} s, {done / seconds:,.0f}/s",
                err=True,
            )

    return report
