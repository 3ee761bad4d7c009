"""Who may open what: every page per role (DESIGN.md §6), and every record per clinic and author.

Another clinic's record answers 404 (never a 403 that confirms it exists); a colleague's record
can be read but not filled or signed; compliance reads every clinic's signed records read-only,
and such a view is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from conftest import CLEAN_PHASES, PASSWORD, post_form
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.checklists.models import PhaseEntry, TreatmentSession
from safety.clinics.models import Patient
from safety.extensions import db

ROLES = ("anonymous", "practitioner", "compliance", "admin")


@dataclass(frozen=True)
class World:
    """Two clinics: an author with a signed and an open session at A, a colleague at A,
    a practitioner at B, a compliance officer and an administrator."""

    emails: dict[str, str]
    ids: dict[str, int]
    patient_a: int
    signed_a: int
    open_a: int
    template: int


def build_world(make_clinic, make_user, make_patient, make_session) -> World:
    clinic_a = make_clinic("Harbour Physio", timezone="Europe/London")
    clinic_b = make_clinic("Lakeside Physio", timezone="America/Toronto")
    users = {
        "practitioner": make_user("practitioner", clinic=clinic_a, name="Ada Author"),
        "colleague": make_user("practitioner", clinic=clinic_a, name="Colin Colleague"),
        "other_clinic": make_user("practitioner", clinic=clinic_b, name="Olga Other"),
        "compliance": make_user("compliance", name="Cora Compliance"),
        "admin": make_user("admin", name="Alan Admin"),
    }
    emails = {role: user.email for role, user in users.items()}
    ids = {role: user.id for role, user in users.items()}
    author = db.session.get(User, ids["practitioner"])
    patient = make_patient(author, given_name="Pat", family_name="Harbourside")
    patient_id = patient.id
    signed = make_session(
        author, phases=("signin", "timeout", "signout"), sign=True, patient=patient
    )
    signed_id, template_id = signed.id, signed.template_version_id
    patient = db.session.get(Patient, patient_id)
    author = db.session.get(User, ids["practitioner"])
    open_id = make_session(author, phases=("signin",), patient=patient).id
    return World(emails, ids, patient_id, signed_id, open_id, template_id)


#: Built once per module; each test that asks for `world` starts from it.
pytestmark = pytest.mark.world.with_args(build_world)


def sign_in(client, world: World, who: str):
    if who != "anonymous":
        response = post_form(
            client, "/auth/login", {"email": world.emails[who], "password": PASSWORD}
        )
        assert response.status_code == 302, f"{who} could not sign in"
    return client


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def views_of(session_id: int, actor_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(
            AuditEvent.action == "session.view",
            AuditEvent.object_id == str(session_id),
            AuditEvent.actor_id == actor_id,
        )
    )


def assert_sent_to_login(response) -> None:
    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/auth/login"


# --- pages per role ------------------------------------------------------------------------

#: Page -> the roles that may open it; every other signed-in role gets 403.
PAGES = {
    "/sessions/": {"practitioner"},
    "/sessions/new": {"practitioner"},
    "/patients/": {"practitioner"},
    "/patients/new": {"practitioner"},
    "/sessions/{open_a}/phase/timeout": {"practitioner"},
    "/sessions/{signed_a}": {"practitioner", "compliance"},
    "/review/records": {"compliance"},
    "/templates/": {"compliance", "admin"},
    "/templates/{template}": {"compliance", "admin"},
    "/templates/{template}/questionnaire.json": {"compliance", "admin"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_opens_only_for_the_roles_that_use_it(client, world, page, role):
    url = page.format(**vars(world))
    sign_in(client, world, role)

    response = client.get(url)

    if role == "anonymous":
        assert_sent_to_login(response)
    elif role in PAGES[page]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert "Your role does not give access to this page." in response.get_data(as_text=True)


#: State-changing addresses and the form each one takes.
ACTIONS = {
    "/sessions/new": lambda w: {"patient_id": str(w.patient_a)},
    "/patients/new": lambda w: {"given_name": "Mary", "family_name": "Seacole"},
    "/sessions/{open_a}/phase/timeout": lambda w: CLEAN_PHASES["timeout"],
    "/sessions/{open_a}/sign": lambda w: {"password": PASSWORD},
}


@pytest.mark.parametrize("role", ["anonymous", "compliance", "admin"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_only_practitioners_can_change_a_checklist(client, world, action, role):
    sign_in(client, world, role)
    before = (count(TreatmentSession), count(Patient), count(PhaseEntry))

    response = post_form(client, action.format(**vars(world)), ACTIONS[action](world))

    if role == "anonymous":
        assert_sent_to_login(response)
    else:
        assert response.status_code == 403
    assert (count(TreatmentSession), count(Patient), count(PhaseEntry)) == before
    assert db.session.get(TreatmentSession, world.open_a).signed_dt is None


@pytest.mark.parametrize("role", ["compliance", "admin"])
def test_the_template_downloads_as_a_fhir_questionnaire(client, world, role):
    sign_in(client, world, role)

    response = client.get(f"/templates/{world.template}/questionnaire.json")

    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    body = response.get_json(force=True)
    assert body["resourceType"] == "Questionnaire"
    assert [group["linkId"] for group in body["item"]] == ["signin", "timeout", "signout"]


# --- records per clinic --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "address", "form"),
    [
        ("GET", "/sessions/{open_a}", None),
        ("GET", "/sessions/{signed_a}", None),
        ("GET", "/sessions/{open_a}/phase/timeout", None),
        ("POST", "/sessions/{open_a}/phase/timeout", CLEAN_PHASES["timeout"]),
        ("POST", "/sessions/{open_a}/phase/signin", CLEAN_PHASES["signin"]),
        ("POST", "/sessions/{open_a}/sign", {"password": PASSWORD}),
    ],
)
def test_another_clinics_session_is_not_found(client, world, method, address, form):
    sign_in(client, world, "other_clinic")
    before = count(PhaseEntry)

    url = address.format(**vars(world))
    response = client.get(url) if method == "GET" else post_form(client, url, form)

    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Harbourside" not in page
    assert count(PhaseEntry) == before
    assert db.session.get(TreatmentSession, world.open_a).signed_dt is None
    assert views_of(world.open_a, world.ids["other_clinic"]) == 0


def test_another_clinics_patient_is_neither_listed_nor_usable(client, world):
    sign_in(client, world, "other_clinic")
    before = count(TreatmentSession)

    listed = client.get("/patients/")
    response = post_form(client, "/sessions/new", {"patient_id": str(world.patient_a)})

    assert "Harbourside" not in listed.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="patient_id-error"' in response.get_data(as_text=True)
    assert "Choose one of your clinic&#39;s patients." in response.get_data(as_text=True)
    assert count(TreatmentSession) == before


def test_another_clinics_sessions_are_not_on_the_day_list(client, world):
    sign_in(client, world, "other_clinic")

    page = client.get("/sessions/").get_data(as_text=True)

    assert "Harbourside" not in page
    assert f"/sessions/{world.open_a}" not in page


def test_a_colleague_can_read_a_session_but_not_fill_or_sign_it(client, world):
    sign_in(client, world, "colleague")
    before = count(PhaseEntry)

    record = client.get(f"/sessions/{world.open_a}")
    filled = post_form(client, f"/sessions/{world.open_a}/phase/timeout", CLEAN_PHASES["timeout"])
    opened = client.get(f"/sessions/{world.open_a}/phase/timeout")
    signed = post_form(client, f"/sessions/{world.open_a}/sign", {"password": PASSWORD})

    assert record.status_code == 200
    assert f'action="/sessions/{world.open_a}/sign"' not in record.get_data(as_text=True)
    assert f'href="/sessions/{world.open_a}/phase/' not in record.get_data(as_text=True)
    today = client.get("/sessions/").get_data(as_text=True)
    assert f'href="/sessions/{world.open_a}"' in today
    assert f'action="/sessions/{world.open_a}/cancel"' not in today
    assert filled.status_code == 403
    assert "Only the practitioner who started this session" in filled.get_data(as_text=True)
    assert (opened.status_code, opened.location) == (302, f"/sessions/{world.open_a}")
    assert signed.status_code == 403
    assert count(PhaseEntry) == before
    assert db.session.get(TreatmentSession, world.open_a).signed_dt is None


def test_a_colleagues_view_of_a_record_is_audited(client, world):
    sign_in(client, world, "colleague")

    client.get(f"/sessions/{world.signed_a}")

    assert views_of(world.signed_a, world.ids["colleague"]) == 1


def test_compliance_reads_any_clinics_signed_record_read_only_and_the_view_is_audited(
    client, world
):
    sign_in(client, world, "compliance")

    listed = client.get("/review/records")
    response = client.get(f"/sessions/{world.signed_a}")

    assert f'href="/review/records/{world.signed_a}"' in listed.get_data(as_text=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Ada Author" in page
    assert "Performed and verified these checks" in page
    assert f"/sessions/{world.signed_a}/sign" not in page
    assert 'name="password"' not in page
    assert views_of(world.signed_a, world.ids["compliance"]) == 1


def test_compliance_reading_an_open_session_sees_no_sign_form_and_is_not_redirected(client, world):
    sign_in(client, world, "compliance")

    response = client.get(f"/sessions/{world.open_a}")

    assert response.status_code == 200
    assert 'name="password"' not in response.get_data(as_text=True)


def test_the_authors_own_view_of_their_record_is_not_audited(client, world):
    sign_in(client, world, "practitioner")

    response = client.get(f"/sessions/{world.signed_a}")

    assert response.status_code == 200
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "session.view")) == 0


# --- garbage addresses never give a 500 ----------------------------------------------------

GARBAGE = [
    "/sessions/abc",
    "/sessions/999999",
    "/sessions/0",
    "/sessions/-1",
    "/sessions/1.5",
    "/sessions/2147483648",
    "/sessions/99999999999999999999999",
    "/sessions/{open_a}/phase/nope",
    "/sessions/{open_a}/phase/" + "x" * 10_000,
    "/sessions/999999/phase/signin",
    "/sessions/abc/phase/signin",
    "/templates/abc",
    "/templates/999999",
    "/templates/2147483648",
    "/templates/99999999999999999999999/questionnaire.json",
    "/review/records?before=abc",
    "/review/records?before=2147483648",
    "/review/records?before=99999999999999999999999",
]


@pytest.mark.parametrize("role", ["practitioner", "compliance"])
@pytest.mark.parametrize("address", GARBAGE)
def test_a_garbage_address_never_gives_a_server_error(client, world, role, address):
    sign_in(client, world, role)

    response = client.get(address.format(**vars(world)))

    assert response.status_code in (200, 403, 404)


@pytest.mark.parametrize(
    "address",
    [
        "/sessions/999999/phase/signin",
        "/sessions/2147483648/phase/signin",
        "/sessions/99999999999999999999999/phase/signin",
        "/sessions/{open_a}/phase/nope",
        "/sessions/999999/sign",
        "/sessions/2147483648/sign",
        "/sessions/99999999999999999999999/sign",
    ],
)
def test_posting_to_a_garbage_address_is_not_found_and_saves_nothing(client, world, address):
    sign_in(client, world, "practitioner")
    before = count(PhaseEntry)

    response = post_form(client, address.format(**vars(world)), CLEAN_PHASES["signin"])

    assert response.status_code == 404
    assert count(PhaseEntry) == before
