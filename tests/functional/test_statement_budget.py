"""Pages that cost what they show: the SQL statements one request runs, counted at the engine.

The busiest pages load what they need up front (one query per list, selectin or joined
loading), so their cost does not grow with the rows they show. Each test counts the statements
of a request on a small clinic and again after it has grown, and holds both to a fixed budget:
a lazy load that comes back (one query per row, per phase, per addendum) breaks the budget or
makes the count grow, and fails here before it reaches a busy clinic. A phase save and a
signature are held to theirs too: a commit that drops what the request loaded, to load it all
again, shows up here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from conftest import CLEAN_PHASES, PASSWORD, post_form
from sqlalchemy import event, select

from safety.auth.models import User
from safety.checklists import addenda
from safety.checklists.models import Flag
from safety.clinics.models import Clinic as ClinicRow
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.followup import patient as followup_patient
from safety.followup.models import FollowUp

PHASES = ("signin", "timeout", "signout")
#: Answers that raise a flag, so records carry flags and follow-ups as busy ones do.
BLEEDING = {"signout.bleeding": ["prolonged"], "signout.bleeding.note": ["Pressure, six minutes."]}

#: Statements per request, whatever the size of the clinic. Each includes the one every
#: signed-in request runs (its account and its login session, joined: it was two) and, for an
#: audited view, the audit event's chain head and insert.
BUDGET = {
    # The people and the patients waiting come joined in (it was 8 with a statement each);
    # the one-tap starts, the clinic's most recently seen patients, one grouped query more.
    "today": 6,
    # The record names every needle pack: one query for them.
    "record": 16,
    "records": 10,
    # The incidents per clinic and month are one more grouped count; the follow-ups due within
    # a day of either end of the period are counted again on their clinic's own day: the
    # clinics' zones and a count for each end, three more (11 before, 2026-12-07).
    "dashboard": 14,
    # Time out writes its needle packs in one more statement. Every save takes the session's
    # row before reading it, so a save beside "Sign" cannot add to a signed record (a review):
    # the lock and the template's version read again under it, two more (14 before).
    "phase save": 16,
    # Signing reads the session again once it holds the row (a second tap or tablet may have
    # saved a phase meanwhile): the session, its phases, flags and template, four more.
    "signature": 22,
}


@dataclass(frozen=True)
class Clinic:
    practitioner: int
    officer: int
    clinic: int


@contextmanager
def counted() -> Iterator[list[str]]:
    """Collect every statement the application's engine sends while the block runs."""
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def person(user_id: int) -> User:
    return db.session.get(User, user_id)


def grow(clinic: Clinic, make_patient, make_session, *, records: int, open_sessions: int) -> int:
    """Add signed records (each with a flag, follow-ups and an addendum) and unsigned sessions
    for today; returns the last signed record's id."""
    last = 0
    for n in range(records):
        practitioner = person(clinic.practitioner)
        patient = make_patient(practitioner, given_name=f"Pat{n}", family_name="Budget")
        last = make_session(
            person(clinic.practitioner),
            phases=PHASES,
            sign=True,
            patient=patient,
            overrides=BLEEDING,
        ).id
        addenda.add_addendum(
            person(clinic.practitioner),
            last,
            reason="correction",
            body=f"Needle count corrected ({n}).",
            password=PASSWORD,
        )
        db.session.commit()
    for n in range(open_sessions):
        practitioner = person(clinic.practitioner)
        patient = make_patient(practitioner, given_name=f"Open{n}", family_name="Budget")
        make_session(person(clinic.practitioner), phases=PHASES[: n % 3], patient=patient)
    return last


@pytest.fixture
def clinic(make_clinic, make_user) -> Clinic:
    home = make_clinic("Budget Physio")
    practitioner = make_user("practitioner", clinic=home, name="Bea Budget")
    officer = make_user("compliance", name="Cora Compliance")
    return Clinic(practitioner.id, officer.id, home.id)


