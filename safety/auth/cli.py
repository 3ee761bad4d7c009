"""`flask users ...`: create and deactivate real accounts."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from safety.auth import services
from safety.auth.models import Role
from safety.clinics.models import Clinic
from safety.errors import DomainError
from safety.extensions import db


@click.group("users")
def users_cli() -> None:
    """User accounts."""


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True, help="Printed name, shown in signatures.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--clinic", "clinic_name", help="Clinic name (required for practitioners).")
@click.password_option(help="Prompted for when not given.")
@with_appcontext
def create(email: str, name: str, role: str, clinic_name: str | None, password: str) -> None:
    """Create an account; weak passwords are refused."""
    clinic_id = None
    if clinic_name:
        clinic_id = db.session.scalar(select(Clinic.id).where(Clinic.name == clinic_name))
        if clinic_id is None:
            raise click.ClickException(f"No clinic named {clinic_name!r}.")
    try:
        user = services.create_user(
            email=email, name=name, role=role, password=password, clinic_id=clinic_id
        )
    except DomainError as exc:
        db.session.rollback()
        details = "; ".join(f"{field}: {msg}" for field, msg in exc.errors.items())
        raise click.ClickException(f"{exc.message} {details}") from None
    db.session.commit()
    click.echo(f"Created {user.role} account {user.email}.")


@users_cli.command("deactivate")
@click.option("--email", required=True)
@with_appcontext
def deactivate(email: str) -> None:
    """Deactivate an account and end its sessions at once."""
    user = services.find_user(email)
    if user is None:
        raise click.ClickException(f"No account {email}.")
    services.deactivate_user(user.id, actor=None)
    db.session.commit()
    click.echo(f"Deactivated {user.email}; its sessions have ended.")


@users_cli.command("lead")
@click.option("--email", required=True)
@click.option("--off", is_flag=True, help="Stop the practitioner leading their clinic.")
@with_appcontext
def lead(email: str, off: bool) -> None:
    """Make a practitioner their clinic's lead (or stop, with --off)."""
    user = services.find_user(email)
    if user is None:
        raise click.ClickException(f"No account {email}.")
    try:
        services.set_clinic_lead(user.id, is_lead=not off, actor=None)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"{user.email} {'no longer leads' if off else 'now leads'} their clinic.")
