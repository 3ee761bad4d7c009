"""Incidents through the pages, CSRF on: reporting a needlestick from a session with its lot
filled in, bad input explained beside the field with nothing saved, steps ticked with their
time, who sees the injured person's name, the access matrix, and the privacy-case sharps log."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import factories
import pytest
from conftest import PASSWORD, login, post_form
from factories import LONDON, london_minutes_ago
from htmlpage import elements
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.checklists.models import Flag
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.incidents import rules, services
from safety.incidents.models import Incident, IncidentStep

INJURED = "Wilhelmina Private"
LOT = factories.INCIDENT_LOT


@dataclass(frozen=True)
class World:
    emails: dict[str, str]
    session_a: int
    incident_a: int
    adverse_a: int


def build_world(make_clinic, make_user, make_session) -> World:
    clinic_a = make_clinic("Harbour Physio")
    clinic_b = make_clinic("Lakeside Physio", timezone="America/Toronto")
    users = {
        "practitioner": make_user("practitioner", clinic=clinic_a, name="Ada Author"),
        "lead": make_user("practitioner", clinic=clinic_a, name="Lena Lead"),
        "colleague": make_user("practitioner", clinic=clinic_a, name="Colin Colleague"),
        "other_clinic": make_user("practitioner", clinic=clinic_b, name="Olga Other"),
        "compliance": make_user("compliance", name="Cora Compliance"),
        "admin": make_user("admin", name="Alan Admin"),
    }
    lead = db.session.get(User, users["lead"].id)
    lead.lead_clinic_id = lead.clinic_id
    db.session.commit()
    emails = {role: user.email for role, user in users.items()}
    author = db.session.get(User, users["practitioner"].id)
    session = make_session(
        author,
        phases=("signin", "timeout", "signout"),
        overrides={"timeout.needle_lot": [LOT]},
        sign=True,
    )
    now = utcnow()
    author = db.session.get(User, users["practitioner"].id)
    incident = services.report_incident(
        author,
        rules.Report(
            kind=rules.Kind.SHARPS_INJURY,
            occurred_dt=now - timedelta(minutes=10),
            work_area="Room 3",
            description="Stuck while removing a needle.",
            device_type="filiform_needle",
            device_brand="Seirin J-type",
            device_lot=LOT,
            device_purpose="removing",
            how="patient_moved",
            body_site="finger",
            is_used_on_patient=True,
            injured_name=INJURED,
            injured_job="Physiotherapist",
        ),
        session_id=session.id,
        password=PASSWORD,
    )
    adverse = services.report_incident(
        author,
        rules.Report(
            kind=rules.Kind.ADVERSE_EVENT,
            occurred_dt=now - timedelta(minutes=30),
            work_area="Room 1",
            description="Fainted on sitting up.",
            action_taken="Laid flat; recovered.",
            event_type="fainting",
            grade="mild",
        ),
        session_id=None,
        password=PASSWORD,
    )
    db.session.commit()
    return World(emails, session.id, incident.id, adverse.id)


pytestmark = pytest.mark.world.with_args(build_world)


def sign_in(client, world: World, who: str):
    if who != "anonymous":
        response = post_form(
            client, "/auth/login", {"email": world.emails[who], "password": PASSWORD}
        )
        assert response.status_code == 302, f"{who} could not sign in"
    return client


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


#: The world's clinic's zone: a time typed into its forms is London's wall-clock time.
#: Where a record page suggests reporting an event outside the clinic.
PROMPT = re.compile(r'<p class="callout">Consider reporting to <strong>(.*?)</strong>')


def report_form(**changes) -> dict:
    return factories.report_form(**{"password": PASSWORD, **changes})


# --- reporting ---------------------------------------------------------------------------------


def test_reporting_from_a_session_fills_in_its_lot_and_signs_the_report(client, world):
    sign_in(client, world, "practitioner")
    page = client.get(f"/incidents/new?kind=sharps_injury&session={world.session_a}")
    assert page.status_code == 200
    found = elements(page)
    assert f'<option value="{world.session_a}" selected>' in page.get_data(as_text=True)
    assert found["device_lot"].attrs["value"] == LOT
    assert found["injured_name"].attrs["value"] == "Ada Author"
    before = count(Incident)
    response = post_form(client, "/incidents/new", report_form(session_id=str(world.session_a)))
    assert response.status_code == 302
    assert count(Incident) == before + 1
    created = db.session.scalar(select(Incident).order_by(Incident.id.desc()))
    assert (created.session_id, created.device_lot, created.how) == (
        world.session_a,
        LOT,
        "recapping",
    )
    record = client.get(response.headers["Location"])
    assert "Post-exposure steps" in record.get_data(as_text=True)


def test_the_signed_report_reads_its_time_one_way_and_keeps_utc_with_the_hash(client, world):
    """Dates read one way on every page: "01 Dec 2026, 10:00 GMT", never an ISO time beside it.
    The instant in UTC, which the signed content holds, sits with the hash for those who check."""
    sign_in(client, world, "practitioner")
    response = post_form(client, "/incidents/new", report_form(session_id=str(world.session_a)))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    created = db.session.scalar(select(Incident).order_by(Incident.id.desc()))
    signature = page.split('id="signature-heading"')[1].split("</section>")[0]
    shown, integrity = signature.split('<details class="hash">')
    local = created.signed_dt.astimezone(LONDON).strftime("%d %b %Y, %H:%M")
    assert local in shown
    assert not re.search(r"\d{4}-\d\d-\d\d|UTC", shown)
    assert created.signed_dt.strftime("%Y-%m-%d %H:%M:%S UTC") in integrity
    assert created.content_hash in integrity


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"how": ""}, "how"),
        ({"occurred_dt": "yesterday"}, "occurred_dt"),
        ({"occurred_dt": "2099-01-01T10:00"}, "occurred_dt"),
        ({"work_area": ""}, "work_area"),
        ({"injured_name": ""}, "injured_name"),
        ({"password": ""}, "password"),
        ({"session_id": "99999"}, "session_id"),
        ({"session_id": "abc"}, "session_id"),
        ({"body_site": "elbow-of-doom"}, "body_site"),
    ],
)
def test_a_report_with_bad_input_is_explained_and_saves_nothing(client, world, changes, field):
    sign_in(client, world, "practitioner")
    before = count(Incident)
    response = post_form(client, "/incidents/new", report_form(**changes))
    assert response.status_code == 400
    found = elements(response)
    assert f"{field}-error" in found, f"no message beside {field}"
    assert count(Incident) == before


def test_a_time_at_the_calendars_edge_is_explained_beside_the_field_not_a_server_error(
    client, world
):
    """31 December 9999 in Toronto has no UTC time: it raised a server error (a review)."""
    sign_in(client, world, "other_clinic")
    before = count(Incident)
    form = {
        "kind": "near_miss",
        "work_area": "Room 2",
        "event_type": "damaged_or_unsterile_pack",
        "description": "Pack seal torn before opening.",
        "action_taken": "Pack set aside, another opened.",
        "password": PASSWORD,
    }

    response = post_form(client, "/incidents/new", {**form, "occurred_dt": "9999-12-31T23:00"})

    assert response.status_code == 400
    assert "in the future" in elements(response)["occurred_dt-error"].text
    assert count(Incident) == before


def test_a_wrong_password_is_explained_and_saves_nothing(client, world):
    sign_in(client, world, "practitioner")
    before = count(Incident)
    response = post_form(client, "/incidents/new", report_form(password="not-it"))
    assert response.status_code == 400
    assert "password is not right" in elements(response)["password-error"].text
    assert count(Incident) == before


def test_an_adverse_event_is_reported_with_its_grade(client, world):
    sign_in(client, world, "colleague")
    page = client.get("/incidents/new?kind=adverse_event&event=fainting")
    assert 'value="fainting" checked' in page.get_data(as_text=True)
    response = post_form(
        client,
        "/incidents/new",
        {
            "kind": "adverse_event",
            "occurred_dt": london_minutes_ago(5),
            "work_area": "Room 1",
            "event_type": "retained_or_broken_needle",
            "grade": "significant",
            "description": "Needle shaft broke at the hub on removal; fragment retrieved.",
            "action_taken": "Fragment removed with tweezers, site checked.",
            "device_lot": "LOT-BROKEN-1",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    record = client.get(response.headers["Location"]).get_data(as_text=True)
    # A London clinic is pointed at the British device regulator alone, and the event's grade
    # at the professional body.
    assert re.findall(PROMPT, record) == [
        "MHRA Yellow Card (UK)",
        "Professional or regulatory body",
    ]
    created = db.session.scalar(select(Incident).order_by(Incident.id.desc()))
    assert created.device_lot == "LOT-BROKEN-1"


def test_a_canadian_clinics_device_problem_points_at_health_canada_and_is_recorded_there(
    client, world
):
    sign_in(client, world, "other_clinic")
    toronto_now = utcnow().astimezone(ZoneInfo("America/Toronto"))
    response = post_form(
        client,
        "/incidents/new",
        {
            "kind": "near_miss",
            "occurred_dt": (toronto_now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
            "work_area": "Room 2",
            "event_type": "damaged_or_unsterile_pack",
            "description": "Pack seal torn before opening.",
            "action_taken": "Pack set aside, another opened.",
            "device_lot": "LOT-TORN-1",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    record = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.findall(PROMPT, record) == ["Health Canada medical device problem report (Canada)"]
    assert "canada.ca/en/health-canada" in record
    reported = post_form(
        client,
        f"{response.headers['Location']}/reports",
        {
            "body": "health_canada",
            "reported_on": toronto_now.date().isoformat(),
            "reference": "MDPR 2026-12-0007",
        },
    )
    assert reported.status_code == 302
    page = client.get(reported.headers["Location"]).get_data(as_text=True)
    assert "Health Canada medical device problem report (Canada) on" in html.unescape(page)


# --- steps -------------------------------------------------------------------------------------


def test_a_step_is_ticked_from_the_record_with_its_time(client, world):
    sign_in(client, world, "colleague")
    done = london_minutes_ago(2)
    response = post_form(
        client, f"/incidents/{world.incident_a}/steps/wash", {"done_dt": done, "note": ""}
    )
    assert response.status_code == 302
    assert count(IncidentStep) == 1
    # The same tick sent again (a second tap) is that tick; another time for it is refused.
    again = post_form(
        client, f"/incidents/{world.incident_a}/steps/wash", {"done_dt": done, "note": ""}
    )
    assert again.status_code == 302
    other = post_form(
        client,
        f"/incidents/{world.incident_a}/steps/wash",
        {"done_dt": london_minutes_ago(1), "note": ""},
    )
    assert other.status_code == 409
    assert count(IncidentStep) == 1


def test_a_clean_needle_asks_only_for_the_wash_and_the_report_and_alerts_nothing_else(
    client, world
):
    """A needle never used on a patient carries no patient's blood: the source assessment,
    prophylaxis and follow-up testing were listed anyway, and the prophylaxis step, left
    untouched, alerted the lead after two hours."""
    sign_in(client, world, "practitioner")
    response = post_form(
        client, "/incidents/new", report_form(is_used_on_patient="no", how="other")
    )
    created = db.session.scalar(select(Incident).order_by(Incident.id.desc()))
    page = client.get(response.headers["Location"]).get_data(as_text=True)

    assert re.findall(r'<li id="step-([a-z_]+)"', page) == ["wash", "report_lead"]
    assert "there is no source to assess" in html.unescape(page)
    refused = post_form(
        client,
        f"/incidents/{created.id}/steps/pep_assessment",
        {"done_dt": london_minutes_ago(1)},
    )
    assert refused.status_code == 404
    later = created.occurred_dt + timedelta(days=8)
    due = rules.steps_to_alert(
        created.occurred_dt, set(), set(), later, rules.steps_for(created.is_used_on_patient)
    )
    assert [s.id for s in due] == ["wash", "report_lead"]


def test_a_step_without_a_time_is_explained_and_saves_nothing(client, world):
    sign_in(client, world, "practitioner")
    response = post_form(client, f"/incidents/{world.incident_a}/steps/wash", {"done_dt": ""})
    assert response.status_code == 400
    assert "done_dt-error" in elements(response)
    assert count(IncidentStep) == 0


def test_an_unknown_step_is_not_found(client, world):
    sign_in(client, world, "practitioner")
    response = post_form(client, f"/incidents/{world.incident_a}/steps/dance", {"done_dt": ""})
    assert response.status_code == 404


# --- who sees what ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status", "sees_name"),
    [
        ("practitioner", 200, False),
        ("colleague", 200, False),
        ("lead", 200, True),
        ("compliance", 200, True),
        ("other_clinic", 404, False),
        ("admin", 403, False),
        ("anonymous", 302, False),
    ],
)
def test_the_record_opens_per_role_and_only_the_lead_and_compliance_see_the_name(
    client, world, who, status, sees_name
):
    sign_in(client, world, who)
    response = client.get(f"/incidents/{world.incident_a}")
    assert response.status_code == status
    assert (INJURED in response.get_data(as_text=True)) is sees_name


@pytest.mark.parametrize(("who", "sees_names"), [("colleague", False), ("lead", True)])
def test_a_sharps_injurys_addendum_and_session_keep_the_names_private_like_its_report(
    client, world, who, sees_names
):
    """The injured person most often writes the correction, and treated the session: their
    name once showed beside the addendum and behind the session link to every colleague."""
    author = db.session.scalar(select(User).where(User.email == world.emails["practitioner"]))
    services.add_addendum(
        author,
        world.incident_a,
        reason="The time was wrong.",
        body="It happened at 10:05.",
        password=PASSWORD,
    )
    db.session.commit()
    sign_in(client, world, who)

    page = client.get(f"/incidents/{world.incident_a}").get_data(as_text=True)

    assert "It happened at 10:05." in page
    assert ("Ada Author" in page) is sees_names
    assert (f"/sessions/{world.session_a}" in page) is sees_names


def test_another_clinic_cannot_tick_a_step(client, world):
    sign_in(client, world, "other_clinic")
    response = post_form(
        client,
        f"/incidents/{world.incident_a}/steps/wash",
        {"done_dt": utcnow().strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 404
    assert count(IncidentStep) == 0


def test_a_view_by_someone_else_is_audited(client, world):
    sign_in(client, world, "compliance")
    client.get(f"/incidents/{world.incident_a}")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "incident.view"))
    assert event.details == {"identity_shown": True}


def list_row(page: str, incident_id: int) -> list[str]:
    """Return the cells of an incident's row on the list, as text."""
    row = re.search(rf'<tr>\s*<td><a href="/incidents/{incident_id}">.*?</tr>', page, re.S)
    assert row, f"incident {incident_id} is not listed"
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row[0])]


