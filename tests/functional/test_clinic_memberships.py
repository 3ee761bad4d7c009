"""A practitioner who works at several clinics, through the routes with CSRF on: they choose
the clinic after signing in, see only that clinic's patients and records (another clinic's are
"not found", as for anyone outside it), and switch when they move; an administrator adds and
removes clinics, each change audited."""

from __future__ import annotations

import html
from urllib.parse import urlparse

import pytest
from conftest import PASSWORD, login, post_form
from sqlalchemy import delete, func, select, update

from safety.audit.models import AuditEvent
from safety.auth import clinics as auth_clinics
from safety.auth.models import ClinicMembership, User
from safety.errors import Conflict, NotFound
from safety.extensions import db

ALL_PHASES = ("signin", "timeout", "signout")


@pytest.fixture
def two_clinics(make_clinic, make_user, make_session, make_patient, admin):
    """Harbour and Lakeside, each with a signed record; Lou works at both, at Harbour now."""
    harbour = make_clinic("Harbour Physio")
    lakeside = make_clinic("Lakeside Physio", timezone="America/Toronto")
    hana = make_user("practitioner", clinic=harbour, name="Hana Harbour")
    lara = make_user("practitioner", clinic=lakeside, name="Lara Lakeside")
    lou = make_user("practitioner", clinic=harbour, name="Lou Locum", email="lou@clinic.test")
    auth_clinics.add(lou.id, lakeside.id, actor=admin)
    db.session.commit()
    at_harbour = make_session(
        hana, phases=ALL_PHASES, sign=True, patient=make_patient(hana, family_name="Quay")
    )
    at_lakeside = make_session(
        lara, phases=ALL_PHASES, sign=True, patient=make_patient(lara, family_name="Shore")
    )
    return {
        "lou": lou.id,
        "harbour": harbour.id,
        "lakeside": lakeside.id,
        "harbour_record": at_harbour.id,
        "lakeside_record": at_lakeside.id,
    }


@pytest.fixture
def admin(make_user):
    return make_user("admin", email="ada@office.test")


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def path_of(response) -> str:
    return urlparse(response.headers.get("Location", "")).path


def sign_in_lou(app) -> tuple:
    client = app.test_client()
    response = post_form(client, "/auth/login", {"email": "lou@clinic.test", "password": PASSWORD})
    return client, response


def test_a_practitioner_at_two_clinics_chooses_where_they_work_after_signing_in(app, two_clinics):
    client, response = sign_in_lou(app)

    assert path_of(response) == "/auth/clinic"
    page = text_of(client.get("/auth/clinic"))
    assert "Harbour Physio (now)" in page and "Lakeside Physio" in page


@pytest.mark.parametrize("record", ["harbour_record", "lakeside_record"])
def test_only_the_chosen_clinics_records_are_visible_and_the_others_are_not_found(
    app, two_clinics, record
):
    client, _ = sign_in_lou(app)
    for working_at in ("harbour", "lakeside"):
        chosen = post_form(client, "/auth/clinic", {"clinic": str(two_clinics[working_at])})
        assert path_of(chosen) == "/"
        answer = client.get(f"/sessions/{two_clinics[record]}")
        expected = 200 if record.startswith(working_at) else 404
        assert answer.status_code == expected, (working_at, record)


def test_patients_list_follows_the_chosen_clinic(app, two_clinics):
    client, _ = sign_in_lou(app)

    at_harbour = text_of(client.get("/patients/"))
    post_form(client, "/auth/clinic", {"clinic": str(two_clinics["lakeside"])})
    at_lakeside = text_of(client.get("/patients/"))

    assert "Quay" in at_harbour and "Shore" not in at_harbour
    assert "Shore" in at_lakeside and "Quay" not in at_lakeside


def test_a_clinic_one_does_not_belong_to_cannot_be_chosen(app, two_clinics, make_clinic):
    elsewhere = make_clinic("Elsewhere Physio")
    client, _ = sign_in_lou(app)

    for value in (str(elsewhere.id), "abc", "99999999999999999999"):
        refused = post_form(client, "/auth/clinic", {"clinic": value})
        assert refused.status_code == 400
        assert "Choose one of your clinics" in text_of(refused)
    assert db.session.get(User, two_clinics["lou"]).clinic_id == two_clinics["harbour"]


def test_switching_clinic_is_audited(app, two_clinics):
    client, _ = sign_in_lou(app)

    post_form(client, "/auth/clinic", {"clinic": str(two_clinics["lakeside"])})

    [event] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.switch_clinic")
    ).all()
    assert event.details == {
        "old_clinic_id": two_clinics["harbour"],
        "new_clinic_id": two_clinics["lakeside"],
    }


def test_a_practitioner_at_one_clinic_goes_straight_to_work(app, make_user):
    single = make_user("practitioner")
    client = app.test_client()

    assert path_of(login(client, single)) == "/"


