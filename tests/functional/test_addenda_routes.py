"""Adding a signed addendum from the record page, with CSRF on, as a practitioner would.

The original record stays visible above every addendum; a refused addendum is explained beside
the field at fault and saves nothing; another clinic's record is not found; compliance reads
addenda but cannot add one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from conftest import PASSWORD, login, post_form
from htmlpage import Element, elements
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.checklists.models import Addendum, TreatmentSession
from safety.extensions import db

ALL_PHASES = ("signin", "timeout", "signout")
REASON = "Needle lot transcribed wrongly from the pack."
BODY = "The needle lot was LOT-2611B, not LOT-2611A."


# --- helpers -------------------------------------------------------------------------------


def text_of(element: Element) -> str:
    return " ".join(element.text.split())


def assert_message_beside(response, name: str, message: str) -> None:
    """The field carries aria-invalid and points at a message that says what to do."""
    found = elements(response)
    error = found.get(f"{name}-error")
    assert error is not None, f"no message beside {name!r}"
    assert message in text_of(error)
    control = found.get(name)
    assert control is not None, f"no form control with id {name!r}"
    assert control.attrs.get("aria-invalid") == "true"
    assert f"{name}-error" in (control.attrs.get("aria-describedby") or "")


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    name: str


def person(user: User) -> Person:
    return Person(user.id, user.email, user.name)


def addenda_of(record_id: int) -> list[Addendum]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Addendum).where(Addendum.session_id == record_id).order_by(Addendum.id)
        )
    )


def url(record_id: int) -> str:
    return f"/sessions/{record_id}/addenda"


def add(client, record_id: int, **changes):
    return post_form(
        client,
        url(record_id),
        {
            f"addendum-{name}": value
            for name, value in {"reason": REASON, "body": BODY, "password": PASSWORD}.items()
        }
        | {(k if k == "csrf_token" else f"addendum-{k}"): v for k, v in changes.items()},
    )


@dataclass(frozen=True)
class Clinic:
    author: Person
    colleague: Person
    stranger: Person
    officer: Person
    admin: Person
    signed: int
    unsigned: int


@pytest.fixture
def clinic(make_user, make_session) -> Clinic:
    author = make_user()
    colleague = make_user(clinic=author.clinic)
    stranger = make_user()
    signed = make_session(author, phases=ALL_PHASES, sign=True).id
    unsigned = make_session(author, phases=("signin",)).id
    return Clinic(
        person(author),
        person(colleague),
        person(stranger),
        person(make_user("compliance")),
        person(make_user("admin")),
        signed,
        unsigned,
    )


# --- the record page ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["author", "colleague"])
def test_a_practitioner_of_the_clinic_is_offered_the_addendum_form(client, clinic, who):
    login(client, getattr(clinic, who))

    page = client.get(f"/sessions/{clinic.signed}")

    assert page.status_code == 200
    found = elements(page)
    assert "addenda" in found
    assert {"addendum-reason", "addendum-body", "addendum-password"} <= set(found)
    assert f'action="{url(clinic.signed)}"' in page.get_data(as_text=True)
    assert "No addenda" in text_of(found["addenda"])


def test_adding_an_addendum_keeps_the_original_and_lists_it_after(client, clinic):
    login(client, clinic.author)

    response = add(client, clinic.signed)

    (addendum,) = addenda_of(clinic.signed)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sessions/{clinic.signed}#addendum-{addendum.id}"
    page = client.get(f"/sessions/{clinic.signed}")
    html = page.get_data(as_text=True)
    record = db.session.get(TreatmentSession, clinic.signed)
    assert record.content_hash in html  # the original signature is still shown
    assert html.index("signature-heading") < html.index(f"addendum-{addendum.id}")
    shown = text_of(elements(page)[f"addendum-{addendum.id}"])
    assert REASON in shown and BODY in shown
    assert clinic.author.name in shown
    assert addendum.content_hash in shown
    assert "LOT-2611A" in html  # the signed answer itself is untouched


def test_every_addendum_is_shown_in_the_order_it_was_signed(app, client, clinic):
    login(client, clinic.author)
    add(client, clinic.signed, reason="First correction")
    colleague = app.test_client()
    login(colleague, clinic.colleague)
    add(colleague, clinic.signed, reason="Second correction", body="Another line.")

    page = client.get(f"/sessions/{clinic.signed}")

    first, second = addenda_of(clinic.signed)
    html = page.get_data(as_text=True)
    assert html.index(f'id="addendum-{first.id}"') < html.index(f'id="addendum-{second.id}"')
    assert "Addendum 1" in text_of(elements(page)[f"addendum-{first.id}"])
    assert clinic.colleague.name in text_of(elements(page)[f"addendum-{second.id}"])


def test_an_addendum_is_shown_as_text_with_its_line_breaks(client, clinic):
    login(client, clinic.author)
    add(client, clinic.signed, body="<script>alert(1)</script>\nSecond line")

    html = client.get(f"/sessions/{clinic.signed}").get_data(as_text=True)

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>Second line" in html


def test_the_addendum_is_audited(client, clinic):
    login(client, clinic.author)

    add(client, clinic.signed)

    (addendum,) = addenda_of(clinic.signed)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.addendum"))
    assert event.actor_id == clinic.author.id
    assert event.object_id == str(clinic.signed)
    assert event.details["addendum"] == addendum.id


def test_compliance_reads_addenda_but_is_not_offered_the_form(app, client, clinic):
    author = app.test_client()
    login(author, clinic.author)
    add(author, clinic.signed)
    login(client, clinic.officer)

    page = client.get(f"/sessions/{clinic.signed}")

    assert page.status_code == 200
    found = elements(page)
    assert REASON in text_of(found["addenda"])
    assert "addendum-reason" not in found and "addendum-password" not in found
    assert url(clinic.signed) not in page.get_data(as_text=True)


def test_an_unsigned_record_offers_no_addendum_form(client, clinic):
    login(client, clinic.colleague)

    page = client.get(f"/sessions/{clinic.unsigned}")

    assert page.status_code == 200
    assert "addenda" not in elements(page)


# --- refusals -------------------------------------------------------------------------------


def test_a_wrong_password_is_explained_beside_the_password_field_and_saves_nothing(client, clinic):
    login(client, clinic.author)

    response = add(client, clinic.signed, password="not my password at all")

    assert response.status_code == 400
    assert_message_beside(response, "addendum-password", "That password is not right")
    assert addenda_of(clinic.signed) == []
    found = elements(response)
    assert text_of(found["addendum-reason"]) == REASON  # what was typed is kept
    assert text_of(found["addendum-body"]) == BODY
    assert found["addendum-password"].attrs.get("value") == ""  # never the password
    failures = db.session.scalar(select(User.failed_login_count).where(User.id == clinic.author.id))
    assert failures == 1


@pytest.mark.parametrize(
    ("changes", "name", "message"),
    [
        ({"reason": ""}, "reason", "Say why the record needs a correction."),
        ({"reason": "   "}, "reason", "Say why the record needs a correction."),
        ({"body": ""}, "body", "Write the correction."),
        ({"body": "x" * 5001}, "body", "Keep the correction under 5000 characters."),
        ({"reason": "x" * 501}, "reason", "Keep the reason under 500 characters."),
        ({"password": ""}, "password", "Enter your password to sign the addendum."),
    ],
)
def test_a_missing_or_overlong_field_is_explained_beside_it_and_saves_nothing(
    client, clinic, changes, name, message
):
    login(client, clinic.author)

    response = add(client, clinic.signed, **changes)

    assert response.status_code == 400
    assert_message_beside(response, f"addendum-{name}", message)
    assert addenda_of(clinic.signed) == []


def test_an_addendum_without_the_csrf_token_is_refused(client, clinic):
    login(client, clinic.author)

    response = add(client, clinic.signed, csrf_token="")

    assert response.status_code == 400
    assert addenda_of(clinic.signed) == []


def test_another_clinics_practitioner_finds_no_such_record(client, clinic):
    login(client, clinic.stranger)

    response = add(client, clinic.signed)

    assert response.status_code == 404
    assert addenda_of(clinic.signed) == []


@pytest.mark.parametrize("who", ["officer", "admin"])
def test_compliance_and_administrators_cannot_add_an_addendum(client, clinic, who):
    login(client, getattr(clinic, who))

    response = add(client, clinic.signed)

    assert response.status_code == 403
    assert addenda_of(clinic.signed) == []


def test_an_unsigned_record_refuses_an_addendum(client, clinic):
    login(client, clinic.author)

    response = add(client, clinic.unsigned)

    assert response.status_code == 409
    assert addenda_of(clinic.unsigned) == []


@pytest.mark.parametrize("record", ["99999", "0"])
def test_an_unknown_record_is_not_found(client, clinic, record):
    login(client, clinic.author)

    assert add(client, int(record)).status_code == 404


def test_a_visitor_who_is_not_signed_in_adds_nothing(client, clinic):
    response = post_form(client, url(clinic.signed), {"addendum-reason": REASON})

    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Addendum)) == 0


def test_the_addendum_form_only_takes_posts(client, clinic):
    login(client, clinic.author)

    assert client.get(url(clinic.signed)).status_code == 405
    assert re.search(r"not accept", client.get(url(clinic.signed)).get_data(as_text=True))
