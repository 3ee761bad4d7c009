"""`flask demo seed`: demo clinics, accounts and a few weeks of sessions (never in production)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from safety.demo import services
from safety.extensions import db


@click.group("demo")
def demo_cli() -> None:
    """Demo data for trying NeedleSafe out."""


@demo_cli.command("seed")
@with_appcontext
def seed() -> None:
    """Create the demo clinics, accounts and sessions (idempotent)."""
    if not current_app.config.get("DEMO_MODE"):
        raise click.ClickException(
            "Demo data is refused in this environment (demo accounts exist only in demo mode)."
        )
    created = services.seed()
    db.session.commit()
    if created:
        click.echo(f"Demo data created: {created} signed sessions.")
    else:
        click.echo("Demo data already present; nothing changed.")
    click.echo("Demo accounts (password: needlesafe-demo):")
    for email, role in services.DEMO_ACCOUNTS:
        click.echo(f"  {email:<28} {role}")
