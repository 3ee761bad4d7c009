"""The FHIR read API and the FHIR export, driven over HTTP the way an audit system would use them.

Every response body is validated with the fhir.resources R4B models: CapabilityStatement,
Questionnaire, QuestionnaireResponse, Bundle and OperationOutcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import CLEAN_PHASES, PASSWORD, login
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlalchemy import select, update

from safety.audit.models import AuditEvent
from safety.auth import services as auth
from safety.auth.models import User
from safety.checklists import addenda
from safety.checklists import services as checklists
from safety.clinics.models import Patient
from safety.extensions import db
from safety.fhir import mapping
from safety.fhir import tokens as api_tokens
from safety.followup.models import FollowUp, PatientResponse

FHIR_JSON = "application/fhir+json"
START = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
ALL_PHASES = ("signin", "timeout", "signout")


def sign_at(practitioner, patient, when: datetime) -> int:
    """Fill and sign a clean checklist at a given time; return the record id."""
    session = checklists.start_session(practitioner, patient_id=patient.id, now=when)
    for phase in ALL_PHASES:
        checklists.submit_phase(practitioner, session.id, phase, CLEAN_PHASES[phase], now=when)
    checklists.sign_session(practitioner, session.id, PASSWORD, now=when + timedelta(minutes=1))
    db.session.commit()
    return session.id


@dataclass
class World:
    """Plain ids only: ORM objects do not outlive the requests' own sessions."""

    officer_id: int
    secret: str
    practitioner_id: int
    other_practitioner_id: int
    #: Ada, Alan (first clinic), Grace (second clinic).
    patient_ids: list[int]
    #: Signed record ids in signing order (two clinics).
    records: list[int]
    unsigned: int
    template: int

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    @property
    def officer(self) -> User:
        return db.session.get(User, self.officer_id)

    @property
    def practitioner(self) -> User:
        return db.session.get(User, self.practitioner_id)

    @property
    def other_practitioner(self) -> User:
        return db.session.get(User, self.other_practitioner_id)

    def patient(self, index: int) -> Patient:
        return db.session.get(Patient, self.patient_ids[index])


def build_world(make_user, make_patient, make_clinic) -> World:
    officer = make_user("compliance")
    practitioner = make_user()
    other = make_user(clinic=make_clinic())
    ada = make_patient(practitioner, "Ada", "Lovelace")
    alan = make_patient(practitioner, "Alan", "Turing")
    grace = make_patient(other, "Grace", "Hopper")
    ids = (officer.id, practitioner.id, other.id, [ada.id, alan.id, grace.id])
    records = [
        sign_at(practitioner, ada, START),
        sign_at(other, grace, START + timedelta(days=1)),
        sign_at(practitioner, alan, START + timedelta(days=2)),
        sign_at(practitioner, ada, START + timedelta(days=31)),
        sign_at(other, grace, START + timedelta(days=32)),
    ]
    unsigned = checklists.start_session(practitioner, patient_id=alan.id).id
    secret = api_tokens.create_token(officer.email).secret
    db.session.commit()
    template = checklists.get_session(officer, records[0]).template_version_id
    return World(ids[0], secret, ids[1], ids[2], ids[3], records, unsigned, template)


#: Built once per module; each test that asks for `world` starts from it.
pytestmark = pytest.mark.world.with_args(build_world)


def outcome(response, status: int) -> OperationOutcome:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    return OperationOutcome.model_validate_json(response.data)


def fhir_ok(response, model):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    assert response.headers["Cache-Control"] == "no-store"
    return model.model_validate_json(response.data)


def actions(name: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == name)))


def ids_of(bundle: Bundle) -> list[int]:
    return [int(entry.resource.id) for entry in bundle.entry or ()]


def link(bundle: Bundle, relation: str) -> str | None:
    return next((item.url for item in bundle.link or () if item.relation == relation), None)


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# --- metadata -------------------------------------------------------------------------------


def test_the_capability_statement_is_served_without_a_token(client):
    statement = fhir_ok(client.get("/fhir/metadata"), CapabilityStatement)

    assert statement.kind == "instance"
    assert statement.fhirVersion == "4.0.1"
    types = {r.type for r in statement.rest[0].resource}
    assert types == {"Questionnaire", "QuestionnaireResponse", "AdverseEvent"}


# --- authentication -------------------------------------------------------------------------


ENDPOINTS = [
    "/fhir/Questionnaire/{template}",
    "/fhir/QuestionnaireResponse/{record}",
    "/fhir/QuestionnaireResponse",
    "/fhir/QuestionnaireResponse?authored=ge2025-01-01",
]


