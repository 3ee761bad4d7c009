"""The last English a Spanish-speaking practitioner, a compliance officer or a French-speaking
clinic met (issue 19): refusals with a value in them (a pack's GTIN, the counts that differ,
a limit), the record's history and the follow-up flags, the dashboard's charts, the first
register's items, and the mail to a clinic's duty address. Each test fails if its words go
back to English."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from conftest import CLEAN_PHASES, login, post_form
from followup_helpers import CALM_FIELDS as CALM
from smtp_capture import Collector, free_port, send_mail_to
from sqlalchemy import select

from safety.auth.models import User
from safety.checklists.models import Flag, TreatmentSession
from safety.clinics.models import Clinic
from safety.extensions import db
from safety.followup import escalations
from safety.followup import patient as followup_patient
from safety.followup.models import FollowUp, OutboxMessage
from safety.followup.worker import work_once

ALL_PHASES = ("signin", "timeout", "signout")
LINK = re.compile(r"http://localhost/f/([A-Za-z0-9_-]+)\r?$", re.MULTILINE)


@pytest.fixture
def clinic(make_clinic):
    return make_clinic("Clínica Lakeshore", timezone="America/Toronto")


@pytest.fixture
def spanish(make_user, clinic):
    return make_user(clinic=clinic, name="Lucía Romero", language="es")


@pytest.fixture
def started(client, spanish, make_session) -> int:
    session_id = make_session(spanish).id
    login(client, spanish)
    return session_id


def phase(client, session_id: int, name: str, **changes):
    form = {k: v if len(v) > 1 else v[0] for k, v in CLEAN_PHASES[name].items()}
    form.update({k.replace("__", "."): v for k, v in changes.items()})
    return post_form(client, f"/sessions/{session_id}/phase/{name}", form)


def answers(**changes: str) -> dict[str, list[str]]:
    """A follow-up form as the browser posts it: calm but for `changes`."""
    return {name: [value] for name, value in {**CALM, **changes}.items()}


def text(response) -> str:
    return response.get_data(as_text=True)


def test_a_pack_scan_whose_gtin_does_not_add_up_is_refused_in_spanish_naming_the_gtin(
    client, started
):
    refused = post_form(client, "/packs/scan", {"scan": "]d20109501101020918{GS}10A"})

    assert refused.status_code == 400
    assert refused.json["error"].startswith(
        "El GTIN 09501101020918 del envase no cuadra (su dígito de control es incorrecto)"
    )
    phase(client, started, "signin")
    saved = phase(client, started, "timeout", timeout__needle_lot="]d20109501101020918{GS}10A")
    assert saved.status_code == 400
    assert "El GTIN 09501101020918 del envase no cuadra" in text(saved)
    assert "does not add up" not in text(saved)


def test_the_exclusive_answer_and_the_counts_that_differ_are_refused_in_spanish(client, started):
    refused = phase(client, started, "signin", signin__conditions=["none", "pregnancy"])
    assert refused.status_code == 400
    assert "«Ninguna de estas» no se puede elegir junto con otra respuesta." in text(refused)

    phase(client, started, "signin")
    phase(client, started, "timeout")
    counts = phase(client, started, "signout", signout__needles_removed="5")
    assert counts.status_code == 400
    assert (
        "Los recuentos de agujas no cuadran (6 usadas / 5 retiradas). "
        "Diga qué se hizo antes de firmar."
    ) in text(counts)
    # The page's script says the same counts in the same words.
    page = text(client.get(f"/sessions/{started}/phase/signout"))
    checks = json.loads(html.unescape(re.search(r"data-count-checks='([^']*)'", page).group(1)))
    assert [c["words"] for c in checks] == [
        ["usadas", "retiradas"],
        ["abiertas", "desechadas"],
        ["usadas", "abiertas"],
    ]


def test_a_phase_saved_out_of_order_and_a_lot_trace_limit_are_said_in_spanish(
    app, client, started, make_user
):
    early = phase(client, started, "timeout")
    assert early.status_code == 409
    assert "Complete primero la fase Entrada." in text(early)

    desk = app.test_client()
    login(desk, make_user("compliance", language="es"))
    short = desk.get("/review/lots?lot=A&match=prefix")
    assert "Introduzca al menos 2 caracteres para buscar por prefijo." in text(short)


def test_a_records_history_and_its_follow_up_flag_read_in_spanish(
    app, client, spanish, make_session, make_user
):
    spanish_id = spanish.id
    session_id = make_session(spanish, phases=ALL_PHASES, sign=True).id
    followup = db.session.scalars(
        select(FollowUp).where(FollowUp.session_id == session_id, FollowUp.kind == "24h")
    ).one()
    due = db.session.scalars(
        select(OutboxMessage.next_attempt_dt).where(OutboxMessage.followup_id == followup.id)
    ).first()
    token = followup_patient.issue_link(followup, now=due)
    followup_patient.answer(token, answers(bruising="large", soreness="8"), now=due)
    db.session.commit()

    officer = make_user("compliance", language="es")
    login(client, officer)
    page = text(client.get(f"/review/records/{session_id}"))

    assert (
        "Respuesta para el mismo día en el control a las 24 horas: un hematoma grande o que "
        "se extiende; también revisión: dolor 8/10."
    ) in page
    assert "Guardó una fase: Entrada" in page
    assert "Generó una alerta: Mismo día" in page
    assert "<td>Sistema</td>" in page  # the patient's answer, raised by no one on the staff
    assert "Same-day answer" not in page and "Sign in<" not in page

    own = app.test_client()
    login(own, db.session.get(User, spanish_id))
    mine = text(own.get("/sessions/"))
    assert "Respuesta para el mismo día en el control a las 24 horas" in mine


def test_the_dashboards_charts_speak_spanish(client, spanish, make_session, make_user):
    make_session(spanish, phases=ALL_PHASES, sign=True)
    officer = make_user("compliance", language="es")
    login(client, officer)

    page = text(client.get("/review/"))

    assert "Sangrado en los puntos de punción: porcentaje de sesiones por mes y clínica" in page
    assert "Sobre cada barra: las sesiones que cuenta" in page
    assert re.search(r">(ene|feb|mar|abr|may|jun|jul|ago|sept?|oct|nov|dic)<", page)
    assert "per month by clinic" not in page and "Above each bar" not in page
    assert "7629 sesiones de punción seca de 39 fisioterapeutas colegiados en Irlanda" in page


@pytest.fixture
def mail(request, app) -> Collector:
    """A real SMTP server on localhost the worker's mail goes to."""
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    request.addfinalizer(controller.stop)
    send_mail_to(app, controller.port, sender="NeedleSafe <alerts@lakeshore.test>")
    return handler