def test_a_step_past_its_time_reads_overdue_and_one_still_in_time_reads_due(client, world):
    author = db.session.scalar(select(User).where(User.email == world.emails["practitioner"]))
    injury = services.report_incident(
        author,
        rules.Report(
            kind=rules.Kind.SHARPS_INJURY,
            occurred_dt=utcnow() - timedelta(minutes=45),
            work_area="Room 2",
            description="Stuck while recapping.",
            device_type="filiform_needle",
            device_purpose="removing",
            how="recapping",
            body_site="finger",
            is_used_on_patient=True,
            injured_name=INJURED,
            injured_job="Physiotherapist",
        ),
        session_id=None,
        password=PASSWORD,
    ).id
    db.session.commit()
    sign_in(client, world, "practitioner")

    page = html.unescape(client.get(f"/incidents/{injury}").get_data(as_text=True))

    wash = re.search(r'<li id="step-wash".*?</li>', page, re.S)[0]
    report_lead = re.search(r'<li id="step-report_lead".*?</li>', page, re.S)[0]
    assert 'class="step step-overdue"' in wash and "Overdue: due by" in wash
    assert 'class="step step-due"' in report_lead and "Overdue" not in report_lead
    assert "Due by" in report_lead


def test_the_reporters_own_view_is_not_audited(client, world):
    sign_in(client, world, "practitioner")

    assert client.get(f"/incidents/{world.incident_a}").status_code == 200
    assert not db.session.scalar(select(AuditEvent).where(AuditEvent.action == "incident.view"))


