"""`flask tokens ...`: bearer tokens for the FHIR read API."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from safety.dbtypes import utcnow
from safety.errors import DomainError
from safety.extensions import db
from safety.fhir import tokens as api_tokens


@click.group("tokens")
def tokens_cli() -> None:
    """Bearer tokens for the FHIR read API."""


def _refuse(exc: DomainError) -> None:
    db.session.rollback()
    click.echo(f"Error: {exc.message}", err=True)
    sys.exit(1)


@tokens_cli.command("create")
@click.option("--user", "email", required=True, help="Email of the compliance officer.")
@click.option(
    "--days",
    type=int,
    default=api_tokens.DEFAULT_DAYS,
    show_default=True,
    help=f"How long the token works (1 to {api_tokens.MAX_DAYS} days).",
)
@with_appcontext
def create_command(email: str, days: int) -> None:
    """Issue a read-only token to a compliance officer and print it once."""
    try:
        issued = api_tokens.create_token(email, days=days)
    except DomainError as exc:
        _refuse(exc)
        return
    db.session.commit()
    token = issued.token
    # Only the secret goes to stdout, so `TOKEN=$(flask tokens create ...)` captures it alone.
    click.echo(
        f"Token {token.id} for {token.user.email} (prefix {token.prefix}), "
        f"expires {token.expires_dt:%Y-%m-%d %H:%M} UTC:",
        err=True,
    )
    click.echo(issued.secret)
    click.echo(
        "Copy it now: it is shown only this once and only its hash is stored. "
        "Send it as 'Authorization: Bearer <token>'.",
        err=True,
    )


@tokens_cli.command("revoke")
@click.argument("prefix_or_id")
@with_appcontext
def revoke_command(prefix_or_id: str) -> None:
    """Revoke a token by its id or prefix; requests with it are refused at once."""
    try:
        token = api_tokens.revoke_token(prefix_or_id)
    except DomainError as exc:
        _refuse(exc)
        return
    db.session.commit()
    click.echo(f"Revoked token {token.id} ({token.prefix}) of {token.user.email}.")


@tokens_cli.command("list")
@with_appcontext
def list_command() -> None:
    """List every token: id, prefix, holder, created, last used and whether it is revoked."""
    tokens = api_tokens.list_tokens()
    if not tokens:
        click.echo("No tokens.")
        return
    now = utcnow()
    header = ("id", "prefix", "user", "created", "last used", "expires", "state")
    click.echo("{:>5}  {:<12}  {:<32}  {:<16}  {:<16}  {:<16}  {}".format(*header))
    for token in tokens:
        expires = token.expires_dt
        if token.revoked_dt:
            state = f"revoked {token.revoked_dt:%Y-%m-%d %H:%M}"
        elif expires is not None and now >= expires:
            state = "expired"
        else:
            state = "active"
        last = f"{token.last_used_dt:%Y-%m-%d %H:%M}" if token.last_used_dt else "never"
        until = f"{expires:%Y-%m-%d %H:%M}" if expires else "never"
        click.echo(
            f"{token.id:>5}  {token.prefix:<12}  {token.user.email:<32}  "
            f"{token.created_dt:%Y-%m-%d %H:%M}  {last:<16}  {until:<16}  {state}"
        )
