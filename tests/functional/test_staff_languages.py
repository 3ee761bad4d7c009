"""The staff interface in the reader's language (DESIGN §11): before signing in the browser's
Accept-Language decides, then the profile's language; a Spanish-speaking practitioner works
through sign-in, patients, errors and incidents in Spanish; languages are chosen and audited;
dates and counts follow the language; the template page says what lacks a translation."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

import pytest
from conftest import csrf_token, login, post_form
from factories import clean_phases
from flask import g
from flask_babel import gettext
from followup_helpers import CALM_FIELDS as CALM
from sqlalchemy import select, update
from test_admin_routes import RISK_LEAFLET

from safety import display, i18n
from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.checklists import services as checklists
from safety.checklists.models import TreatmentSession
from safety.clinics.models import Patient
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup.models import DevMessage, FollowUp, OutboxMessage, PatientResponse
from safety.followup.patient import issue_link
from safety.followup.worker import work_once
from safety.risks.models import TemplateVersion

ALL_PHASES = ("signin", "timeout", "signout")
FRENCH_BROWSER = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}


def lang_of(response) -> str:
    return re.search(r'<html lang="([^"]+)">', response.get_data(as_text=True)).group(1)


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def clinic(make_clinic):
    return make_clinic("Clínica Lakeshore", timezone="America/Toronto")


@pytest.fixture
def spanish(make_user, clinic):
    return make_user(clinic=clinic, name="Lucía Romero", language="es")


@pytest.mark.parametrize(
    ("header", "lang", "words"),
    [
        ("es-MX,es;q=0.9", "es", "Iniciar sesión"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "fr-CA", "Se connecter"),
        ("de-DE,de;q=0.9", "en", "Log in"),
        ("", "en", "Log in"),
    ],
)
def test_before_signing_in_the_browsers_language_decides(client, header, lang, words):
    page = client.get("/auth/login", headers={"Accept-Language": header} if header else {})
    assert lang_of(page) == lang
    assert f"<h1>{words}</h1>" in page.get_data(as_text=True)


def test_a_language_chosen_during_a_request_is_the_one_its_later_words_use(app):
    # The request keeps each language's catalogue (safety/i18n.py): a patient's page that
    # switches language after a word was said must not keep the first catalogue.
    with app.test_request_context("/", headers={"Accept-Language": "es"}):
        assert gettext("Log in") == "Iniciar sesión"
        i18n.use_language("fr_CA")
        assert gettext("Log in") == "Se connecter"
        i18n.use_language("en")
        assert gettext("Log in") == "Log in"


def test_a_spanish_speaking_practitioner_works_in_spanish_whatever_the_browser(
    client, spanish, clinic
):
    refused = post_form(
        client,
        "/auth/login",
        {"email": spanish.email, "password": "wrong password here"},
        headers={"Accept-Language": "es"},
    )
    assert "Ese correo y esa contraseña no corresponden" in refused.get_data(as_text=True)

    signed = login(client, spanish, headers=FRENCH_BROWSER, follow_redirects=True)
    assert lang_of(signed) == "es"  # the profile, not the French browser
    assert "Sesión iniciada como Lucía Romero." in signed.get_data(as_text=True)

    patients = client.get("/patients/", headers=FRENCH_BROWSER)
    text = patients.get_data(as_text=True)
    assert lang_of(patients) == "es"
    assert "Pacientes de Clínica Lakeshore" in text
    assert "Añadir un paciente y empezar una sesión" in text

    form = client.get("/patients/new")
    assert "Idioma que lee el paciente" in form.get_data(as_text=True)
    assert '<option value="es" selected>' in form.get_data(as_text=True)  # theirs by default
    refused = post_form(client, "/patients/new", {"given_name": "", "family_name": ""})
    assert refused.status_code == 400
    assert "Escriba el nombre del paciente." in refused.get_data(as_text=True)

    added = post_form(
        client,
        "/patients/new",
        {"given_name": "Chloé", "family_name": "Gagnon", "language": "fr_CA"},
        follow_redirects=True,
    )
    assert "Paciente añadido y sesión iniciada." in added.get_data(as_text=True)
    patient = db.session.scalars(select(Patient).where(Patient.family_name == "Gagnon")).one()
    assert patient.language == "fr_CA"
    [created] = events("patient.create")
    assert created.details["language"] == "fr_CA"

    missing = client.get("/incidents/999999")
    assert missing.status_code == 404 and lang_of(missing) == "es"
    assert "No encontrado" in missing.get_data(as_text=True)
    incidents = client.get("/incidents/").get_data(as_text=True)
    assert "Informar de un pinchazo o de una herida con objeto cortante" in incidents


def test_a_patients_language_is_changed_from_the_list_and_audited(client, spanish, make_patient):
    patient = make_patient(spanish, "Valentina", "Morales")
    login(client, spanish)

    saved = post_form(
        client, f"/patients/{patient.id}/language", {"language": "es"}, follow_redirects=True
    )
    assert "Idioma guardado: su próximo mensaje lo usará." in saved.get_data(as_text=True)
    assert db.session.get(Patient, patient.id).language == "es"
    [changed] = events("patient.language")
    assert changed.details == {"from": "en", "to": "es"}

    refused = post_form(
        client, f"/patients/{patient.id}/language", {"language": "de"}, follow_redirects=True
    )
    assert "Elija el idioma que lee el paciente." in refused.get_data(as_text=True)
    assert db.session.get(Patient, patient.id).language == "es"


def test_staff_choose_their_language_and_the_choice_is_audited(client, spanish):
    login(client, spanish)

    page = client.get("/auth/language")
    assert "Su idioma" in page.get_data(as_text=True)
    saved = post_form(client, "/auth/language", {"language": "fr_CA"}, follow_redirects=True)

    assert lang_of(saved) == "fr-CA"
    assert "Votre langue est enregistrée." in saved.get_data(as_text=True)
    assert db.session.get(User, spanish.id).language == "fr_CA"
    [changed] = events("user.language")
    assert changed.details == {"from": "es", "to": "fr_CA"}

    refused = post_form(client, "/auth/language", {"language": "xx"})
    assert refused.status_code == 400
    assert "Choisissez l&#39;une des langues de la liste." in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    ("language", "when", "day", "count"),
    [
        ("en", "06 Dec 2026, 09:05 EST", "06 Dec 2026", "12,345"),
        ("fr_CA", "6 déc. 2026, 09:05 EST", "6 déc. 2026", "12\u00a0345"),
        ("es", "6 dic 2026, 09:05 EST", "6 dic 2026", "12.345"),
    ],
)
def test_dates_times_and_counts_follow_the_language_in_the_clinics_zone(
    app, language, when, day, count
):
    moment = datetime(2026, 12, 6, 14, 5, tzinfo=UTC)
    with app.test_request_context():
        g.language = language
        assert display.local_time(moment, "America/Toronto") == when
        assert display.day(moment.date()) == day
        # A day in a named zone (the template pages), with the language's month.
        assert display.local_time(moment, "America/Toronto", "%d %b %Y %Z") == f"{day} EST"
        assert display.number(12345) == count
        # A form field's value stays machine-readable in every language.
        assert display.local_time(moment, "America/Toronto", "%Y-%m-%dT%H:%M") == (
            "2026-12-06T09:05"
        )


def test_the_template_page_lists_what_lacks_a_translation_and_publishing_warns(client, make_user):
    admin = make_user("admin")
    login(client, admin)
    post_form(client, "/admin/templates/import", {"text": RISK_LEAFLET})
    draft = db.session.scalars(select(TemplateVersion)).one()
    complete = client.get(f"/admin/templates/{draft.id}").get_data(as_text=True)
    assert "Every item is translated into French (Canada) and Spanish." in complete

    definition = dict(draft.definition)
    phases = [dict(p, items=[dict(i) for i in p["items"]]) for p in definition["phases"]]
    phases[1]["items"][0]["text"] = "Hands rubbed with alcohol gel before needling."
    link_id = phases[1]["items"][0]["linkId"]
    db.session.execute(
        update(TemplateVersion)
        .where(TemplateVersion.id == draft.id)
        .values(definition={**definition, "phases": phases})
    )
    db.session.commit()

    page = client.get(f"/admin/templates/{draft.id}").get_data(as_text=True)
    assert f'Français (Canada): <a href="#item-{link_id}"><code>{link_id}</code></a> (text)' in (
        page
    )
    assert "publishing is allowed, and those items show in the template’s own words" in page
    published = post_form(client, f"/admin/templates/{draft.id}/publish", {}, follow_redirects=True)
    assert "1 item lacks a translation" in published.get_data(as_text=True)


def test_an_alert_to_a_spanish_practitioner_is_written_in_spanish(client, spanish, make_session):
    session = make_session(spanish, phases=ALL_PHASES, sign=True)
    followup = db.session.scalars(
        select(FollowUp).where(FollowUp.session_id == session.id, FollowUp.kind == "24h")
    ).one()
    token = issue_link(followup, now=utcnow())
    db.session.commit()
    client.post(
        f"/f/{token}",
        data={**CALM, "bleeding": "wont_stop", "csrf_token": csrf_token(client)},
    )
    alert = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.purpose == "practitioner_alert")
    ).one()

    assert work_once("worker", now=alert.next_attempt_dt).get("sent")

    [message] = db.session.scalars(select(DevMessage).where(DevMessage.outbox_id == alert.id)).all()
    assert message.subject == "NeedleSafe: respuesta de seguimiento (emergencia)"
    assert message.body.startswith("EMERGENCIA: respuesta de seguimiento en Clínica Lakeshore.")
    assert "Una respuesta de seguimiento de un paciente lo necesita." in message.body


def test_a_french_practitioners_waiting_patients_put_a_space_before_the_colon(
    client, clinic, make_user, make_patient, make_session
):
    """French puts a space before a colon; the Today page's "Le jour même:" had it glued on,
    the colon written outside the translated sentence (a review)."""
    french = make_user(clinic=clinic, name="Chloé Tremblay", language="fr_CA")
    session = make_session(
        french, phases=ALL_PHASES, sign=True, patient=make_patient(french, "Marc", "Roy")
    )
    followup = db.session.scalars(
        select(FollowUp).where(FollowUp.session_id == session.id, FollowUp.kind == "24h")
    ).one()
    token = issue_link(followup, now=utcnow())
    db.session.commit()
    login(client, french)
    client.post(f"/f/{token}", data={**CALM, "signs": "redness", "csrf_token": csrf_token(client)})

    today = client.get("/sessions/").get_data(as_text=True)

    assert "<strong>Le jour même</strong> : Marc Roy, en attente depuis" in today
    # What the practitioner did reads as a choice of their own and on the record alike, not
    # "A appelé le patient" (someone else's past act: a native reading).
    for label in ("Appel au patient", "Conseils donnés au patient", "Orientation du patient"):
        assert label in today


def test_a_patients_answers_read_in_the_staff_members_language(app):
    answers = {"soreness": 6, "bruising": "large", "signs": [], "other": "J'ai chaud."}
    with app.test_request_context():
        g.language = "es"
        response = PatientResponse(answers=answers, escalation="none")
        lines = dict(app.jinja_env.filters["patient_answers"](response))
    assert lines == {
        "Dolor actual (0-10)": "6/10",
        "Hematomas": "Un moretón grande, o uno que se está extendiendo",
        "Signos de infección en una zona de punción": "Ninguna",
        "Escrito por el paciente": "J'ai chaud.",
    }


def test_the_sign_in_prompt_speaks_the_browsers_language(client):
    sent = client.get("/patients/", headers={"Accept-Language": "es"}, follow_redirects=True)
    assert lang_of(sent) == "es"
    assert "Inicie sesión para continuar." in sent.get_data(as_text=True)


def page_words(response) -> str:
    """The page's text as a reader sees it: tags gone, spaces folded, entities read."""
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(text))