def test_the_list_says_how_an_injury_happened_and_its_steps_and_what_an_event_was(client, world):
    sign_in(client, world, "compliance")
    page = html.unescape(client.get("/incidents/").get_data(as_text=True))

    injury = list_row(page, world.incident_a)
    event = list_row(page, world.adverse_a)
    done = len(db.session.get(Incident, world.incident_a).steps)
    assert injury[4] == rules.label_of(rules.HOW, "patient_moved")
    assert injury[6] == f"{done} of {len(rules.STEPS)}"
    assert event[4] == rules.label_of(rules.EVENT_TYPES, "fainting")
    assert event[6] == ""


def test_the_list_shows_each_clinic_its_own_and_compliance_all_with_filters(client, world):
    sign_in(client, world, "other_clinic")
    assert f"/incidents/{world.incident_a}" not in client.get("/incidents/").get_data(as_text=True)
    client.post("/auth/logout", data={"csrf_token": ""})
    other = client.application.test_client()
    sign_in(other, world, "compliance")
    page = other.get("/incidents/").get_data(as_text=True)
    assert f"/incidents/{world.incident_a}" in page and f"/incidents/{world.adverse_a}" in page
    # The filter's days are the clinic's (London's) days.
    tomorrow = (utcnow().astimezone(LONDON) + timedelta(days=1)).date().isoformat()
    assert f'/incidents/{world.adverse_a}"' not in other.get(
        f"/incidents/?since={tomorrow}"
    ).get_data(as_text=True)
    today = utcnow().astimezone(LONDON).date().isoformat()
    assert f'/incidents/{world.adverse_a}"' in other.get(
        f"/incidents/?until={today}&since=2020-01-01"
    ).get_data(as_text=True)
    filtered = other.get("/incidents/?kind=adverse_event").get_data(as_text=True)
    assert f'/incidents/{world.incident_a}"' not in filtered
    assert f'/incidents/{world.adverse_a}"' in filtered


