"""The template editor through its routes, with CSRF on: administrators only, every edit a POST
that comes back to the editor, every refusal shown beside its form with nothing stored, and
publishing only from the confirmation page that names the changes and the clinics."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
from conftest import csrf_token, login, post_form
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.extensions import db
from safety.risks import editing, editor
from safety.risks import services as risks
from safety.risks.models import TemplateVersion

ROLES = ("anonymous", "practitioner", "compliance", "admin")

GET_PAGES = [
    "/admin/templates/{draft}/edit",
    "/admin/templates/{draft}/preview",
    "/admin/templates/{draft}/publish",
]

POST_ACTIONS = [
    "/admin/templates/{current}/copy",
    "/admin/templates/{draft}/edit/add",
    "/admin/templates/{draft}/edit/new",
    "/admin/templates/{draft}/edit/remove",
    "/admin/templates/{draft}/edit/reword",
    "/admin/templates/{draft}/edit/move",
]


def build_world(make_clinic, make_user):
    """Two clinics, one user per role, the version in use and a draft copied from it."""
    harbour = make_clinic("Harbour Physio", timezone="Europe/London")
    make_clinic("Lakeshore Sports Clinic", timezone="America/Toronto")
    users = {
        "practitioner": make_user("practitioner", clinic=harbour),
        "compliance": make_user("compliance"),
        "admin": make_user("admin", email="alan@clinic.test", name="Alan Admin"),
    }
    current = risks.ensure_current_template()
    draft = editor.copy_version(current.id, actor=None)
    db.session.commit()
    ids = {"current": current.id, "draft": draft.id}
    return {role: user.email for role, user in users.items()}, ids


pytestmark = pytest.mark.world.with_args(build_world)


def text_of(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def stored(template_id: int) -> dict:
    return db.session.get(TemplateVersion, template_id, populate_existing=True).definition


def item(definition: dict, link_id: str) -> dict:
    [found] = [i for _, i in editing.items(definition) if i["linkId"] == link_id]
    return found


def sign_in_as(app, world, role):
    client = app.test_client()
    if role != "anonymous":
        assert login(client, SimpleNamespace(email=world[0][role])).status_code == 302
    return client


@pytest.fixture
def admin_client(app, world):
    return sign_in_as(app, world, "admin")


@pytest.fixture
def ids(world):
    return world[1]


# --- who may do what -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", GET_PAGES)
def test_the_editor_pages_open_for_administrators_only(app, world, page, role):
    response = sign_in_as(app, world, role).get(page.format(**world[1]))

    if role == "anonymous":
        assert urlparse(response.headers["Location"]).path == "/auth/login"
    else:
        assert response.status_code == (200 if role == "admin" else 403)


@pytest.mark.parametrize("role", ["anonymous", "practitioner", "compliance"])
@pytest.mark.parametrize("action", POST_ACTIONS)
def test_no_one_but_an_administrator_can_edit_a_template(app, world, action, role):
    client = sign_in_as(app, world, role)
    before, versions, definition = (
        count(AuditEvent),
        count(TemplateVersion),
        stored(world[1]["draft"]),
    )

    response = client.post(
        action.format(**world[1]),
        data={
            "csrf_token": csrf_token(client),
            "item": "signout.pain_during",
            "phase": "signout",
            "text": "Sneaky words.",
            "reason": "Because.",
            "direction": "up",
        },
    )

    assert response.status_code in ((302,) if role == "anonymous" else (403,))
    assert (count(AuditEvent), count(TemplateVersion)) == (before, versions)
    assert stored(world[1]["draft"]) == definition


def test_an_edit_without_the_csrf_token_changes_nothing(admin_client, ids):
    definition, before = stored(ids["draft"]), count(AuditEvent)

    response = admin_client.post(
        f"/admin/templates/{ids['draft']}/edit/remove", data={"item": "signout.pain_during"}
    )

    assert response.status_code == 400
    assert stored(ids["draft"]) == definition and count(AuditEvent) == before


@pytest.mark.parametrize(
    "page", ["/admin/templates/999999/edit", "/admin/templates/999999/preview"]
)
def test_an_unknown_template_is_not_found(admin_client, page):
    assert admin_client.get(page).status_code == 404


def test_a_published_version_opens_its_review_page_instead_of_the_editor(admin_client, ids):
    for page in ("edit", "publish"):
        response = admin_client.get(f"/admin/templates/{ids['current']}/{page}")
        assert urlparse(response.headers["Location"]).path == f"/admin/templates/{ids['current']}"


# --- editing -------------------------------------------------------------------------------


def test_edit_a_copy_of_the_version_in_use_from_the_templates_page(admin_client, ids):
    page = text_of(admin_client.get("/admin/templates"))
    current = db.session.get(TemplateVersion, ids["current"])
    assert f"Edit a copy of version {current.version}" in page

    response = post_form(admin_client, f"/admin/templates/{ids['current']}/copy")

    copy = db.session.scalar(select(TemplateVersion).order_by(TemplateVersion.id.desc()))
    assert urlparse(response.headers["Location"]).path == f"/admin/templates/{copy.id}/edit"
    assert copy.definition["copied_from"] == current.version and not copy.is_published
    assert "Move down" in text_of(admin_client.get(f"/admin/templates/{copy.id}/edit"))


def test_removing_a_baseline_item_is_refused_on_the_page_and_stores_nothing(admin_client, ids):
    definition, before = stored(ids["draft"]), count(AuditEvent)

    response = post_form(
        admin_client, f"/admin/templates/{ids['draft']}/edit/remove", {"item": "signin.consent"}
    )

    assert response.status_code == 400
    assert "It is a baseline check: every checklist keeps it." in text_of(response)
    assert stored(ids["draft"]) == definition and count(AuditEvent) == before


def test_a_protected_item_offers_no_remove_button(admin_client, ids):
    page = admin_client.get(f"/admin/templates/{ids['draft']}/edit").get_data(as_text=True)

    consent = page[page.index('id="item-signin.consent"') :]
    consent = consent[: consent.index("</li>")]
    pain = page[page.index('id="item-signout.pain_during"') :]
    pain = pain[: pain.index("</li>")]
    assert "Kept" in consent and ">Remove<" not in consent
    assert ">Remove<" in pain
    # Consent's "No" stops the session: its words cannot change, so it offers no reword form.
    assert "Save the new words" not in consent and "Save the new words" in pain


@pytest.mark.parametrize(
    "link_id",
    ["signin.consent", "signout.needles_removed", "signout.fit_to_leave", "signin.anticoagulant"],
)
def test_the_words_of_a_check_a_rule_reads_cannot_be_turned_around(admin_client, ids, link_id):
    definition, before = stored(ids["draft"]), count(AuditEvent)

    response = post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/reword",
        {"item": link_id, "text": "The patient has refused consent to needling."},
    )

    assert response.status_code == 400
    assert "its words cannot change" in text_of(response)
    assert stored(ids["draft"]) == definition and count(AuditEvent) == before


def test_rewording_comes_back_to_the_item_with_its_new_words_and_history(admin_client, ids):
    old = item(stored(ids["draft"]), "signout.bleeding")["text"]

    response = post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/reword",
        {"item": "signout.bleeding", "text": "Any bleeding at the needle sites."},
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        f"/admin/templates/{ids['draft']}/edit#item-signout.bleeding"
    )
    page = text_of(admin_client.get(f"/admin/templates/{ids['draft']}/edit"))
    assert "Any bleeding at the needle sites." in page
    assert f"Alan Admin: reworded; it said “{old}”" in page
    assert item(stored(ids["draft"]), "signout.bleeding")["linkId"] == "signout.bleeding"


def test_a_too_short_own_item_is_refused_beside_its_field_and_keeps_what_was_typed(
    admin_client, ids
):
    definition = stored(ids["draft"])

    response = post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/new",
        {"phase": "timeout", "text": "ok", "reason": "Clinic policy 7."},
    )

    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert re.search(r'id="text-error">\s*Write at least 3 characters\.', body)
    assert "Clinic policy 7.</textarea>" in body
    assert '<option value="timeout" selected>' in body
    assert stored(ids["draft"]) == definition


def test_moving_and_adding_own_items_are_posts_that_land_on_the_item(admin_client, ids):
    first = item(stored(ids["draft"]), "timeout.hand_hygiene")
    response = post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/move",
        {"item": "timeout.hand_hygiene", "direction": "down"},
    )
    assert response.status_code == 302
    timeout = [p for p in stored(ids["draft"])["phases"] if p["id"] == "timeout"][0]
    assert timeout["items"][1] == first

    response = post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/new",
        {"phase": "signout", "text": "Couch wiped down.", "reason": "Clinic policy 7."},
    )
    own = f"signout.own_v{db.session.get(TemplateVersion, ids['draft']).version}_1"
    assert response.headers["Location"].endswith(f"#item-{own}")
    assert item(stored(ids["draft"]), own)["why"] == "Clinic policy 7."
    actions = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "template.edit")
    ).all()
    assert [a["change"] for a in actions] == ["move", "add"]


# --- preview and publishing ----------------------------------------------------------------


def test_the_preview_shows_each_item_as_the_practitioner_sees_it_without_answering(
    admin_client, ids
):
    post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/reword",
        {"item": "signout.bleeding", "text": "Any bleeding at the needle sites."},
    )

    page = admin_client.get(f"/admin/templates/{ids['draft']}/preview")

    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert body.count("<fieldset disabled") == 3
    assert body.count('aria-label="Administration"') == 1
    assert "Any bleeding at the needle sites." in body
    assert 'data-link-id="signin.consent"' in body and "<form" not in body.split("<main")[1]


def test_the_review_page_leads_to_the_confirmation_instead_of_publishing(admin_client, ids):
    body = admin_client.get(f"/admin/templates/{ids['draft']}").get_data(as_text=True)

    assert f'action="/admin/templates/{ids["draft"]}/publish"' not in body
    assert f'href="/admin/templates/{ids["draft"]}/publish"' in body


def test_the_confirmation_names_the_changes_and_clinics_then_publishes_on_confirm(
    admin_client, ids
):
    post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/remove",
        {"item": "signout.pain_during"},
    )
    post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/reword",
        {"item": "signout.bleeding", "text": "Any bleeding at the needle sites."},
    )

    page = text_of(admin_client.get(f"/admin/templates/{ids['draft']}/publish"))

    assert "Harbour Physio" in page and "Lakeshore Sports Clinic" in page
    assert "Removed" in page and "signout.pain_during" in page
    assert "becomes “Any bleeding at the needle sites.”" in page
    assert "1 item lacks a translation" in page
    assert risks.current_template().id == ids["current"], "opening the page publishes nothing"

    response = post_form(admin_client, f"/admin/templates/{ids['draft']}/publish")

    assert response.status_code == 302
    assert risks.current_template().id == ids["draft"]


def test_the_confirmation_gives_a_reworded_yes_no_check_its_expected_answer(admin_client, ids):
    """A yes/no check reworded into its opposite keeps its expected answer: the publisher
    reads "Yes" beside "Aftercare advice was not given." and sees the two disagree."""
    post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/reword",
        {"item": "signout.aftercare", "text": "Aftercare advice was not given."},
    )
    post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/reword",
        {"item": "signout.bleeding", "text": "Any bleeding at the needle sites."},
    )

    page = text_of(admin_client.get(f"/admin/templates/{ids['draft']}/publish"))

    said = {
        link_id: re.sub(r"<[^>]+>", " ", dd)
        for dd in re.findall(r"<dd>(.*?)</dd>", page.split("Reworded")[1], re.S)
        for link_id in re.findall(r"<code[^>]*>([\w.]+)</code>", dd)
    }
    assert "Aftercare advice was not given." in said["signout.aftercare"]
    assert (
        "A safe session still answers Yes; any other answer is flagged. Check that the new "
        "words still ask for Yes." in said["signout.aftercare"]
    )
    # A choice of amounts has no one expected answer to set beside its words.
    assert "A safe session" not in said["signout.bleeding"]


def test_publishing_from_a_confirmation_the_draft_has_outrun_is_refused_and_shown_again(
    admin_client, ids
):
    page = admin_client.get(f"/admin/templates/{ids['draft']}/publish").get_data(as_text=True)
    seen = re.search(r'name="seen" value="([0-9a-f]{64})"', page).group(1)
    # Another administrator (or another tab) rewords an item after this page was opened.
    post_form(
        admin_client,
        f"/admin/templates/{ids['draft']}/edit/reword",
        {"item": "signout.bleeding", "text": "Any bleeding at the needle sites."},
    )

    refused = post_form(admin_client, f"/admin/templates/{ids['draft']}/publish", {"seen": seen})

    assert urlparse(refused.headers["Location"]).path == f"/admin/templates/{ids['draft']}/publish"
    assert risks.current_template().id == ids["current"], "nothing unseen went live"
    again = admin_client.get(f"/admin/templates/{ids['draft']}/publish").get_data(as_text=True)
    assert "The draft changed after this page was opened" in html.unescape(again)
    assert "becomes “Any bleeding at the needle sites.”" in html.unescape(again)
    fresh = re.search(r'name="seen" value="([0-9a-f]{64})"', again).group(1)

    published = post_form(admin_client, f"/admin/templates/{ids['draft']}/publish", {"seen": fresh})

    assert published.status_code == 302 and risks.current_template().id == ids["draft"]


def test_an_edit_to_a_version_published_meanwhile_is_refused_and_sent_to_its_review(
    admin_client, ids
):
    definition = stored(ids["current"])

    response = post_form(
        admin_client,
        f"/admin/templates/{ids['current']}/edit/reword",
        {"item": "signout.bleeding", "text": "Changed after publishing."},
        follow_redirects=True,
    )

    assert response.request.path == f"/admin/templates/{ids['current']}"
    assert "is published: it cannot change. Edit a copy of it." in text_of(response)
    assert stored(ids["current"]) == definition


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("remove", {"item": "signout.nothing"}),
        ("remove", {"item": "x" * 500}),
        ("move", {"item": "signout.bleeding", "direction": "sideways"}),
        ("add", {"item": "signout.bleeding"}),
        ("new", {"phase": "nowhere", "text": "Couch wiped.", "reason": "Policy."}),
        ("new", {"phase": "signout", "text": "w" * 5000, "reason": "Policy."}),
        ("reword", {"item": "signout.bleeding", "text": "  "}),
    ],
)
def test_bad_input_is_refused_with_a_message_and_stores_nothing(admin_client, ids, action, data):
    definition, before = stored(ids["draft"]), count(AuditEvent)

    response = post_form(admin_client, f"/admin/templates/{ids['draft']}/edit/{action}", data)

    assert response.status_code == 400
    assert 'class="error-summary"' in response.get_data(as_text=True)
    assert stored(ids["draft"]) == definition and count(AuditEvent) == before


def test_an_imported_draft_opens_in_the_editor_with_what_the_import_could_not_match(
    admin_client,
):
    draft, result = risks.create_draft_from_text(
        "## Risks\n- Bleeding at the needle sites.\n- Feeling tired after treatment.\n",
        actor=None,
    )
    db.session.commit()
    assert result.unmatched

    review = text_of(admin_client.get(f"/admin/templates/{draft.id}"))
    page = text_of(admin_client.get(f"/admin/templates/{draft.id}/edit"))

    assert f'href="/admin/templates/{draft.id}/edit"' in review
    assert "Feeling tired after treatment." in page.split("Add your own yes/no check")[1]
    assert "Pain during needling" in page.split("Add an item from the register")[1]