def because_phrases(raw: str) -> set[str]:
    """Every "you chose Neck" phrase the page gives checklist.js, in the page's language."""
    found = re.findall(r"data-because='([^']*)'", raw)
    return {phrase for listed in found for phrase in json.loads(listed)}


def test_a_spanish_practitioner_works_a_session_through_in_spanish(
    client, spanish, make_patient, make_session
):
    login(client, spanish, headers=FRENCH_BROWSER)
    patient = make_patient(spanish, "Valentina", "Morales", language="es")

    today = client.get("/sessions/")
    assert lang_of(today) == "es"
    words = page_words(today)
    assert "Hoy en Clínica Lakeshore" in words
    assert "Empezar una sesión para Valentina Morales Primera visita" in words
    assert "Añadir un paciente nuevo" in words

    start = page_words(client.get("/sessions/new"))
    assert "Toque al paciente que está con usted: su sesión empieza en la entrada." in start
    assert "Buscar un paciente por su nombre" in start
    assert "Pacientes, los vistos más recientemente primero" in start

    session = make_session(spanish, patient=patient)
    answers = clean_phases(session)["signin"]
    signin = client.get(f"/sessions/{session.id}/phase/signin")
    assert lang_of(signin) == "es"
    raw, words = signin.get_data(as_text=True), page_words(signin)
    assert "<h1>Entrada</h1>" in raw
    assert "<legend>Regiones del cuerpo en las que se aplicarán agujas.</legend>" in raw
    assert 'value="neck"> Cuello</label>' in raw  # a pill's option in Spanish, its code kept
    # Without the script, a conditional item says when it applies; the script's sentence
    # ("Porque eligió Cuello.") is built from the phrases and the words the page gives it.
    assert (
        "Solo si eligió Tórax, parte alta de la espalda o pecho (campo pulmonar), Cuello o "
        "Cintura escapular" in words
    )
    assert "eligió Cuello" in because_phrases(raw)
    assert json.loads(re.search(r"data-words='([^']*)'", raw).group(1))["because"] == (
        "Porque %(reasons)s."
    )
    assert "Guardar Entrada" in words and "Body regions" not in words

    saved = post_form(
        client,
        f"/sessions/{session.id}/phase/signin",
        answers,
        follow_redirects=True,
    )
    assert "Entrada guardada." in page_words(saved)

    session = make_session(spanish, phases=("signin", "timeout"), patient=patient)
    answers = clean_phases(session)["signout"]
    signout = client.get(f"/sessions/{session.id}/phase/signout")
    words = page_words(signout)
    assert "Dolor durante la punción, de 0 (ninguno) a 10 (el peor imaginable)." in words
    assert "Guardar y firmar como Lucía Romero" in words
    refused = post_form(
        client,
        f"/sessions/{session.id}/phase/signout",
        {**answers, "signout.needles_opened": "0"},
    )
    assert refused.status_code == 400
    assert "Introduzca un número de al menos 1." in page_words(refused)  # the value kept
    session = db.session.get(TreatmentSession, session.id)
    with client.application.test_request_context():
        g.language = "es"
        blockers = checklists.signing_blockers(session, display.checklist_wording())
    assert blockers == ["La fase Salida no se ha completado."]
    assert checklists.signing_blockers(session) == ["The Sign out phase has not been completed."]

    signed = make_session(spanish, phases=ALL_PHASES, sign=True, patient=patient)
    record = client.get(f"/sessions/{signed.id}")
    words = page_words(record)
    assert lang_of(record) == "es"
    assert f"Sesión de Valentina Morales, {display.day(signed.session_date, 'es')}" in words
    assert "Registro firmado" in words and "Realizó y verificó estos controles" in words
    assert "Este registro no se puede modificar." in words
    assert "Regiones del cuerpo en las que se aplicarán agujas." in words
    assert "Performed and verified" not in words and "Signed record" not in words