# --- the sharps injury log --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["lead", "compliance"])
def test_the_sharps_log_holds_privacy_case_and_never_the_name(client, world, who):
    sign_in(client, world, who)
    response = client.get("/incidents/sharps-log.csv")
    assert response.status_code == 200
    text = response.get_data().decode("utf-8-sig")  # as a program reads it past the BOM
    assert INJURED not in text and "Ada Author" not in text
    *rows, checkpoint = csv.DictReader(io.StringIO(text))
    assert [r["employee"] for r in rows] == [rules.PRIVACY_CASE]
    assert rows[0]["how_it_happened"] == "Patient moved suddenly"
    assert rows[0]["device_lot"] == LOT
    assert checkpoint["clinic"] == "NeedleSafe audit checkpoint"


def test_a_saved_log_is_named_after_the_readers_day(app, monkeypatch, make_clinic, make_user):
    """At 02:00 UTC on 7 December it is still the 6th in Toronto, where every clinic is: the
    files a compliance officer saves there are named after the 6th."""
    from safety.clinics import services as clinic_services

    make_clinic("Lakeshore Physio", timezone="America/Toronto")
    client = app.test_client()
    assert login(client, make_user("compliance")).status_code == 302
    monkeypatch.setattr(clinic_services, "utcnow", lambda: datetime(2026, 12, 7, 2, 0, tzinfo=UTC))

    sharps = client.get("/incidents/sharps-log.csv").headers["Content-Disposition"]
    incidents = client.get("/incidents/incidents.csv").headers["Content-Disposition"]

    assert 'filename="sharps-injury-log-20261206.csv"' in sharps
    assert 'filename="needlesafe-incidents-20261206-210000.csv"' in incidents