def test_an_administrator_adds_and_removes_a_clinic_and_each_change_is_audited(
    app, two_clinics, admin, make_clinic
):
    third = make_clinic("Third Physio")
    admin_client = app.test_client()
    login(admin_client, admin)
    lou = two_clinics["lou"]

    added = post_form(admin_client, f"/admin/users/{lou}/clinics", {"clinic": str(third.id)})
    assert path_of(added) == f"/admin/users/{lou}"
    assert "Third Physio" in text_of(admin_client.get(f"/admin/users/{lou}"))
    removed = post_form(
        admin_client, f"/admin/users/{lou}/clinics/{two_clinics['lakeside']}/remove"
    )
    assert path_of(removed) == f"/admin/users/{lou}"
    refused = post_form(admin_client, f"/admin/users/{lou}/clinics/{two_clinics['harbour']}/remove")

    assert refused.status_code == 409
    assert "work at now" in text_of(refused)
    names = [c.name for c in auth_clinics.clinics_of(db.session.get(User, lou))]
    assert names == ["Harbour Physio", "Third Physio"]
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("user.clinic_%"))
    ).all()
    assert sorted(actions) == ["user.clinic_add", "user.clinic_add", "user.clinic_remove"]


def test_a_practitioner_cannot_add_clinics_to_themselves(app, two_clinics, make_clinic):
    third = make_clinic("Third Physio")
    client, _ = sign_in_lou(app)
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))

    response = post_form(
        client, f"/admin/users/{two_clinics['lou']}/clinics", {"clinic": str(third.id)}
    )

    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_a_clinic_is_not_removed_from_someone_who_switched_to_it_since_they_were_read(
    app, two_clinics, admin
):
    """The administrator's removal and the practitioner's switch, as two requests at once
    lay them out: the removal read Lou at Harbour, then Lou switched to Lakeside. The removal
    once deleted the membership anyway and left Lou working where they no longer belong."""
    lou = db.session.get(User, two_clinics["lou"])  # read at Harbour
    db.session.execute(
        update(User)
        .where(User.id == lou.id)
        .values(clinic_id=two_clinics["lakeside"])
        .execution_options(synchronize_session=False)  # the object in hand stays as read
    )

    with pytest.raises(Conflict, match="the clinic they work at now"):
        auth_clinics.remove(lou.id, two_clinics["lakeside"], actor=admin)

    assert two_clinics["lakeside"] in {c.id for c in auth_clinics.clinics_of(lou)}
    members = db.session.scalars(
        select(ClinicMembership.clinic_id).where(ClinicMembership.user_id == lou.id)
    ).all()
    assert two_clinics["lakeside"] in members


def test_a_switch_to_a_clinic_removed_since_the_list_was_read_is_refused(
    app, two_clinics, monkeypatch
):
    """The other order: Lou's list still offers Lakeside, but the administrator has removed
    it; the switch made after that finds no membership and moves nobody."""
    lou = db.session.get(User, two_clinics["lou"])
    offered = auth_clinics.clinics_of(lou)
    db.session.execute(
        delete(ClinicMembership).where(
            ClinicMembership.user_id == lou.id,
            ClinicMembership.clinic_id == two_clinics["lakeside"],
        )
    )
    monkeypatch.setattr(auth_clinics, "clinics_of", lambda user: offered)  # as the page read it

    with pytest.raises(NotFound):
        auth_clinics.switch(lou, two_clinics["lakeside"])

    assert db.session.get(User, lou.id).clinic_id == two_clinics["harbour"]


def test_a_practitioner_removed_from_a_clinic_no_longer_reads_or_silences_its_answers(
    app, two_clinics, admin, make_session
):
    """Lou left Harbour for Lakeside: a Harbour patient's same-day answer stayed on Lou's day
    page and flags queue, and Lou marking it handled stopped its escalation to Harbour's duty
    address (an attacker's review). It is Harbour's now: its duty address takes it."""
    from test_patient_form import CALM, deliver_visit, submit

    from safety.checklists.models import Flag, FlagStatus, TreatmentSession
    from safety.clinics.models import Patient
    from safety.followup import escalations

    admin_id = admin.id
    lou = db.session.get(User, two_clinics["lou"])
    visit = deliver_visit(lou, make_session)
    submit(app.test_client(), visit.path, {**CALM, "other": "Chest pain since last night."})
    flag_id = db.session.scalar(select(Flag.id).where(Flag.session_id == visit.session_id))
    family = db.session.get(Patient, visit.patient_id).family_name
    session = db.session.get(TreatmentSession, visit.session_id)
    assert not escalations.practitioner_gone(session)
    client = app.test_client()
    login(client, db.session.get(User, two_clinics["lou"]))
    assert family in text_of(client.get("/sessions/"))  # while Lou works there

    lou = db.session.get(User, two_clinics["lou"])
    auth_clinics.switch(lou, two_clinics["lakeside"])
    auth_clinics.remove(lou.id, two_clinics["harbour"], actor=db.session.get(User, admin_id))
    db.session.commit()

    assert family not in text_of(client.get("/sessions/"))
    assert family not in text_of(client.get("/review/flags"))
    handled = post_form(client, f"/escalations/{flag_id}/handled", {"action": "called"})
    assert handled.status_code == 404
    db.session.expire_all()
    assert db.session.get(Flag, flag_id).status == FlagStatus.OPEN
    assert escalations.practitioner_gone(db.session.get(TreatmentSession, visit.session_id))