def test_a_french_practitioner_reads_a_phase_in_french_and_english_stays_english(
    client, clinic, make_user, make_patient, make_session
):
    french = make_user(clinic=clinic, name="Chloé Tremblay", language="fr_CA")
    login(client, french)
    session = make_session(french, patient=make_patient(french, "Marc", "Roy"))
    signin = client.get(f"/sessions/{session.id}/phase/signin")
    assert lang_of(signin) == "fr-CA"
    raw, words = signin.get_data(as_text=True), page_words(signin)
    assert "<h1>Accueil</h1>" in raw
    assert "<legend>Régions du corps à puncturer.</legend>" in raw
    assert 'value="neck"> Cou</label>' in raw
    assert "vous avez choisi Cou" in because_phrases(raw)
    assert "Seulement si vous avez choisi Thorax" in words
    assert "Enregistrer l'étape Accueil" in words and "Body regions" not in words
    # The tracker's "saved" agrees with each phase's name ("Accueil enregistrée" read wrong).
    timed_out = make_session(french, phases=("signin", "timeout"))
    words = page_words(client.get(f"/sessions/{timed_out.id}/phase/signout"))
    assert "1. Accueil enregistré" in words
    assert "2. Pause de vérification enregistrée" in words

    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    english = make_user(clinic=clinic, name="Ann Lee")
    login(client, english)
    session = make_session(english, patient=make_patient(english, "Ruth", "Bell"))
    words = page_words(client.get(f"/sessions/{session.id}/phase/signin"))
    assert "Body regions to be needled." in words and "Only when you chose" in words
    assert "Save Sign in" in words