def refuse_revoked(world):
    api_tokens.revoke_token(world.secret[:12])


def refuse_role_change(world):
    db.session.execute(update(User).where(User.id == world.officer_id).values(role="admin"))


def refuse_deactivated(world):
    auth.deactivate_user(world.officer_id, actor=None)


HEADERS = {
    "no header": (None, None),
    "empty header": ("", None),
    "basic scheme": ("Basic b2ZmaWNlcjpwYXNzd29yZA==", None),
    "bearer without token": ("Bearer", None),
    "unknown token": ("Bearer nst_this-is-not-a-token", None),
    "token with a space": ("Bearer {secret} extra", None),
    "revoked token": ("Bearer {secret}", refuse_revoked),
    "holder no longer compliance": ("Bearer {secret}", refuse_role_change),
    "holder deactivated": ("Bearer {secret}", refuse_deactivated),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", list(HEADERS))
def test_a_request_without_a_live_compliance_token_gets_401_with_an_outcome(
    client, world, endpoint, case
):
    header, spoil = HEADERS[case]
    if spoil:
        spoil(world)
        db.session.commit()
    headers = {} if header is None else {"Authorization": header.format(secret=world.secret)}

    response = client.get(
        endpoint.format(template=world.template, record=world.records[0]), headers=headers
    )

    result = outcome(response, 401)
    assert result.issue[0].code == "login"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Location" not in response.headers
    assert actions("fhir.read") == [] and actions("fhir.search") == []


def test_a_signed_in_browser_session_is_not_a_token(client, world):
    login(client, world.officer)

    response = client.get(f"/fhir/QuestionnaireResponse/{world.records[0]}")

    outcome(response, 401)


def test_the_token_scheme_is_case_insensitive(client, world):
    response = client.get(
        f"/fhir/QuestionnaireResponse/{world.records[0]}",
        headers={"Authorization": f"bearer {world.secret}"},
    )

    fhir_ok(response, QuestionnaireResponse)


def test_using_a_token_records_when_it_was_last_used(client, world):
    client.get(f"/fhir/QuestionnaireResponse/{world.records[0]}", headers=world.auth)

    db.session.expire_all()
    (token,) = api_tokens.list_tokens()
    assert token.last_used_dt is not None


# --- reads ----------------------------------------------------------------------------------


def test_a_signed_record_reads_as_a_completed_questionnaire_response(client, world):
    record_id = world.records[0]

    resource = fhir_ok(
        client.get(f"/fhir/QuestionnaireResponse/{record_id}", headers=world.auth),
        QuestionnaireResponse,
    )

    record = checklists.get_session(world.officer, record_id)
    assert resource.id == str(record_id)
    assert resource.status == "completed"
    assert resource.subject.reference == f"Patient/{record.patient_id}"
    assert resource.author.reference == f"Practitioner/{world.practitioner_id}"
    assert resource.authored == record.signed_dt.replace(microsecond=0)
    hashes = [e.valueString for e in resource.extension if e.url == mapping.CONTENT_HASH_EXTENSION]
    assert hashes == [record.content_hash]
    items = {i.linkId: i for g in resource.item for i in g.item}
    assert items["timeout.needle_lot"].answer[0].valueString == "LOT-2611A"
    assert items["signout.needles_used"].answer[0].valueInteger == 6


def test_the_response_points_at_the_questionnaire_the_api_serves(client, world):
    resource = fhir_ok(
        client.get(f"/fhir/QuestionnaireResponse/{world.records[0]}", headers=world.auth),
        QuestionnaireResponse,
    )
    questionnaire = fhir_ok(
        client.get(f"/fhir/Questionnaire/{world.template}", headers=world.auth), Questionnaire
    )

    assert resource.questionnaire == f"{questionnaire.url}|{questionnaire.version}"
    assert questionnaire.status == "active"
    assert questionnaire.id == str(world.template)


def test_every_read_of_a_record_is_audited(client, world):
    client.get(f"/fhir/QuestionnaireResponse/{world.records[1]}", headers=world.auth)
    client.get(f"/fhir/QuestionnaireResponse/{world.records[1]}", headers=world.auth)

    events = actions("fhir.read")
    assert len(events) == 2
    assert {(e.actor_id, e.object_type, e.object_id) for e in events} == {
        (world.officer_id, "treatment_sessions", str(world.records[1]))
    }
    assert events[0].details["via"] == world.secret[:12]


def test_a_record_with_an_addendum_reads_as_amended(client, world):
    addenda.add_addendum(
        world.practitioner,
        world.records[0],
        reason="Wrong lot transcribed",
        body="The lot was LOT-2611B.",
        password=PASSWORD,
    )
    db.session.commit()

    resource = fhir_ok(
        client.get(f"/fhir/QuestionnaireResponse/{world.records[0]}", headers=world.auth),
        QuestionnaireResponse,
    )

    assert resource.status == "amended"
    (added,) = [e for e in resource.extension if e.url == mapping.ADDENDUM_EXTENSION]
    parts = {p.url: p for p in added.extension}
    assert parts["reason"].valueString == "Wrong lot transcribed"
    assert parts["body"].valueString == "The lot was LOT-2611B."
    items = {i.linkId: i for g in resource.item for i in g.item}
    assert items["timeout.needle_lot"].answer[0].valueString == "LOT-2611A"  # never overwritten


@pytest.mark.parametrize(
    "resource_id",
    [
        "unsigned",
        "999999",
        "0",
        "abc",
        "99999999999999999999",
        "followup-1",
        "followup-x",
        "-1",
        "\u00b2",  # a superscript two: str.isdigit() says yes, int() says no
        "followup-\u00b2",
    ],
)
def test_an_unknown_or_unsigned_record_is_a_404_outcome(client, world, resource_id):
    if resource_id == "unsigned":
        resource_id = str(world.unsigned)

    response = client.get(f"/fhir/QuestionnaireResponse/{resource_id}", headers=world.auth)

    assert outcome(response, 404).issue[0].code == "not-found"
    assert actions("fhir.read") == []


@pytest.mark.parametrize("resource_id", ["999999", "abc", "99999999999999999999"])
def test_an_unknown_questionnaire_is_a_404_outcome(client, world, resource_id):
    response = client.get(f"/fhir/Questionnaire/{resource_id}", headers=world.auth)

    outcome(response, 404)


def answer_followup(record_id: int, answers: dict | None = None, escalation: str = "none") -> int:
    followup = db.session.scalar(
        select(FollowUp).where(FollowUp.session_id == record_id, FollowUp.kind == "24h").limit(1)
    )
    response = PatientResponse(
        followup_id=followup.id,
        session_id=record_id,
        answers=answers or {"soreness": 3, "trend": "better", "signs": [], "chest": "no"},
        escalation=escalation,
        created_dt=START + timedelta(days=1),
    )
    db.session.add(response)
    db.session.commit()
    return response.id


def test_a_followup_answer_reads_as_its_own_response_pointing_at_the_session(client, world):
    response_id = answer_followup(world.records[0])

    resource = fhir_ok(
        client.get(f"/fhir/QuestionnaireResponse/followup-{response_id}", headers=world.auth),
        QuestionnaireResponse,
    )

    assert resource.id == f"followup-{response_id}"
    session = [e for e in resource.extension if e.url == mapping.SESSION_EXTENSION]
    assert session[0].valueReference.reference == f"QuestionnaireResponse/{world.records[0]}"
    items = {i.linkId: i for i in resource.item}
    assert items["soreness"].answer[0].valueInteger == 3
    assert items["trend"].answer[0].valueCoding.code == "better"
    assert actions("fhir.read")[0].object_type == "patient_responses"


def test_an_urgent_answer_that_left_questions_out_reads_as_stopped(client, world):
    """A large bruise answered first sends the patient to call the clinic today, before the
    other questions: the export says the form was left there, not completed."""
    partial = answer_followup(world.records[0], {"bruising": "large"}, escalation="same_day")
    whole = answer_followup(world.records[1])

    def status(response_id: int) -> str:
        url = f"/fhir/QuestionnaireResponse/followup-{response_id}"
        return fhir_ok(client.get(url, headers=world.auth), QuestionnaireResponse).status

    assert (status(partial), status(whole)) == ("stopped", "completed")


# --- search ---------------------------------------------------------------------------------


def search(client, world, query: str = "") -> Bundle:
    url = "/fhir/QuestionnaireResponse" + (f"?{query}" if query else "")
    return fhir_ok(client.get(url, headers=world.auth), Bundle)


def test_a_search_without_parameters_returns_every_signed_record_in_signing_order(client, world):
    bundle = search(client, world)

    assert bundle.type == "searchset"
    assert bundle.total == 5
    assert ids_of(bundle) == world.records
    assert world.unsigned not in ids_of(bundle)
    assert all(isinstance(e.resource, QuestionnaireResponse) for e in bundle.entry)
    assert all(e.search.mode == "match" for e in bundle.entry)
    assert bundle.entry[0].fullUrl.endswith(f"/fhir/QuestionnaireResponse/{world.records[0]}")
    assert link(bundle, "next") is None


def test_authored_narrows_the_search_to_a_range_of_signed_times(client, world):
    june = search(client, world, "authored=ge2025-06-01&authored=le2025-06-30")
    first_day = search(client, world, "authored=2025-06-02")
    later = search(client, world, "authored=gt2025-06-04")

    assert ids_of(june) == world.records[:3] and june.total == 3
    assert ids_of(first_day) == world.records[:1]
    assert ids_of(later) == world.records[3:]


def test_subject_narrows_the_search_to_one_patient(client, world):
    ada = world.patient(0)

    bundle = search(client, world, f"subject=Patient/{ada.id}")
    combined = search(client, world, f"subject=Patient/{ada.id}&authored=ge2025-07-01")

    assert ids_of(bundle) == [world.records[0], world.records[3]]
    assert ids_of(combined) == [world.records[3]]
    assert all(e.resource.subject.reference == f"Patient/{ada.id}" for e in bundle.entry)


def test_count_zero_gives_the_total_alone(client, world):
    bundle = search(client, world, "_count=0")

    assert bundle.total == 5
    assert bundle.entry is None
    assert link(bundle, "next") is None


def walk(client, world, query: str) -> tuple[list[int], list[Bundle]]:
    pages = [search(client, world, query)]
    while (following := link(pages[-1], "next")) is not None:
        assert len(pages) < 20, "the next links never end"
        pages.append(fhir_ok(client.get(relative(following), headers=world.auth), Bundle))
    return [i for page in pages for i in ids_of(page)], pages


def test_next_links_walk_every_result_once_in_a_stable_order(client, world):
    seen, pages = walk(client, world, "_count=2")

    assert seen == world.records
    assert len(set(seen)) == len(seen)
    assert [len(page.entry) for page in pages] == [2, 2, 1]
    assert all(page.total == 5 for page in pages)


def test_next_links_keep_the_filters(client, world):
    seen, pages = walk(client, world, "authored=ge2025-06-01&authored=le2025-06-30&_count=1")

    assert seen == world.records[:3]
    query = parse_qs(urlsplit(link(pages[0], "next")).query)
    assert query["authored"] == ["ge2025-06-01", "le2025-06-30"]
    assert query["_count"] == ["1"]
    assert "_cursor" in query


def test_a_record_signed_while_paging_is_not_served_twice_nor_shifts_the_pages(client, world):
    first = search(client, world, "_count=2")
    sign_at(world.practitioner, world.patient(1), START + timedelta(days=60))
    newest = max(checklists.signed_records(world.officer, limit=1)[0].id, 0)

    rest, _ = walk(client, world, relative(link(first, "next")).split("?", 1)[1])

    seen = ids_of(first) + rest
    assert seen == [*world.records, newest]
    assert len(set(seen)) == len(seen)


def test_records_signed_in_the_same_instant_still_page_without_loss(client, world):
    same = START + timedelta(days=90)
    extra = [sign_at(world.practitioner, world.patient(0), same) for _ in range(3)]

    seen, _ = walk(client, world, "_count=1&authored=ge2025-08-01")

    assert seen == extra


@pytest.mark.parametrize(
    "query",
    [
        "authored=yesterday",
        "authored=ap2025-06-01",
        "authored=2025-02-30",
        "subject=Practitioner/1",
        "subject=Patient/abc",
        "_count=lots",
        "_count=-1",
        "_count=%C2%B2",
        "_cursor=not-a-cursor",
        # Well-formed cursors whose time leaves the calendar once moved to UTC.
        "_cursor=MDAwMS0wMS0wMVQwMDowMDowMCswMTowMHw1",
        "_cursor=OTk5OS0xMi0zMVQyMzo1OTo1OS0wMTowMHw1",
        "patient=12",
        "_format=xml",
    ],
)
def test_a_bad_search_parameter_is_a_400_outcome(client, world, query):
    response = client.get(f"/fhir/QuestionnaireResponse?{query}", headers=world.auth)

    result = outcome(response, 400)
    assert result.issue[0].code == "invalid"
    assert result.issue[0].diagnostics
    assert actions("fhir.search") == []


def test_each_search_request_is_audited_once_with_what_it_returned(client, world):
    walk(client, world, "_count=2")

    events = actions("fhir.search")
    assert len(events) == 3
    assert [e.details["results"] for e in events] == [
        world.records[:2],
        world.records[2:4],
        world.records[4:],
    ]
    assert all(e.actor_id == world.officer_id for e in events)
    assert actions("fhir.read") == []


# --- read-only, unknown paths ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "path", ["/fhir/QuestionnaireResponse", "/fhir/QuestionnaireResponse/1", "/fhir/metadata"]
)
def test_the_api_is_read_only(client, world, method, path):
    response = getattr(client, method)(path, headers=world.auth, json={"resourceType": "Basic"})

    assert outcome(response, 405).issue[0].code == "not-supported"