def test_an_unacknowledged_answer_reaches_a_french_speaking_clinics_duty_address_in_french(
    mail, make_clinic, make_user, make_session
):
    clinic = make_clinic("Clinique Lakeshore", timezone="America/Toronto")
    duty_email = clinic.duty_email
    db.session.get(Clinic, clinic.id).language = "fr_CA"
    db.session.commit()
    practitioner = make_user(clinic=clinic)  # reads English: the duty address does not
    session = make_session(practitioner, phases=ALL_PHASES, sign=True)
    first = db.session.scalars(
        select(OutboxMessage)
        .join(FollowUp, OutboxMessage.followup_id == FollowUp.id)
        .where(FollowUp.session_id == session.id, FollowUp.kind == "24h")
        # The check and its reminder a day later: the first due, whatever order
        # PostgreSQL happens to read them in.
        .order_by(OutboxMessage.next_attempt_dt)
    ).first()
    due = first.next_attempt_dt
    assert work_once("worker", now=due) == {"sent": 1}
    token = LINK.search(mail.messages()[0].get_body(("plain",)).get_content()).group(1)
    followup_patient.answer(token, answers(bruising="large"), now=due)
    db.session.commit()
    work_once("worker", now=due)  # the practitioner's own alert, in English

    later = due + timedelta(days=4)
    assert escalations.escalate_unacknowledged(now=later) == 1
    db.session.commit()
    assert work_once("worker", now=later) == {"sent": 1}

    duty = mail.messages()[-1]
    assert duty["To"] == duty_email
    assert duty["Subject"] == (
        "NeedleSafe : réponse à traiter le jour même non prise en charge à Clinique Lakeshore"
    )
    body = duty.get_body(("plain",)).get_content()
    assert body.startswith(
        "Personne n'a pris en charge depuis 2 heures ouvrables la réponse de suivi à traiter "
        "le jour même d'un patient à Clinique Lakeshore."
    )
    assert "Veuillez ouvrir NeedleSafe maintenant" in body
    assert f"/sessions/{session.id}" in body
    practitioner_alert = mail.messages()[1]
    assert practitioner_alert["To"] == practitioner.email
    assert "follow-up answer" in practitioner_alert["Subject"]
    flag = db.session.scalars(select(Flag).where(Flag.session_id == session.id)).one()
    assert flag.message.startswith("Same-day answer on the 24-hour check")  # stored English
    assert db.session.get(TreatmentSession, session.id).clinic.language == "fr_CA"


def test_an_administrator_chooses_the_language_of_a_clinics_duty_mail(client, make_user, clinic):
    clinic_id = clinic.id
    values = {
        "name": clinic.name,
        "timezone": "America/Toronto",
        "workday_start_hour": "8",
        "workday_end_hour": "19",
        "duty_email": clinic.duty_email,
        "phone": clinic.phone,
        "country": "CA",
        "working_days": list(clinic.working_days),
    }
    login(client, make_user("admin"))
    form = text(client.get(f"/admin/clinics/{clinic_id}"))
    assert '<option value="fr_CA">Français (Canada)</option>' in form

    refused = post_form(client, f"/admin/clinics/{clinic_id}", {**values, "language": "de"})
    assert refused.status_code == 400
    assert "Choose a language from the list." in text(refused)

    saved = post_form(client, f"/admin/clinics/{clinic_id}", {**values, "language": "fr_CA"})
    assert saved.status_code == 302
    assert db.session.get(Clinic, clinic_id).language == "fr_CA"
