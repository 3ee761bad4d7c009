"""The practitioner's journey through the session checklist, driven through the routes with CSRF on.

Start a session (existing or new patient), fill Sign in, Time out and Sign out with form fields
named by linkId, sign with the password, and find every refused input explained beside its field
with nothing saved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest
from conftest import CLEAN_PHASES, PASSWORD, login, post_form
from htmlpage import ById, elements
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.checklists.models import Flag, PhaseEntry, TreatmentSession
from safety.clinics.models import Patient
from safety.display import local_time
from safety.extensions import db

LONG = "x" * 10_000


# --- helpers -------------------------------------------------------------------------------


def text_of(response) -> str:
    """Return the page's visible text with whitespace collapsed and entities decoded."""
    parser = ById()
    chunks: list[str] = []
    parser.handle_data = chunks.append
    parser.feed(response.get_data(as_text=True))
    parser.close()
    return " ".join("".join(chunks).split())


def assert_message_beside(response, name: str, message: str) -> None:
    """The field carries aria-invalid and points at a message that says what to do."""
    found = elements(response)
    error = found.get(f"{name}-error")
    assert error is not None, f"no message beside {name!r}"
    assert message in " ".join(error.text.split())
    control = found.get(name)
    assert control is not None, f"no form control with id {name!r}"
    assert control.attrs.get("aria-invalid") == "true"
    assert f"{name}-error" in (control.attrs.get("aria-describedby") or "")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def entries_of(session_id: int) -> list[PhaseEntry]:
    return list(
        db.session.scalars(
            select(PhaseEntry).where(PhaseEntry.session_id == session_id).order_by(PhaseEntry.id)
        )
    )


def record(session_id: int) -> TreatmentSession:
    db.session.expire_all()
    return db.session.get(TreatmentSession, session_id)


def phase_url(session_id: int, phase: str) -> str:
    return f"/sessions/{session_id}/phase/{phase}"


def fill(client, session_id: int, phase: str, overrides: dict | None = None, drop=()):
    """Submit one phase with clean answers, changed by `overrides` and without `drop`."""
    data = {**CLEAN_PHASES[phase], **(overrides or {})}
    for name in drop:
        data.pop(name)
    return post_form(client, phase_url(session_id, phase), data)


def session_id_from(location: str) -> int:
    match = re.fullmatch(r"/sessions/(\d+)", location)
    assert match, f"not a session address: {location}"
    return int(match.group(1))


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    name: str
    clinic_id: int | None


def person(user) -> Person:
    return Person(user.id, user.email, user.name, user.clinic_id)


@pytest.fixture
def practitioner(make_user, make_clinic) -> Person:
    clinic = make_clinic(timezone="America/Toronto")
    return person(make_user("practitioner", clinic=clinic, name="Grace Hopper"))


@pytest.fixture
def signed_in(client, practitioner):
    response = login(client, practitioner)
    assert response.status_code == 302
    return client


def new_session(make_session, practitioner: Person, phases=(), **kwargs) -> int:
    user = db.session.get(User, practitioner.id)
    return make_session(user, phases=phases, **kwargs).id


def new_patient(make_patient, practitioner: Person) -> int:
    return make_patient(db.session.get(User, practitioner.id)).id


# --- starting a session --------------------------------------------------------------------


def test_each_showing_of_a_new_patient_form_carries_its_own_one_time_key(signed_in):
    """A form sent twice is one patient; two forms are two (test_double_tap.py)."""
    keys = [
        re.findall(
            r'name="form_key"[^>]*value="([^"]+)"', signed_in.get(path).get_data(as_text=True)
        )
        for path in ("/sessions/new", "/sessions/new", "/patients/new")
    ]

    assert all(len(found) == 1 for found in keys)
    assert len({found[0] for found in keys}) == 3


def test_a_practitioner_starts_a_session_for_an_existing_patient(
    signed_in, practitioner, make_patient
):
    patient_id = new_patient(make_patient, practitioner)

    response = post_form(signed_in, "/sessions/new", {"patient_id": str(patient_id)})

    assert response.status_code == 302
    session_id = session_id_from(response.headers["Location"])
    started = record(session_id)
    assert (started.patient_id, started.practitioner_id) == (patient_id, practitioner.id)
    assert started.clinic_id == practitioner.clinic_id
    assert signed_in.get(f"/sessions/{session_id}").headers["Location"] == phase_url(
        session_id, "signin"
    )


def test_the_start_page_lists_the_clinics_patients_to_choose_from(
    signed_in, practitioner, make_patient
):
    patient_id = new_patient(make_patient, practitioner)

    page = signed_in.get("/sessions/new")

    assert page.status_code == 200
    # Each patient is a button that starts their session in one tap.
    button = re.search(
        rf'<button type="submit" name="patient_id" value="{patient_id}"[^>]*>\s*'
        r'<span class="name">Ada Lovelace</span>\s*<span class="meta">First visit',
        page.get_data(as_text=True),
    )
    assert button is not None


