"""A patient is written to in their own language, end to end (DESIGN §11): a French-speaking
patient of a Toronto clinic gets the reminder in French over real SMTP, its link opens the
form in French whatever the browser asks for, and a red-flag answer shows the emergency advice
in French with the number of the clinic's country. The switch changes the page's language and
puts nothing about the patient in the address."""

from __future__ import annotations

import re

import pytest
from aiosmtpd.controller import Controller
from conftest import csrf_token
from followup_helpers import CALM_FIELDS as CALM
from followup_helpers import NEAR_LUNG
from smtp_capture import Collector, free_port, send_mail_to
from sqlalchemy import select

from safety.checklists.models import Flag
from safety.extensions import db
from safety.followup.models import DevMessage, FollowUp, OutboxMessage
from safety.followup.worker import work_once

ALL_PHASES = ("signin", "timeout", "signout")
LINK = re.compile(r"http://localhost(/f/[A-Za-z0-9_-]+)\r?$", re.MULTILINE)


@pytest.fixture
def mail(request, app) -> Collector:
    """A real SMTP server on localhost the reminders go to."""
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    request.addfinalizer(controller.stop)
    send_mail_to(app, controller.port, sender="Lakeshore <reminders@lakeshore.test>")
    return handler


def delivered_link(make_clinic, make_user, make_patient, make_session, language: str) -> str:
    """Sign a shoulder session at a Toronto clinic for a patient who reads `language`, deliver
    its 24-hour check, and return the link's path from the message that arrived."""
    clinic = make_clinic("Clinique Lakeshore", timezone="America/Toronto")
    practitioner = make_user(clinic=clinic)
    patient = make_patient(practitioner, "Chloé", "Gagnon", language=language)
    session = make_session(
        practitioner, phases=ALL_PHASES, sign=True, overrides=NEAR_LUNG, patient=patient
    )
    first = db.session.scalars(
        select(OutboxMessage)
        .join(FollowUp, OutboxMessage.followup_id == FollowUp.id)
        .where(FollowUp.session_id == session.id, FollowUp.kind == "24h")
        .order_by(OutboxMessage.next_attempt_dt)  # the check before its reminder
    ).first()
    assert work_once("worker", now=first.next_attempt_dt) == {"sent": 1}
    return first


def test_a_french_patients_reminder_form_and_emergency_advice_are_in_french(
    client, mail, make_clinic, make_user, make_patient, make_session
):
    delivered_link(make_clinic, make_user, make_patient, make_session, "fr_CA")

    [message] = mail.messages()
    assert message["Subject"] == (
        "Clinique Lakeshore : comment allez-vous depuis votre rendez-vous?"
    )
    body = message.get_body(("plain",)).get_content()
    assert body.startswith("Bonjour Chloé, ici Clinique Lakeshore.")
    assert "Comment vous sentez-vous depuis votre rendez-vous du" in body
    assert "Pour ne plus recevoir ces messages :" in body
    path = LINK.search(body).group(1)

    # The browser asks for English: the patient's language wins.
    form = client.get(path, headers={"Accept-Language": "en-GB,en;q=0.9"})
    page = form.get_data(as_text=True)
    assert form.status_code == 200
    assert '<html lang="fr-CA">' in page
    assert "Comment vous sentez-vous, Chloé?" in page
    assert "une douleur à la poitrine, une douleur quand vous inspirez, ou le souffle court?" in (
        page
    )
    assert "appelez le" in page and 'href="tel:911"' in page
    assert "How are you feeling" not in page

    answered = client.post(
        path,
        data={**CALM, "chest": "yes", "csrf_token": csrf_token(client)},
        headers={"Accept-Language": "en-GB,en;q=0.9"},
    )
    advice = answered.get_data(as_text=True)
    assert answered.status_code == 200
    assert '<html lang="fr-CA">' in advice
    assert '<h1>Appelez le <a class="tel" href="tel:911">911</a> immédiatement</h1>' in advice
    assert advice.count("911</a> immédiatement") == 1  # the heading is the call, said once
    assert "près de la poitrine, du dos, de l&#39;épaule ou du cou le" in advice
    assert "Call" not in advice
    # What is recorded stays language-neutral: the codes and an English flag for staff.
    flag = db.session.scalars(select(Flag).where(Flag.kind == "emergency")).one()
    assert flag.message.startswith("Emergency answer on the")


def test_a_spanish_patients_missing_answers_are_pointed_out_in_spanish(
    client, make_clinic, make_user, make_patient, make_session
):
    first = delivered_link(make_clinic, make_user, make_patient, make_session, "es")

    body = db.session.scalars(select(DevMessage).where(DevMessage.outbox_id == first.id)).one()
    assert body.body.startswith("Hola, Chloé. Le escribimos desde Clinique Lakeshore.")
    path = LINK.search(body.body).group(1)

    refused = client.post(path, data={"soreness": "3", "csrf_token": csrf_token(client)})

    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert '<html lang="es">' in page
    assert "Responda las preguntas marcadas abajo" in page
    assert "Díganos si ha sangrado desde que se fue." in page


def test_the_switch_changes_the_language_and_the_address_holds_only_the_language(
    client, make_clinic, make_user, make_patient, make_session
):
    first = delivered_link(make_clinic, make_user, make_patient, make_session, "fr_CA")

    body = db.session.scalars(select(DevMessage).where(DevMessage.outbox_id == first.id)).one()
    path = LINK.search(body.body).group(1)

    french = client.get(path).get_data(as_text=True)
    switch = re.search(r'<nav class="language-switch"[^>]*>(.*?)</nav>', french, re.S).group(1)
    assert re.findall(r'href="([^"]+)"', switch) == ["?lang=en", "?lang=es"]
    assert 'aria-current="true" lang="fr-CA">Français (Canada)' in switch

    english = client.get(f"{path}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english
    assert "How are you feeling, Chloé?" in english
    assert 'Call <a class="tel" href="tel:911">911</a> now if you have:' in english

    # A language we do not have falls back to the patient's own.
    unknown = client.get(f"{path}?lang=de").get_data(as_text=True)
    assert '<html lang="fr-CA">' in unknown


def test_the_stop_page_speaks_the_patients_language(
    client, make_clinic, make_user, make_patient, make_session
):
    first = delivered_link(make_clinic, make_user, make_patient, make_session, "es")

    body = db.session.scalars(select(DevMessage).where(DevMessage.outbox_id == first.id)).one()
    path = LINK.search(body.body).group(1)

    asked = client.get(f"{path}/stop").get_data(as_text=True)
    assert "¿Dejar de recibir mensajes de seguimiento?" in asked
    stopped = client.post(f"{path}/stop", data={"csrf_token": csrf_token(client)})
    assert "Ya no recibirá mensajes de seguimiento" in stopped.get_data(as_text=True)


def test_an_unusable_link_speaks_the_browsers_language_and_names_no_patient(client):
    page = client.get(
        "/f/" + "a" * 43, headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
    ).get_data(as_text=True)
    assert '<html lang="fr-CA">' in page
    assert "Ce lien ne peut pas être utilisé" in page
    assert "appelez les services d&#39;urgence immédiatement" in page
