"""The compliance review through its routes, with CSRF on: who may open what, what each page
shows, the flag actions, the downloads, and bad input answered with a message, never a 500."""

from __future__ import annotations

import csv
import html
import io
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import PASSWORD, post_form
from factories import sharps_report
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.checklists.models import Flag, TreatmentSession
from safety.clinics.models import Patient
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.incidents import services as incidents
from safety.integrity.verify import verify_and_record
from safety.review import dashboard, records
from safety.risks.models import TemplateVersion

ROLES = ("anonymous", "practitioner", "colleague", "other_clinic", "compliance", "admin")


@dataclass(frozen=True)
class World:
    """Harbour Physio (Ada, who wrote a record with a high flag, and her colleague Colin, who
    wrote one with a medium flag), Lakeside Physio (Olga, with a clean record), a compliance
    officer and an administrator."""

    emails: dict[str, str]
    ids: dict[str, int]
    ada_record: int
    colin_record: int
    olga_record: int
    ada_flag: int
    colin_flag: int
    pat: int


def build_world(make_clinic, make_user, make_patient, make_session) -> World:
    harbour = make_clinic("Harbour Physio")
    lakeside = make_clinic("Lakeside Physio", timezone="America/Toronto")
    users = {
        "practitioner": make_user("practitioner", clinic=harbour, name="Ada Author"),
        "colleague": make_user("practitioner", clinic=harbour, name="Colin Colleague"),
        "other_clinic": make_user("practitioner", clinic=lakeside, name="Olga Other"),
        "compliance": make_user("compliance", name="Cora Compliance"),
        "admin": make_user("admin", name="Alan Admin"),
    }
    emails = {role: u.email for role, u in users.items()}
    ids = {role: u.id for role, u in users.items()}

    def person(role):
        return db.session.get(User, ids[role])

    pat = make_patient(person("practitioner"), given_name="Pat", family_name="Harbourside")
    pat_id = pat.id
    quinn = make_patient(person("colleague"), given_name="Quinn", family_name="Quayside")
    lara = make_patient(person("other_clinic"), given_name="Lara", family_name="Lakeshore")
    phases = ("signin", "timeout", "signout")
    ada_record = make_session(
        person("practitioner"),
        phases=phases,
        sign=True,
        patient=db.session.get(Patient, pat_id),
        overrides={
            "signout.bleeding": ["prolonged"],
            "signout.bleeding.note": ["Pressure for six minutes."],
        },
    ).id
    colin_record = make_session(
        person("colleague"),
        phases=phases,
        sign=True,
        patient=db.session.get(Patient, quinn.id),
        overrides={"signout.bruising": ["large"], "signout.bruising.note": ["Ice given."]},
    ).id
    olga_record = make_session(
        person("other_clinic"), phases=phases, sign=True, patient=db.session.get(Patient, lara.id)
    ).id

    def flag_of(record_id):
        return db.session.scalar(select(Flag.id).where(Flag.session_id == record_id))

    return World(
        emails,
        ids,
        ada_record,
        colin_record,
        olga_record,
        flag_of(ada_record),
        flag_of(colin_record),
        pat_id,
    )


#: Built once per module; each test that asks for `world` starts from it.
pytestmark = pytest.mark.world.with_args(build_world)


def sign_in(client, world: World, who: str):
    if who != "anonymous":
        response = post_form(
            client, "/auth/login", {"email": world.emails[who], "password": PASSWORD}
        )
        assert response.status_code == 302, f"{who} could not sign in"
    return client


def page_text(response) -> str:
    """The page's visible text, entities decoded and whitespace collapsed."""
    chunks: list[str] = []
    parser = HTMLParser()
    parser.handle_data = chunks.append
    parser.feed(response.get_data(as_text=True))
    return " ".join("".join(chunks).split())


class _Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, dict] = {}
        self.text: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.attrs.setdefault(attributes["id"], attributes)
            if tag == "p":
                self._open.append(attributes["id"])
                self.text.setdefault(attributes["id"], "")

    def handle_endtag(self, tag):
        if tag == "p" and self._open:
            self._open.pop()

    def handle_data(self, data):
        for name in self._open:
            self.text[name] += data


def assert_message_beside(response, name: str, message: str) -> None:
    """The field points at its own message, which says what to do."""
    parser = _Fields()
    parser.feed(response.get_data(as_text=True))
    assert message in " ".join(parser.text.get(f"{name}-error", "").split()), parser.text
    control = parser.attrs.get(name)
    assert control is not None, f"no control with id {name!r}"
    assert control.get("aria-invalid") == "true"
    assert f"{name}-error" in (control.get("aria-describedby") or "")


def count(action: str) -> int:
    return db.session.scalar(select(func.count()).where(AuditEvent.action == action))


def flag(flag_id: int) -> Flag:
    db.session.expire_all()
    return db.session.get(Flag, flag_id)


