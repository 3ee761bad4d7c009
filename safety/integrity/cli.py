"""`flask audit ...`: prove that nothing was altered behind the application's back, and give
others the means to check it without us."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import IntegrityError

from safety.errors import DomainError, NotFound
from safety.extensions import db
from safety.hashing import canonical_json
from safety.integrity import backfill, checkpoints, evidence, store
from safety.integrity.evidence import EvidenceError
from safety.integrity.verify import verify_and_record


@click.group("audit")
def audit_cli() -> None:
    """The tamper-evident audit trail."""


@audit_cli.command("verify")
@click.option(
    "--checkpoint",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint kept elsewhere (such as the e-mailed one) to hold the database to too.",
)
@with_appcontext
def verify_command(files: tuple[Path, ...]) -> None:
    """Check the triggers, the checkpoints, every chain and every signed record; exit 1 on
    the first break."""
    try:
        handed_in = [c for path in files for c in store.read_file(path)]
    except (EvidenceError, OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(str(exc)) from None
    result = verify_and_record(handed_in=handed_in)
    db.session.commit()
    if not result.is_intact:
        click.echo(f"BROKEN: {result.problem}", err=True)
        sys.exit(1)
    held = (
        f", held to {result.checkpoints} signed checkpoints (the newest: "
        f"{result.newest['number']} of {result.newest['created']})"
        if result.newest
        else "; no signed checkpoint yet (run `flask audit checkpoint`)"
    )
    click.echo(
        f"Intact: {result.events} audit events and {result.records} signed records verified{held}."
    )


@audit_cli.command("checkpoint")
@with_appcontext
def checkpoint_command() -> None:
    """Sign every chain's head now, append it to the store, and print it as one JSON line."""
    try:
        made = checkpoints.make()
        db.session.commit()
    except EvidenceError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException(
            "Another checkpoint was being made at the same moment: run it again."
        ) from None
    if made is None:
        newest = checkpoints.latest()
        click.echo(f"Nothing was audited since checkpoint {newest.number}.", err=True)
        click.echo(newest.body)
        return
    click.echo(canonical_json(made))


@audit_cli.command("backfill-flags")
@with_appcontext
def backfill_flags_command() -> None:
    """Once, after every server runs this version: put the words of the flags older versions
    raised on the audit chain, so verify holds every flag to its words from then on."""
    try:
        done = backfill.backfill_flags()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    if not done.wrote:
        click.echo("Every flag already has its words on the audit chain: nothing to write.")
        return
    if done.flags:
        flags = f"{done.flags} flag" + ("" if done.flags == 1 else "s")
        clinics = f"{done.clinics} clinic" + ("" if done.clinics == 1 else "s")
        click.echo(
            f"Wrote the words of {flags} raised by older versions to the audit chains of "
            f"{clinics}, as they are now: a flag changed before today cannot be told apart."
        )
    else:
        click.echo("No flag lacked its words on the audit chain.")
    click.echo(
        "From now on `flask audit verify` names any flag whose words are not on the chain, "
        "whenever it is dated."
    )
    try:
        made = checkpoints.make()
        db.session.commit()
    except EvidenceError as exc:
        db.session.rollback()
        click.echo(f"No checkpoint signed ({exc}): run `flask audit checkpoint`.", err=True)
        return
    except IntegrityError:
        db.session.rollback()
        click.echo(
            "Another checkpoint was being made at the same moment: run `flask audit checkpoint`.",
            err=True,
        )
        return
    if made is not None:
        click.echo(f"Signed checkpoint {made['number']}, which covers them.")


@audit_cli.command("prove")
@click.argument("record_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write it here.")
@with_appcontext
def prove_command(record_id: int, out: Path | None) -> None:
    """Print a receipt that a signed record is in a signed checkpoint (checked offline by
    `flask audit check-receipt`)."""
    try:
        receipt = checkpoints.prove(record_id)
    except NotFound as exc:
        raise click.ClickException(exc.message) from None
    text = json.dumps(receipt, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, "utf-8")
    click.echo(f"Receipt for record {record_id} written to {out}.")


@audit_cli.command("check-receipt")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The trusted public key (PEM or hex); by default the one this installation trusts.",
)
@with_appcontext
def check_receipt_command(path: Path, public_key: Path | None) -> None:
    """Check a receipt offline: no database, only the trusted public key."""
    try:
        receipt = json.loads(path.read_text("utf-8"))
        trusted = (
            evidence.fingerprint(evidence.load_public_key(public_key))
            if public_key
            else checkpoints.trusted_fingerprint()
        )
        if trusted is None:
            raise EvidenceError("give the trusted public key with --public-key")
        if not isinstance(receipt, dict):
            raise EvidenceError("this is not a NeedleSafe receipt")
        proved = checkpoints.check_receipt(receipt, trusted)
    except (ValueError, OSError) as exc:  # EvidenceError, bad JSON, an unreadable file
        click.echo(f"NOT VALID: {exc}", err=True)
        sys.exit(1)
    click.echo(f"Valid: {proved}.")


@audit_cli.command("public-key")
@with_appcontext
def public_key_command() -> None:
    """Print the signing key's public key (PEM) and fingerprint, to give to whoever checks
    checkpoints and receipts (AUDIT_PUBLIC_KEY_FILE)."""
    try:
        key = checkpoints.signing_key().public_key()
    except EvidenceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(evidence.public_key_pem(key), nl=False)
    click.echo(f"fingerprint: {evidence.fingerprint(key)}", err=True)


@audit_cli.command("create-key")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def create_key_command(path: Path) -> None:
    """Make a new Ed25519 signing key at PATH (readable by its owner alone) and print its
    public key. Keep the key off the database host and out of its backups."""
    if path.exists():
        raise click.ClickException(f"{path} already exists: a key is never overwritten.")
    key = evidence.load_or_create_private_key(path, create=True).public_key()
    click.echo(evidence.public_key_pem(key), nl=False)
    click.echo(f"Key written to {path}; fingerprint {evidence.fingerprint(key)}", err=True)