def test_the_compliance_desk_reads_in_spanish(client, spanish, make_user, make_session):
    flagged = make_session(
        spanish,
        phases=ALL_PHASES,
        sign=True,
        overrides={"timeout.gloves": ["needed_not_worn"], "timeout.gloves.note": ["Sin guantes"]},
    ).id
    desk = make_user("compliance", name="Inés Vidal", language="es")
    login(client, desk)

    queue = client.get("/review/flags")
    assert lang_of(queue) == "es"
    words = page_words(queue)
    assert "Cola de alertas" in words and "1 alerta coincide." in words
    assert "Guantes no usados" in words and "Gloves not worn" not in words
    # The flag's own message, stored in the English it was raised with, reads in Spanish.
    assert "Guantes cuando se prevé contacto con sangre. Necesarios pero no usados." in words
    assert "Gloves where blood contact is expected." not in words
    assert "Cualquier gravedad" in words

    record = page_words(client.get(f"/review/records/{flagged}"))
    assert f"registro n.º {flagged}" in record
    assert "Profesional: Lucía Romero" in record and "Firma Lucía Romero" in record
    assert "Realizó y verificó estos controles" in record
    assert "Historial de auditoría de este registro" in record
    assert "Firmó la lista de verificación: huella del contenido" in record
    assert "Consultó el registro" in record and "Viewed the record" not in record
    assert "Fecha de caducidad de las agujas (del envase). 31 dic 2099" in record

    dashboard = page_words(client.get("/review/"))
    assert "Panel de cumplimiento" in dashboard and "Alertas abiertas" in dashboard
    # The measures say what they count in Spanish too.
    assert "Sangrado en los puntos de punción" in dashboard
    assert "Bleeding at needle sites" not in dashboard
    records = page_words(client.get("/review/records"))
    assert "1 registro coincide." in records
    assert "Descargar los registros firmados en CSV" in records


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("fr_CA", "Aucune infection ni lésion cutanée aux points de puncture prévus. Réponse"),
        ("es", "Sin infección ni piel lesionada en las zonas de punción previstas. Respuesta"),
    ],
)
def test_a_flag_raised_in_an_older_versions_words_is_still_said_in_the_readers_language(
    app, language, said
):
    """Version 5 said "No infection or broken skin" plainly; the flags version 2 to 4 sessions
    raised keep the words they were asked in, and were left in English for these readers."""
    from types import SimpleNamespace

    old = "No infection or broken skin at the planned needle sites. Answered: no."
    flag = SimpleNamespace(kind="deviation", link_id="signin.skin_ok", message=old)
    with app.test_request_context():
        g.language = language
        assert display.flag_message(flag).startswith(said)


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("fr_CA", "La vérification de la poitrine à 48 heures après une puncture près du poumon"),
        ("es", "No se pudo enviar el control del pecho a las 48 horas"),
    ],
)
def test_a_chest_check_that_could_not_be_sent_is_said_in_the_readers_language(app, language, said):
    """The flag that puts an unsent chest check on a practitioner's list asks for a call: a
    French or Spanish practitioner reads it in their language, not in English."""
    from types import SimpleNamespace

    from safety.followup import rules as followup_rules

    message = followup_rules.CHEST_CHECK_NOT_SENT[followup_rules.NO_ADDRESS]
    flag = SimpleNamespace(kind=followup_rules.NO_ANSWER, link_id=None, message=message)
    with app.test_request_context():
        g.language = language
        assert display.flag_message(flag).startswith(said)