def test_an_unknown_resource_type_is_a_404_outcome(client, world):
    response = client.get("/fhir/Patient/1", headers=world.auth)

    assert outcome(response, 404).issue[0].code == "not-supported"


# --- export ---------------------------------------------------------------------------------


def export(client, query: str = ""):
    # Buffered: the streamed body is read while the request's own context is still active.
    return client.get("/fhir/export" + (f"?{query}" if query else ""), buffered=True)


def test_compliance_exports_every_signed_record_as_a_collection_bundle(client, world):
    response_id = answer_followup(world.records[0])
    login(client, world.officer)

    response = export(client)

    assert response.status_code == 200
    assert "Content-Length" not in response.headers  # streamed, not built in memory
    assert response.mimetype == FHIR_JSON
    assert response.headers["Content-Disposition"].startswith("attachment;")
    bundle = Bundle.model_validate_json(response.get_data())
    assert bundle.type == "collection"
    ids = [entry.resource.id for entry in bundle.entry]
    assert ids == [
        str(world.records[0]),
        f"followup-{response_id}",
        *(str(i) for i in world.records[1:]),
    ]
    assert all(isinstance(e.resource, QuestionnaireResponse) for e in bundle.entry)
    assert all(
        e.fullUrl.endswith(f"/fhir/QuestionnaireResponse/{e.resource.id}") for e in bundle.entry
    )


