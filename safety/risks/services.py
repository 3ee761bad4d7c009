"""Template version use cases: the default template, imports, publishing (the editor's
use cases are in editor.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from safety.audit import services as audit
from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.dbtypes import utcnow
from safety.errors import SAME_ACT_WINDOW, Conflict, NotFound
from safety.extensions import db, take_sqlite_write_lock
from safety.hashing import canonical_json, hashed_time, sha256_hex
from safety.ids import is_id
from safety.languages import N_
from safety.risks import importer, rules
from safety.risks.models import TemplateVersion


def typed(version: TemplateVersion) -> rules.Template:
    """Return a version's checklist as typed rules, built once per published version and app.

    Every page of a session reads its pinned version's checklist, and building it from the
    JSON costs about 2 ms, so a published version's is kept: it can no longer change (a
    trigger refuses it), while a draft is edited and built again each time. The key holds the
    publishing time beside the id, and the cache belongs to the app, so another database
    behind another app (a test's, a bench's) never meets this one's templates."""
    if not version.is_published:
        return rules.template_from_definition(version.definition)
    built = current_app.extensions.setdefault(_TYPED, {})
    key = (version.id, version.version, version.published_dt)
    template = built.get(key)
    if template is None:
        if len(built) >= _TYPED_KEPT:
            built.clear()  # a clinic publishes a few versions a year: this is never reached
        template = built[key] = rules.template_from_definition(version.definition)
    return template


#: Where `typed` keeps the published versions' templates, in the app's extensions.
_TYPED = "needlesafe.typed_templates"
#: At most this many templates are kept at once.
_TYPED_KEPT = 256


def current_template() -> TemplateVersion | None:
    """Return the most recently published template version."""
    return db.session.scalar(
        select(TemplateVersion)
        .where(TemplateVersion.published_dt.is_not(None))
        .order_by(TemplateVersion.published_dt.desc(), TemplateVersion.version.desc())
        .limit(1)
    )


def default_definition(register_version: int = rules.CURRENT_REGISTER) -> dict:
    """Build the default template from a register that ships with the package."""
    register = rules.load_register(register_version)
    statements = [
        (text, importer.match_kinds(text, register.synonyms)) for text in register.guidance
    ]
    return rules.build_definition(register, register.default_kinds, statements)


def ensure_current_template(*, now: datetime | None = None) -> TemplateVersion:
    """Return the current template, publishing the shipped default on a fresh install."""
    template = current_template()
    if template is None:
        template = new_version(default_definition(), source_text=None, actor=None, now=now)
        publish(template.id, actor=None, via="default", now=now)
    return template


def default_of_register(register_version: int, *, now: datetime | None = None) -> TemplateVersion:
    """Return the newest default template built from a register version and published by
    `now`, publishing one dated `now` when there is none.

    The bulk data pins each session to a template published before it started; a template
    dated in the past does not become the current one.
    """
    now = now or utcnow()
    for template in list_templates():
        if (
            template.is_published
            and template.published_dt <= now
            and template.source_text is None
            and "copied_from" not in template.definition
            and register_version_of(template) == register_version
        ):
            return template
    draft = new_version(default_definition(register_version), source_text=None, actor=None, now=now)
    return publish(draft.id, actor=None, via="default", now=now)


#: From this register version on, each later one only adds to it (stops, count checks), so a
#: template is carried forward rather than rebuilt (version 1 to 2 reshaped the phases).
ADDITIVE_FROM = 2


def carried_to(template: TemplateVersion, register_version: int, *, at: str) -> dict | None:
    """Return a template's definition carried forward to a later register that only adds to
    its own (`rules.carried_forward`), or None when it is not such a register."""
    if not ADDITIVE_FROM <= register_version_of(template) < register_version:
        return None
    return rules.carried_forward(
        template.definition,
        rules.load_register(register_version),
        built_from=rules.load_register(register_version_of(template)),
        at=at,
    )


def register_version_of(template: TemplateVersion) -> int:
    """Return the register version a template was built from (1 before versions were kept)."""
    return template.definition.get("register_version", 1)


def publish_default(
    *,
    actor: User | None = None,
    via: str = "default",
    now: datetime | None = None,
    register_version: int = rules.CURRENT_REGISTER,
) -> tuple[TemplateVersion, bool]:
    """Bring the current template up to the shipped register; returns (current, published).

    A new register version (DESIGN §3.1.1) is published without a migration: the default
    is rebuilt from it, and a template an administrator imported is imported again from its
    own text, so it keeps its matched controls and gains the new baseline. Sessions already
    started keep the version they pinned. Nothing happens when the current template was
    already built from this register. From version 2 on, a later register only adds (stops,
    count checks): the current template is carried forward as it is (`rules.carried_forward`),
    so an administrator's edits stay.
    """
    current = current_template()
    if current is not None and register_version_of(current) >= register_version:
        return current, False
    carried = (
        carried_to(current, register_version, at=hashed_time(now or utcnow()))
        if current is not None
        else None
    )
    if carried is not None:
        draft = new_version(
            carried,
            source_text=current.source_text,
            unmatched=list(current.unmatched),
            actor=actor,
            now=now,
            details={"carried_forward_from": current.version},
        )
    elif current is not None and current.source_text:
        draft, _ = create_draft_from_text(
            current.source_text, actor=actor, now=now, register_version=register_version
        )
    else:
        draft = new_version(
            default_definition(register_version), source_text=None, actor=actor, now=now
        )
    return publish(draft.id, actor=actor, via=via, now=now), True


