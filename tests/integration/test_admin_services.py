"""Administration use cases against the database: role changes, deactivation, unlocking, clinic
settings, template imports and drafts, and the audit history the administration pages show.
Each change and its audit event are written in one transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DatabaseError

from safety.admin import rules, services
from safety.audit.models import AuditEvent
from safety.auth import services as auth
from safety.auth.models import ApiToken, LoginSession, User
from safety.clinics import services as clinics
from safety.clinics.models import Clinic
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, Forbidden, NotFound
from safety.extensions import db
from safety.risks import services as risks
from safety.risks.models import TemplateVersion

LEAFLET = """Dry needling eases tight muscles.

Side effects:
• Bruising where the needles went in.
• Bleeding at a needle site.
• Feeling tired afterwards.
"""


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


@pytest.fixture
def clinic(make_clinic):
    return make_clinic("Harbour Physio")


@pytest.fixture
def admin(make_user):
    return make_user("admin", name="Alan Admin")


@pytest.fixture
def practitioner(make_user, clinic):
    return make_user("practitioner", clinic=clinic, name="Pia Physio")


def open_sessions(user_id: int) -> int:
    return count(LoginSession, LoginSession.user_id == user_id, LoginSession.ended_dt.is_(None))


# --- pure rules ----------------------------------------------------------------------------


def test_an_upload_is_read_as_utf8_without_its_byte_order_mark():
    assert (
        rules.read_upload("Risks.MD", b"\xef\xbb\xbf# Risks\n- Bruising") == "# Risks\n- Bruising"
    )


def test_an_upload_of_exactly_200_kb_is_accepted_and_one_byte_more_is_refused():
    body = b"# Risks\n" + b"x" * (rules.MAX_SOURCE_BYTES - 8)

    assert len(rules.read_upload("risks.txt", body)) == rules.MAX_SOURCE_BYTES
    with pytest.raises(rules.SourceError, match="larger than 200 KB"):
        rules.read_upload("risks.txt", body + b"x")


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("risks.docx", b"# Risks", r"plain text \(\.txt\) or Markdown \(\.md\)"),
        ("risks", b"# Risks", r"plain text \(\.txt\) or Markdown \(\.md\)"),
        ("risks.txt", "# Risques\n- Ecchymose".encode("utf-16"), "not UTF-8"),
        ("risks.txt", b"# Risks\n- \xe9", "not UTF-8"),
        ("risks.txt", b"# Risks\x1b[31m", "not plain text"),
        ("risks.txt", b"  \n\n", "empty"),
    ],
)
def test_an_unreadable_upload_says_what_to_do(filename, data, message):
    with pytest.raises(rules.SourceError, match=message):
        rules.read_upload(filename, data)


def test_comparing_templates_names_the_items_added_and_removed_in_order():
    current = {"phases": [{"items": [{"linkId": "a"}, {"linkId": "b"}]}]}
    draft = {
        "phases": [{"items": [{"linkId": "a"}, {"linkId": "c"}]}, {"items": [{"linkId": "d"}]}]
    }

    assert rules.compare_items(current, draft) == (["c", "d"], ["b"])
    assert rules.compare_items(None, draft) == (["a", "c", "d"], [])


def test_audit_events_are_described_in_plain_words():
    assert rules.describe_event("user.role_change", {"old": "admin", "new": "compliance"}) == (
        "Role changed: admin → compliance"
    )
    assert rules.describe_event(
        "clinic.update", {"changes": {"duty_email": [None, "a@b.example"]}}
    ) == ("Clinic changed: duty address none → a@b.example")
    assert rules.describe_event("template.discard", {"version": 4}) == (
        "Draft template discarded: version 4"
    )


# --- users ---------------------------------------------------------------------------------


def test_a_role_change_ends_every_session_of_the_user_and_records_old_and_new(admin, practitioner):
    old_clinic_id = practitioner.clinic_id
    for _ in range(2):
        auth.start_login_session(practitioner)
    db.session.commit()

    auth.change_role(practitioner.id, role="compliance", clinic_id=None, actor=admin)
    db.session.commit()

    user = db.session.get(User, practitioner.id)
    assert (user.role, user.clinic_id) == ("compliance", None)
    assert open_sessions(user.id) == 0
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.role_change"))
    assert (event.actor_id, event.object_id) == (admin.id, str(user.id))
    assert event.details == {
        "old": "practitioner",
        "new": "compliance",
        "old_clinic_id": old_clinic_id,
        "new_clinic_id": None,
        "sessions_ended": 2,
    }
    ended = db.session.scalars(
        select(LoginSession.end_reason).where(LoginSession.user_id == user.id)
    ).all()
    assert ended == ["role_changed", "role_changed"]


def test_a_role_change_and_its_audit_event_are_undone_together(admin, practitioner):
    before = actions()

    auth.change_role(practitioner.id, role="admin", clinic_id=None, actor=admin)
    db.session.rollback()

    assert db.session.get(User, practitioner.id).role == "practitioner"
    assert actions() == before


def test_moving_a_practitioner_to_another_clinic_is_a_recorded_role_change(
    admin, practitioner, make_clinic
):
    other = make_clinic("Lakeside Physio")

    auth.change_role(practitioner.id, role="practitioner", clinic_id=other.id, actor=admin)

    assert db.session.get(User, practitioner.id).clinic_id == other.id
    assert rules.describe_event(
        "user.role_change", {"old": "practitioner", "new": "practitioner"}
    ) == ("Role changed: clinic moved")
    assert actions()[-1] == "user.role_change"


@pytest.mark.parametrize(
    ("role", "clinic_id", "field"),
    [
        ("practitioner", None, "clinic"),
        ("practitioner", 424242, "clinic"),
        ("root", None, "role"),
        ("compliance", None, "role"),  # no change at all
    ],
)
def test_a_refused_role_change_names_the_field_and_changes_nothing(
    admin, make_user, role, clinic_id, field
):
    officer = make_user("compliance")
    auth.start_login_session(officer)
    db.session.commit()
    before = actions()

    with pytest.raises(DomainError) as refused:
        auth.change_role(officer.id, role=role, clinic_id=clinic_id, actor=admin)

    assert field in refused.value.errors
    db.session.rollback()
    assert db.session.get(User, officer.id).role == "compliance"
    assert open_sessions(officer.id) == 1
    assert actions() == before


def test_an_administrator_cannot_remove_their_own_administrator_role(admin):
    with pytest.raises(DomainError) as refused:
        auth.change_role(admin.id, role="practitioner", clinic_id=None, actor=admin)

    assert "your own administrator role" in refused.value.errors["role"]
    assert db.session.get(User, admin.id).role == "admin"


def test_an_administrator_cannot_deactivate_themself(admin):
    auth.start_login_session(admin)
    db.session.commit()

    with pytest.raises(Forbidden):
        services.deactivate_account(admin.id, actor=admin)

    assert db.session.get(User, admin.id).is_enabled is True
    assert open_sessions(admin.id) == 1


def test_deactivating_another_account_ends_its_sessions_and_refuses_a_second_time(
    admin, practitioner
):
    auth.start_login_session(practitioner)
    db.session.commit()

    services.deactivate_account(practitioner.id, actor=admin)
    db.session.commit()

    assert open_sessions(practitioner.id) == 0
    with pytest.raises(Conflict):
        services.deactivate_account(practitioner.id, actor=admin)
    assert actions().count("user.deactivate") == 1


@pytest.fixture
def officer_with_token(make_user):
    from safety.fhir import tokens as api_tokens

    officer = make_user(role="compliance")
    issued = api_tokens.create_token(officer.email)
    db.session.commit()
    return officer, issued


def live_tokens(user_id: int) -> int:
    return count(ApiToken, ApiToken.user_id == user_id, ApiToken.revoked_dt.is_(None))


def test_deactivation_revokes_the_api_tokens_for_good(admin, officer_with_token):
    officer, _ = officer_with_token

    services.deactivate_account(officer.id, actor=admin)
    db.session.commit()
    auth.reactivate_user(officer.id, actor=admin)
    db.session.commit()

    assert live_tokens(officer.id) == 0
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "token.revoke"))
    assert event.actor_id == admin.id
    assert event.details["reason"] == "deactivated"


def test_leaving_the_compliance_role_revokes_the_api_tokens_for_good(
    admin, clinic, officer_with_token
):
    officer, _ = officer_with_token

    auth.change_role(officer.id, role="practitioner", clinic_id=clinic.id, actor=admin)
    db.session.commit()
    auth.change_role(officer.id, role="compliance", clinic_id=None, actor=admin)
    db.session.commit()

    assert live_tokens(officer.id) == 0
    assert actions().count("token.revoke") == 1


def test_an_unknown_account_is_not_found(admin):
    for user_id in (0, 999_999, 2**40):
        with pytest.raises(NotFound):
            auth.change_role(user_id, role="admin", clinic_id=None, actor=admin)


def test_unlocking_clears_the_lock_and_the_failure_count(admin, practitioner):
    db.session.execute(
        update(User)
        .where(User.id == practitioner.id)
        .values(locked_until_dt=utcnow() + timedelta(minutes=5), failed_login_count=3)
    )
    db.session.commit()

    auth.unlock_user(practitioner.id, actor=admin)
    db.session.commit()

    user = db.session.get(User, practitioner.id)
    assert (user.locked_until_dt, user.failed_login_count) == (None, 0)
    assert actions()[-1] == "user.unlock"
    assert auth.authenticate(user.email, "correct-horse-battery-staple").id == user.id


def test_an_expired_lock_needs_no_unlocking(admin, practitioner):
    db.session.execute(
        update(User)
        .where(User.id == practitioner.id)
        .values(locked_until_dt=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()

    with pytest.raises(Conflict, match="not locked"):
        auth.unlock_user(practitioner.id, actor=admin)


def test_a_new_account_with_an_unknown_clinic_is_refused_beside_the_clinic(admin):
    with pytest.raises(DomainError) as refused:
        services.invite_account(
            email="new@clinic.test",
            name="Newton Newcomer",
            role="practitioner",
            clinic_id=424242,
            actor=admin,
        )

    assert refused.value.errors["clinic"] == "Choose a clinic from the list."
    db.session.rollback()
    assert count(User, User.email == "new@clinic.test") == 0


# --- clinics -------------------------------------------------------------------------------


def settings(**changes):
    return {
        "name": "Lakeside Physio",
        "timezone": "America/Toronto",
        "workday_start_hour": 7,
        "workday_end_hour": 20,
        "duty_email": "desk@lake.example",
        "phone": "+1 416 555 0100",
        "country": "CA",
        "working_days": "12345",
        **changes,
    }


def test_a_clinic_is_created_with_every_setting_and_audited(admin):
    clinic = clinics.create_clinic(**settings(duty_email=" Desk@Lake.example "), actor=admin)
    db.session.commit()

    assert (clinic.timezone, clinic.workday_start_hour, clinic.duty_email) == (
        "America/Toronto",
        7,
        "desk@lake.example",
    )
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "clinic.create"))
    assert event.actor_id == admin.id and event.details["workday_end_hour"] == 20


@pytest.mark.parametrize(
    "zone", ["Europe", "europe/london", "localtime", "Factory", "", "../etc/passwd", "Mars/Base"]
)
def test_only_real_iana_zone_names_are_accepted(admin, zone):
    with pytest.raises(DomainError) as refused:
        clinics.create_clinic(**settings(timezone=zone), actor=admin)

    assert "timezone" in refused.value.errors
    assert count(Clinic) == 0


def test_spaces_around_a_zone_name_are_trimmed(admin):
    clinic = clinics.create_clinic(**settings(timezone=" Pacific/Chatham "), actor=admin)

    assert clinic.timezone == "Pacific/Chatham"


def test_updating_a_clinic_returns_and_audits_only_what_changed(admin, clinic):
    changes = clinics.update_clinic(
        clinic.id,
        **settings(
            name="Harbour Physio",
            timezone="Europe/London",
            workday_start_hour=9,
            duty_email=clinic.duty_email,
            phone=clinic.phone,
            country=clinic.country,
        ),
        actor=admin,
    )
    db.session.commit()

    assert changes == {"workday_start_hour": [8, 9], "workday_end_hour": [19, 20]}
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "clinic.update"))
    assert event.details == {"changes": changes}
    assert (
        clinics.update_clinic(
            clinic.id,
            **settings(
                name="Harbour Physio",
                timezone="Europe/London",
                workday_start_hour=9,
                duty_email=clinic.duty_email,
                phone=clinic.phone,
                country=clinic.country,
            ),
            actor=admin,
        )
        == {}
    )
    assert actions().count("clinic.update") == 1


def test_a_clinic_keeps_its_own_name_but_cannot_take_another_clinics(admin, clinic, make_clinic):
    make_clinic("Lakeside Physio")

    with pytest.raises(DomainError) as refused:
        clinics.update_clinic(clinic.id, **settings(), actor=admin)

    assert "already has this name" in refused.value.errors["name"]
    db.session.rollback()
    assert db.session.get(Clinic, clinic.id).name == "Harbour Physio"


def test_every_wrong_clinic_setting_is_reported_at_once(admin):
    with pytest.raises(DomainError) as refused:
        clinics.create_clinic(
            name="",
            timezone="Nowhere/Land",
            workday_start_hour=-1,
            workday_end_hour=None,
            duty_email="nope",
            phone="",
            country="XX",
            working_days="9",
            actor=admin,
        )

    assert set(refused.value.errors) == {
        "name",
        "timezone",
        "workday_start_hour",
        "workday_end_hour",
        "duty_email",
        "phone",
        "country",
        "working_days",
    }
    assert count(Clinic) == 0


# --- templates -----------------------------------------------------------------------------


def test_an_imported_risk_section_is_stored_as_a_draft_with_its_unmatched_statements(admin):
    draft = services.import_risk_section(text=LEAFLET, filename=None, data=None, actor=admin)
    db.session.commit()

    stored = db.session.get(TemplateVersion, draft.id)
    assert stored.published_dt is None and stored.created_by_id == admin.id
    assert stored.unmatched == ["Feeling tired afterwards."]
    assert stored.definition["kinds"] == ["bleeding", "bruising"]
    assert stored.title == "NeedleSafe default dry needling risk register (Side effects)"
    assert actions()[-1] == "template.create"


def test_an_imported_draft_keeps_the_documents_own_title_and_drops_its_lead_in(admin):
    leaflet = (
        "Harbour Physio: dry needling\n\nRisks\n"
        "Other risks associated with it include:\nBruising\nBleeding at a needle site\n"
    )
    draft = services.import_risk_section(text=leaflet, filename=None, data=None, actor=admin)
    db.session.commit()

    stored = db.session.get(TemplateVersion, draft.id)
    assert stored.title == "Harbour Physio: dry needling"
    assert stored.unmatched == []
    assert stored.definition["kinds"] == ["bleeding", "bruising"]


def test_a_document_without_a_risk_section_saves_nothing_and_says_why(admin):
    before = actions()

    with pytest.raises(DomainError) as refused:
        services.import_risk_section(
            text=None, filename="about.txt", data=b"About us\n\nWe love muscles.", actor=admin
        )

    assert refused.value.errors == {
        "file": "No risk section found: add a heading such as 'Risks', 'Side effects' or "
        "'Complications'."
    }
    db.session.rollback()
    assert count(TemplateVersion) == 0 and actions() == before


def test_a_draft_can_be_discarded_but_a_published_version_cannot(admin):
    draft = services.import_risk_section(text=LEAFLET, filename=None, data=None, actor=admin)
    published = risks.ensure_current_template()
    db.session.commit()
    draft_id, published_id = draft.id, published.id

    risks.discard_draft(draft_id, actor=admin)
    db.session.commit()
    with pytest.raises(Conflict, match="published"):
        risks.discard_draft(published_id, actor=admin)

    assert db.session.get(TemplateVersion, draft_id) is None
    assert db.session.get(TemplateVersion, published_id) is not None
    assert actions().count("template.discard") == 1


def test_the_database_refuses_to_delete_a_published_version_whatever_the_client(admin):
    published_id = risks.ensure_current_template().id
    db.session.commit()

    with pytest.raises(DatabaseError, match="immutable"):
        db.session.execute(delete(TemplateVersion).where(TemplateVersion.id == published_id))
    db.session.rollback()

    assert db.session.get(TemplateVersion, published_id) is not None


def test_a_new_draft_does_not_inherit_the_history_of_a_discarded_one(admin):
    first = services.import_risk_section(text=LEAFLET, filename=None, data=None, actor=admin)
    db.session.commit()
    risks.discard_draft(first.id, actor=admin)
    db.session.commit()

    second = services.import_risk_section(text=LEAFLET, filename=None, data=None, actor=admin)
    db.session.commit()

    history = services.history(object_type="template_versions", object_id=second.id)
    assert [row.action for row in history] == ["template.create"]


def test_a_discarded_drafts_version_number_is_never_given_again(admin):
    first = services.import_risk_section(text=LEAFLET, filename=None, data=None, actor=admin)
    db.session.commit()
    discarded_version = first.version
    risks.discard_draft(first.id, actor=admin)
    db.session.commit()

    second = services.import_risk_section(text=LEAFLET, filename=None, data=None, actor=admin)
    db.session.commit()

    assert second.version == discarded_version + 1


# --- history -------------------------------------------------------------------------------


def test_the_activity_history_is_newest_first_by_the_times_it_shows(admin, practitioner):
    """Events carry the time they happened, which need not be the order they were appended
    (an import or the demo data records the past); the log reads newest first by that time."""
    now = utcnow()
    clinics.create_clinic(**settings(), actor=admin, now=now)
    db.session.commit()
    auth.change_role(
        practitioner.id, role="compliance", clinic_id=None, actor=admin, now=now - timedelta(days=1)
    )
    db.session.commit()

    rows = services.history()

    times = [r.when for r in rows]
    assert times == sorted(times, reverse=True)
    assert rows[0].action == "clinic.create" and rows[-1].action == "user.role_change"


def test_the_activity_history_names_the_administrator_who_acted_newest_first(
    admin, make_user, practitioner
):
    second = make_user("admin", name="Bea Backup")
    auth.change_role(practitioner.id, role="compliance", clinic_id=None, actor=second)
    clinics.create_clinic(**settings(), actor=admin)
    db.session.commit()

    rows = services.history()

    assert [(r.actor, r.action) for r in rows[:2]] == [
        ("Alan Admin", "clinic.create"),
        ("Bea Backup", "user.role_change"),
    ]
    assert rows[1].subject == db.session.get(User, practitioner.id).email
    assert rows[1].url_args == ("admin.user", {"user_id": practitioner.id})
    assert all(r.action.split(".")[0] in {"user", "clinic", "template"} for r in rows)
