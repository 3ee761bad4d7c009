"""Incident use cases against a real database: reporting signs the record, the injured person is
kept apart, steps are ticked once with their time, an untouched urgent step reaches the clinic
lead by real e-mail on a moving clock, and every row is beyond UPDATE and DELETE."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from conftest import PASSWORD, saved
from factories import INJURED, sharps_report
from smtp_capture import Collector, free_port, send_mail_to
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, Forbidden, NotFound, RecordedRefusal
from safety.extensions import db
from safety.followup.models import OutboxMessage
from safety.followup.worker import work_once
from safety.incidents import alerts, log, rules, services
from safety.incidents.models import (
    ExternalReport,
    Incident,
    IncidentAddendum,
    IncidentAlert,
    IncidentStep,
    InjuredPerson,
)
from safety.integrity import triggers
from safety.integrity.reader import Reader

ALL_PHASES = ("signin", "timeout", "signout")


def adverse_report(now, **changes) -> rules.Report:
    values = dict(
        kind=rules.Kind.ADVERSE_EVENT,
        occurred_dt=now - timedelta(minutes=20),
        work_area="Treatment room 1",
        description="Patient fainted on sitting up after needling of the upper trapezius.",
        action_taken="Laid flat, legs raised, recovered in two minutes; observed 30 minutes.",
        event_type="fainting",
        grade="mild",
    )
    values.update(changes)
    return rules.Report(**values)


@pytest.fixture
def clinic(make_clinic):
    return make_clinic("Harbour Physio")


@pytest.fixture
def practitioner(make_user, clinic):
    return make_user(clinic=clinic)


@pytest.fixture
def lead(make_user, clinic):
    user = make_user(clinic=clinic, email="lead@harbour.test")
    user.lead_clinic_id = user.clinic_id
    return saved(user)


def report(practitioner, now=None, session_id=None, **changes) -> Incident:
    now = now or utcnow()
    incident = services.report_incident(
        practitioner,
        sharps_report(now, **changes),
        session_id=session_id,
        password=PASSWORD,
        now=now,
    )
    db.session.commit()
    return incident


# --- reporting ----


def test_a_device_gtin_typed_in_13_digits_is_kept_as_the_14_packs_are_kept_as(practitioner):
    incident = report(practitioner, device_gtin="4987654321094")

    assert incident.device_gtin == "04987654321094"


def test_a_sharps_injury_report_is_signed_and_keeps_the_injured_person_apart(practitioner):
    incident = report(practitioner)
    assert incident.signer_name == practitioner.name
    assert incident.content_hash == services.incident_hash(incident)
    person = db.session.scalar(
        select(InjuredPerson).where(InjuredPerson.incident_id == incident.id)
    )
    assert person.name == INJURED
    # The report's own row has no name in it.
    row = (
        db.session.execute(text("SELECT * FROM incidents WHERE id = :id"), {"id": incident.id})
        .mappings()
        .one()
    )
    assert INJURED not in " ".join(str(v) for v in row.values())
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "incident.report"))
    assert event.chain_id == practitioner.clinic_id
    assert event.details["content_hash"] == incident.content_hash
    assert INJURED not in str(event.details)


def test_a_report_from_a_session_names_it_and_refuses_another_clinics(
    make_session, make_user, practitioner
):
    session = make_session(practitioner, phases=ALL_PHASES, sign=True)
    incident = report(practitioner, session_id=session.id)
    assert incident.session_id == session.id
    stranger = make_user()
    other = make_session(stranger, phases=ALL_PHASES, sign=True)
    with pytest.raises(DomainError) as refused:
        services.report_incident(
            practitioner, sharps_report(utcnow()), session_id=other.id, password=PASSWORD
        )
    assert "session_id" in refused.value.errors


def test_an_incident_is_never_linked_to_a_session_that_began_after_it(make_session, practitioner):
    """A needlestick of two days ago did not happen in today's session; one while the pack
    was opened, a few minutes before Start was tapped, did."""
    session = make_session(practitioner, phases=ALL_PHASES, sign=True)
    earlier = sharps_report(utcnow() - timedelta(days=2))

    with pytest.raises(DomainError) as refused:
        services.report_incident(practitioner, earlier, session_id=session.id, password=PASSWORD)
    while_preparing = services.report_incident(
        practitioner,
        sharps_report(session.started_dt - timedelta(minutes=5)),
        session_id=session.id,
        password=PASSWORD,
    )

    assert "began after the incident" in str(refused.value.errors["session_id"])
    assert while_preparing.session_id == session.id
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"occurred_dt": None}, "occurred_dt"),
        ({"work_area": "  "}, "work_area"),
        ({"how": "juggling"}, "how"),
        ({"body_site": ""}, "body_site"),
        ({"is_used_on_patient": None}, "is_used_on_patient"),
        ({"injured_name": ""}, "injured_name"),
        ({"device_gtin": "12ab"}, "device_gtin"),
    ],
)
def test_a_report_with_bad_input_is_refused_and_saves_nothing(practitioner, changes, field):
    now = utcnow()
    with pytest.raises(DomainError) as refused:
        services.report_incident(
            practitioner, sharps_report(now, **changes), session_id=None, password=PASSWORD
        )
    assert field in refused.value.errors
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 0


def test_a_wrong_password_saves_no_report_and_records_the_attempt(practitioner):
    with pytest.raises(RecordedRefusal):
        services.report_incident(
            practitioner, sharps_report(utcnow()), session_id=None, password="wrong"
        )
    db.session.commit()  # what the route does with a recorded refusal
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 0
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "incident.sign_failed"))
    db.session.refresh(practitioner)
    assert practitioner.failed_login_count == 1


def test_compliance_and_admins_cannot_report(make_user):
    with pytest.raises(Forbidden):
        services.report_incident(
            make_user("compliance"), adverse_report(utcnow()), session_id=None, password=PASSWORD
        )


def test_an_adverse_event_needs_a_grade_and_what_was_done(practitioner):
    with pytest.raises(DomainError) as refused:
        services.report_incident(
            practitioner,
            adverse_report(utcnow(), grade="", action_taken=""),
            session_id=None,
            password=PASSWORD,
        )
    assert {"grade", "action_taken"} <= set(refused.value.errors)


# --- reading and scope ----


def test_another_clinics_incident_is_not_found_and_compliance_reads_every_clinic(
    practitioner, make_user
):
    incident = report(practitioner)
    with pytest.raises(NotFound):
        services.get_incident(make_user(), incident.id)
    assert services.get_incident(make_user("compliance"), incident.id).id == incident.id
    with pytest.raises(NotFound):
        services.get_incident(make_user("admin"), incident.id)


# --- post-exposure steps ----


def test_a_step_is_ticked_once_with_its_time_and_audited(practitioner):
    now = utcnow()
    incident = report(practitioner, now)
    services.tick_step(practitioner, incident.id, "wash", done_dt=now - timedelta(minutes=3))
    db.session.commit()
    with pytest.raises(Conflict):
        services.tick_step(practitioner, incident.id, "wash", done_dt=now)
    db.session.rollback()
    steps = db.session.scalars(select(IncidentStep)).all()
    assert [(s.step, s.done_dt) for s in steps] == [("wash", now - timedelta(minutes=3))]
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "incident.step"))


@pytest.mark.parametrize("minutes", [30, -60])
def test_a_step_time_in_the_future_or_before_the_injury_is_refused(practitioner, minutes):
    now = utcnow()
    incident = report(practitioner, now)
    with pytest.raises(DomainError) as refused:
        services.tick_step(
            practitioner, incident.id, "wash", done_dt=now + timedelta(minutes=minutes)
        )
    assert "done_dt" in refused.value.errors


def test_compliance_reads_steps_but_does_not_tick_them(practitioner, make_user):
    incident = report(practitioner)
    with pytest.raises(Forbidden):
        services.tick_step(make_user("compliance"), incident.id, "wash", done_dt=utcnow())


# --- the clinic lead's alert, on a moving clock, by real e-mail ----


@pytest.fixture
def mail(request, app):
    handler = Collector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    request.addfinalizer(controller.stop)
    send_mail_to(app, port, sender="NeedleSafe <alerts@needlesafe.test>")
    return handler


def test_an_untouched_urgent_step_alerts_the_clinic_lead_once_by_email(practitioner, lead, mail):
    start = utcnow()
    incident = report(practitioner, start, occurred_dt=start)
    services.tick_step(practitioner, incident.id, "wash", done_dt=start + timedelta(minutes=2))
    services.tick_step(
        practitioner, incident.id, "source_assessment", done_dt=start + timedelta(minutes=5)
    )
    db.session.commit()

    # Before any urgent step is due: nothing.
    assert "step_alerts" not in work_once("w1", now=start + timedelta(minutes=50))
    assert mail.messages() == []
    # An hour on, "reported to the clinic lead" is untouched: the lead hears.
    counts = work_once("w1", now=start + timedelta(minutes=61))
    assert counts.get("step_alerts") == 1 and counts.get("sent") == 1
    [message] = mail.messages()
    assert message["To"] == "lead@harbour.test"
    body = message.get_content()
    assert "Reported to the clinic lead" in body
    assert f"/incidents/{incident.id}" in body
    assert INJURED not in body and "Grace" not in body
    # The next pass sends nothing more about the same step.
    assert "step_alerts" not in work_once("w1", now=start + timedelta(minutes=70))
    # Two hours on, the prophylaxis step alerts too; the washed wound never does.
    work_once("w1", now=start + timedelta(hours=2, minutes=1))
    assert len(mail.messages()) == 2
    alerted = db.session.scalars(select(IncidentAlert.step).order_by(IncidentAlert.id)).all()
    assert alerted == ["report_lead", "pep_assessment"]
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "incident.step_alert")
        )
        == 2
    )


def test_with_no_clinic_lead_the_alert_goes_to_the_duty_address(practitioner, clinic, mail):
    start = utcnow()
    report(practitioner, start, occurred_dt=start)
    work_once("w1", now=start + timedelta(minutes=31))
    [message] = mail.messages()
    assert message["To"] == clinic.duty_email
    assert "Wound encouraged to bleed gently" in message.get_content()


def test_a_step_ticked_before_the_alert_leaves_sends_nothing(practitioner, lead, mail):
    start = utcnow()
    incident = report(practitioner, start, occurred_dt=start)
    alerts.alert_untouched_steps(now=start + timedelta(minutes=31))
    db.session.commit()
    services.tick_step(
        practitioner,
        incident.id,
        "wash",
        done_dt=start + timedelta(minutes=10),
        now=start + timedelta(minutes=32),
    )
    db.session.commit()
    work_once("w1", now=start + timedelta(minutes=33))
    assert mail.messages() == []
    assert db.session.scalar(select(OutboxMessage.status)) == "cancelled"


# --- reports outside the clinic and addenda ----


def test_a_report_to_the_device_regulator_is_recorded_with_its_reference(practitioner):
    now = utcnow()
    incident = services.report_incident(
        practitioner,
        adverse_report(now, event_type="retained_or_broken_needle", grade="significant"),
        session_id=None,
        password=PASSWORD,
    )
    db.session.commit()
    prompts = rules.report_prompts(
        incident.kind, incident.event_type, incident.grade, incident.clinic.country
    )
    assert [b.code for b in prompts] == ["mhra_yellow_card", "professional_body"]
    with pytest.raises(DomainError) as refused:
        services.record_external_report(
            practitioner, incident.id, body="mhra_yellow_card", reported_on=None, reference=""
        )
    assert {"reported_on", "reference"} <= set(refused.value.errors)
    db.session.rollback()
    services.record_external_report(
        practitioner,
        incident.id,
        body="mhra_yellow_card",
        # The clinic's date, as the form gives it: near midnight in summer London is a day on.
        reported_on=now.astimezone(practitioner.clinic.zone).date(),
        reference="YC-2026-0042",
    )
    db.session.commit()
    assert db.session.scalar(select(ExternalReport.reference)) == "YC-2026-0042"


def test_an_addendum_is_signed_and_bound_to_the_report(practitioner):
    incident = report(practitioner)
    with pytest.raises(RecordedRefusal):
        services.add_addendum(
            practitioner, incident.id, reason="Wrong site", body="Index finger.", password="no"
        )
    db.session.commit()
    addendum = services.add_addendum(
        practitioner, incident.id, reason="Wrong site", body="Index finger.", password=PASSWORD
    )
    db.session.commit()
    assert addendum.content_hash == services.sha256_hex(
        services.canonical_json(services.addendum_content(addendum, incident.content_hash))
    )
    assert db.session.scalar(select(func.count()).select_from(IncidentAddendum)) == 1


# --- the sharps injury log ----


def test_the_sharps_log_shows_privacy_case_and_keeps_five_years_after_the_year(
    practitioner, lead, make_user
):
    now = utcnow()
    report(practitioner, now)
    rows = log.sharps_log(lead, now=now)
    db.session.commit()
    [row] = rows
    assert row["employee"] == rules.PRIVACY_CASE
    assert INJURED not in " ".join(row.values())
    assert row["device_brand"] == "Seirin J-type 0.25 x 40"
    assert row["how_it_happened"] == "After use, before disposal"
    # Kept to the end of the fifth year after the injury's own (local) year.
    injured_in = (now - timedelta(minutes=5)).astimezone(practitioner.clinic.zone).year
    assert row["keep_until"] == date(injured_in + 5, 12, 31).isoformat()
    # Six years on the entry has served its time and leaves the log (a leap day has no
    # anniversary six years on, so the years are counted in days).
    later = now + timedelta(days=6 * 366)
    assert log.sharps_log(lead, now=later) == []
    with pytest.raises(Forbidden):
        log.sharps_log(practitioner, now=now)
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "incident.sharps_log_export")
    )


# --- immutability ----


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE incidents SET work_area = 'elsewhere'",
        "DELETE FROM incidents",
        "UPDATE incident_people SET name = 'Someone else'",
        "DELETE FROM incident_people",
        "UPDATE incident_steps SET done_dt = NULL",
        "DELETE FROM incident_steps",
    ],
)
def test_the_database_refuses_to_change_a_signed_incident(practitioner, statement):
    incident = report(practitioner)
    services.tick_step(practitioner, incident.id, "wash", done_dt=utcnow())
    db.session.commit()
    with pytest.raises(DBAPIError, match="immutable"), db.session.begin_nested():
        db.session.execute(text(statement))
    db.session.rollback()


def test_verify_expects_the_incident_triggers(app):
    assert triggers.problem(Reader(db.session.connection())) is None
    assert {"incidents", "incident_people", "incident_steps"} <= set(triggers.EXPECTED)


def test_steps_falling_due_in_one_pass_reach_the_lead_in_one_message(practitioner, lead, mail):
    start = utcnow()
    report(practitioner, start, occurred_dt=start)
    counts = work_once("w1", now=start + timedelta(hours=3))
    assert counts.get("step_alerts") == 4
    [message] = mail.messages()
    body = message.get_content()
    assert "Wound encouraged to bleed gently" in body and "Reported to the clinic lead" in body
    assert "before they leave, to consent to blood tests" in body
    assert "prophylaxis (PEP)" in body


def test_an_alert_the_lead_never_receives_goes_to_the_duty_address_then_shows_on_the_record(
    app, practitioner, lead, clinic
):
    # Nobody listens on this port: every delivery fails.
    send_mail_to(app, free_port())
    start = utcnow()
    incident = report(practitioner, start, occurred_dt=start)
    now = start + timedelta(minutes=31)
    for _ in range(40):
        work_once("w1", now=now)
        now += timedelta(hours=1)
    rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    # One alert per pass in which urgent steps fell due, to the lead; each that failed for
    # good went on to the duty address, which failed too.
    to_lead = [r for r in rows if r.recipient_id == lead.id]
    to_duty = [r for r in rows if r.recipient_id is None]
    assert to_lead and len(to_duty) == len(to_lead)
    assert {r.status for r in rows} == {"failed"}
    db.session.expire_all()
    assert alerts.undelivered_alerts(db.session.get(Incident, incident.id)) >= 1
    assert db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "reminder.failed",
            AuditEvent.details["to_duty_address"].as_boolean().is_(True),
        )
    )


@pytest.mark.real_commits  # each tap is a thread with a connection of its own
def test_two_taps_on_the_same_step_at_once_tick_it_once_and_both_land_on_it(app, practitioner):
    """The same tick twice at once is one tick: the second tap finds the first's and lands on
    it (it once met "already ticked"); the unique step key stays the last line."""
    now = utcnow()
    incident_id = report(practitioner, now).id
    user_id = practitioner.id
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def tap() -> None:
        with app.app_context():
            actor = db.session.get(User, user_id)
            start.wait(timeout=10)
            try:
                services.tick_step(actor, incident_id, "wash", done_dt=now)
                db.session.commit()
                outcomes.append("ticked")
            except Conflict:
                db.session.rollback()
                outcomes.append("refused")
            except BaseException as exc:  # reported by the test thread
                outcomes.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=tap) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["ticked", "ticked"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(IncidentStep)) == 1


def test_a_day_of_incidents_is_each_clinics_own_day(make_clinic, make_user):
    """A Toronto needlestick at 20:50 on 3 December is already 01:50 on the 4th in UTC; the
    list (and the FHIR export, by the same condition) puts it on the 3rd, Toronto's date and
    the date of that evening's sessions, while London's incident at that instant is the 4th."""
    instant = datetime(2026, 12, 4, 1, 50, tzinfo=UTC)
    toronto = make_user(clinic=make_clinic("Lakeshore", timezone="America/Toronto"))
    london = make_user(clinic=make_clinic("Riverside", timezone="Europe/London"))
    evening = report(toronto, now=instant + timedelta(minutes=5), occurred_dt=instant)
    night = report(london, now=instant + timedelta(minutes=5), occurred_dt=instant)
    compliance = make_user("compliance")

    def listed(since, until):
        return {i.id for i in services.list_incidents(compliance, since=since, until=until)}

    assert listed(date(2026, 12, 3), date(2026, 12, 3)) == {evening.id}
    assert listed(date(2026, 12, 4), date(2026, 12, 4)) == {night.id}
    assert listed(date(2026, 12, 4), None) == {night.id}
    assert listed(None, date(2026, 12, 3)) == {evening.id}
    assert listed(date(2026, 12, 3), date(2026, 12, 4)) == {evening.id, night.id}


def test_the_sharps_log_on_new_years_night_in_utc_keeps_torontos_last_year(make_clinic, make_user):
    """At 02:00 UTC on 1 January 2027 it is still 31 December 2026 in Toronto, so an injury
    of June 2021 is within its five years after the year there, and stays in the log."""
    clinic = make_clinic("Lakeshore", timezone="America/Toronto")
    practitioner = make_user(clinic=clinic)
    lead = make_user(clinic=clinic, email="lead@lakeshore.test")
    lead.lead_clinic_id = clinic.id
    saved(lead)
    injured = datetime(2021, 6, 15, 14, 0, tzinfo=UTC)
    report(practitioner, now=injured + timedelta(minutes=5), occurred_dt=injured)

    [row] = log.sharps_log(lead, now=datetime(2027, 1, 1, 2, 0, tzinfo=UTC))
    assert (row["date_of_injury"], row["keep_until"]) == ("2021-06-15", "2026-12-31")
    assert log.sharps_log(lead, now=datetime(2027, 1, 1, 6, 0, tzinfo=UTC)) == []


def test_the_same_report_sent_again_at_once_is_that_report(practitioner):
    now = utcnow()
    first = services.report_incident(
        practitioner, sharps_report(now), session_id=None, password=PASSWORD, now=now
    )
    db.session.commit()

    again = services.report_incident(
        practitioner,
        sharps_report(now),
        session_id=None,
        password=PASSWORD,
        now=now + timedelta(seconds=20),
    )

    assert again.id == first.id
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 1


def test_a_colleagues_needlestick_reported_a_minute_later_in_the_same_words_is_its_own(
    practitioner,
):
    """The practitioner reports their own needlestick, then the assistant's from the same
    tray, at the same time, in the same words: it was returned as the first report, and the
    assistant got no incident, no steps and no lead alert (a review)."""
    now = utcnow()
    first = services.report_incident(
        practitioner, sharps_report(now), session_id=None, password=PASSWORD, now=now
    )
    db.session.commit()

    second = services.report_incident(
        practitioner,
        sharps_report(now, injured_name="Tom Tray", injured_job="Clinic assistant"),
        session_id=None,
        password=PASSWORD,
        now=now + timedelta(seconds=40),
    )
    db.session.commit()

    assert second.id != first.id
    assert second.person.name == "Tom Tray"
    assert db.session.scalar(select(func.count()).select_from(Incident)) == 2
