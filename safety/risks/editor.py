"""Template editor use cases: copy a published version into a draft, edit the draft's items,
and say what publishing it would change and for whom.

Each edit loads the draft (locked against a second administrator's edit on PostgreSQL),
applies one pure rule of `editing`, checks the whole definition, stores it and audits it in
the same transaction: a refused edit raises before anything is stored, so nothing is half
saved. Published versions are never edited (a trigger refuses it as well): edit a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from safety.audit import services as audit
from safety.auth.models import User
from safety.clinics.models import Clinic
from safety.dbtypes import utcnow
from safety.errors import SAME_ACT_WINDOW, Conflict, DomainError
from safety.extensions import db, take_sqlite_write_lock
from safety.hashing import hashed_time
from safety.languages import N_, Said
from safety.risks import editing, rules, services, translations
from safety.risks.models import TemplateVersion


class EditError(DomainError):
    """An edit the rules refused; nothing of it was stored."""


def registers() -> tuple[rules.Register, ...]:
    """Every register that ships: an item baseline in any of them stays protected."""
    return tuple(rules.load_register(v) for v in rules.REGISTER_FILES)


def copy_version(
    template_id: int, *, actor: User | None, now: datetime | None = None
) -> TemplateVersion:
    """Start a draft from a published version: the same items, sources and changes so far."""
    source = services.get_template(template_id)
    if not source.is_published:
        raise Conflict(
            Said(N_("Version %(version)s is a draft already: edit it."), version=source.version)
        )
    current = services.current_template()
    if current is not None and services.register_version_of(
        source
    ) < services.ADDITIVE_FROM <= services.register_version_of(current):
        # Nothing carries a version 1 template forward (`services.carried_to`): published, a
        # copy of one would bring back the rules every later register replaced.
        raise Conflict(
            Said(
                N_(
                    "Version %(version)s was built on the first checklist register, whose rules "
                    "the version in use replaced: copy the version in use instead."
                ),
                version=source.version,
            )
        )
    definition = {**source.definition, "copied_from": source.version}
    return services.new_version(
        definition,
        source_text=source.source_text,
        unmatched=list(source.unmatched),
        actor=actor,
        now=now,
        details={"copied_from": source.version},
    )


def editable(template_id: int) -> TemplateVersion:
    """Return a draft locked for this transaction's edit, or refuse a published version.

    Locked before it is read, on either database: two edits at once each read the draft and
    wrote it back, and one was lost; a publish beside an edit put live an item nobody had
    read on the confirmation page (found by an attacker's review)."""
    services.get_template(template_id)
    take_sqlite_write_lock(TemplateVersion)
    draft = db.session.scalar(
        select(TemplateVersion)
        .where(TemplateVersion.id == template_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if draft.is_published:
        raise Conflict(
            Said(
                N_("Version %(version)s is published: it cannot change. Edit a copy of it."),
                version=draft.version,
            )
        )
    return draft


def _change(action: str, actor: User | None, now: datetime | None) -> editing.Change:
    when = (now or utcnow()).isoformat(timespec="seconds")
    return editing.Change(
        action, actor.name if actor else "system", actor.id if actor else None, when
    )


def _store(
    draft: TemplateVersion,
    definition: dict[str, Any],
    *,
    actor: User | None,
    now: datetime | None,
    **details: Any,
) -> TemplateVersion:
    """Check a whole edited definition, then store and audit it together."""
    try:
        editing.check(definition)
    except editing.EditRefused as refused:
        raise EditError(refused.message) from None
    draft.definition = definition
    db.session.flush()
    audit.record(
        "template.edit",
        actor=actor,
        obj=draft,
        details={"version": draft.version, **details},
        now=now,
    )
    return draft


def _refused(refused: editing.EditRefused) -> EditError:
    return EditError(refused.message, {refused.field: refused.message} if refused.field else None)


def add_from_register(
    template_id: int, link_id: str, *, actor: User | None, now: datetime | None = None
) -> TemplateVersion:
    """Add one of the register's items the draft does not have."""
    draft = editable(template_id)
    register = rules.load_register(services.register_version_of(draft))
    try:
        edited = editing.add_from_register(
            draft.definition, register, link_id, _change("add", actor, now)
        )
    except editing.EditRefused as refused:
        raise _refused(refused) from None
    return _store(draft, edited, actor=actor, now=now, change="add", linkId=link_id)


def add_own_item(
    template_id: int,
    *,
    phase_id: str,
    text: str,
    reason: str,
    actor: User | None,
    now: datetime | None = None,
) -> str:
    """Add a yes/no check the administrator wrote; returns its new linkId."""
    draft = editable(template_id)
    try:
        edited, link_id = editing.add_own_item(
            draft.definition,
            phase_id=phase_id,
            version=draft.version,
            text=text,
            reason=reason,
            taken={spec["linkId"] for register in registers() for spec in register.items},
            change=_change("add", actor, now),
        )
    except editing.EditRefused as refused:
        raise _refused(refused) from None
    _store(draft, edited, actor=actor, now=now, change="add", linkId=link_id)
    return link_id


def remove_item(
    template_id: int, link_id: str, *, actor: User | None, now: datetime | None = None
) -> TemplateVersion:
    """Remove an item the baseline and the sign-off do not depend on."""
    draft = editable(template_id)
    try:
        protected = editing.protected_items(draft.definition, registers())
        edited = editing.remove_item(draft.definition, link_id, protected)
    except editing.EditRefused as refused:
        raise _refused(refused) from None
    return _store(draft, edited, actor=actor, now=now, change="remove", linkId=link_id)


def reword_item(
    template_id: int, link_id: str, text: str, *, actor: User | None, now: datetime | None = None
) -> TemplateVersion:
    """Give an item new words; its linkId and answer codes stay."""
    draft = editable(template_id)
    fixed, words, register = _fixed_as_it_goes_live(draft)
    shipped = (register.version, words[link_id]) if link_id in words else None
    try:
        edited = editing.reword_item(
            draft.definition,
            link_id,
            text,
            _change("reword", actor, now),
            fixed=fixed,
            shipped=shipped,
        )
    except editing.EditRefused as refused:
        raise _refused(refused) from None
    [after] = [i for _, i in editing.items(edited) if i["linkId"] == link_id]
    return _store(
        draft,
        edited,
        actor=actor,
        now=now,
        change="reword",
        linkId=link_id,
        previous=after["changes"][-1]["previous"],
        text=after["text"],
    )


def move_item(
    template_id: int,
    link_id: str,
    direction: str,
    *,
    actor: User | None,
    now: datetime | None = None,
) -> TemplateVersion:
    """Move an item one place up or down within its phase."""
    draft = editable(template_id)
    try:
        edited = editing.move_item(draft.definition, link_id, direction)
    except editing.EditRefused as refused:
        raise _refused(refused) from None
    return _store(
        draft, edited, actor=actor, now=now, change="move", linkId=link_id, direction=direction
    )


# --- pages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditorView:
    """What the editor page shows of a draft."""

    version: TemplateVersion
    template: rules.Template
    #: linkId -> its changes (who, "when" as a datetime, what), oldest first.
    changes: dict[str, list[dict[str, Any]]]
    #: linkId -> why it cannot be removed (English, marked for translation).
    protected: dict[str, str]
    #: (linkId, phase title, text, the question it needs first or None) not yet in the draft.
    catalogue: list[tuple[str, str, str, str | None]]
    #: linkIds whose words cannot change (editing.fixed_words): no reword form for them.
    fixed_words: frozenset[str] = frozenset()
    #: linkId -> the register's words, for those of them in other words: the one rewording
    #: they may take (editing.register_words).
    register_words: dict[str, str] = field(default_factory=dict)
    #: What the page says of an item whose words cannot change (marked for translation).
    reword_refused: str = editing.REWORD_REFUSED


def _fixed_as_it_goes_live(
    draft: TemplateVersion,
) -> tuple[frozenset[str], dict[str, str], rules.Register]:
    """The items whose words cannot change and the register's words they may take, judged on
    the draft as publishing it would make it (`as_it_goes_live`), with that register. Judged
    on the draft alone, a copy of a version 4 template let its skin check be reworded to the
    opposite ("Infected or broken skin at the sites"), then gained version 5's stop at "No"
    when published: the session stopped at healthy skin and went on at infected skin (a
    review)."""
    live = as_it_goes_live(draft)
    register = rules.load_register(live.get("register_version", 1))
    return editing.fixed_words(live), editing.register_words(live, register), register


def editor_view(template_id: int) -> EditorView:
    version = services.get_template(template_id)
    definition = version.definition
    register = rules.load_register(services.register_version_of(version))
    fixed, words, _ = _fixed_as_it_goes_live(version)
    titles = {p["id"]: p["title"] for p in register.phases}
    present = editing.link_ids(definition)
    kept = editing.protected_items(definition, registers())
    return EditorView(
        version=version,
        template=rules.template_from_definition(definition),
        changes={
            i["linkId"]: [{**c, "when": datetime.fromisoformat(c["at"])} for c in i["changes"]]
            for _, i in editing.items(definition)
            if i.get("changes")
        },
        protected={link_id: editing.PROTECTED_REASONS[code] for link_id, code in kept.items()},
        fixed_words=fixed,
        register_words=words,
        catalogue=[
            (
                spec["linkId"],
                titles.get(spec["phase"], spec["phase"]),
                spec["text"],
                next(iter(editing.missing_conditions(spec, present)), None),
            )
            for spec in editing.catalogue(definition, register)
        ],
    )


@dataclass(frozen=True)
class PublishPreview:
    """What the confirmation before publishing says."""

    version: TemplateVersion
    template: rules.Template
    current: TemplateVersion | None
    comparison: editing.Comparison
    #: linkId -> its words in the draft, or in the current version for a removed item.
    texts: dict[str, str]
    #: The clinics whose new sessions would use the draft (every clinic: one template).
    clinics: list[str]
    untranslated: list[translations.Untranslated]
    #: The draft as this page showed it; publishing from the page checks it is still so.
    fingerprint: str = ""


def publish_preview(template_id: int) -> PublishPreview:
    """Say what publishing a draft changes against the version in use, and for which clinics."""
    version = services.get_template(template_id)
    if version.is_published:
        raise Conflict(
            Said(N_("Version %(version)s is already published."), version=version.version)
        )
    current = services.current_template()
    before = current.definition if current is not None else None
    going_live = as_it_goes_live(version)
    texts = {i["linkId"]: i["text"] for _, i in editing.items(before or {"phases": []})}
    texts.update({i["linkId"]: i["text"] for _, i in editing.items(going_live)})
    template = rules.template_from_definition(going_live)
    return PublishPreview(
        version=version,
        template=template,
        current=current,
        comparison=editing.compare(before, going_live),
        texts=texts,
        clinics=list(db.session.scalars(select(Clinic.name).order_by(Clinic.name))),
        untranslated=translations.untranslated(template),
        fingerprint=fingerprint(going_live),
    )


def as_it_goes_live(draft: TemplateVersion) -> dict[str, Any]:
    """A draft's definition as publishing it would make it: a draft begun on an older register
    than the version in use (before an upgrade's publish-default) is carried forward to that
    register, so publishing it never brings back the rules the upgrade added (its stops)."""
    current = services.current_template()
    if current is None:
        return draft.definition
    # Dated when the version in use went live: the same on the confirmation page and at
    # publishing, so the fingerprint of what was read holds.
    theirs = services.register_version_of(current)
    carried = services.carried_to(draft, theirs, at=hashed_time(current.published_dt))
    return draft.definition if carried is None else carried


def fingerprint(definition: dict[str, Any]) -> str:
    """A draft's definition as one hash: what a confirmation page showed (the hash its
    publish event then signs)."""
    return services.definition_hash(definition)


def _just_published(
    version: TemplateVersion, seen: str | None, *, actor: User | None, now: datetime
) -> bool:
    """Whether this person published what their confirmation page showed (`seen`) a moment
    ago (`SAME_ACT_WINDOW`)."""
    return (
        seen is not None
        and version.published_dt is not None
        and now - version.published_dt < SAME_ACT_WINDOW
        and version.published_by_id == (actor.id if actor else None)
        and seen == fingerprint(version.definition)
    )


def publish_as_seen(
    template_id: int,
    seen: str | None,
    *,
    actor: User | None,
    via: str = "web",
    now: datetime | None = None,
) -> TemplateVersion:
    """Publish a draft, refusing when it changed after the confirmation page was shown.

    Another administrator (or another tab) may edit the draft between the confirmation and
    the tap on Publish; the page carries the fingerprint of what it listed, so what goes live
    is what was read. A publish that names no fingerprint (the command line) is not checked.
    """
    draft = services.get_template(template_id)
    if not draft.is_published:
        try:
            draft = editable(template_id)  # an edit waits for this publish, or this for the edit
        except Conflict:
            draft = services.get_template(template_id)  # published while this one waited
            if not _just_published(draft, seen, actor=actor, now=now or utcnow()):
                raise
    # A second click on Publish is that publish: it once told the person who had just
    # published the draft that it "cannot change" or was "already published".
    if draft.is_published and _just_published(draft, seen, actor=actor, now=now or utcnow()):
        return draft
    going_live = draft.definition if draft.is_published else as_it_goes_live(draft)
    if seen is not None and not draft.is_published and seen != fingerprint(going_live):
        raise Conflict(
            N_(
                "The draft changed after this page was opened: read its changes again, "
                "then publish."
            )
        )
    if going_live is not draft.definition:
        draft.definition = going_live
    return services.publish(template_id, actor=actor, via=via, now=now)