def test_the_export_is_limited_to_the_session_dates_asked_for(client, world):
    login(client, world.officer)

    bundle = Bundle.model_validate_json(export(client, "from=2025-06-02&to=2025-06-03").data)
    empty = Bundle.model_validate_json(export(client, "from=2030-01-01").data)

    assert [int(e.resource.id) for e in bundle.entry] == world.records[:2]
    assert empty.entry is None


def test_the_export_is_audited_with_its_range(client, world):
    login(client, world.officer)

    export(client, "from=2025-06-02").get_data()

    (event,) = actions("export.fhir")
    assert event.actor_id == world.officer_id
    assert event.details["from"] == "2025-06-02"
    assert event.details["to"] is None


def test_an_amended_record_is_exported_as_amended(client, world):
    addenda.add_addendum(
        world.other_practitioner, world.records[1], reason="r", body="b", password=PASSWORD
    )
    db.session.commit()
    login(client, world.officer)

    bundle = Bundle.model_validate_json(export(client).data)

    statuses = {e.resource.id: e.resource.status for e in bundle.entry}
    assert statuses[str(world.records[1])] == "amended"
    assert statuses[str(world.records[0])] == "completed"


@pytest.mark.parametrize(
    "query", ["from=yesterday", "to=2025-13-01", "from=2025-07-01&to=2025-06-01"]
)
def test_a_bad_export_range_is_refused_with_a_message(client, world, query):
    login(client, world.officer)

    response = export(client, query)

    assert response.status_code == 400
    assert "The export was not made" in response.get_data(as_text=True)
    assert actions("export.fhir") == []


@pytest.mark.parametrize("role", ["practitioner", "admin"])
def test_only_compliance_may_export(client, world, make_user, role):
    login(client, make_user(role))

    assert export(client).status_code == 403


def test_the_export_needs_a_signed_in_user(client, world):
    response = export(client)

    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_a_bearer_token_does_not_open_the_export(client, world):
    response = client.get("/fhir/export", headers=world.auth)

    assert response.status_code == 302


def test_a_request_the_app_refuses_before_the_api_sees_it_still_gets_an_outcome(client, world):
    response = client.get("/fhir/QuestionnaireResponse?subject=Patient/1%00", headers=world.auth)

    assert outcome(response, 400).issue[0].code == "invalid"


def test_the_api_sets_no_session_cookie(client, world):
    response = client.get(f"/fhir/QuestionnaireResponse/{world.records[0]}", headers=world.auth)

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