def test_the_picker_and_todays_quick_start_tell_two_namesakes_apart_by_date_of_birth(
    signed_in, practitioner, make_patient, make_session
):
    user = db.session.get(User, practitioner.id)
    born = {}
    for day in (date(1960, 3, 14), date(1991, 7, 2)):
        patient_id = make_patient(user, given_name="Sam", family_name="Same").id
        db.session.get(Patient, patient_id).birth_date = day
        db.session.commit()
        born[patient_id] = day.strftime("%d %b %Y")
        # Seen before: Today offers them as quick starts.
        make_session(
            db.session.get(User, practitioner.id), patient=db.session.get(Patient, patient_id)
        )

    for address in ("/sessions/new", "/sessions/"):
        page = signed_in.get(address).get_data(as_text=True)
        for patient_id, shown in born.items():
            button = re.search(
                rf'name="patient_id" value="{patient_id}"[^>]*>(.*?)</button>', page, re.S
            )
            assert button is not None, address
            assert f"Born {shown}" in " ".join(button.group(1).split()), address
        # The date of birth is in the page, never in an address it links or posts to.
        addresses = re.findall(r'(?:href|action)="([^"]*)"', page)
        assert not [a for a in addresses if "1960" in a or "1991" in a]


def test_a_new_patient_added_with_a_date_of_birth_keeps_it(signed_in):
    response = post_form(
        signed_in,
        "/patients/new",
        {
            "given_name": "Nora",
            "family_name": "New",
            "birth_date": "1975-11-30",
            "email": "nora@example.org",
            "language": "en",
        },
    )

    assert response.status_code == 302
    patient = db.session.scalars(select(Patient).where(Patient.given_name == "Nora")).one()
    assert patient.birth_date == date(1975, 11, 30)


def test_the_picker_puts_the_last_seen_patient_first_and_a_posted_search_filters_it(
    signed_in, practitioner, make_patient, make_session
):
    user = db.session.get(User, practitioner.id)
    first = make_patient(user, given_name="Ann", family_name="Early")
    seen = make_patient(user, given_name="Zed", family_name="Seen")
    make_session(user, patient=seen)
    first_id, seen_id = first.id, seen.id

    listed = signed_in.get("/sessions/new").get_data(as_text=True)
    assert listed.index("Zed Seen") < listed.index("Ann Early")
    assert "Last visit" in listed.split("Zed Seen")[1].split("</button>")[0]

    # The search is posted (a name never goes into a URL) and starts nothing.
    found = post_form(signed_in, "/sessions/new", {"q": "ann"})
    assert found.status_code == 200
    assert f'value="{first_id}"' in found.get_data(as_text=True)
    assert f'value="{seen_id}"' not in found.get_data(as_text=True)
    assert db.session.scalar(select(func.count(TreatmentSession.id))) == 1
    nobody = post_form(signed_in, "/sessions/new", {"q": "100%_"})
    assert "No patient of your clinic has a name containing" in nobody.get_data(as_text=True)


def test_the_picker_finds_a_name_typed_without_its_accents(signed_in, practitioner, make_patient):
    """Toronto's patients write their names with accents a practitioner at an English keyboard
    does not type: "lucia fern" finds Lucía Fernández, "CHLOE" finds Chloé, and a name typed
    with its accents still finds it."""
    user = db.session.get(User, practitioner.id)
    lucia = make_patient(user, given_name="Lucía", family_name="Fernández").id
    chloe = make_patient(user, given_name="Chloé", family_name="Gagnon").id

    for typed, wanted in (("lucia fern", lucia), ("CHLOE", chloe), ("Fernández", lucia)):
        page = post_form(signed_in, "/sessions/new", {"q": typed}).get_data(as_text=True)
        assert f'value="{wanted}"' in page, typed
        other = chloe if wanted == lucia else lucia
        assert f'value="{other}"' not in page, typed


def test_the_today_page_starts_a_recent_patients_session_in_one_tap(
    signed_in, practitioner, make_patient
):
    patient_id = new_patient(make_patient, practitioner)
    today = signed_in.get("/sessions/").get_data(as_text=True)
    assert f'name="patient_id" value="{patient_id}"' in today
    assert 'action="/sessions/new"' in today

    started = post_form(signed_in, "/sessions/new", {"patient_id": patient_id})
    assert started.status_code == 302
    assert record(session_id_from(started.headers["Location"])).patient_id == patient_id


def test_adding_a_new_patient_starts_their_session(signed_in, practitioner):
    response = post_form(
        signed_in,
        "/patients/new",
        {
            "given_name": "Mary",
            "family_name": "Seacole",
            "email": "mary@example.org",
            "phone": "+44 20 7946 0000",
            "is_followup_consent": "y",
        },
    )

    assert response.status_code == 302
    session_id = session_id_from(response.headers["Location"])
    patient = db.session.scalar(select(Patient).where(Patient.family_name == "Seacole"))
    assert patient.clinic_id == practitioner.clinic_id
    assert patient.is_followup_consent is True
    assert record(session_id).patient_id == patient.id
    assert "Begin with Sign in" in text_of(signed_in.get(phase_url(session_id, "signin")))


@pytest.mark.parametrize(
    ("patient_id", "message"),
    [
        ("", "Choose a patient."),
        ("abc", "Choose a patient."),
        ("999999", "Choose one of your clinic's patients."),
    ],
)
def test_starting_a_session_without_a_real_patient_is_refused_beside_the_field(
    signed_in, patient_id, message
):
    response = post_form(signed_in, "/sessions/new", {"patient_id": patient_id})

    assert response.status_code == 400
    assert_message_beside(response, "patient_id", message)
    assert count(TreatmentSession) == 0


