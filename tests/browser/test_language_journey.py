"""Languages in a real browser (DESIGN §11): a French-speaking patient of a Toronto clinic
opens the emailed link on a phone set to English and reads the form in French, switches to
Spanish and back, and gets the emergency advice in French with 911 to tap; a Spanish-speaking
practitioner signs in and works in Spanish. Every page carries its `lang` and is axe clean."""

from __future__ import annotations

import re

import pytest
from aiosmtpd.controller import Controller
from conftest import CLEAN_PHASES, PASSWORD
from playwright.sync_api import expect
from smtp_capture import Collector, free_port, send_mail_to
from sqlalchemy import select

from safety.checklists import services as checklists
from safety.extensions import db
from safety.followup.models import FollowUp, OutboxMessage
from safety.followup.worker import work_once

from .conftest import PHONE

pytestmark = pytest.mark.browser

ALL_PHASES = ("signin", "timeout", "signout")
NEAR_LUNG = {
    "signin.regions": ["shoulder"],
    "signin.lung_precaution": ["25 mm needles, angled onto the scapula"],
    "signin.lung_risk": ["none"],
    "signin.position": ["prone"],
}
CALM = {
    "soreness": "3",
    "trend": "better",
    "bleeding": "none",
    "bruising": "none",
    "numbness": "no",
    "fainted": "no",
    "needle_found": "no",
}


@pytest.fixture
def inbox(app, live_server):
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    send_mail_to(app, controller.port, sender="Lakeshore <reminders@lakeshore.test>")
    yield handler
    controller.stop()


def answer(page, choices: dict[str, str]) -> None:
    for name, value in choices.items():
        page.locator(f'label.choice:has(input[name="{name}"][value="{value}"])').tap()


def test_a_french_patient_reads_the_form_and_the_emergency_advice_in_french_on_a_phone(
    journey, live_server, inbox, make_clinic, make_user, make_patient, make_session
):
    clinic = make_clinic("Clinique Lakeshore", timezone="America/Toronto")
    practitioner = make_user("practitioner", clinic=clinic)
    patient = make_patient(practitioner, "Chloé", "Gagnon", language="fr_CA")
    make_session(practitioner, phases=ALL_PHASES, sign=True, patient=patient, overrides=NEAR_LUNG)
    due = db.session.scalars(
        select(OutboxMessage.next_attempt_dt)
        .join(FollowUp, OutboxMessage.followup_id == FollowUp.id)
        .where(FollowUp.kind == "24h", OutboxMessage.is_reminder.is_(False))
    ).one()
    assert work_once("browser-test", now=due) == {"sent": 1}
    [message] = inbox.messages()
    body = message.get_body(("plain",)).get_content()
    assert body.startswith("Bonjour Chloé")
    link = re.search(rf"^({re.escape(live_server.url)}/f/[A-Za-z0-9_-]+)\r?$", body, re.M)

    page = journey.page(PHONE, locale="en-GB")
    page.goto(link.group(1))
    expect(page.locator("html")).to_have_attribute("lang", "fr-CA")
    expect(page.get_by_role("heading", level=1)).to_have_text("Comment vous sentez-vous, Chloé?")
    journey.check(page, "form-fr")

    page.get_by_role("link", name="Español").tap()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text("¿Cómo se siente, Chloé?")
    assert "Chlo" not in page.url and "Gagnon" not in page.url
    journey.check(page, "form-es")
    page.get_by_role("link", name="Français (Canada)").tap()
    expect(page.locator("html")).to_have_attribute("lang", "fr-CA")

    answer(page, {**CALM, "chest": "yes"})
    page.get_by_role("button", name="Envoyer mes réponses").tap()

    first = page.locator("main > :first-child")
    expect(first).to_have_attribute("role", "alert")
    expect(first.get_by_role("heading", level=1)).to_have_text("Appelez le 911 immédiatement")
    expect(first.locator('a[href="tel:911"]').first).to_be_visible()
    expect(first).to_contain_text("près de la poitrine, du dos, de l'épaule ou du cou le")
    journey.check(page, "emergency-fr")


def test_a_spanish_practitioner_signs_in_and_works_in_spanish(journey, make_clinic, make_user):
    clinic = make_clinic("Clínica Lakeshore", timezone="America/Toronto")
    lucia = make_user("practitioner", clinic=clinic, name="Lucía Romero", language="es")

    page = journey.page(locale="es-ES")
    page.goto("/auth/login")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    journey.check(page, "login-es")
    page.get_by_label("Correo electrónico").fill(lucia.email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.locator(".flash")).to_contain_text("Sesión iniciada como Lucía Romero.")

    page.goto("/patients/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Añadir un paciente")
    journey.check(page, "new-patient-es")
    page.get_by_label("Nombre", exact=True).fill("Valentina")
    page.get_by_label("Apellidos").fill("Morales")
    page.get_by_label("Idioma que lee el paciente").select_option("es")
    page.get_by_role("button", name="Añadir el paciente y empezar la sesión").click()
    expect(page.locator(".flash")).to_contain_text("Paciente añadido y sesión iniciada.")
    session_id = re.search(r"/sessions/(\d+)", page.url).group(1)

    # The checklist itself: items, pills and the script's "Because you chose" in Spanish.
    page.goto(f"/sessions/{session_id}/phase/signin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Entrada")
    regions = page.get_by_role("group", name="Regiones del cuerpo en las que se aplicarán agujas.")
    regions.locator("label.choice", has_text="Cuello").click()
    lung = page.locator('.item[data-link-id="signin.lung_risk"]')
    expect(lung).to_be_visible()
    expect(lung.locator(".condition")).to_have_text("Porque eligió Cuello.")
    expect(page.locator("#answered-count")).to_contain_text("preguntas respondidas")
    journey.check(page, "phase-es")

    # The counts that differ, as the script says them while they are typed (issue 19).
    for name in ("signin", "timeout"):
        checklists.submit_phase(lucia, int(session_id), name, CLEAN_PHASES[name])
    db.session.commit()
    page.goto(f"/sessions/{session_id}/phase/signout")
    for name in ("opened", "used", "removed", "disposed"):
        page.locator(f'[id="signout.needles_{name}"]').fill("6")
    page.locator('[id="signout.needles_removed"]').fill("5")
    expect(page.locator("#count-status")).to_have_text(
        "Los recuentos no cuadran: 6 usadas / 5 retiradas."
    )

    page.goto("/patients/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pacientes de Clínica Lakeshore")
    journey.check(page, "patients-es")
    page.goto("/auth/language")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    journey.check(page, "language-es")