def assert_sent_to_login(response) -> None:
    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/auth/login"


# --- who may open what -----------------------------------------------------------------------

#: Page -> {role: status}; roles not listed get 403 (signed in) or the login page (anonymous).
PAGES = {
    "/review/": {"compliance": 200},
    "/review/records": {"compliance": 200},
    "/review/records?clinic=1&state=signed&flag=any": {"compliance": 200},
    "/review/records/{ada_record}": {
        "compliance": 200,
        "practitioner": 200,
        "colleague": 200,
        "other_clinic": 404,
    },
    "/review/records/{ada_record}/print": {
        "compliance": 200,
        "practitioner": 200,
        "colleague": 200,
        "other_clinic": 404,
    },
    "/review/flags": {
        "compliance": 200,
        "practitioner": 200,
        "colleague": 200,
        "other_clinic": 200,
    },
    "/review/flags/{ada_flag}/resolve": {"compliance": 200},
    "/review/lots": {"compliance": 200},
    "/review/lots?lot=LOT-2611A": {"compliance": 200},
    "/review/lots.csv?lot=LOT-2611A": {"compliance": 200},
    "/review/records.csv": {"compliance": 200},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(PAGES))
def test_each_review_page_opens_only_for_the_roles_that_use_it(client, world, page, role):
    sign_in(client, world, role)

    # Buffered: a download streams, and is read to its end as a WSGI server would.
    response = client.get(page.format(**vars(world)), buffered=True)
    body = response.get_data(as_text=True)

    if role == "anonymous":
        assert_sent_to_login(response)
    else:
        assert response.status_code == PAGES[page].get(role, 403)
    if response.status_code == 404:
        assert "Harbourside" not in body