@pytest.mark.parametrize(
    ("form", "problems"),
    [
        pytest.param(
            {"given_name": "", "family_name": "  "},
            {
                "given_name": "Enter the patient's first name.",
                "family_name": "Enter the patient's last name.",
            },
            id="without names",
        ),
        pytest.param(
            {"email": "not-an-email"},
            {"email": "Enter an email address like name@example.com."},
            id="bad email",
        ),
        pytest.param(
            {"email": "", "phone": "", "is_followup_consent": "y"},
            {"email": "Follow-up needs an email address or a phone number."},
            id="follow-up without contact",
        ),
        pytest.param(
            {"phone": "call me later"},
            {"phone": "Enter a phone number"},
            id="bad phone",
        ),
        pytest.param(
            {"given_name": LONG},
            {"given_name": "100 characters"},
            id="oversized name",
        ),
        pytest.param(
            {"email": LONG + "@example.org"},
            {"email": "254 characters"},
            id="oversized email",
        ),
    ],
)
def test_a_new_patient_with_bad_details_is_refused_beside_each_field_and_nothing_is_saved(
    signed_in, form, problems
):
    data = {"given_name": "Mary", "family_name": "Seacole", "email": "mary@example.org", **form}

    response = post_form(signed_in, "/patients/new", data)

    assert response.status_code == 400
    for name, message in problems.items():
        assert_message_beside(response, name, message)
    assert count(Patient) == 0
    assert count(TreatmentSession) == 0


# --- filling the phases --------------------------------------------------------------------


def test_each_phase_is_saved_as_its_own_entry_with_its_author_and_time(
    signed_in, practitioner, make_patient
):
    patient_id = new_patient(make_patient, practitioner)
    started = post_form(signed_in, "/sessions/new", {"patient_id": str(patient_id)})
    session_id = session_id_from(started.headers["Location"])

    after_signin = fill(signed_in, session_id, "signin")
    after_timeout = fill(signed_in, session_id, "timeout")
    after_signout = fill(signed_in, session_id, "signout")

    assert after_signin.headers["Location"] == phase_url(session_id, "timeout")
    assert after_timeout.headers["Location"] == phase_url(session_id, "signout")
    assert after_signout.headers["Location"] == f"/sessions/{session_id}"
    entries = entries_of(session_id)
    assert [e.phase for e in entries] == ["signin", "timeout", "signout"]
    assert {e.author_id for e in entries} == {practitioner.id}
    times = [e.submitted_dt for e in entries]
    assert times == sorted(times)
    assert entries[0].answers["signin.regions"] == ["lumbar", "hip"]
    assert entries[1].answers["timeout.needle_lot"] == "LOT-2611A"
    assert entries[2].answers["signout.needles_used"] == 6
    assert entries[2].answers["signout.needles_removed"] == 6
    page = text_of(signed_in.get(f"/sessions/{session_id}"))
    assert page.count(f"by {practitioner.name}") == 3
    assert "Sign the checklist" in page


def test_each_phase_submission_is_audited(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner)

    fill(signed_in, session_id, "signin")

    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "session.phase_submit")
    ).all()
    assert [(e.actor_id, e.object_id, e.details["phase"]) for e in events] == [
        (practitioner.id, str(session_id), "signin")
    ]


def test_a_session_left_after_sign_in_resumes_at_time_out(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner, phases=("signin",))

    response = signed_in.get(f"/sessions/{session_id}")

    assert response.status_code == 302
    assert response.headers["Location"] == phase_url(session_id, "timeout")
    assert "Continue: Time out" in text_of(signed_in.get("/sessions/"))


