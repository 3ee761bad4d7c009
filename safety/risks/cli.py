"""`flask risks ...`: import a risk section into a checklist template."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from safety.auth import policy
from safety.auth.services import find_user
from safety.extensions import db
from safety.fhir.services import template_questionnaire
from safety.risks import services
from safety.risks.importer import NoRiskSectionError, TextTooLongError
from safety.risks.rules import load_register, template_from_definition


@click.group("risks")
def risks_cli() -> None:
    """Risk register and checklist templates."""


@risks_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--publish", is_flag=True, help="Publish the draft as the current template version.")
@click.option(
    "--format", "output", type=click.Choice(["text", "fhir"]), default="text", show_default=True
)
@click.option("--by", "by_email", help="Administrator recorded as the publisher.")
@with_appcontext
def import_command(path: Path, publish: bool, output: str, by_email: str | None) -> None:
    """Read a document's risk section and print the draft checklist template."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise click.ClickException(f"No such file: {path}") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise click.ClickException(f"Cannot read {path} as UTF-8 text: {exc}") from None
    actor = None
    if by_email:
        actor = find_user(by_email)
        if not policy.can_administer(actor):
            raise click.ClickException(f"{by_email} is not an administrator's account.")
    try:
        draft, result = services.create_draft_from_text(text, actor=actor)
    except (NoRiskSectionError, TextTooLongError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    if publish:
        services.publish(draft.id, actor=actor, via=f"cli:{getpass.getuser()}")
        db.session.commit()
    else:
        db.session.rollback()  # a preview stores nothing
    register = load_register()
    if output == "fhir":
        resource = template_questionnaire(draft, with_id=False)
        click.echo(json.dumps(resource, indent=2, ensure_ascii=False))
        return
    click.echo(_describe(draft, result, register, published=publish))


def _describe(draft, result, register, *, published: bool) -> str:
    template = template_from_definition(draft.definition)
    lines = [
        f"Risk section: {result.heading}",
        "Matched risk kinds: "
        + (", ".join(register.kind_title(k) for k in result.matched_kinds) or "none"),
        "",
    ]
    for phase in template.phases:
        lines.append(f"{phase.title}")
        for item in phase.items:
            lines.append(f"  [{item.link_id}] {item.text}")
            lines.append(f"      controls: {', '.join(item.risks) or '-'}")
            for statement in item.provenance:
                lines.append(f'      from: "{statement}"')
        lines.append("")
    if result.unmatched:
        lines.append("Not matched to a known risk (add an observation item or map by hand):")
        lines.extend(f"  - {text}" for text in result.unmatched)
    else:
        lines.append("Every statement matched a known risk.")
    lines.append("")
    if published:
        lines.append(f"Published as version {draft.version}; new sessions use it from now on.")
    else:
        lines.append("Draft only: nothing was saved. Run again with --publish to make it current.")
    return "\n".join(lines)


@risks_cli.command("publish-default")
@with_appcontext
def publish_default() -> None:
    """Publish the shipped default template when the current one predates its register."""
    template, published = services.publish_default(via=f"cli:{getpass.getuser()}")
    db.session.commit()
    if published:
        click.echo(
            f"Published version {template.version} from register version "
            f"{services.register_version_of(template)}. New sessions use it; sessions already "
            "started keep their version."
        )
    else:
        click.echo(f"Current template: version {template.version}, already up to date.")
