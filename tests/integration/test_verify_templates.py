"""`flask audit verify` holds each published checklist version's wording to its publish event.

An insider's review reworded a published item ("The patient takes anticoagulants ...") so that
every signed "No" on it read as its opposite, and verify said intact.
"""

from __future__ import annotations

import json

from insider import guards_off
from sqlalchemy import select, text

from safety.extensions import db
from safety.integrity.verify import verify
from safety.risks import services as risks
from safety.risks.models import TemplateVersion


def verified() -> str | None:
    db.session.expire_all()
    return verify().problem


def test_a_published_version_reworded_behind_the_applications_back_is_named(app, make_user):
    risks.publish_default(via="test")
    template = risks.current_template()
    db.session.commit()
    assert verified() is None
    reworded = json.loads(json.dumps(template.definition))
    first = reworded["phases"][0]["items"][0]
    first["text"] = "Checked: " + first["text"]
    with guards_off():
        db.session.execute(
            text("UPDATE template_versions SET definition = :d WHERE id = :id"),
            {"d": json.dumps(reworded), "id": template.id},
        )

    problem = verified()

    assert problem.startswith(f"checklist version {template.version} was altered after it was")
    assert "its wording is not what audit event" in problem


def test_a_published_version_deleted_or_unpublished_is_named(app, make_user):
    risks.publish_default(via="test")
    template = risks.current_template()
    db.session.commit()
    with guards_off():
        db.session.execute(
            text("UPDATE template_versions SET published_dt = NULL WHERE id = :id"),
            {"id": template.id},
        )

    assert f"checklist template {template.id} (published by audit event id" in verified()
    assert db.session.scalars(select(TemplateVersion.published_dt)).one() is None