def test_a_saved_phase_comes_back_filled_in_when_reopened(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout"))

    page = signed_in.get(phase_url(session_id, "timeout")).get_data(as_text=True)

    assert 'value="LOT-2611A"' in page
    assert 'value="2099-12-31"' in page


def test_time_out_cannot_be_saved_before_sign_in(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner)

    response = fill(signed_in, session_id, "timeout")

    assert response.status_code == 409
    assert "Complete the Sign in phase first." in text_of(response)
    assert entries_of(session_id) == []


def test_a_phase_posted_without_a_csrf_token_is_refused_and_not_saved(
    signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner)

    response = signed_in.post(phase_url(session_id, "signin"), data=CLEAN_PHASES["signin"])

    assert response.status_code == 400
    assert entries_of(session_id) == []


def test_starting_a_session_without_a_csrf_token_is_refused(signed_in, practitioner, make_patient):
    patient_id = new_patient(make_patient, practitioner)

    response = signed_in.post("/sessions/new", data={"patient_id": str(patient_id)})

    assert response.status_code == 400
    assert count(TreatmentSession) == 0


def test_adding_a_patient_without_a_csrf_token_is_refused(signed_in):
    response = signed_in.post("/patients/new", data={"given_name": "Mary", "family_name": "S"})

    assert response.status_code == 400
    assert count(Patient) == 0
    assert count(TreatmentSession) == 0


#: (phase, answers changed, answers left out, field with the message, words of the message)
INVALID_PHASES = [
    pytest.param(
        "timeout",
        {"timeout.needle_expiry": "2001-01-31"},
        (),
        "timeout.needle_expiry",
        "This pack has expired. Do not use it: open an in-date pack.",
        id="expired needle pack",
    ),
    pytest.param(
        "timeout",
        {"timeout.needle_expiry": "31/12/2099"},
        (),
        "timeout.needle_expiry",
        "Enter a date as YYYY-MM-DD",
        id="expiry not a date",
    ),
    pytest.param(
        "signout",
        {"signout.needles_used": "six"},
        (),
        "signout.needles_used",
        "Enter a whole number",
        id="needle count not a number",
    ),
    pytest.param(
        "signout",
        {"signout.needles_used": "0"},
        (),
        "signout.needles_used",
        "at least 1",
        id="no needles used",
    ),
    pytest.param(
        "signout",
        {"signout.pain_during": "11"},
        (),
        "signout.pain_during",
        "no greater than 10",
        id="pain above 10",
    ),
    pytest.param(
        "signout",
        {"signout.needles_removed": "5"},
        (),
        "signout.count_discrepancy",
        "The needle counts do not reconcile (6 used / 5 removed)",
        id="removed differs from used without a note",
    ),
    pytest.param(
        "signout",
        {"signout.needles_disposed": "4"},
        (),
        "signout.count_discrepancy",
        "The needle counts do not reconcile (6 opened / 4 disposed)",
        id="disposed differs from opened without a note",
    ),
    pytest.param(
        "timeout",
        {"timeout.opened_in_view": "no"},
        (),
        "timeout.opened_in_view.note",
        "Add a short note saying what was done",
        id="no on an expected item without a note",
    ),
    pytest.param(
        "signout",
        {"signout.bleeding": "prolonged"},
        (),
        "signout.bleeding.note",
        "Add a short note saying what was done",
        id="prolonged bleeding without a note",
    ),
    pytest.param(
        "signin",
        {"signin.anticoagulant": "yes"},
        (),
        "signin.bleeding_precaution",
        "Answer this item.",
        id="anticoagulant without a precaution",
    ),
    pytest.param(
        "signin",
        {"signin.regions": ["lumbar", "neck"]},
        (),
        "signin.lung_precaution",
        "Answer this item.",
        id="neck region without a lung precaution",
    ),
    pytest.param(
        "signin",
        {"signin.regions": ["thorax"]},
        (),
        "signin.lung_precaution",
        "Answer this item.",
        id="thorax region without a lung precaution",
    ),
    pytest.param(
        "signin",
        {"signin.regions": ["shoulder"]},
        (),
        "signin.position",
        "Answer this item.",
        id="shoulder girdle without the patient's position",
    ),
    pytest.param(
        "timeout",
        {"timeout.gloves": "needed_not_worn"},
        (),
        "timeout.gloves.note",
        "Add a short note saying what was done",
        id="gloves needed but not worn without a note",
    ),
    pytest.param(
        "signout",
        {"signout.reactions": ["none", "fainted"]},
        (),
        "signout.reactions",
        "cannot be chosen with another answer",
        id="no reaction and a faint together",
    ),
    pytest.param(
        "timeout",
        {"timeout.gloves": "sometimes"},
        (),
        "timeout.gloves",
        "Choose one of the listed options.",
        id="unknown choice code",
    ),
    pytest.param(
        "signin",
        {"signin.regions": ["lumbar", "elbow"]},
        (),
        "signin.regions",
        "Choose from the listed options.",
        id="unknown region code",
    ),
    pytest.param(
        "signin",
        {"signin.consent": "maybe"},
        (),
        "signin.consent",
        "Choose yes or no.",
        id="yes-no answered otherwise",
    ),
    pytest.param(
        "signin",
        {},
        ("signin.authorised",),
        "signin.authorised",
        "Answer this item.",
        id="missing yes-no item",
    ),
    pytest.param(
        "signin",
        {},
        ("signin.regions",),
        "signin.regions",
        "Answer this item.",
        id="missing regions",
    ),
    pytest.param(
        "timeout",
        {"timeout.needle_lot": "   "},
        (),
        "timeout.needle_lot",
        "Answer this item.",
        id="blank needle lot",
    ),
    pytest.param(
        "timeout",
        {},
        ("timeout.needle_expiry",),
        "timeout.needle_expiry",
        "Answer this item.",
        id="missing expiry",
    ),
    pytest.param(
        "signout",
        {},
        ("signout.followup",),
        "signout.followup",
        "Answer this item.",
        id="missing follow-up choice",
    ),
    pytest.param(
        "timeout",
        {"timeout.needle_lot": LONG},
        (),
        "timeout.needle_lot",
        "Keep this under 64 characters.",
        id="oversized needle lot",
    ),
    pytest.param(
        "timeout",
        {"timeout.needle_lot": "HW2611\nA"},
        (),
        "timeout.needle_lot",
        "The lot has a character that is not printed on a pack",
        id="needle lot with a line break",
    ),
    pytest.param(
        "timeout",
        {"timeout.needle_lot": "]d20109501101020918|10HW2611A", "timeout.needle_expiry": ""},
        (),
        "timeout.needle_lot",
        "check digit is wrong",
        id="scanned pack whose GTIN does not add up",
    ),
    pytest.param(
        "timeout",
        {"timeout.needle_lot": "]d2011234", "timeout.needle_expiry": ""},
        (),
        "timeout.needle_lot",
        "looks like a GS1 barcode but could not be read",
        id="malformed scan",
    ),
    pytest.param(
        "timeout",
        {"timeout.pack2.lot": "B2", "timeout.pack2.expiry": "2000-01-01"},
        (),
        "timeout.pack2.expiry",
        "This pack has expired",
        id="expired second pack",
    ),
    pytest.param(
        "timeout",
        {"timeout.opened_in_view": "no", "timeout.opened_in_view.note": LONG},
        (),
        "timeout.opened_in_view.note",
        "Keep the note under 1000 characters.",
        id="oversized note",
    ),
    pytest.param(
        "signin",
        {"signin.anticoagulant": "yes", "signin.bleeding_precaution": LONG},
        (),
        "signin.bleeding_precaution",
        "Keep this under",
        id="oversized precaution",
    ),
    pytest.param(
        "signout",
        {"signout.needles_opened": "9" * 10_000},
        (),
        "signout.needles_opened",
        "Enter a whole number",
        id="oversized needle count",
    ),
    pytest.param(
        "signout",
        {"signout.needles_removed": "5", "signout.count_discrepancy": LONG},
        (),
        "signout.count_discrepancy",
        "Keep this under",
        id="oversized discrepancy note",
    ),
]

EARLIER_PHASES = {"signin": (), "timeout": ("signin",), "signout": ("signin", "timeout")}


@pytest.mark.parametrize(("phase", "changes", "left_out", "name", "message"), INVALID_PHASES)
def test_every_invalid_answer_gets_a_message_beside_its_field_and_saves_nothing(
    signed_in, practitioner, make_session, phase, changes, left_out, name, message
):
    session_id = new_session(make_session, practitioner, phases=EARLIER_PHASES[phase])
    before = count(PhaseEntry)

    response = fill(signed_in, session_id, phase, changes, drop=left_out)

    assert response.status_code == 400
    assert_message_beside(response, name, message)
    assert count(PhaseEntry) == before
    assert record(session_id).needle_lot == ("LOT-2611A" if phase == "signout" else None)


def test_a_refused_phase_comes_back_with_what_was_typed(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner, phases=("signin",))

    response = fill(
        signed_in,
        session_id,
        "timeout",
        {"timeout.needle_lot": "LOT-77", "timeout.gloves": "x"},
    )

    assert response.status_code == 400
    assert elements(response)["timeout.needle_lot"].attrs["value"] == "LOT-77"


def summary_of(response) -> dict[str, str]:
    """The error summary's links: each field's name and what the link says."""
    return dict(re.findall(r'<li><a href="#([^"]+)">([^<]*)</a>', response.get_data(as_text=True)))


def test_the_error_summary_names_each_field_by_its_question_note_or_pack(
    signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner, phases=("signin",))

    typed = fill(
        signed_in, session_id, "timeout", {"timeout.gloves": "x", "timeout.pack2.lot": "L2"}
    )
    unexplained = fill(
        signed_in,
        session_id,
        "timeout",
        {**CLEAN_PHASES["timeout"], "timeout.opened_in_view": "no"},
    )

    summary = summary_of(typed)
    # A question's own full stop is left out: its error follows the dash.
    assert summary["timeout.gloves"].startswith("Gloves where blood contact is expected — ")
    assert summary["timeout.pack2.expiry"].startswith("Pack 2 expiry — ")
    [(name, note)] = summary_of(unexplained).items()
    assert name == "timeout.opened_in_view.note"
    assert re.match(r"Note for “[^”.]+” — ", note), note


@pytest.mark.parametrize(
    ("phase", "changes"),
    [
        ("signin", {"signin.anticoagulant": "yes", "signin.bleeding_precaution": "Pressure 2 min"}),
        (
            "signin",
            {
                "signin.regions": ["neck"],
                "signin.lung_precaution": "Pincer grip, 15 mm",
                "signin.lung_risk": ["none"],
                "signin.position": "prone",
            },
        ),
        (
            "timeout",
            {"timeout.opened_in_view": "no", "timeout.opened_in_view.note": "Opened at the sink"},
        ),
        ("timeout", {"timeout.needle_expiry": "today"}),
    ],
    ids=["anticoagulant with precaution", "neck with precaution", "no with a note", "today"],
)
def test_an_answer_with_the_explanation_it_needs_is_saved(
    signed_in, practitioner, make_session, phase, changes
):
    session_id = new_session(make_session, practitioner, phases=EARLIER_PHASES[phase])
    if changes.get("timeout.needle_expiry") == "today":
        changes = {"timeout.needle_expiry": record(session_id).session_date.isoformat()}

    response = fill(signed_in, session_id, phase, changes)

    assert response.status_code == 302
    assert [e.phase for e in entries_of(session_id)][-1] == phase


def test_a_precaution_that_no_longer_applies_is_not_kept(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner)

    fill(signed_in, session_id, "signin", {"signin.bleeding_precaution": "Not needed"})

    assert "signin.bleeding_precaution" not in entries_of(session_id)[0].answers


def test_an_unknown_phase_is_not_found(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner)

    assert signed_in.get(phase_url(session_id, "debrief")).status_code == 404
    assert post_form(signed_in, phase_url(session_id, "debrief"), {}).status_code == 404
    assert entries_of(session_id) == []


# --- signing -------------------------------------------------------------------------------


def sign(client, session_id: int, password: str = PASSWORD):
    return post_form(client, f"/sessions/{session_id}/sign", {"password": password})


def test_a_wrong_password_keeps_the_checklist_unsigned_with_a_message_beside_the_password(
    signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout", "signout"))

    response = sign(signed_in, session_id, "not-my-password")

    assert response.status_code == 400
    assert_message_beside(response, "password", "That password is not right")
    unsigned = record(session_id)
    assert unsigned.signed_dt is None and unsigned.content_hash is None


def test_signing_without_a_password_is_refused_beside_the_field(
    signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout", "signout"))

    response = sign(signed_in, session_id, "")

    assert response.status_code == 400
    assert_message_beside(response, "password", "Enter your password to sign.")
    assert record(session_id).signed_dt is None


def test_signing_without_a_csrf_token_is_refused(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout", "signout"))

    response = signed_in.post(f"/sessions/{session_id}/sign", data={"password": PASSWORD})

    assert response.status_code == 400
    assert record(session_id).signed_dt is None


def test_an_incomplete_checklist_cannot_be_signed(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner, phases=("signin",))

    response = sign(signed_in, session_id)

    assert response.status_code == 400
    page = text_of(response)
    assert "The Sign out phase has not been completed." in page
    assert record(session_id).signed_dt is None


def test_signing_shows_the_printed_name_meaning_local_time_and_content_hash(
    signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout", "signout"))

    response = sign(signed_in, session_id)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/sessions/{session_id}"
    signed = record(session_id)
    assert signed.signed_by_id == practitioner.id
    page = signed_in.get(f"/sessions/{session_id}")
    assert page.status_code == 200
    words = text_of(page)
    assert "Checklist signed." in words
    assert practitioner.name in words
    assert "Performed and verified these checks" in words
    local = local_time(signed.signed_dt, "America/Toronto")
    assert local.endswith(("EST", "EDT"))
    assert f"Performed and verified these checks, {local}." in words
    # The hash and the UTC time are kept for auditors, in a details box.
    assert "Integrity details" in words
    assert f"Signed at {signed.signed_dt:%Y-%m-%d %H:%M:%S} UTC." in words
    hashes = re.findall(r"\b[0-9a-f]{64}\b", page.get_data(as_text=True))
    assert hashes == [signed.content_hash]
    assert 'name="password"' not in page.get_data(as_text=True)


def test_a_signed_checklist_refuses_another_phase_submission(signed_in, practitioner, make_session):
    session_id = new_session(
        make_session, practitioner, phases=("signin", "timeout", "signout"), sign=True
    )
    signed = record(session_id)
    before = (signed.content_hash, signed.signed_dt, signed.answers, count(PhaseEntry))

    response = fill(signed_in, session_id, "signout", {"signout.bleeding": "minor"})

    assert response.status_code in (302, 303, 409)
    page = signed_in.get(response.headers["Location"]) if response.status_code != 409 else response
    assert "signed and can no longer be changed" in text_of(page)
    after = record(session_id)
    assert (after.content_hash, after.signed_dt, after.answers, count(PhaseEntry)) == before


def test_a_signed_checklist_cannot_be_signed_again(signed_in, practitioner, make_session):
    session_id = new_session(
        make_session, practitioner, phases=("signin", "timeout", "signout"), sign=True
    )
    signed = record(session_id)
    before = (signed.content_hash, signed.signed_dt, signed.signed_by_id)

    response = sign(signed_in, session_id)

    assert response.status_code in (302, 303, 409)
    page = signed_in.get(response.headers["Location"]) if response.status_code != 409 else response
    assert "signed and can no longer be changed" in text_of(page)
    after = record(session_id)
    assert (after.content_hash, after.signed_dt, after.signed_by_id) == before
    signatures = select(func.count()).where(AuditEvent.action == "session.sign")
    assert db.session.scalar(signatures) == 1


def test_the_phase_form_of_a_signed_checklist_sends_the_practitioner_to_the_record(
    signed_in, practitioner, make_session
):
    session_id = new_session(
        make_session, practitioner, phases=("signin", "timeout", "signout"), sign=True
    )

    response = signed_in.get(phase_url(session_id, "timeout"))

    assert response.status_code == 302
    assert response.headers["Location"] == f"/sessions/{session_id}"


def test_a_count_discrepancy_signed_with_a_note_raises_a_critical_flag_on_the_record(
    signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout"))
    saved = fill(
        signed_in,
        session_id,
        "signout",
        {
            "signout.needles_removed": "5",
            "signout.needles_disposed": "5",
            "signout.count_discrepancy": "Plinth and floor searched; patient checked; none found.",
        },
    )
    assert saved.headers["Location"] == f"/sessions/{session_id}"
    preview = text_of(signed_in.get(f"/sessions/{session_id}"))
    assert "Signing will raise these flags" in preview

    signed = sign(signed_in, session_id)

    assert signed.status_code == 302
    flags = db.session.scalars(select(Flag).where(Flag.session_id == session_id)).all()
    # A needle missing from the patient is missing from the sharps container too: both
    # counts fail to reconcile, and each is a critical flag of its own.
    assert [(f.kind, f.severity) for f in flags] == [("count_discrepancy", "critical")] * 2
    page = signed_in.get(f"/sessions/{session_id}")
    words = text_of(page)
    assert "Flags for compliance" in words
    assert "Critical. Needle counts do not reconcile: 6 used / 5 removed." in words
    assert "Critical. Needle counts do not reconcile: 6 opened / 5 disposed." in words
    assert "Plinth and floor searched" in words


def test_a_no_explained_by_a_note_is_flagged_for_compliance_when_signed(
    signed_in, practitioner, make_session
):
    session_id = new_session(
        make_session,
        practitioner,
        phases=("signin", "timeout"),
        overrides={"timeout.skin_prepared": ["no"], "timeout.skin_prepared.note": ["No swabs"]},
    )
    fill(signed_in, session_id, "signout")

    sign(signed_in, session_id)

    flags = db.session.scalars(select(Flag).where(Flag.session_id == session_id)).all()
    assert [(f.link_id, f.severity) for f in flags] == [("timeout.skin_prepared", "high")]
    assert "No swabs" in text_of(signed_in.get(f"/sessions/{session_id}"))


# --- nothing a practitioner types gives a 500 ----------------------------------------------


@pytest.mark.parametrize(
    ("phase", "name"),
    [
        ("signin", "signin.authorised"),
        ("signin", "signin.regions"),
        ("signin", "signin.lung_precaution"),
        ("timeout", "timeout.needle_lot"),
        ("timeout", "timeout.needle_expiry"),
        ("timeout", "timeout.gloves"),
        ("signout", "signout.pain_during"),
        ("timeout", "timeout.field_ready.note"),
        ("signout", "signout.needles_removed"),
        ("signout", "signout.count_discrepancy"),
        ("signout", "signout.followup"),
    ],
)
@pytest.mark.parametrize("value", [LONG, "LOT\x00A"], ids=["10000 chars", "NUL"])
def test_odd_input_in_any_phase_field_never_gives_a_server_error(
    signed_in, practitioner, make_session, phase, name, value
):
    session_id = new_session(make_session, practitioner, phases=EARLIER_PHASES[phase])

    response = fill(signed_in, session_id, phase, {name: value})

    assert response.status_code < 500


@pytest.mark.parametrize("value", [LONG, "Ada\x00"], ids=["10000 chars", "NUL"])
@pytest.mark.parametrize("name", ["given_name", "family_name", "email", "phone"])
def test_odd_input_in_a_new_patient_never_gives_a_server_error(signed_in, name, value):
    data = {"given_name": "Mary", "family_name": "Seacole", name: value}

    response = post_form(signed_in, "/patients/new", data)

    assert response.status_code < 500


@pytest.mark.parametrize("password", [LONG, "pass\x00word"], ids=["10000 chars", "NUL"])
def test_an_odd_signing_password_is_refused_without_a_server_error(
    signed_in, practitioner, make_session, password
):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout", "signout"))

    response = sign(signed_in, session_id, password)

    assert response.status_code == 400
    assert record(session_id).signed_dt is None


@pytest.mark.parametrize("patient_id", ["2147483648", "9" * 30, "-1", "1e3", LONG])
def test_an_out_of_range_patient_id_is_refused_without_a_server_error(signed_in, patient_id):
    response = post_form(signed_in, "/sessions/new", {"patient_id": patient_id})

    assert response.status_code == 400
    assert count(TreatmentSession) == 0


# --- two tablets, one phase ------------------------------------------------------------------


def opened_entry_of(page) -> str:
    return re.search(r'name="opened_entry" value="(\d+)"', page.get_data(as_text=True)).group(1)


def test_a_phase_saved_from_another_tablet_meanwhile_is_shown_beside_yours_and_nothing_is_lost(
    app, signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner, phases=("signin",))
    other_tablet = app.test_client()
    login(other_tablet, practitioner)
    url = phase_url(session_id, "timeout")
    mine = opened_entry_of(signed_in.get(url))
    theirs = opened_entry_of(other_tablet.get(url))
    assert mine == theirs == "0"
    their_note = "Packs checked on the other tablet."
    saved = post_form(
        other_tablet,
        url,
        {
            **CLEAN_PHASES["timeout"],
            "opened_entry": theirs,
            "timeout.opened_in_view.note": their_note,
        },
    )
    assert saved.status_code == 302

    clash = post_form(
        signed_in,
        url,
        {**CLEAN_PHASES["timeout"], "opened_entry": mine, "timeout.opened_in_view.note": "Mine."},
    )

    assert clash.status_code == 409
    page = text_of(clash)
    assert "saved from another screen after you opened it" in page
    assert their_note in page  # theirs, as saved
    assert "Mine." in clash.get_data(as_text=True)  # mine, as typed, in the form
    assert [e.phase for e in entries_of(session_id)] == ["signin", "timeout"]

    again = post_form(
        signed_in,
        url,
        {
            **CLEAN_PHASES["timeout"],
            "opened_entry": opened_entry_of(clash),
            "timeout.opened_in_view.note": "Mine.",
        },
    )

    assert again.status_code == 302
    notes = [e.notes.get("timeout.opened_in_view") for e in entries_of(session_id)]
    assert notes == [None, their_note, "Mine."]  # Sign in's entry, then both of Time out's


# --- save and sign from the last phase ----------------------------------------------------


def test_the_last_phase_offers_save_and_sign_once_the_others_are_saved(
    signed_in, practitioner, make_session
):
    early = new_session(make_session, practitioner, phases=("signin",))
    ready = new_session(make_session, practitioner, phases=("signin", "timeout"))

    assert 'value="sign"' not in signed_in.get(phase_url(early, "signout")).get_data(as_text=True)
    assert 'value="sign"' not in signed_in.get(phase_url(ready, "timeout")).get_data(as_text=True)
    page = signed_in.get(phase_url(ready, "signout")).get_data(as_text=True)
    assert '<button type="submit" name="action" value="sign"' in page
    assert 'autocomplete="current-password"' in page


def test_save_and_sign_signs_a_clean_checklist_in_one_tap(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout"))

    response = fill(signed_in, session_id, "signout", {"action": "sign", "password": PASSWORD})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/sessions/{session_id}"
    signed = record(session_id)
    assert signed.is_signed and signed.signer_name == "Grace Hopper"
    # The password is the signature's, never an answer.
    assert all("password" not in entry.answers for entry in entries_of(session_id))
    assert all("action" not in entry.answers for entry in entries_of(session_id))


def test_save_and_sign_without_the_password_saves_nothing_and_says_so_beside_it(
    signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout"))

    response = fill(signed_in, session_id, "signout", {"action": "sign", "password": ""})

    assert response.status_code == 400
    assert_message_beside(response, "password", "Enter your password to sign.")
    assert "signout" not in {e.phase for e in entries_of(session_id)}
    assert not record(session_id).is_signed


def test_save_and_sign_with_a_wrong_password_keeps_the_phase_and_refuses_the_signature(
    signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout"))

    response = fill(signed_in, session_id, "signout", {"action": "sign", "password": "wrong"})

    assert response.status_code == 400
    assert_message_beside(response, "password", "That password is not right")
    assert "signout" in {e.phase for e in entries_of(session_id)}
    assert not record(session_id).is_signed


def test_save_and_sign_shows_the_flags_first_instead_of_signing(
    signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout"))

    response = fill(
        signed_in,
        session_id,
        "signout",
        {
            "signout.bruising": "large",
            "signout.bruising.note": "A large bruise at L4.",
            "action": "sign",
            "password": PASSWORD,
        },
    )

    assert response.status_code == 302
    assert not record(session_id).is_signed
    page = text_of(signed_in.get(response.headers["Location"]))
    assert "Read what signing will raise before you sign." in page
    assert "Signing will raise these flags for compliance" in page


# --- the follow-up is the patient's ---------------------------------------------------------


def test_the_follow_up_choice_shows_the_patients_contact_and_offers_only_reachable_channels(
    signed_in, practitioner, make_session
):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout"))

    page = signed_in.get(phase_url(session_id, "signout")).get_data(as_text=True)

    email = re.search(r'<input type="radio" name="signout.followup" value="email"[^>]*>', page)
    sms = re.search(r'<input type="radio" name="signout.followup" value="sms"[^>]*>', page)
    assert email and "disabled" not in email.group(0)
    assert sms and "disabled" in sms.group(0)  # the factory's patient has no mobile number
    assert "Email ada@example.org; mobile none on file." in page


def test_the_signing_form_says_what_will_be_sent_and_when(signed_in, practitioner, make_session):
    session_id = new_session(make_session, practitioner, phases=("signin", "timeout", "signout"))

    page = text_of(signed_in.get(f"/sessions/{session_id}"))

    assert re.search(
        r"Signing now sends by email to ada@example\.org: the 24-hour check on \w{3} \d\d \w{3} "
        r"at \d\d:\d\d and the 7-day site check on",
        page,
    ), page


def test_the_today_page_cancels_a_session_started_by_mistake_with_a_reason(
    signed_in, practitioner, make_session
):
    mistaken = new_session(make_session, practitioner)
    signed = new_session(make_session, practitioner, phases=CLEAN_PHASES, sign=True)

    today = signed_in.get("/sessions/").get_data(as_text=True)
    assert f'action="/sessions/{mistaken}/cancel"' in today
    assert f'action="/sessions/{signed}/cancel"' not in today
    assert f'href="/sessions/{mistaken}" class="button primary"' in today

    response = post_form(
        signed_in, f"/sessions/{mistaken}/cancel", {"reason": "Started for the wrong patient."}
    )
    assert response.status_code == 302
    assert record(mistaken).is_cancelled
    assert record(mistaken).cancel_reason == "Started for the wrong patient."


@pytest.mark.parametrize("opened", ["", "abc", "-3", "99999999999999999999"])
def test_a_malformed_opened_entry_is_never_an_error_page(
    signed_in, practitioner, make_session, opened
):
    session_id = new_session(make_session, practitioner)
    url = phase_url(session_id, "signin")

    first = post_form(signed_in, url, {**CLEAN_PHASES["signin"], "opened_entry": opened})

    assert first.status_code == 302  # nothing saved yet: nothing this save could overwrite
    # The same answers again are that save (a second tap); other answers on a phase saved
    # since the form was opened are shown beside it, not lost.
    repeat = post_form(signed_in, url, {**CLEAN_PHASES["signin"], "opened_entry": opened})
    assert repeat.status_code == 302
    other = {**CLEAN_PHASES["signin"], "signin.regions": ["lumbar"], "opened_entry": opened}
    assert post_form(signed_in, url, other).status_code == 409
    assert [e.phase for e in entries_of(session_id)] == ["signin"]
