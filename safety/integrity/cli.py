"""`flask audit verify`: prove that nothing was altered behind the application's back."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from safety.extensions import db
from safety.integrity.verify import verify_and_record


@click.group("audit")
def audit_cli() -> None:
    """The tamper-evident audit trail."""


@audit_cli.command("verify")
@with_appcontext
def verify_command() -> None:
    """Walk the hash chain and recompute every signed record's hash; exit 1 on any break."""
    result = verify_and_record()
    db.session.commit()
    if result.is_intact:
        click.echo(
            f"Intact: {result.events} audit events and {result.records} signed records verified."
        )
        return
    click.echo(f"BROKEN: {result.problem}", err=True)
    sys.exit(1)