def test_the_list_says_from_when_the_log_keeps_injuries_and_whose_rule_that_is(
    app, monkeypatch, make_clinic, make_user
):
    """On 7 December 2026 the log holds every injury since 1 January 2021: OSHA keeps each for
    five years after the end of its year. It is a US rule, and the page says so."""
    from safety.clinics import services as clinic_services

    make_clinic("Lakeshore Physio", timezone="America/Toronto")
    client = app.test_client()
    assert login(client, make_user("compliance")).status_code == 302
    monkeypatch.setattr(clinic_services, "utcnow", lambda: datetime(2026, 12, 7, 2, 0, tzinfo=UTC))

    page = html.unescape(client.get("/incidents/").get_data(as_text=True))

    assert "every injury since 1 January 2021" in page
    assert "asks clinics in the US to keep this log, each injury for 5 years" in page
    assert rules.oldest_kept_year(date(2026, 12, 7)) == 2021
    assert rules.is_kept(date(2021, 1, 1), date(2026, 12, 31))
    assert not rules.is_kept(date(2020, 12, 31), date(2026, 1, 1))


@pytest.mark.parametrize(("who", "status"), [("practitioner", 403), ("admin", 403)])
def test_the_sharps_log_is_not_for_everyone(client, world, who, status):
    sign_in(client, world, who)
    assert client.get("/incidents/sharps-log.csv").status_code == status


# --- who leads the clinic ---------------------------------------------------------------------