def sign_in(client, user_id: int):
    email = person(user_id).email
    response = post_form(client, "/auth/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def statements_for(client, url: str) -> list[str]:
    db.session.expire_all()
    with counted() as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return statements


def test_the_today_page_costs_the_same_for_two_sessions_as_for_a_busy_clinics_day(
    app, client, clinic, make_patient, make_session, make_user
):
    grow(clinic, make_patient, make_session, records=1, open_sessions=1)
    sign_in(client, clinic.practitioner)
    small = statements_for(client, "/sessions/")
    grow(clinic, make_patient, make_session, records=4, open_sessions=4)
    for n in range(3):  # colleagues' sessions show on the page too
        colleague = make_user("practitioner", clinic=db.session.get(ClinicRow, clinic.clinic))
        make_session(colleague, phases=PHASES[:n])
    large = statements_for(client, "/sessions/")

    assert len(large) == len(small)
    assert len(large) <= BUDGET["today"]


def test_the_audited_record_view_costs_the_same_for_a_plain_and_a_busy_record(
    app, client, clinic, make_patient, make_session
):
    plain = grow(clinic, make_patient, make_session, records=1, open_sessions=0)
    busy = grow(clinic, make_patient, make_session, records=1, open_sessions=0)
    for n in range(3):
        addenda.add_addendum(
            person(clinic.practitioner),
            busy,
            reason="correction",
            body=f"A further correction ({n}).",
            password=PASSWORD,
        )
    db.session.commit()
    assert db.session.scalars(select(Flag.id).where(Flag.session_id == busy)).all()
    sign_in(client, clinic.officer)
    small = statements_for(client, f"/review/records/{plain}")
    large = statements_for(client, f"/review/records/{busy}")

    assert len(large) == len(small)
    assert len(large) <= BUDGET["record"]


def test_the_records_list_costs_the_same_for_two_records_as_for_twelve(
    app, client, clinic, make_patient, make_session
):
    grow(clinic, make_patient, make_session, records=2, open_sessions=1)
    sign_in(client, clinic.officer)
    small = statements_for(client, "/review/records")
    grow(clinic, make_patient, make_session, records=10, open_sessions=2)
    large = statements_for(client, "/review/records")

    assert len(large) == len(small)
    assert len(large) <= BUDGET["records"]


def test_the_dashboard_costs_the_same_for_two_records_as_for_twelve(
    app, client, clinic, make_patient, make_session
):
    grow(clinic, make_patient, make_session, records=2, open_sessions=0)
    sign_in(client, clinic.officer)
    small = statements_for(client, "/review/")
    grow(clinic, make_patient, make_session, records=10, open_sessions=2)
    large = statements_for(client, "/review/")

    assert len(large) == len(small)
    assert len(large) <= BUDGET["dashboard"]


def test_saving_each_phase_and_signing_cost_a_fixed_number_of_statements(
    app, client, clinic, make_patient
):
    patient = make_patient(person(clinic.practitioner))
    sign_in(client, clinic.practitioner)
    started = post_form(client, "/sessions/new", {"patient_id": patient.id})
    record = started.headers["Location"]
    saves = []
    for phase, answers in CLEAN_PHASES.items():
        db.session.expire_all()
        with counted() as statements:
            saved = post_form(client, f"{record}/phase/{phase}", answers)
        assert saved.status_code == 302
        saves.append(len(statements))
    db.session.expire_all()
    with counted() as statements:
        signed = post_form(client, f"{record}/sign", {"password": PASSWORD})
    assert signed.status_code == 302

    assert max(saves) <= BUDGET["phase save"]
    assert len(statements) <= BUDGET["signature"]


def answer_urgently(session_id: int) -> None:
    """The patient answers only that their bleeding will not stop: an emergency with every
    other question left out, which the pages list as "Not answered"."""
    followup = db.session.scalars(
        select(FollowUp).where(FollowUp.session_id == session_id, FollowUp.kind == "24h")
    ).one()
    token = followup_patient.issue_link(followup, now=utcnow())
    followup_patient.answer(token, {"bleeding": ["wont_stop"]})
    db.session.commit()


@pytest.mark.parametrize(
    ("user", "url"), [("practitioner", "/sessions/"), ("officer", "/review/flags")]
)
def test_urgent_answers_cost_the_today_page_and_the_flags_queue_the_same_for_one_as_four(
    app, client, clinic, make_patient, make_session, user, url
):
    """What an urgent answer left out reads from its check and session: loaded with the list,
    not once per answer (a review counted 10 statements for one answer and 16 for four)."""
    answer_urgently(grow(clinic, make_patient, make_session, records=1, open_sessions=0))
    sign_in(client, getattr(clinic, user))
    small = statements_for(client, url)
    for _ in range(3):
        answer_urgently(grow(clinic, make_patient, make_session, records=1, open_sessions=0))
    large = statements_for(client, url)

    assert "Not answered" in client.get(url).get_data(as_text=True)
    assert len(large) == len(small)


def test_urgent_answers_cost_the_fhir_export_the_same_for_one_as_four(
    app, client, clinic, make_patient, make_session
):
    """Which questions an urgent answer left out (it exports as "stopped") follows from the
    batch's rows: a review counted four statements more for each such answer, the template's
    whole definition among them."""
    answer_urgently(grow(clinic, make_patient, make_session, records=1, open_sessions=0))
    sign_in(client, clinic.officer)

    def exported() -> tuple[list[str], str]:
        db.session.expire_all()
        with counted() as statements:
            response = client.get("/fhir/export", buffered=True)
        assert response.status_code == 200
        return statements, response.get_data(as_text=True)

    small, _ = exported()
    for _ in range(3):
        answer_urgently(grow(clinic, make_patient, make_session, records=1, open_sessions=0))
    large, bundle = exported()

    assert bundle.count('"status":"stopped"') == 4
    assert len(large) == len(small)