def create_draft_from_text(
    text: str,
    *,
    actor: User | None,
    now: datetime | None = None,
    register_version: int = rules.CURRENT_REGISTER,
    result: importer.ImportResult | None = None,
):
    """Import a risk section into a draft template; returns (draft, import result).

    Raises importer.NoRiskSectionError when the document has no risk section and
    importer.TextTooLongError when it is longer than the importer reads. A caller that has
    parsed the text already (against the current register) passes its `result`.
    """
    register = rules.load_register(register_version)
    if result is None:
        result = importer.parse_risk_section(text, register.synonyms)
    statements = [(s.text, s.kinds) for s in result.statements]
    # The document's own title when it has one; else the register's, naming the section.
    title = result.title or f"{register.title} ({result.heading})"
    definition = rules.build_definition(register, result.matched_kinds, statements, title=title)
    draft = new_version(
        definition, source_text=text, unmatched=list(result.unmatched), actor=actor, now=now
    )
    return draft, result


def _last_version_number() -> int:
    """Return the highest version number ever given, counting discarded drafts.

    A discarded draft is deleted, but its number stays in the audit trail (and perhaps in an
    export); giving it to different content would make "version 4" mean two things.
    """
    kept = db.session.scalar(select(func.max(TemplateVersion.version))) or 0
    discarded = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "template.discard")
    )
    return max([kept, *(details["version"] for details in discarded)])


def new_version(
    definition: dict,
    *,
    source_text: str | None,
    actor: User | None,
    unmatched: list[str] | None = None,
    now: datetime | None = None,
    details: dict | None = None,
) -> TemplateVersion:
    """Store a new draft under the next number and audit its creation (`details` adds to it:
    the version an edited copy came from)."""
    next_version = _last_version_number() + 1
    template = TemplateVersion(
        version=next_version,
        title=definition["title"],
        definition=definition,
        source_text=source_text,
        unmatched=unmatched or [],
        created_by_id=actor.id if actor else None,
        created_dt=now or utcnow(),
    )
    db.session.add(template)
    db.session.flush()
    audit.record(
        "template.create",
        actor=actor,
        obj=template,
        details={"version": next_version, **(details or {})},
        now=now,
    )
    return template


def publish(
    template_id: int, *, actor: User | None, via: str = "web", now: datetime | None = None
) -> TemplateVersion:
    """Make a draft the current version; published versions never change again."""
    template = get_template(template_id)
    if template.is_published:
        raise Conflict(f"Version {template.version} is already published.")
    template.published_dt = now or utcnow()
    template.published_by_id = actor.id if actor else None
    db.session.flush()
    audit.record(
        "template.publish",
        actor=actor,
        obj=template,
        # The wording every later answer on this version means: verify holds the stored
        # definition to it (a rewording behind the application's back once passed unnoticed,
        # turning each signed "No" on an item into its opposite).
        details={
            "version": template.version,
            "via": via,
            "definition_hash": definition_hash(template.definition),
        },
        now=now,
    )
    return template


def definition_hash(definition: dict[str, Any]) -> str:
    """The hash a version's publish event signs: its definition as canonical JSON."""
    return sha256_hex(canonical_json(definition))


def get_template(template_id: int) -> TemplateVersion:
    template = db.session.get(TemplateVersion, template_id) if is_id(template_id) else None
    if template is None:
        raise NotFound(N_("No such template version."))
    return template


def list_templates() -> list[TemplateVersion]:
    return list(
        db.session.scalars(select(TemplateVersion).order_by(TemplateVersion.version.desc()))
    )


def discard_draft(template_id: int, *, actor: User | None, now: datetime | None = None) -> int:
    """Delete a draft that will not be published; published versions are never removed.
    Returns the draft's version number.

    Locked before it is read, so two clicks at once take turns: the second found nothing to
    delete and showed a "not found" page, or deleted nothing and wrote a second event (a
    review). The same person's discard a moment ago is that discard."""
    now = now or utcnow()
    take_sqlite_write_lock(TemplateVersion)
    template = (
        db.session.scalar(
            select(TemplateVersion)
            .where(TemplateVersion.id == template_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if is_id(template_id)
        else None
    )
    if template is None:
        discarded = db.session.scalar(
            select(AuditEvent.details["version"].as_integer()).where(
                AuditEvent.action == "template.discard",
                AuditEvent.object_type == TemplateVersion.__tablename__,
                AuditEvent.object_id == str(template_id),
                AuditEvent.actor_id.is_(None) if actor is None else AuditEvent.actor_id == actor.id,
                AuditEvent.created_dt >= now - SAME_ACT_WINDOW,
            )
        )
        if discarded is None:
            raise NotFound(N_("No such template version."))
        return discarded
    if template.is_published:
        raise Conflict(
            f"Version {template.version} is published: it can no longer be changed or removed."
        )
    details = {"version": template.version, "title": template.title}
    db.session.delete(template)
    db.session.flush()
    audit.record(
        "template.discard",
        actor=actor,
        object_type=TemplateVersion.__tablename__,
        object_id=template_id,
        details=details,
        now=now,
    )
    return template.version