#: Action -> (form, {role: status}); every other signed-in role gets 403.
ACTIONS = {
    "/review/records/patient": (lambda w: {"name": "Harbourside"}, {"compliance": 302}),
    "/review/flags/{ada_flag}/acknowledge": (
        lambda w: {},
        {"compliance": 302, "practitioner": 302, "colleague": 404, "other_clinic": 404},
    ),
    "/review/flags/{ada_flag}/resolve": (
        lambda w: {"note": "Called the patient."},
        {"compliance": 302},
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_review_action_is_allowed_only_to_the_roles_that_use_it(client, world, action, role):
    sign_in(client, world, role)
    form, allowed = ACTIONS[action]

    response = post_form(client, action.format(**vars(world)), form(world))

    if role == "anonymous":
        assert_sent_to_login(response)
        return
    assert response.status_code == allowed.get(role, 403)
    if response.status_code != 302 and "flags" in action:
        assert flag(world.ada_flag).status == "open"


def test_a_compliance_officer_starts_on_the_dashboard(client, world):
    sign_in(client, world, "compliance")

    assert urlparse(client.get("/").headers["Location"]).path == "/review/"


# --- dashboard -------------------------------------------------------------------------------


def test_the_dashboards_open_flags_say_they_are_not_the_periods(client, world):
    """The tile sits among the period's figures but counts every flag still open."""
    sign_in(client, world, "compliance")

    text = page_text(client.get("/review/"))

    assert "Open flags" in text and "open now, whenever raised" in text


def test_the_dashboard_says_the_audit_trail_was_never_verified(client, world):
    sign_in(client, world, "compliance")

    text = page_text(client.get("/review/"))

    assert "Verification never run — run flask audit verify" in text
    assert "No signed checkpoint yet" in text


def test_the_dashboard_shows_the_last_verification_and_its_result(client, world):
    verify_and_record()
    db.session.commit()
    sign_in(client, world, "compliance")

    text = page_text(client.get("/review/"))

    assert "intact — " in text
    assert "3 signed records checked" in text


def test_the_dashboard_shows_a_broken_verification_plainly(client, world):
    from safety.dbtypes import utcnow
    from safety.integrity.models import VerificationRun

    db.session.add(
        VerificationRun(
            started_dt=utcnow(),
            finished_dt=utcnow(),
            is_intact=False,
            problem="audit event 3 is missing (found 4)",
        )
    )
    db.session.commit()
    sign_in(client, world, "compliance")

    text = page_text(client.get("/review/"))

    assert "a problem was found — audit event 3 is missing (found 4)" in text


def test_a_kept_verification_result_turned_intact_behind_the_applications_back_is_shown_as_such(
    client, world
):
    """An insider's review turned a broken result into "intact" with one UPDATE and the
    dashboard believed it. Each kept result's own audit event now says what it was: here the
    first run's result is rewritten, the next verification finds that, and its own break,
    turned to "intact" in turn, still shows on the dashboard."""
    from sqlalchemy import text as sql

    from safety.integrity.models import VerificationRun
    from safety.integrity.verify import verify

    verify_and_record()
    db.session.commit()
    run_id = db.session.scalars(select(VerificationRun.id)).one()
    db.session.execute(
        sql("UPDATE verification_runs SET is_intact = :no, problem = 'audit event 3 is missing'"),
        {"no": False},
    )
    db.session.commit()
    verify_and_record()  # finds run 1 rewritten: a break, whose kept result is rewritten too
    db.session.commit()
    broken_id = max(db.session.scalars(select(VerificationRun.id)))
    db.session.execute(
        sql("UPDATE verification_runs SET is_intact = :yes, problem = NULL WHERE id = :id"),
        {"yes": True, "id": broken_id},
    )
    db.session.commit()
    sign_in(client, world, "compliance")

    text = page_text(client.get("/review/"))

    assert "The audit trail verification found a break." in text
    assert f"the kept result of verification run {broken_id} was altered" in text
    db.session.expire_all()
    assert f"verification run {run_id} was altered" in verify().problem


def test_a_kept_verification_result_deleted_behind_the_applications_back_is_shown_missing(
    client, world
):
    """Deleting a broken result left the intact one before it on the dashboard."""
    from sqlalchemy import text as sql

    from safety.integrity.models import VerificationRun
    from safety.integrity.verify import verify

    verify_and_record()
    verify_and_record()
    db.session.commit()
    last = max(db.session.scalars(select(VerificationRun.id)))
    db.session.execute(sql("DELETE FROM verification_runs WHERE id = :id"), {"id": last})
    db.session.commit()
    sign_in(client, world, "compliance")

    text = page_text(client.get("/review/"))

    assert f"the kept result of verification run {last} is missing" in text
    db.session.expire_all()
    assert verify().problem == f"the kept result of verification run {last} is missing"


def test_the_dashboard_draws_accessible_charts_beside_the_published_baselines(client, world):
    sign_in(client, world, "compliance")

    response = client.get("/review/")
    page = response.get_data(as_text=True)
    text = page_text(response)

    assert page.count('role="img"') == 4
    assert '<title id="chart-bleeding-title">' in page
    assert '<desc id="chart-bleeding-desc">' in page
    assert "Brady 2014 4.65 %" in page and "Boyce 2020 16 %" in page
    assert "Brady 2014 7.55 %" in page and "Boyce 2020 7.7 %" in page
    assert "Brady 2014 3.01 %" in page and "Boyce 2020 5.9 %" in page
    assert "rated pain during needling 4 or more out of 10" in text
    assert "Bleeding at needle sites as a table" in text
    assert "<script" not in page


def test_the_dashboard_counts_sessions_flags_and_has_no_follow_up_rate_yet(client, world):
    sign_in(client, world, "compliance")

    text = page_text(client.get("/review/"))

    assert "Sessions 3 started in the period" in text
    assert "Checklist completion 100.0 %" in text
    assert "High: 1" in text and "Medium: 1" in text
    assert "No follow-ups yet." in text


def test_the_dashboard_keeps_its_monthly_figures_for_a_while_says_since_when_and_flags_stay_live(
    app, client, world, make_session
):
    app.config["DASHBOARD_CACHE_SECONDS"] = 60
    dashboard.RECENT.clear()
    sign_in(client, world, "compliance")
    first = page_text(client.get("/review/"))
    assert "Sessions 3 started in the period" in first
    assert "High: 1" in first
    assert re.search(
        r"Sessions, completion, follow-up replies and the monthly figures as of "
        r"\d\d \w{3} \d{4}, \d\d:\d\d:\d\d UTC: they are counted again at most every 60 "
        r"seconds\. Flags and the audit trail are as of now\.",
        first,
    )

    ada = db.session.get(User, world.ids["practitioner"])
    make_session(
        ada,
        phases=("signin", "timeout", "signout"),
        sign=True,
        patient=db.session.get(Patient, world.pat),
        overrides={"signout.bleeding": ["prolonged"], "signout.bleeding.note": ["Pressure."]},
    )
    assert "No incidents in this period." in first
    incidents.report_incident(ada, sharps_report(utcnow()), session_id=None, password=PASSWORD)
    db.session.commit()
    kept = page_text(client.get("/review/"))
    assert "Sessions 3 started in the period" in kept  # counted less than a minute ago
    assert "No incidents in this period." in kept  # the monthly incident table too
    assert "High: 2" in kept  # flags are read for every request

    app.config["DASHBOARD_CACHE_SECONDS"] = 0.01  # as if the minute had passed
    time.sleep(0.02)
    counted_again = page_text(client.get("/review/"))
    assert "Sessions 4 started in the period" in counted_again
    assert "No incidents in this period." not in counted_again
    dashboard.RECENT.clear()


# --- records ---------------------------------------------------------------------------------


def test_records_link_to_their_detail_and_never_put_a_patient_in_an_address(client, world):
    sign_in(client, world, "compliance")

    response = client.get("/review/records")
    page = response.get_data(as_text=True)

    assert f'href="/review/records/{world.ada_record}"' in page
    assert "Pat Harbourside" in page_text(response)
    assert "3 records match" in page_text(response)
    for href in re.findall(r'(?:href|action)="([^"]+)"', page):
        assert "Harbourside" not in href and "Pat" not in href


def test_the_record_list_offers_the_fhir_bundle_for_its_dates_only(client, world):
    sign_in(client, world, "compliance")

    page = client.get(
        f"/review/records?patient={world.pat}&from=2026-01-01&to=2026-12-31"
    ).get_data(as_text=True)

    link = re.search(r'href="(/fhir/export[^"]*)"', page)
    assert link, "no FHIR export link"
    assert link.group(1).replace("&amp;", "&") == "/fhir/export?from=2026-01-01&to=2026-12-31"
    assert client.get(link.group(1).replace("&amp;", "&"), buffered=True).status_code == 200


def test_records_filter_by_clinic_and_flag_severity(client, world):
    sign_in(client, world, "compliance")
    harbour = db.session.scalar(select(Patient.clinic_id).where(Patient.id == world.pat))

    page = client.get(f"/review/records?clinic={harbour}&flag=high").get_data(as_text=True)

    assert f'href="/review/records/{world.ada_record}"' in page
    assert f'href="/review/records/{world.colin_record}"' not in page
    assert f'href="/review/records/{world.olga_record}"' not in page


def test_records_filter_by_practitioner_and_version_and_keep_both_chosen(client, world):
    sign_in(client, world, "compliance")
    version = db.session.scalar(
        select(TreatmentSession.template_version_id).where(TreatmentSession.id == world.ada_record)
    )
    number = db.session.get(TemplateVersion, version).version
    ada = world.ids["practitioner"]

    page = html.unescape(
        client.get(f"/review/records?practitioner={ada}&version={version}").get_data(as_text=True)
    )

    assert f'<option value="{ada}" selected>Ada Author (Harbour Physio)</option>' in page
    assert ">Olga Other (Lakeside Physio)</option>" in page
    assert f'<option value="{version}" selected>Version {number}</option>' in page
    assert f'href="/review/records/{world.ada_record}"' in page
    assert f'href="/review/records/{world.colin_record}"' not in page


def test_the_record_list_pages_forward_and_back(client, world, monkeypatch):
    monkeypatch.setattr(records, "PAGE_SIZE", 2)
    sign_in(client, world, "compliance")

    first = client.get("/review/records").get_data(as_text=True)
    older = re.search(r'href="(/review/records\?after=[^"]+)" rel="next"', first)
    assert older, "no link to older records"
    second = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)

    # Each record on exactly one page, whatever the clinics' local dates are at test time.
    def listed(page):
        return {int(n) for n in re.findall(r'href="/review/records/(\d+)"', page)}

    assert len(listed(first)) == 2
    assert listed(first) | listed(second) == {
        world.ada_record,
        world.colin_record,
        world.olga_record,
    }
    assert not listed(first) & listed(second)
    assert 'rel="prev"' in second


def test_a_refused_export_shows_the_filters_as_the_record_list_does(client, world):
    sign_in(client, world, "compliance")
    filters = f"?patient={world.pat}&from=31/12/2026"

    listed = client.get("/review/records" + filters)
    refused = client.get("/review/records.csv" + filters)

    assert refused.status_code == listed.status_code == 400
    assert "Pat Harbourside" in page_text(listed)
    assert "Pat Harbourside" in page_text(refused)


def test_a_patient_search_posts_the_name_and_answers_with_the_id_only(client, world):
    sign_in(client, world, "compliance")

    response = post_form(client, "/review/records/patient", {"name": "harbour"})

    assert response.status_code == 302
    location = response.headers["Location"]
    assert parse_qs(urlparse(location).query) == {"patient": [str(world.pat)]}
    assert "arbour" not in location
    listed = client.get(location)
    assert "Pat Harbourside" in page_text(listed)
    assert f'href="/review/records/{world.ada_record}"' in listed.get_data(as_text=True)
    assert f'href="/review/records/{world.colin_record}"' not in listed.get_data(as_text=True)


def test_a_patient_search_finds_a_name_typed_without_its_accents(client, world, make_patient):
    colleague = db.session.get(User, world.ids["colleague"])
    lucia = make_patient(colleague, given_name="Lucía", family_name="Núñez").id
    sign_in(client, world, "compliance")

    response = post_form(client, "/review/records/patient", {"name": "lucia nunez"})

    assert response.status_code == 302
    assert parse_qs(urlparse(response.headers["Location"]).query) == {"patient": [str(lucia)]}


def test_a_patient_search_with_several_matches_lists_them_by_id(client, world):
    sign_in(client, world, "compliance")

    response = post_form(client, "/review/records/patient", {"name": "side"})

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Pat Harbourside" in page_text(response)
    assert "Quinn Quayside" in page_text(response)
    for href in re.findall(r'href="(/review/records\?[^"]+)"', page):
        assert re.fullmatch(r"/review/records\?patient=\d+", href)


def test_a_patient_search_without_a_name_says_what_is_needed(client, world):
    sign_in(client, world, "compliance")

    response = post_form(client, "/review/records/patient", {"name": ""})

    assert response.status_code == 400
    assert_message_beside(response, "name", "Enter part of the patient's name.")


def test_a_patient_search_without_the_csrf_token_is_refused(client, world):
    sign_in(client, world, "compliance")

    response = client.post("/review/records/patient", data={"name": "Harbourside"})

    assert response.status_code == 400
    assert "Harbourside" not in response.get_data(as_text=True)


def test_a_patient_search_is_never_a_get(client, world):
    sign_in(client, world, "compliance")

    assert client.get("/review/records/patient?name=Harbourside").status_code == 405


# --- record detail and print -----------------------------------------------------------------


def test_the_record_shows_its_signature_phases_flags_and_history(client, world):
    sign_in(client, world, "compliance")

    response = client.get(f"/review/records/{world.ada_record}")
    text = page_text(response)

    assert response.status_code == 200
    assert "Ada Author — Performed and verified these checks" in text
    assert "SHA-256 of the content" in text
    assert "Phases as they were saved" in text
    assert "Prolonged bleeding" in text
    assert "Acknowledge" in text
    assert "Resolve with a note" in text
    assert "Audit history of this record" in text
    assert "Signed the checklist" in text
    assert "No addenda." in text
    assert 'name="csrf_token"' in response.get_data(as_text=True)


def test_opening_a_record_is_audited_as_a_view(client, world):
    sign_in(client, world, "compliance")

    client.get(f"/review/records/{world.ada_record}")
    client.get(f"/review/records/{world.ada_record}/print")

    assert count("session.view") == 2


def test_the_print_view_has_no_buttons_and_names_the_record_on_paper(client, world):
    sign_in(client, world, "compliance")

    response = client.get(f"/review/records/{world.ada_record}/print")
    page = response.get_data(as_text=True)
    main = page[page.index("<main") :]

    assert "<button" not in main
    assert "Acknowledge" not in main
    assert f"NeedleSafe record #{world.ada_record}" in page_text(response)
    assert "printed" in page_text(response)


def test_a_colleague_sees_the_record_but_cannot_act_on_its_flag(client, world):
    sign_in(client, world, "colleague")

    response = client.get(f"/review/records/{world.ada_record}")

    assert response.status_code == 200
    assert f"/review/flags/{world.ada_flag}/acknowledge" not in response.get_data(as_text=True)
    assert "Resolve with a note" not in page_text(response)


# --- flags -----------------------------------------------------------------------------------


def test_the_flags_queue_lists_every_flag_for_compliance(client, world):
    sign_in(client, world, "compliance")

    text = page_text(client.get("/review/flags"))

    assert "Prolonged bleeding" in text and "Large bruise" in text
    assert "2 flags match. Patient answers nobody acknowledged in time come first" in text


def test_the_flags_queue_narrows_to_one_clinic_as_the_dashboards_counts_for_it_do(client, world):
    """The dashboard for one clinic counted its open flags, and its links led to every
    clinic's: the queue had no clinic filter, and ignored one."""
    from safety.clinics.models import Clinic

    clinic_ids = {name: id_ for name, id_ in db.session.execute(select(Clinic.name, Clinic.id))}
    harbour, lakeside = clinic_ids["Harbour Physio"], clinic_ids["Lakeside Physio"]
    sign_in(client, world, "compliance")

    assert "2 flags match" in page_text(client.get(f"/review/flags?clinic={harbour}"))
    assert "0 flags match" in page_text(client.get(f"/review/flags?clinic={lakeside}"))
    refused = client.get("/review/flags?clinic=abc")
    assert refused.status_code == 400
    assert "Choose a clinic from the list." in page_text(refused)
    dashboard = client.get(f"/review/?clinic={harbour}").get_data(as_text=True)
    assert f"/review/flags?status=open&amp;severity=high&amp;clinic={harbour}" in dashboard
    assert f"/incidents/?clinic={harbour}" in dashboard


def test_a_queue_with_no_flags_says_so_without_explaining_an_order(client, world):
    sign_in(client, world, "compliance")

    text = page_text(client.get("/review/flags?severity=low"))

    assert "0 flags match." in text
    assert "come first" not in text


def test_a_practitioner_sees_only_the_flags_of_their_own_sessions(client, world):
    sign_in(client, world, "practitioner")

    response = client.get("/review/flags")
    text = page_text(response)

    assert "Prolonged bleeding" in text
    assert "Large bruise" not in text
    assert f"/review/flags/{world.ada_flag}/acknowledge" in response.get_data(as_text=True)
    assert "/resolve" not in response.get_data(as_text=True)


def test_acknowledging_a_flag_from_the_queue_marks_it_and_audits_it(client, world):
    sign_in(client, world, "compliance")

    response = post_form(client, f"/review/flags/{world.ada_flag}/acknowledge", {"back": "flags"})

    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/review/flags"
    assert flag(world.ada_flag).status == "acknowledged"
    assert count("flag.acknowledge") == 1
    assert "Flag acknowledged." in page_text(client.get(response.headers["Location"]))


def test_acknowledging_from_the_record_goes_back_to_the_record(client, world):
    sign_in(client, world, "practitioner")

    response = post_form(client, f"/review/flags/{world.ada_flag}/acknowledge", {"back": "record"})

    assert urlparse(response.headers["Location"]).path == f"/review/records/{world.ada_record}"
    assert flag(world.ada_flag).acknowledged_by_id == world.ids["practitioner"]


def test_acknowledging_twice_says_so_kindly(client, world):
    sign_in(client, world, "compliance")
    post_form(client, f"/review/flags/{world.ada_flag}/acknowledge")

    response = post_form(client, f"/review/flags/{world.ada_flag}/acknowledge")

    assert response.status_code == 302
    assert "This flag was already acknowledged." in page_text(
        client.get(response.headers["Location"])
    )
    assert count("flag.acknowledge") == 1


def test_acknowledging_without_the_csrf_token_changes_nothing(client, world):
    sign_in(client, world, "compliance")

    response = client.post(f"/review/flags/{world.ada_flag}/acknowledge")

    assert response.status_code == 400
    assert flag(world.ada_flag).status == "open"


def test_resolving_a_flag_needs_a_note_shown_beside_the_field(client, world):
    sign_in(client, world, "compliance")

    response = post_form(client, f"/review/flags/{world.ada_flag}/resolve", {"note": "  "})

    assert response.status_code == 400
    assert_message_beside(response, "note", "Write what was done about this flag.")
    assert flag(world.ada_flag).status == "open"
    assert count("flag.resolve") == 0


def test_resolving_a_flag_with_a_note_closes_it(client, world):
    sign_in(client, world, "compliance")

    response = post_form(
        client,
        f"/review/flags/{world.ada_flag}/resolve",
        {"note": "Phoned the patient: no further bleeding.", "back": "record"},
    )

    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == f"/review/records/{world.ada_record}"
    resolved = flag(world.ada_flag)
    assert resolved.status == "resolved"
    assert resolved.resolution_note == "Phoned the patient: no further bleeding."
    assert count("flag.resolve") == 1
    record = page_text(client.get(response.headers["Location"]))
    assert "What was done: Phoned the patient: no further bleeding." in record


def test_an_unknown_back_destination_resolves_the_flag_and_returns_to_the_queue(client, world):
    sign_in(client, world, "compliance")

    response = post_form(
        client,
        f"/review/flags/{world.ada_flag}/resolve",
        {"note": "Phoned the patient.", "back": "https://elsewhere.example"},
    )

    assert response.status_code == 302
    assert urlparse(response.headers["Location"]).path == "/review/flags"
    assert flag(world.ada_flag).status == "resolved"


def test_a_resolved_flag_leaves_the_default_queue(client, world):
    sign_in(client, world, "compliance")
    post_form(client, f"/review/flags/{world.ada_flag}/resolve", {"note": "Done."})

    queue = client.get("/review/flags").get_data(as_text=True)
    resolved = client.get("/review/flags?status=resolved").get_data(as_text=True)

    assert f'id="flag-{world.ada_flag}"' not in queue
    assert f'id="flag-{world.colin_flag}"' in queue
    assert f'id="flag-{world.ada_flag}"' in resolved


def test_an_open_flag_offers_its_resolution_and_a_resolved_one_says_it_is_done(client, world):
    sign_in(client, world, "compliance")
    resolve = f"/review/flags/{world.ada_flag}/resolve"
    record = f"/review/records/{world.ada_record}"

    def flag_item(url: str) -> str:
        page = html.unescape(client.get(url).get_data(as_text=True))
        return re.search(rf'<li id="flag-{world.ada_flag}".*?</li>', page, re.S)[0]

    before = flag_item(record)
    assert "Open." in before and f'href="{resolve}?back=record"' in before
    assert f'href="{resolve}"' in client.get("/review/flags").get_data(as_text=True)

    post_form(client, resolve, {"note": "Done."})

    after = flag_item(record)
    assert "Open." not in after and "/resolve" not in after
    queue = client.get("/review/flags?status=resolved").get_data(as_text=True)
    assert f'id="flag-{world.ada_flag}"' in queue and f'href="{resolve}"' not in queue
    page = client.get(resolve).get_data(as_text=True)
    assert "This flag is already resolved." in page and 'name="note"' not in page


# --- lot trace -------------------------------------------------------------------------------


def test_the_lot_trace_lists_sessions_patients_and_practitioners(client, world):
    sign_in(client, world, "compliance")

    response = client.get("/review/lots?lot=LOT-26&match=prefix")
    text = page_text(response)

    assert "3 sessions match for lots starting with “LOT-26”" in text
    assert "Pat Harbourside" in text and "Olga Other" in text
    assert "/review/lots.csv?lot=LOT-26&amp;match=prefix" in response.get_data(as_text=True)


def test_the_recall_csv_has_the_patients_contacts_and_is_audited(client, world):
    sign_in(client, world, "compliance")

    response = client.get("/review/lots.csv?lot=LOT-2611A", buffered=True)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    *rows, checkpoint = csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig")))
    assert checkpoint["record_id"] == "NeedleSafe audit checkpoint"
    assert {r["patient_family_name"] for r in rows} == {"Harbourside", "Quayside", "Lakeshore"}
    assert all(r["patient_email"] == "ada@example.org" for r in rows)
    assert count("export.lot_trace") == 1


# --- CSV export ------------------------------------------------------------------------------


def test_the_records_csv_downloads_with_the_filters_and_is_audited(client, world):
    sign_in(client, world, "compliance")
    harbour = db.session.scalar(select(Patient.clinic_id).where(Patient.id == world.pat))

    response = client.get(f"/review/records.csv?clinic={harbour}", buffered=True)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    # UTF-8 with a byte-order mark, or Excel reads "Lucía" as "LucÃ­a"; then the first row
    # names the columns for people, and the keys follow.
    assert response.get_data().startswith(b"\xef\xbb\xbf")
    people, keys = response.get_data().decode("utf-8-sig").split("\r\n", 1)
    assert people.startswith("Record,Clinic,Patient ID,Practitioner,")
    *rows, last = list(csv.DictReader(io.StringIO(keys)))
    assert last["record_id"] == "NeedleSafe audit checkpoint"  # the evidence, in the file
    assert {int(r["record_id"]) for r in rows} == {world.ada_record, world.colin_record}
    assert {r["signout.bleeding"] for r in rows} == {"prolonged", "none"}
    assert count("export.csv") == 1


# --- bad input -------------------------------------------------------------------------------

#: Address -> (field, message) shown beside the field with a 400.
BAD_FILTERS = {
    "/review/records?clinic=abc": ("clinic", "Choose a clinic from the list."),
    "/review/records?clinic=99999999999": ("clinic", "Choose a clinic from the list."),
    "/review/records?practitioner=-1": ("practitioner", "Choose a practitioner from the list."),
    "/review/records?version=1.5": ("version", "Choose a checklist version from the list."),
    "/review/records?from=2026-13-01": ("from", "Enter a date as YYYY-MM-DD"),
    "/review/records?to=yesterday": ("to", "Enter a date as YYYY-MM-DD"),
    "/review/records?from=2026-03-10&to=2026-03-01": ("to", "The end date is before the start"),
    "/review/records?flag=purple": ("flag", "Choose a flag option from the list."),
    "/review/records?state=lost": ("state", "Choose a state from the list."),
    "/review/records.csv?from=31/12/2026": ("from", "Enter a date as YYYY-MM-DD"),
    "/review/?months=7": ("months", "Choose a period from the list."),
    "/review/?months=%C2%B2": ("months", "Choose a period from the list."),
    "/review/records?clinic=%C2%B2": ("clinic", "Choose a clinic from the list."),
    "/review/flags?page=%D9%A3&status=x": ("status", "Choose a status from the list."),
    "/review/?clinic=x": ("clinic", "Choose a clinic from the list."),
    "/review/flags?status=maybe": ("status", "Choose a status from the list."),
    "/review/flags?severity=huge": ("severity", "Choose a severity from the list."),
    "/review/flags?kind=DROP%20TABLE": ("kind", "Choose a kind of flag from the list."),
    "/review/lots?lot=" + "X" * 65: ("lot", "A lot number has at most 64 characters."),
    "/review/lots?lot=H&match=prefix": ("lot", "Enter at least 2 characters"),
    "/review/lots?lot=&from=2026-01-01": (
        "lot",
        "Enter the lot number printed on the needle pack.",
    ),
    "/review/lots?lot=X&to=not-a-date": ("to", "Enter a date as YYYY-MM-DD"),
    "/review/lots.csv": ("lot", "Enter the lot number printed on the needle pack."),
}


@pytest.mark.parametrize("address", list(BAD_FILTERS))
def test_a_bad_filter_gets_a_message_beside_its_field(client, world, address):
    sign_in(client, world, "compliance")

    response = client.get(address)

    assert response.status_code == 400
    field, message = BAD_FILTERS[address]
    assert_message_beside(response, field, message)


def test_the_record_lists_error_summary_names_each_refused_filter(client, world):
    sign_in(client, world, "compliance")

    page = client.get("/review/records?version=1.5&flag=purple&to=yesterday")

    summary = dict(re.findall(r'<li><a href="#([^"]+)">([^<]*) — ', page.get_data(as_text=True)))
    assert summary == {"version": "Checklist version", "flag": "Flags", "to": "To"}


def test_a_bad_lot_match_gets_a_message(client, world):
    sign_in(client, world, "compliance")

    response = client.get("/review/lots?lot=LOT&match=wild")

    assert response.status_code == 400
    assert "Choose an exact match or a prefix." in page_text(response)


@pytest.mark.parametrize(
    "address",
    [
        "/review/records?after=garbage",
        "/review/records?before=2026-03-10_0",
        "/review/records?after=2026-02-30_5",
        "/review/lots?lot=LOT-2611A&after=%00",
        "/review/flags?page=0",
        "/review/flags?page=abc",
        "/review/flags?page=99999999999999",
        "/review/flags?page=%D9%A3",
        "/review/records?after=%D9%A3%D9%A3%D9%A3%D9%A3-01-01_1",
    ],
)
def test_a_broken_page_link_shows_the_first_page_with_a_note(client, world, address):
    sign_in(client, world, "compliance")

    response = client.get(address)

    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert "That page link did not work, so here is the first page." in page_text(response)


@pytest.mark.parametrize(
    ("method", "address"),
    [
        ("GET", "/review/records/0"),
        ("GET", "/review/records/999999"),
        ("GET", "/review/records/2147483648"),
        ("GET", "/review/records/99999999999999999999999"),
        ("GET", "/review/records/abc"),
        ("GET", "/review/records/999999/print"),
        ("GET", "/review/flags/999999/resolve"),
        ("GET", "/review/flags/99999999999999999999999/resolve"),
        ("POST", "/review/flags/999999/acknowledge"),
        ("POST", "/review/flags/0/acknowledge"),
        ("POST", "/review/flags/99999999999999999999999/acknowledge"),
        ("POST", "/review/flags/abc/acknowledge"),
        ("POST", "/review/flags/999999/resolve"),
    ],
)
def test_an_address_that_names_nothing_is_not_found(client, world, method, address):
    sign_in(client, world, "compliance")

    response = client.get(address) if method == "GET" else post_form(client, address, {"note": "x"})

    assert response.status_code == 404


def test_a_very_long_filter_value_never_gives_a_server_error(client, world):
    sign_in(client, world, "compliance")

    for address in [
        "/review/records?clinic=" + "9" * 5000,
        "/review/records?from=" + "2" * 5000,
        "/review/flags?kind=" + "a" * 5000,
        "/review/lots?lot=" + "Z" * 5000 + "&match=prefix",
        "/review/records?after=" + "x" * 5000,
    ]:
        assert client.get(address).status_code in (200, 400)


def test_resolve_started_from_a_record_carries_the_way_back_to_it(client, world):
    sign_in(client, world, "compliance")
    record = client.get(f"/review/records/{world.ada_record}").get_data(as_text=True)
    link = f"/review/flags/{world.ada_flag}/resolve?back=record"
    assert link in record

    form = client.get(link).get_data(as_text=True)

    assert '<input type="hidden" name="back" value="record">' in form
    assert f'href="/review/records/{world.ada_record}">Cancel</a>' in form


def test_the_flags_queue_names_the_patient_of_each_flag(client, world):
    sign_in(client, world, "compliance")

    queue = page_text(client.get("/review/flags?status=all"))

    assert "Pat Harbourside" in queue and "Quinn Quayside" in queue


def test_a_signed_record_names_its_signer_as_signed_after_the_account_is_renamed(client, world):
    """An insider's review renamed the account and the record's "Practitioner:" followed it,
    while the signature said otherwise."""
    from sqlalchemy import text as sql

    db.session.execute(sql("UPDATE users SET name = 'Ruth Renamed' WHERE name = 'Ada Author'"))
    db.session.commit()
    sign_in(client, world, "compliance")

    text = page_text(client.get(f"/review/records/{world.ada_record}"))

    assert "Practitioner: Ada Author." in text
    assert "Practitioner: Ruth Renamed." not in text


def test_the_record_puts_its_flags_and_answers_before_the_signature(client, world):
    sign_in(client, world, "compliance")

    record = page_text(client.get(f"/review/records/{world.ada_record}"))

    assert record.index("Flags") < record.index("Sign in") < record.index("Signature")


def test_the_history_folds_a_readers_repeated_views_into_one_line(client, world):
    sign_in(client, world, "compliance")
    for _ in range(3):
        client.get(f"/review/records/{world.ada_record}")

    printed = page_text(client.get(f"/review/records/{world.ada_record}/print"))

    assert "Viewed the record (4 times)" in printed
    assert count("session.view") == 4  # every view is still audited
