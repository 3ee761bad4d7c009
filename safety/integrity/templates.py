"""Verify the checklist versions: each published version's wording held to the hash its
publish event signed.

A signed record names its template version and keeps only the answers; what a "No" means is
the version's wording. A published version is final (a trigger refuses changes), but someone
who drops the trigger could reword an item ("The patient takes anticoagulants" into "... has
been checked and has none"), and every signed "No" on it would read as its opposite. Versions
published before their events signed the wording are held to being there and published.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from safety.audit.models import AuditEvent
from safety.risks.models import TemplateVersion
from safety.risks.services import definition_hash

TV = TemplateVersion


def verify_templates(db_: Connection | Session) -> str | None:
    """Name the first published checklist version whose wording is not what was published."""
    published = {
        template_id: (definition, version)
        for template_id, definition, version in db_.execute(
            select(TV.id, TV.definition, TV.version).where(TV.published_dt.is_not(None))
        )
    }
    for object_id, signed, event_id in db_.execute(
        select(
            AuditEvent.object_id,
            AuditEvent.details["definition_hash"].as_string(),
            AuditEvent.id,
        )
        .where(AuditEvent.action == "template.publish", AuditEvent.object_type == TV.__tablename__)
        .order_by(AuditEvent.id)
    ):
        template_id = int(object_id) if object_id and object_id.isdecimal() else -1
        found = published.get(template_id)
        if found is None:
            return (
                f"checklist template {template_id} (published by audit event id {event_id}) "
                "is missing or no longer published"
            )
        definition, version = found
        if isinstance(definition, str):
            definition = json.loads(definition)
        if signed is not None and definition_hash(definition) != signed:
            return (
                f"checklist version {version} was altered after it was published: its wording "
                f"is not what audit event {event_id} signed"
            )
    return None