def test_an_administrator_makes_a_practitioner_clinic_lead_and_they_see_the_name(client, world):
    colleague = db.session.scalar(select(User).where(User.email == world.emails["colleague"]))
    sign_in(client, world, "admin")
    response = post_form(client, f"/admin/users/{colleague.id}/lead")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, colleague.id).lead_clinic_id == colleague.clinic_id
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.clinic_lead"))
    other = client.application.test_client()
    sign_in(other, world, "colleague")
    assert INJURED in other.get(f"/incidents/{world.incident_a}").get_data(as_text=True)


def test_compliance_cannot_be_made_clinic_lead(client, world):
    officer = db.session.scalar(select(User).where(User.email == world.emails["compliance"]))
    sign_in(client, world, "admin")
    response = post_form(client, f"/admin/users/{officer.id}/lead")
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(User, officer.id).lead_clinic_id is None


def test_the_lead_command_makes_and_unmakes_a_clinic_lead(runner, world):
    result = runner.invoke(args=["users", "lead", "--email", world.emails["colleague"]])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.scalar(
        select(User.lead_clinic_id).where(User.email == world.emails["colleague"])
    )
    result = runner.invoke(args=["users", "lead", "--email", world.emails["colleague"], "--off"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["users", "lead", "--email", "nobody@clinic.test"])
    assert result.exit_code != 0 and "No account" in result.output


# --- record as an incident, from a flag ---------------------------------------------------------


def signed_by_the_practitioner(world, make_session, overrides: dict):
    """A clean session the world's practitioner signed, with `overrides` in its answers."""
    author = db.session.scalar(select(User).where(User.email == world.emails["practitioner"]))
    return make_session(
        author, phases=("signin", "timeout", "signout"), overrides=overrides, sign=True
    )


def test_a_count_that_does_not_reconcile_is_recorded_as_an_incident_with_details_filled(
    client, world, make_session
):
    flagged = signed_by_the_practitioner(
        world,
        make_session,
        {
            "signout.needles_removed": ["5"],
            "signout.needles_disposed": ["5"],
            "signout.count_discrepancy": ["One needle not found; couch and floor searched."],
        },
    )
    flag = db.session.scalar(
        select(Flag).where(Flag.session_id == flagged.id, Flag.kind == "count_discrepancy")
    )
    sign_in(client, world, "practitioner")
    record = client.get(f"/sessions/{flagged.id}").get_data(as_text=True)
    assert f"/incidents/new?flag={flag.id}" in record
    page = client.get(f"/incidents/new?flag={flag.id}")
    found = elements(page)
    assert f'<option value="{flagged.id}" selected>' in page.get_data(as_text=True)
    assert "Needle counts do not reconcile" in found["description"].text
    assert 'value="retained_or_broken_needle" checked' in page.get_data(as_text=True)


def test_a_patient_not_fit_to_leave_is_a_critical_flag_recorded_as_an_incident_from_the_record(
    client, world, make_session
):
    """A faint or breathlessness at the end of the session was a deviation like a skipped tick
    (register version 6, a clinical review)."""
    flagged = signed_by_the_practitioner(
        world,
        make_session,
        {
            "signout.fit_to_leave": ["no"],
            "signout.fit_to_leave.note": ["Fainted on standing; lay down 20 min, collected."],
        },
    )
    flag = db.session.scalar(select(Flag).where(Flag.session_id == flagged.id))
    assert (flag.kind, flag.severity) == ("not_fit_to_leave", "critical")
    sign_in(client, world, "practitioner")
    record = client.get(f"/sessions/{flagged.id}").get_data(as_text=True)
    assert f"/incidents/new?flag={flag.id}" in record
    page = client.get(f"/incidents/new?flag={flag.id}").get_data(as_text=True)
    assert "The patient was observed and is fit to leave. Answered: no." in page
    assert 'value="other" checked' in page
    # Compliance reads it by its own name.
    officer = sign_in(client.application.test_client(), world, "compliance")
    review = officer.get(f"/review/records/{flagged.id}").get_data(as_text=True)
    assert "<strong>Not fit to leave</strong>" in review


def test_another_practitioners_flag_prefills_nothing(client, world, make_session):
    flagged = signed_by_the_practitioner(
        world,
        make_session,
        {
            "signout.needles_removed": ["5"],
            "signout.needles_disposed": ["5"],
            "signout.count_discrepancy": ["One needle not found."],
        },
    )
    sign_in(client, world, "other_clinic")
    flag_id = db.session.scalar(select(Flag.id).where(Flag.session_id == flagged.id))
    page = client.get(f"/incidents/new?flag={flag_id}")
    assert page.status_code == 200
    assert "Needle counts" not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("since=yesterday", "since"),
        ("until=2026-13-45", "until"),
        ("since=2026-02-30", "since"),
        ("since=20261130", "since"),
        ("since=2026-12-07&until=2026-12-01", "until"),
        ("kind=accident", "kind"),
        ("clinic=abc", "clinic"),
    ],
)
def test_a_bad_list_filter_is_explained_and_lists_nothing_unfiltered(client, world, query, name):
    sign_in(client, world, "compliance")
    response = client.get(f"/incidents/?{query}")
    assert response.status_code == 400
    assert f"{name}-error" in elements(response)
    assert f'/incidents/{world.incident_a}"' not in response.get_data(as_text=True)


