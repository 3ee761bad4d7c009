"""Administration in the browser, through the routes with CSRF on: users, clinics and template
versions, for administrators only. Every refused input is explained beside its field and saves
nothing; every change is in the audit trail under the administrator who made it."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
from conftest import CLEAN_PHASES, csrf_token, login, post_form
from sqlalchemy import func, select, update

from safety.audit.models import AuditEvent
from safety.auth.models import Invitation, LoginSession, User
from safety.checklists import services as checklists
from safety.checklists.models import TreatmentSession
from safety.clinics.models import Clinic
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup.models import DevMessage
from safety.risks import services as risks
from safety.risks.models import TemplateVersion

ROLES = ("anonymous", "practitioner", "compliance", "admin")
NEW_PASSWORD = "quartz-meadow-lantern-9"

RISK_LEAFLET = """# Dry needling at our clinic

Dry needling eases tight muscles. Most people feel better within days.

## Risks
- Bleeding at the needle sites.
- Bruising around the sites.
- Soreness after treatment, usually settling within 72 hours.
- Infection if needles are not sterile.
- Rarely, needling near the chest can cause a collapsed lung (pneumothorax).
- Feeling tired after treatment.

## Contact
Call the front desk.
"""


# --- helpers -------------------------------------------------------------------------------


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def error_beside(response, field: str) -> str:
    """Return the message shown beside a field (the element with id FIELD-error)."""
    match = re.search(
        rf'<p class="error" id="{re.escape(field)}-error">(.*?)</p>',
        response.get_data(as_text=True),
        re.S,
    )
    assert match, f"no message beside {field!r}"
    return html.unescape(match.group(1))


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
    )


def reload(model, object_id):
    """Read a row as it is in the database now."""
    return db.session.get(model, object_id, populate_existing=True)


def assert_sent_to_login(response) -> None:
    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/auth/login"


def is_signed_in(client, page: str) -> bool:
    """Open a page: a signed-in browser sees it, a signed-out one is sent to sign in."""
    response = client.get(page)
    if response.status_code == 200:
        return True
    assert_sent_to_login(response)
    return False


def signed_in(app, user):
    client = app.test_client()
    response = login(client, user)
    assert response.status_code == 302, "could not sign in"
    return client


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def clinic(make_clinic):
    return make_clinic("Harbour Physio", timezone="Europe/London")


@pytest.fixture
def admin(make_user):
    return make_user("admin", email="alan@clinic.test", name="Alan Admin")


@pytest.fixture
def practitioner(make_user, clinic):
    return make_user("practitioner", clinic=clinic, email="pia@clinic.test", name="Pia Physio")


@pytest.fixture
def admin_client(app, admin):
    return signed_in(app, admin)


# --- who may open what ---------------------------------------------------------------------

GET_PAGES = [
    "/admin/",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/{target}",
    "/admin/clinics",
    "/admin/clinics/new",
    "/admin/clinics/{clinic}",
    "/admin/templates",
    "/admin/templates/import",
    "/admin/templates/{draft}",
    "/admin/activity",
]

POST_ACTIONS = [
    "/admin/users/new",
    "/admin/users/{target}/deactivate",
    "/admin/users/{target}/reactivate",
    "/admin/users/{target}/unlock",
    "/admin/users/{target}/invite",
    "/admin/users/{target}/two-step-reset",
    "/admin/users/{target}/role",
    "/admin/clinics/new",
    "/admin/clinics/{clinic}",
    "/admin/templates/import",
    "/admin/templates/{draft}/publish",
    "/admin/templates/{draft}/discard",
]


def build_world(make_clinic, make_user):
    """Who signs in, by role (their emails), and the ids the pages and actions name."""
    clinic = make_clinic("Harbour Physio", timezone="Europe/London")
    admin = make_user("admin", email="alan@clinic.test", name="Alan Admin")
    users = {
        "practitioner": make_user("practitioner", clinic=clinic),
        "compliance": make_user("compliance"),
        "admin": admin,
    }
    target = make_user("practitioner", clinic=clinic, name="Terry Target")
    draft, _ = risks.create_draft_from_text(RISK_LEAFLET, actor=None)
    db.session.commit()
    ids = {"target": target.id, "clinic": clinic.id, "draft": draft.id}
    return {role: user.email for role, user in users.items()}, ids


#: Built once per module; each test that asks for `world` starts from it.
pytestmark = pytest.mark.world.with_args(build_world)


def sign_in_as(app, world, role):
    emails, _ = world
    if role == "anonymous":
        return app.test_client()
    return signed_in(app, SimpleNamespace(email=emails[role]))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", GET_PAGES)
def test_each_administration_page_opens_for_administrators_only(app, world, page, role):
    client = sign_in_as(app, world, role)

    response = client.get(page.format(**world[1]))

    if role == "anonymous":
        assert_sent_to_login(response)
    elif role == "admin" and page == "/admin/":
        assert response.status_code == 302
        assert urlparse(response.headers["Location"]).path == "/admin/users"
    elif role == "admin":
        assert response.status_code == 200
        assert 'aria-label="Administration"' in response.get_data(as_text=True)
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("role", ["anonymous", "practitioner", "compliance"])
@pytest.mark.parametrize("action", POST_ACTIONS)
def test_no_one_but_an_administrator_can_change_anything(app, world, action, role):
    client = sign_in_as(app, world, role)
    before = count(AuditEvent)
    token = csrf_token(client)

    response = client.post(
        action.format(**world[1]),
        data={
            "csrf_token": token,
            "role": "admin",
            "clinic": "",
            "name": "Sneaky",
            "email": "sneaky@clinic.test",
            "password": NEW_PASSWORD,
            "timezone": "UTC",
            "workday_start_hour": "8",
            "workday_end_hour": "18",
            "text": RISK_LEAFLET,
        },
    )

    if role == "anonymous":
        assert_sent_to_login(response)
    else:
        assert response.status_code == 403
    assert count(AuditEvent) == before
    assert reload(User, world[1]["target"]).role == "practitioner"
    assert reload(TemplateVersion, world[1]["draft"]).published_dt is None


@pytest.mark.parametrize(
    "page",
    [
        "/admin/users/999999",
        "/admin/users/1099511627776",
        "/admin/clinics/999999",
        "/admin/clinics/1099511627776",
        "/admin/templates/999999",
        "/admin/templates/1099511627776",
    ],
)
def test_an_unknown_user_clinic_or_template_is_not_found(admin_client, page):
    assert admin_client.get(page).status_code == 404


@pytest.mark.parametrize(
    "action",
    [
        "/admin/users/999999/deactivate",
        "/admin/users/999999/reactivate",
        "/admin/users/999999/unlock",
        "/admin/users/999999/role",
        "/admin/clinics/999999",
        "/admin/templates/999999/publish",
        "/admin/templates/99999999999999999999/publish",
        "/admin/templates/1099511627776/discard",
    ],
)
def test_acting_on_an_unknown_user_clinic_or_template_is_not_found_and_records_nothing(
    admin_client, action
):
    before = count(AuditEvent)

    response = post_form(admin_client, action, {"role": "admin", "clinic": ""})

    assert response.status_code == 404
    assert count(AuditEvent) == before


# --- users ---------------------------------------------------------------------------------


def test_the_user_list_shows_each_role_clinic_and_whether_active_or_locked(
    admin_client, make_user, clinic, practitioner
):
    ids = {
        "active": practitioner.id,
        "locked": make_user("compliance", name="Lou Locked").id,
        "gone": make_user("practitioner", clinic=clinic, name="Dee Deactivated").id,
    }
    db.session.execute(
        update(User)
        .where(User.id == ids["locked"])
        .values(locked_until_dt=utcnow() + timedelta(minutes=10))
    )
    db.session.execute(update(User).where(User.id == ids["gone"]).values(is_enabled=False))
    db.session.commit()

    page = admin_client.get("/admin/users")

    assert page.status_code == 200
    rows = {
        m.group(1): re.sub(r"<[^>]+>|\s+", " ", m.group(2))
        for m in re.finditer(r'<tr id="user-(\d+)">(.*?)</tr>', page.get_data(as_text=True), re.S)
    }
    active, locked, gone = (rows[str(ids[k])] for k in ("active", "locked", "gone"))
    assert "Practitioner" in active and "Harbour Physio" in active
    assert "Active" in active and "Locked" not in active
    assert "Compliance officer" in locked and "Locked" in locked and "Active" in locked
    assert "Deactivated" in gone and "Active" not in gone


def invitation_link(email: str) -> str:
    """The link in the invitation e-mail the development outbox kept for this address."""
    body = db.session.scalars(
        select(DevMessage.body).where(DevMessage.recipient == email).order_by(DevMessage.id.desc())
    ).first()
    return "/auth/invitation/" + re.search(r"/auth/invitation/([A-Za-z0-9_-]+)", body).group(1)


def test_an_administrator_invites_a_practitioner_who_chooses_a_password_and_signs_in(
    app, admin_client, clinic
):
    response = post_form(
        admin_client,
        "/admin/users/new",
        {
            "email": " Nina@Clinic.test ",
            "name": "Nina Needle",
            "role": "practitioner",
            "clinic": str(clinic.id),
        },
    )

    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "nina@clinic.test"))
    assert (user.name, user.role, user.clinic_id, user.is_enabled) == (
        "Nina Needle",
        "practitioner",
        clinic.id,
        True,
    )
    assert urlparse(response.headers["Location"]).path == f"/admin/users/{user.id}"
    assert "Invitation sent to nina@clinic.test" in text_of(
        admin_client.get(response.headers["Location"])
    )
    [created] = [e for e in events("user.create") if e.object_id == str(user.id)]
    assert created.actor_id == db.session.scalar(select(User.id).where(User.role == "admin"))
    assert len(events("user.invite")) == 1
    newcomer = app.test_client()
    link = invitation_link("nina@clinic.test")
    assert "Welcome, Nina Needle" in text_of(newcomer.get(link))
    chosen = post_form(newcomer, link, {"password": NEW_PASSWORD})
    assert urlparse(chosen.headers["Location"]).path == "/auth/login"
    assert login(newcomer, user, NEW_PASSWORD).status_code == 302
    assert len(events("user.invitation_accepted")) == 1


def test_the_users_list_says_who_is_invited_and_whose_invitation_expired(app, admin_client, clinic):
    """An invited person who has not chosen a password read "Active" on the list, and still
    did after their link expired."""
    post_form(admin_client, "/admin/users/new", {**VALID_USER, "clinic": str(clinic.id)})
    user_id = db.session.scalar(select(User.id).where(User.email == VALID_USER["email"]))

    def state() -> str:
        page = admin_client.get("/admin/users").get_data(as_text=True)
        row = re.search(rf'<tr id="user-{user_id}">(.*?)</tr>', page, re.S).group(1)
        return re.sub(r"<[^>]+>|\s+", " ", row)

    assert "Invited, no password yet" in state() and "Active" not in state()
    db.session.execute(update(Invitation).values(expires_dt=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert "Invitation expired" in state()
    post_form(admin_client, f"/admin/users/{user_id}/invite")
    link = invitation_link(VALID_USER["email"])
    assert post_form(app.test_client(), link, {"password": NEW_PASSWORD}).status_code == 302
    assert "Active" in state() and "Invit" not in state()


def test_an_invited_account_cannot_be_signed_in_to_before_its_link_is_used(
    app, admin_client, clinic
):
    post_form(admin_client, "/admin/users/new", {**VALID_USER, "clinic": str(clinic.id)})
    user = db.session.scalar(select(User).where(User.email == VALID_USER["email"]))

    for guess in (NEW_PASSWORD, "needlesafe-demo"):
        assert login(app.test_client(), user, guess).status_code == 401


def test_an_invitation_link_works_once(app, admin_client, clinic):
    post_form(admin_client, "/admin/users/new", {**VALID_USER, "clinic": str(clinic.id)})
    link = invitation_link(VALID_USER["email"])
    first = app.test_client()
    assert post_form(first, link, {"password": NEW_PASSWORD}).status_code == 302

    second = app.test_client()
    again = second.get(link)
    reuse = post_form(second, link, {"password": "another-lantern-orchard-7"})

    assert again.status_code == reuse.status_code == 404
    assert "expired or was already used" in text_of(again)
    user = db.session.scalar(select(User).where(User.email == VALID_USER["email"]))
    assert login(app.test_client(), user, NEW_PASSWORD).status_code == 302


def test_an_invitation_link_expires_after_its_hours(app, admin_client, clinic):
    post_form(admin_client, "/admin/users/new", {**VALID_USER, "clinic": str(clinic.id)})
    link = invitation_link(VALID_USER["email"])
    db.session.execute(update(Invitation).values(expires_dt=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    newcomer = app.test_client()

    response = post_form(newcomer, link, {"password": NEW_PASSWORD})

    assert response.status_code == 404
    assert "expired or was already used" in text_of(response)
    assert len(events("user.invitation_accepted")) == 0


def test_a_new_invitation_ends_the_earlier_link(app, admin_client, clinic):
    post_form(admin_client, "/admin/users/new", {**VALID_USER, "clinic": str(clinic.id)})
    user_id = db.session.scalar(select(User.id).where(User.email == VALID_USER["email"]))
    old = invitation_link(VALID_USER["email"])

    response = post_form(admin_client, f"/admin/users/{user_id}/invite")

    assert response.status_code == 302
    new = invitation_link(VALID_USER["email"])
    assert new != old
    assert app.test_client().get(old).status_code == 404
    assert app.test_client().get(new).status_code == 200


def test_an_invited_person_must_choose_a_strong_password(app, admin_client, clinic):
    post_form(admin_client, "/admin/users/new", {**VALID_USER, "clinic": str(clinic.id)})
    link = invitation_link(VALID_USER["email"])
    newcomer = app.test_client()

    response = post_form(newcomer, link, {"password": "password1234"})

    assert response.status_code == 400
    assert "too common" in error_beside(response, "password")
    assert newcomer.get(link).status_code == 200  # the link still works


def test_a_compliance_officer_is_created_without_a_clinic_even_if_one_was_chosen(
    admin_client, clinic
):
    post_form(
        admin_client,
        "/admin/users/new",
        {
            "email": "cora@clinic.test",
            "name": "Cora Compliance",
            "role": "compliance",
            "clinic": str(clinic.id),
        },
    )

    user = db.session.scalar(select(User).where(User.email == "cora@clinic.test"))
    assert (user.role, user.clinic_id) == ("compliance", None)


def test_the_invite_form_says_a_practitioner_can_work_at_more_clinics_as_the_user_page_does(
    admin_client,
):
    """It said "Practitioners work at one clinic" while the user page adds more (user review)."""
    page = admin_client.get("/admin/users/new").get_data(as_text=True)

    assert "more can be added on their page once they are invited" in page
    assert "Practitioners work at one clinic." not in page


VALID_USER = {
    "email": "new@clinic.test",
    "name": "Newton Newcomer",
    "role": "practitioner",
}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "Enter one email address"),
        # Two recipients to a mail server, and a header of its own: the invitation's link
        # once went to both addresses.
        ({"email": "new@clinic.test, them@evil.test"}, "email", "Enter one email address"),
        ({"email": "new@clinic.test\r\nBcc: them@evil.test"}, "email", "Enter one email"),
        ({"email": "pia@clinic.test"}, "email", "already exists"),
        ({"email": "x" * 300 + "@clinic.test"}, "email", "at most 254"),
        ({"name": "   "}, "name", "printed name"),
        ({"clinic": ""}, "clinic", "belongs to a clinic"),
        ({"clinic": "999999"}, "clinic", "Choose a clinic from the list"),
        ({"clinic": "abc"}, "clinic", "Choose a clinic from the list"),
        ({"clinic": "99999999999999999999"}, "clinic", "Choose a clinic from the list"),
        ({"role": "superuser"}, "role", "Choose a role"),
    ],
)
def test_a_refused_new_account_is_explained_beside_its_field_and_nothing_is_saved(
    admin_client, clinic, practitioner, changes, field, message
):
    users, audit_events = count(User), count(AuditEvent)
    data = {**VALID_USER, "clinic": str(clinic.id), **changes}

    response = post_form(admin_client, "/admin/users/new", data)

    assert response.status_code == 400
    assert message in error_beside(response, field)
    assert (count(User), count(AuditEvent)) == (users, audit_events)
    assert count(DevMessage) == 0


def test_deactivating_a_user_signs_their_open_browser_out_at_once(app, admin_client, practitioner):
    their_browser = signed_in(app, practitioner)
    assert their_browser.get("/sessions/").status_code == 200

    response = post_form(admin_client, f"/admin/users/{practitioner.id}/deactivate")

    assert response.status_code == 302
    assert_sent_to_login(their_browser.get("/sessions/"))
    assert reload(User, practitioner.id).is_enabled is False
    db.session.expire_all()
    reasons = db.session.scalars(
        select(LoginSession.end_reason).where(LoginSession.user_id == practitioner.id)
    ).all()
    assert reasons == ["deactivated"]
    [event] = events("user.deactivate")
    assert event.object_id == str(practitioner.id)
    assert event.actor_id == db.session.scalar(select(User.id).where(User.role == "admin"))
    assert login(app.test_client(), practitioner).status_code == 401


def test_an_administrator_cannot_deactivate_their_own_account(admin_client, admin):
    before = count(AuditEvent)

    response = post_form(admin_client, f"/admin/users/{admin.id}/deactivate")

    assert response.status_code == 403
    assert "cannot deactivate your own account" in error_beside(response, "deactivate")
    assert reload(User, admin.id).is_enabled is True
    assert count(AuditEvent) == before
    assert is_signed_in(admin_client, "/admin/users")


def test_an_administrators_own_page_offers_no_deactivation_and_says_why(
    admin_client, admin, practitioner
):
    own = admin_client.get(f"/admin/users/{admin.id}").get_data(as_text=True)
    theirs = admin_client.get(f"/admin/users/{practitioner.id}").get_data(as_text=True)

    assert "This is your own account." in own and "This is your own account." not in theirs
    assert "You cannot deactivate your own account." in own
    assert f"/admin/users/{admin.id}/deactivate" not in own
    assert f"/admin/users/{practitioner.id}/deactivate" in theirs
    # Only a practitioner's page lists the clinics they work at.
    assert 'id="clinics-heading"' in theirs and 'id="clinics-heading"' not in own


def test_deactivating_an_account_twice_says_it_is_already_deactivated(admin_client, practitioner):
    post_form(admin_client, f"/admin/users/{practitioner.id}/deactivate")
    before = count(AuditEvent)

    response = post_form(admin_client, f"/admin/users/{practitioner.id}/deactivate")

    assert response.status_code == 409
    assert "already deactivated" in error_beside(response, "deactivate")
    assert count(AuditEvent) == before


def test_a_reactivated_user_can_sign_in_again_and_it_is_audited(app, admin_client, practitioner):
    post_form(admin_client, f"/admin/users/{practitioner.id}/deactivate")

    response = post_form(admin_client, f"/admin/users/{practitioner.id}/reactivate")

    assert response.status_code == 302
    assert reload(User, practitioner.id).is_enabled is True
    assert len(events("user.reactivate")) == 1
    assert login(app.test_client(), practitioner).status_code == 302


def test_reactivating_an_active_account_changes_nothing(admin_client, practitioner):
    before = count(AuditEvent)

    response = post_form(admin_client, f"/admin/users/{practitioner.id}/reactivate")

    assert response.status_code == 409
    assert "already active" in error_beside(response, "reactivate")
    assert count(AuditEvent) == before


def test_changing_a_role_signs_the_user_out_so_the_new_role_applies_at_once(
    app, admin_client, practitioner
):
    their_browser = signed_in(app, practitioner)
    assert their_browser.get("/sessions/").status_code == 200

    response = post_form(
        admin_client, f"/admin/users/{practitioner.id}/role", {"role": "compliance", "clinic": ""}
    )

    assert response.status_code == 302
    assert "Pia Physio is now a compliance officer." in text_of(
        admin_client.get(response.headers["Location"])
    )
    assert_sent_to_login(their_browser.get("/sessions/"))
    user = reload(User, practitioner.id)
    assert (user.role, user.clinic_id) == ("compliance", None)
    [event] = events("user.role_change")
    assert event.details["old"] == "practitioner"
    assert event.details["new"] == "compliance"
    assert event.details["sessions_ended"] == 1
    fresh = signed_in(app, user)
    assert fresh.get("/review/records").status_code == 200
    assert fresh.get("/sessions/").status_code == 403


def test_a_compliance_officer_made_practitioner_joins_the_chosen_clinic(
    admin_client, make_user, clinic
):
    officer = make_user("compliance")

    response = post_form(
        admin_client,
        f"/admin/users/{officer.id}/role",
        {"role": "practitioner", "clinic": str(clinic.id)},
    )

    assert response.status_code == 302
    user = reload(User, officer.id)
    assert (user.role, user.clinic_id) == ("practitioner", clinic.id)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"role": "practitioner", "clinic": ""}, "clinic", "belongs to a clinic"),
        ({"role": "practitioner", "clinic": "999999"}, "clinic", "Choose a clinic"),
        ({"role": "practitioner", "clinic": "x"}, "clinic", "Choose a clinic"),
        ({"role": "owner", "clinic": ""}, "role", "Choose a role"),
        ({"role": "compliance", "clinic": ""}, "role", "Nothing to change"),
    ],
)
def test_a_refused_role_change_is_explained_beside_its_field_and_nothing_changes(
    app, admin_client, make_user, data, field, message
):
    officer = make_user("compliance")
    their_browser = signed_in(app, officer)
    before = count(AuditEvent)

    response = post_form(admin_client, f"/admin/users/{officer.id}/role", data)

    assert response.status_code == 400
    assert message in error_beside(response, field)
    assert reload(User, officer.id).role == "compliance"
    assert count(AuditEvent) == before
    assert their_browser.get("/review/records").status_code == 200


def test_an_administrator_cannot_demote_themself(admin_client, admin):
    before = count(AuditEvent)

    response = post_form(
        admin_client, f"/admin/users/{admin.id}/role", {"role": "compliance", "clinic": ""}
    )

    assert response.status_code == 400
    assert "cannot remove your own administrator role" in error_beside(response, "role")
    assert reload(User, admin.id).role == "admin"
    assert count(AuditEvent) == before
    assert is_signed_in(admin_client, "/admin/users")


def test_another_administrator_can_change_an_administrators_role(
    app, admin_client, make_user, admin
):
    second = make_user("admin", name="Bea Backup")
    second_client = signed_in(app, second)

    response = post_form(
        second_client, f"/admin/users/{admin.id}/role", {"role": "compliance", "clinic": ""}
    )

    assert response.status_code == 302
    assert reload(User, admin.id).role == "compliance"
    assert_sent_to_login(admin_client.get("/admin/users"))


def test_unlocking_a_signing_lock_lifts_it_at_once_and_is_audited(admin_client, practitioner):
    db.session.execute(
        update(User)
        .where(User.id == practitioner.id)
        .values(locked_until_dt=utcnow() + timedelta(minutes=15), failed_login_count=0)
    )
    db.session.commit()
    assert "Unlock account" in text_of(admin_client.get(f"/admin/users/{practitioner.id}"))

    response = post_form(admin_client, f"/admin/users/{practitioner.id}/unlock")

    assert response.status_code == 302
    user = reload(User, practitioner.id)
    assert (user.locked_until_dt, user.failed_login_count) == (None, 0)
    [event] = events("user.unlock")
    assert event.object_id == str(practitioner.id)


def test_a_throttled_sign_in_is_shown_to_administrators_and_unlocking_lifts_it(
    app, admin_client, practitioner
):
    stranger = app.test_client()
    address = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        stranger.post(
            "/auth/login",
            data={
                "email": practitioner.email,
                "password": "guess-guess",
                "csrf_token": csrf_token(stranger),
            },
            environ_overrides=address,
        )
    assert login(stranger, practitioner, environ_overrides=address).status_code == 401
    page = text_of(admin_client.get(f"/admin/users/{practitioner.id}"))
    assert "Address 203.0.113.9" in page
    assert "Unlock account" in page
    assert len(events("auth.throttled")) == 1

    response = post_form(admin_client, f"/admin/users/{practitioner.id}/unlock")

    assert response.status_code == 302
    assert login(stranger, practitioner, environ_overrides=address).status_code == 302
    [event] = events("user.unlock")
    assert event.details["throttles"] == 1


def test_unlocking_an_account_that_is_not_locked_changes_nothing(admin_client, practitioner):
    before = count(AuditEvent)

    response = post_form(admin_client, f"/admin/users/{practitioner.id}/unlock")

    assert response.status_code == 409
    assert "not locked" in error_beside(response, "unlock")
    assert count(AuditEvent) == before


# --- clinics -------------------------------------------------------------------------------

VALID_CLINIC = {
    "name": "Lakeside Physio",
    "timezone": "America/Toronto",
    "timezone_other": "",
    "workday_start_hour": "7",
    "workday_end_hour": "20",
    "duty_email": "Alerts@Lakeside.example",
    "phone": "+1 416 555 0100",
    "country": "CA",
    "working_days": ["1", "2", "3", "4", "5", "6"],
}


def test_an_administrator_creates_a_clinic_with_its_zone_hours_and_duty_email(admin_client):
    response = post_form(admin_client, "/admin/clinics/new", VALID_CLINIC)

    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/admin/clinics"
    clinic = db.session.scalar(select(Clinic).where(Clinic.name == "Lakeside Physio"))
    assert (
        clinic.timezone,
        clinic.workday_start_hour,
        clinic.workday_end_hour,
        clinic.duty_email,
        clinic.phone,
        clinic.country,
        clinic.working_days,
    ) == ("America/Toronto", 7, 20, "alerts@lakeside.example", "+1 416 555 0100", "CA", "123456")
    [event] = events("clinic.create")
    assert event.details["timezone"] == "America/Toronto"
    listing = text_of(admin_client.get("/admin/clinics"))
    assert "Lakeside Physio" in listing and "07:00–20:00" in listing


def test_a_typed_time_zone_outside_the_common_list_is_accepted(admin_client):
    data = {**VALID_CLINIC, "timezone": "other", "timezone_other": " Pacific/Chatham "}

    response = post_form(admin_client, "/admin/clinics/new", data)

    assert response.status_code == 302
    assert db.session.scalar(select(Clinic.timezone).where(Clinic.name == "Lakeside Physio")) == (
        "Pacific/Chatham"
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "  "}, "name", "Enter the clinic's name"),
        ({"name": "Harbour Physio"}, "name", "already has this name"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"timezone": "other", "timezone_other": "Mars/Olympus_Mons"}, "timezone", "not a time"),
        ({"timezone": "other", "timezone_other": "europe/london"}, "timezone", "not a time"),
        ({"timezone": "other", "timezone_other": "../../etc/passwd"}, "timezone", "not a time"),
        ({"timezone": "other", "timezone_other": ""}, "timezone", "Choose the clinic's time"),
        ({"timezone": "Nowhere/Special"}, "timezone", "not a time zone"),
        ({"timezone_other": "z" * 65}, "timezone_other", "at most 64"),
        # A zone in the list and another typed below: the typed one once won silently.
        ({"timezone_other": "Europe/London"}, "timezone_other", "clear this box to use the list"),
        ({"workday_start_hour": "24"}, "workday_start_hour", "from 0 to 23"),
        ({"workday_start_hour": "seven"}, "workday_start_hour", "from 0 to 23"),
        ({"workday_end_hour": ""}, "workday_end_hour", "from 0 to 23"),
        ({"workday_start_hour": "18", "workday_end_hour": "9"}, "workday_end_hour", "end after"),
        ({"workday_start_hour": "9", "workday_end_hour": "9"}, "workday_end_hour", "end after"),
        ({"duty_email": "alerts at lakeside"}, "duty_email", "Enter an email address"),
        ({"duty_email": "a@lakeside.example,b@x.test"}, "duty_email", "Enter an email address"),
        ({"duty_email": ""}, "duty_email", "Enter the duty address"),
        ({"phone": ""}, "phone", "Enter the clinic's phone number"),
        ({"phone": "call us"}, "phone", "Enter a phone number"),
        ({"duty_phone": "ring the lead"}, "duty_phone", "Enter a mobile number"),
        ({"duty_phone": "9" * 33}, "duty_phone", "at most 32"),
        ({"country": ""}, "country", "Choose the clinic's country"),
        ({"country": "XX"}, "country", "Choose the clinic's country"),
        ({"working_days": []}, "working_days", "Choose at least one working day"),
        ({"working_days": ["8"]}, "working_days", "Choose at least one working day"),
    ],
)
def test_a_refused_clinic_is_explained_beside_its_field_and_nothing_is_saved(
    admin_client, clinic, changes, field, message
):
    clinics, audit_events = count(Clinic), count(AuditEvent)

    response = post_form(admin_client, "/admin/clinics/new", {**VALID_CLINIC, **changes})

    assert response.status_code == 400
    assert message in error_beside(response, field)
    assert (count(Clinic), count(AuditEvent)) == (clinics, audit_events)


def test_editing_a_clinic_saves_the_changes_and_audits_old_and_new_values(admin_client, clinic):
    response = post_form(
        admin_client,
        f"/admin/clinics/{clinic.id}",
        {**VALID_CLINIC, "name": "Harbour Physio", "duty_email": clinic.duty_email},
    )

    assert response.status_code == 302
    saved_clinic = reload(Clinic, clinic.id)
    assert (saved_clinic.timezone, saved_clinic.workday_start_hour) == ("America/Toronto", 7)
    [event] = events("clinic.update")
    assert event.details["changes"] == {
        "timezone": ["Europe/London", "America/Toronto"],
        "workday_start_hour": [8, 7],
        "workday_end_hour": [19, 20],
        "phone": ["+44 20 7946 0000", "+1 416 555 0100"],
        "country": ["GB", "CA"],
        "working_days": ["12345", "123456"],
    }
    history = text_of(admin_client.get(f"/admin/clinics/{clinic.id}"))
    assert "time zone Europe/London → America/Toronto" in history
    assert "Alan Admin" in history


def test_an_on_call_mobile_is_saved_audited_and_removed_by_emptying_it(app, admin_client, clinic):
    edit = {**VALID_CLINIC, "name": "Harbour Physio", "duty_email": clinic.duty_email}

    post_form(
        admin_client, f"/admin/clinics/{clinic.id}", {**edit, "duty_phone": " +44 7700 900456 "}
    )

    assert reload(Clinic, clinic.id).duty_phone == "+44 7700 900456"
    assert events("clinic.update")[-1].details["changes"]["duty_phone"] == [None, "+44 7700 900456"]
    page = admin_client.get(f"/admin/clinics/{clinic.id}")
    assert re.search(r'id="duty_phone"[^>]* value="\+44 7700 900456"', page.get_data(as_text=True))
    assert "on-call mobile none → +44 7700 900456" in text_of(page)

    post_form(admin_client, f"/admin/clinics/{clinic.id}", {**edit, "duty_phone": ""})

    assert reload(Clinic, clinic.id).duty_phone is None


def test_the_clinic_form_says_when_no_sms_gateway_can_send_the_on_call_texts(
    app, admin_client, clinic
):
    app.config.update(REMINDER_BACKEND="smtp", SMS_GATEWAY_URL=None)
    assert "No SMS gateway is set up" in text_of(admin_client.get(f"/admin/clinics/{clinic.id}"))

    app.config.update(SMS_GATEWAY_URL="https://sms.example/messages")
    assert "No SMS gateway" not in text_of(admin_client.get(f"/admin/clinics/{clinic.id}"))


def test_saving_a_clinic_without_changes_records_nothing(admin_client, clinic):
    before = count(AuditEvent)
    data = {
        "name": "Harbour Physio",
        "timezone": "Europe/London",
        "workday_start_hour": "8",
        "workday_end_hour": "19",
        "duty_email": clinic.duty_email,
        "phone": clinic.phone,
        "country": clinic.country,
        "working_days": list(clinic.working_days),
    }

    response = post_form(admin_client, f"/admin/clinics/{clinic.id}", data)

    assert response.status_code == 302
    assert count(AuditEvent) == before
    assert "Nothing changed." in text_of(admin_client.get("/admin/clinics"))


def test_a_refused_clinic_edit_keeps_the_saved_settings(admin_client, clinic, make_clinic):
    make_clinic("Lakeside Physio")
    before = count(AuditEvent)

    response = post_form(
        admin_client,
        f"/admin/clinics/{clinic.id}",
        {**VALID_CLINIC, "workday_start_hour": "20", "workday_end_hour": "7"},
    )

    assert response.status_code == 400
    assert "already has this name" in error_beside(response, "name")
    assert "end after" in error_beside(response, "workday_end_hour")
    saved_clinic = reload(Clinic, clinic.id)
    assert (saved_clinic.name, saved_clinic.workday_start_hour) == ("Harbour Physio", 8)
    assert count(AuditEvent) == before


def test_a_clinic_in_an_uncommon_zone_opens_with_that_zone_typed_in(admin_client, make_clinic):
    clinic = make_clinic("Chatham Physio", timezone="Pacific/Chatham")

    page = admin_client.get(f"/admin/clinics/{clinic.id}").get_data(as_text=True)

    assert '<option value="other" selected>' in page
    assert 'name="timezone_other" type="text" value="Pacific/Chatham"' in page


# --- templates -----------------------------------------------------------------------------


def upload(name: str, content: bytes, **fields):
    return {"file": (io.BytesIO(content), name), **fields}


def test_a_pasted_risk_section_becomes_a_draft_to_review_with_its_provenance(admin_client):
    response = post_form(admin_client, "/admin/templates/import", {"text": RISK_LEAFLET})

    assert response.status_code == 302
    draft = db.session.scalar(select(TemplateVersion).where(TemplateVersion.published_dt.is_(None)))
    assert draft is not None and draft.source_text == RISK_LEAFLET
    assert urlparse(response.headers["Location"]).path == f"/admin/templates/{draft.id}"
    [event] = events("template.create")
    assert event.actor_id is not None

    page = admin_client.get(f"/admin/templates/{draft.id}")
    body = text_of(page)
    for phase in ("Sign in", "Time out", "Sign out"):
        assert f">{phase}</h2>" in body
    bleeding_row = re.search(r'<tr id="item-signout.bleeding">(.*?)</tr>', body, re.S).group(1)
    assert "Bleeding at the needle sites." in bleeding_row
    precaution = re.search(r'<tr id="item-signin.lung_precaution">(.*?)</tr>', body, re.S)
    assert "collapsed lung (pneumothorax)" in precaution.group(1)
    unmatched = re.search(r'<ul class="unmatched">(.*?)</ul>', body, re.S).group(1)
    assert "Feeling tired after treatment." in unmatched
    assert "Call the front desk" not in body.split("Imported text")[0]
    assert "Publish version" in body and "Discard draft" in body


def test_an_uploaded_markdown_file_becomes_a_draft(admin_client):
    response = post_form(
        admin_client,
        "/admin/templates/import",
        upload("leaflet.md", "\ufeff".encode() + RISK_LEAFLET.encode("utf-8"), text=""),
        content_type="multipart/form-data",
    )

    assert response.status_code == 302
    draft = db.session.scalar(select(TemplateVersion))
    assert draft.source_text == RISK_LEAFLET  # the byte order mark is dropped


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"text": "Welcome to our clinic.\n\nWe are open every day."}, "text", "No risk section"),
        ({"text": "# Risks\n\n"}, "text", "is empty"),
        ({"text": ""}, "text", "Paste the risk section, or choose a file"),
        ({"text": "x" * (200 * 1024 + 1)}, "text", "longer than 200 KB"),
        ({"text": "é" * (110 * 1024)}, "text", "longer than 200 KB"),
        (
            upload("leaflet.txt", b"Welcome.\n\nNothing about risks here.\n"),
            "file",
            "No risk section",
        ),
        (upload("big.txt", b"# Risks\n" + b"- Bruising.\n" * 20_000), "file", "larger than 200 KB"),
        (
            upload("latin1.txt", "# Risks\n- Ecchymose à l'endroit".encode("latin-1")),
            "file",
            "not UTF-8",
        ),
        (upload("leaflet.pdf", b"%PDF-1.4"), "file", "plain text (.txt) or Markdown (.md)"),
        (upload("empty.txt", b""), "file", "empty"),
        (upload("nul.txt", b"# Risks\n- Bruising\x00.\n"), "file", "not plain text"),
        (upload("leaflet.md", RISK_LEAFLET.encode(), text=RISK_LEAFLET), "file", "not both"),
    ],
)
def test_a_refused_import_is_explained_beside_its_field_and_saves_nothing(
    admin_client, data, field, message
):
    templates, audit_events = count(TemplateVersion), count(AuditEvent)

    response = post_form(
        admin_client, "/admin/templates/import", data, content_type="multipart/form-data"
    )

    assert response.status_code == 400
    assert message in error_beside(response, field)
    assert (count(TemplateVersion), count(AuditEvent)) == (templates, audit_events)


def test_a_form_far_above_the_limit_gets_a_kind_page_and_saves_nothing(admin_client):
    before = count(TemplateVersion)
    # Built by hand: the test client would spool so large a body to a file it never closes.
    text = "Risks\n" + "- Bruising.\n" * 60_000
    body = (
        f'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{csrf_token(admin_client)}\r\n"
        f'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\n{text}\r\n--b--\r\n'
    ).encode()

    response = admin_client.post(
        "/admin/templates/import", data=body, content_type="multipart/form-data; boundary=b"
    )

    assert response.status_code == 413
    assert "imported up to 200 KB" in text_of(response)
    assert count(TemplateVersion) == before


def test_publishing_a_draft_gives_new_sessions_the_new_version_and_keeps_started_ones(
    admin_client, practitioner, make_session
):
    practitioner_id = practitioner.id
    started = make_session(practitioner, phases=("signin",))
    started_id, old_version = started.id, started.template_version_id
    post_form(admin_client, "/admin/templates/import", {"text": RISK_LEAFLET})
    draft_id = db.session.scalar(
        select(TemplateVersion.id).where(TemplateVersion.published_dt.is_(None))
    )

    response = post_form(admin_client, f"/admin/templates/{draft_id}/publish")

    assert response.status_code == 302
    assert "New sessions use it from now on" in text_of(
        admin_client.get(f"/admin/templates/{draft_id}")
    )
    [event] = [e for e in events("template.publish") if e.details["via"] == "web"]
    assert event.object_id == str(draft_id) and event.actor_id is not None
    fresh = make_session(reload(User, practitioner_id))
    assert fresh.template_version_id == draft_id
    assert reload(TreatmentSession, started_id).template_version_id == old_version
    checklists.submit_phase(
        reload(User, practitioner_id), started_id, "timeout", CLEAN_PHASES["timeout"]
    )
    db.session.commit()
    assert reload(TreatmentSession, started_id).template_version_id == old_version


def test_a_published_version_cannot_be_published_again_or_discarded(admin_client):
    post_form(admin_client, "/admin/templates/import", {"text": RISK_LEAFLET})
    draft_id = db.session.scalar(select(TemplateVersion.id))
    post_form(admin_client, f"/admin/templates/{draft_id}/publish")
    before = count(AuditEvent)

    again = post_form(admin_client, f"/admin/templates/{draft_id}/publish")
    discard = post_form(admin_client, f"/admin/templates/{draft_id}/discard")

    assert again.status_code == 409 and "already published" in text_of(again)
    assert discard.status_code == 409 and "can no longer be changed" in text_of(discard)
    assert count(TemplateVersion) == 1
    assert count(AuditEvent) == before
    assert "Discard draft" not in text_of(admin_client.get(f"/admin/templates/{draft_id}"))


def test_discarding_a_draft_removes_it_and_is_audited(admin_client):
    post_form(admin_client, "/admin/templates/import", {"text": RISK_LEAFLET})
    draft_id = db.session.scalar(select(TemplateVersion.id))

    response = post_form(admin_client, f"/admin/templates/{draft_id}/discard")

    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/admin/templates"
    assert count(TemplateVersion) == 0
    [event] = events("template.discard")
    assert event.object_id == str(draft_id) and event.details["version"] == 1
    assert admin_client.get(f"/admin/templates/{draft_id}").status_code == 404


# --- the audit trail -----------------------------------------------------------------------


def test_another_administrators_changes_are_visible_in_the_activity_list(
    app, admin_client, make_user, practitioner
):
    practitioner_id = practitioner.id
    second = make_user("admin", name="Bea Backup")
    second_client = signed_in(app, second)
    post_form(second_client, "/admin/clinics/new", VALID_CLINIC)
    post_form(
        second_client, f"/admin/users/{practitioner_id}/role", {"role": "compliance", "clinic": ""}
    )

    page = text_of(admin_client.get("/admin/activity"))

    rows = re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1], re.S)
    assert "Bea Backup" in rows[0] and "Role changed: practitioner → compliance" in rows[0]
    assert "pia@clinic.test" in rows[0]
    assert "Bea Backup" in rows[1] and "Clinic created" in rows[1]
    user_page = text_of(admin_client.get(f"/admin/users/{practitioner_id}"))
    assert "Role changed: practitioner → compliance" in user_page


def test_admin_pages_show_readable_times_in_the_clinics_zone_not_utc_strings(
    admin_client, admin, make_clinic
):
    toronto = make_clinic("Lakeshore Sports", timezone="America/Toronto")
    clinic_id = toronto.id
    post_form(admin_client, f"/admin/clinics/{clinic_id}", {**VALID_CLINIC, "name": "Lakeshore"})
    [event] = events("clinic.update")
    local = event.created_dt.astimezone(toronto.zone).strftime("%d %b %Y, %H:%M %Z")

    for address in ("/admin/activity", f"/admin/clinics/{clinic_id}", f"/admin/users/{admin.id}"):
        page = text_of(admin_client.get(address))
        assert "When (UTC)" not in page, address
        assert not re.search(r"\d\d:\d\d(:\d\d)? UTC", page), address
        assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", page), address
    # The only clinic is in Toronto: the administrator reads its times there.
    assert local in text_of(admin_client.get("/admin/activity"))
    assert local in text_of(admin_client.get(f"/admin/clinics/{clinic_id}"))
