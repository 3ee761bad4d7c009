"""Register versions reach installations that run: a newer register is published over the
template of an older one (`flask risks publish-default`, `publish_default`)."""

from __future__ import annotations

from safety.extensions import db
from safety.risks import rules as risk_rules
from safety.risks import services as risks


def test_an_installation_on_register_version_2_gets_version_3_with_its_stops_and_count(app):
    """The stops at "No" to authorisation and to sterile packs, and "no more used than
    opened", came as register version 3: written into version 2 in place, they would have
    reached only a new installation, since one already on version 2 was up to date."""
    risks.publish_default(via="test", register_version=2)
    db.session.commit()
    old = risk_rules.template_from_definition(risks.current_template().definition)
    assert old.items_by_id["timeout.needles_sterile"].stop is None

    current, published = risks.publish_default(via="test")

    assert published and current.definition["register_version"] == 3
    new = risk_rules.template_from_definition(current.definition)
    assert new.items_by_id["signin.authorised"].stop is not None
    assert new.items_by_id["timeout.needles_sterile"].stop is not None
    assert len(new.count_checks) == len(old.count_checks) + 1
    assert risks.publish_default(via="test")[1] is False  # up to date now