def test_the_widest_dates_list_and_export_every_incident(client, world):
    """The last day a date field can hold means "no end", not a server error."""
    sign_in(client, world, "compliance")
    widest = "since=0001-01-01&until=9999-12-31"

    listed = client.get(f"/incidents/?{widest}")
    exported = client.get(f"/incidents/incidents.csv?{widest}")
    fhir = client.get("/fhir/export?from=0001-01-01&to=9999-12-31", buffered=True)

    assert listed.status_code == 200
    assert f'/incidents/{world.incident_a}"' in listed.get_data(as_text=True)
    assert exported.status_code == 200
    assert any(
        row["incident"] == str(world.incident_a)
        for row in csv.DictReader(io.StringIO(exported.get_data().decode("utf-8-sig")))
    )
    assert fhir.status_code == 200
    assert json.loads(fhir.get_data(as_text=True))["resourceType"] == "Bundle"


def test_the_dashboard_shows_incidents_per_clinic_and_month(client, world):
    sign_in(client, world, "compliance")
    page = client.get("/review/").get_data(as_text=True)
    assert "Incidents per clinic and month" in page
    # The injury's own month: just after midnight on the 1st it may be last month's.
    occurred = db.session.get(Incident, world.incident_a).occurred_dt
    month = occurred.astimezone(LONDON).strftime("%Y-%m")
    assert (
        f"<td>{month}</td><td>Harbour Physio</td><td>Needlestick or sharps injury</td><td>1</td>"
        in page
    )


def test_compliance_exports_the_incidents_as_csv_without_names_and_audited(client, world):
    sign_in(client, world, "compliance")
    response = client.get("/incidents/incidents.csv")
    assert response.status_code == 200
    text = response.get_data().decode("utf-8-sig")
    assert INJURED not in text
    *rows, checkpoint = csv.DictReader(io.StringIO(text))
    assert sorted(int(r["incident"]) for r in rows) == sorted([world.incident_a, world.adverse_a])
    sharps = next(r for r in rows if int(r["incident"]) == world.incident_a)
    # Times as the records CSV writes them: UTC to the second.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sharps["occurred_utc"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sharps["signed_utc"])
    assert (sharps["what"], sharps["device_lot"], sharps["steps_done"]) == (
        "Patient moved suddenly",
        LOT,
        "0 of 5",
    )
    # The clinic's own time beside UTC: the day the list's filters read.
    occurred = db.session.get(Incident, world.incident_a).occurred_dt.astimezone(LONDON)
    assert sharps["occurred_local"] == f"{occurred:%Y-%m-%d %H:%M %Z}"
    only = list(
        csv.DictReader(
            io.StringIO(
                client.get("/incidents/incidents.csv?kind=adverse_event")
                .get_data()
                .decode("utf-8-sig")
            )
        )
    )[:-1]
    assert [int(r["incident"]) for r in only] == [world.adverse_a]
    db.session.expire_all()
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "incident.export"))


def test_the_incident_export_is_for_compliance_and_explains_a_bad_filter(client, world):
    sign_in(client, world, "compliance")
    refused = client.get("/incidents/incidents.csv?since=soon")
    assert refused.status_code == 400 and "since-error" in elements(refused)
    other = client.application.test_client()
    sign_in(other, world, "lead")
    assert other.get("/incidents/incidents.csv").status_code == 403
