"""The small world the review's integration tests share: two clinics, their people, and ten
records whose figures the tests work out by hand.

A pytest plugin: each test_review_*.py file loads it with `pytest_plugins = ["review_world"]`,
so these fixtures are written once; the plain helpers are in review_helpers.py, which the
tests import by name. The cast and the ten records of `small_history` are built once per
module, as its world (tests/conftest.py): each module with a test asking for `small_history`
is marked so below, and `cast` and `small_history` read them back by id. A test asking for
`cast` alone still starts with the cast and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta

import pytest
from conftest import CLEAN_PHASES, PASSWORD
from review_helpers import PHASES

from safety.auth.models import User
from safety.checklists import services as checklists
from safety.clinics.models import Clinic, Patient
from safety.extensions import db

#: Every record answers the follow-up question so: no follow-ups unless a test asks.
DECLINED = {"signout.followup": ["declined"]}


@pytest.fixture
def make_record(app):
    """Fill (and sign) a checklist on a given day, with answers changed as given."""
    return _record_maker()


def _record_maker():
    def make(practitioner, patient, *, day: date, answers=None, phases=PHASES, sign=True):
        answers = {**DECLINED, **(answers or {})}
        start = datetime.combine(day, time(10), UTC)
        session = checklists.start_session(practitioner, patient_id=patient.id, now=start)
        for minutes, phase in enumerate(phases):
            form = {
                **CLEAN_PHASES[phase],
                **{k: v for k, v in answers.items() if k.startswith(phase + ".")},
            }
            checklists.submit_phase(
                practitioner, session.id, phase, form, now=start + timedelta(minutes=10 * minutes)
            )
        if sign:
            checklists.sign_session(
                practitioner, session.id, PASSWORD, now=start + timedelta(minutes=30)
            )
        db.session.commit()
        return session.id

    return make


@dataclass
class Cast:
    """Two clinics, their practitioners and patients, a compliance officer and an admin."""

    harbour: object
    lakeside: object
    ada: object
    colin: object
    olga: object
    officer: object
    admin: object
    pat: object
    quinn: object
    lara: object


#: The model of each member of the cast, to read it back from the module's world by id.
CAST_MODELS = {
    "harbour": Clinic,
    "lakeside": Clinic,
    "ada": User,
    "colin": User,
    "olga": User,
    "officer": User,
    "admin": User,
    "pat": Patient,
    "quinn": Patient,
    "lara": Patient,
}
assert set(CAST_MODELS) == {f.name for f in fields(Cast)}


def small_history_world(make_clinic, make_user, make_patient) -> tuple[dict, dict[str, int]]:
    """The cast and the ten records, built once for a module marked SMALL_HISTORY: their ids."""
    cast = _make_cast(make_clinic, make_user, make_patient)
    history = _make_history(cast, _record_maker())
    return {name: getattr(cast, name).id for name in CAST_MODELS}, history


#: The mark of each module whose tests read the ten records (`small_history`).
SMALL_HISTORY = pytest.mark.world.with_args(small_history_world)


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py orders each module's world tests
def pytest_collection_modifyitems(items) -> None:
    """Start each test of the ten records from the module's world instead of building them."""
    modules = {
        item.getparent(pytest.Module) for item in items if "small_history" in item.fixturenames
    }
    for module in modules:  # the world is the module's: its fixture reads the module's mark
        if module.get_closest_marker("world") is None:
            module.add_marker(SMALL_HISTORY)


def _from_world(request) -> bool:
    return "small_history" in request.fixturenames and (
        request.node.get_closest_marker("world") is not None
    )


@pytest.fixture
def cast(request, make_clinic, make_user, make_patient) -> Cast:
    """The cast: read back from the module's world for a test of the ten records, else made."""
    if _from_world(request):
        ids, _ = request.getfixturevalue("world")
        return Cast(
            **{
                name: db.session.get(model, i)
                for name, model in CAST_MODELS.items()
                for i in (ids[name],)
            }
        )
    return _make_cast(make_clinic, make_user, make_patient)


def _make_cast(make_clinic, make_user, make_patient) -> Cast:
    harbour = make_clinic("Harbour Physio")
    lakeside = make_clinic("Lakeside Physio")
    ada = make_user("practitioner", clinic=harbour, name="Ada Author")
    colin = make_user("practitioner", clinic=harbour, name="Colin Colleague")
    olga = make_user("practitioner", clinic=lakeside, name="Olga Other")
    return Cast(
        harbour=harbour,
        lakeside=lakeside,
        ada=ada,
        colin=colin,
        olga=olga,
        officer=make_user("compliance", name="Cora Compliance"),
        admin=make_user("admin", name="Alan Admin"),
        pat=make_patient(ada, given_name="Pat", family_name="Harbourside"),
        quinn=make_patient(colin, given_name="Quinn", family_name="Quayside"),
        lara=make_patient(olga, given_name="Lara", family_name="Lakeshore"),
    )


@pytest.fixture
def small_history(world, cast) -> dict[str, int]:
    """Ten sessions whose figures are worked out by hand in the tests (the module's world)."""
    return dict(world[1])


def _make_history(cast, make_record) -> dict[str, int]:
    """Ten sessions whose figures are worked out by hand in the tests."""
    h = {}
    # Harbour, February: four signed sessions.
    h["minor_bleed"] = make_record(
        cast.ada, cast.pat, day=date(2026, 2, 3), answers={"signout.bleeding": ["minor"]}
    )
    h["prolonged"] = make_record(
        cast.ada,
        cast.pat,
        day=date(2026, 2, 4),
        answers={
            "signout.bleeding": ["prolonged"],
            "signout.bleeding.note": ["Pressure for six minutes."],
            "signout.bruising": ["small"],
        },
    )
    h["painful"] = make_record(
        cast.ada, cast.pat, day=date(2026, 2, 5), answers={"signout.pain_during": ["6"]}
    )
    h["clean_feb"] = make_record(cast.colin, cast.quinn, day=date(2026, 2, 6))
    # Harbour, March: two signed sessions, one left unsigned for days, one still in progress.
    h["nausea"] = make_record(
        cast.ada,
        cast.pat,
        day=date(2026, 3, 2),
        answers={"signout.reactions": ["nausea"], "signout.reactions.note": ["Lay down; settled."]},
    )
    h["large_bruise"] = make_record(
        cast.colin,
        cast.quinn,
        day=date(2026, 3, 3),
        answers={"signout.bruising": ["large"], "signout.bruising.note": ["Ice given."]},
    )
    h["overdue"] = make_record(
        cast.ada, cast.pat, day=date(2026, 3, 18), phases=("signin",), sign=False
    )
    h["in_progress"] = make_record(
        cast.ada, cast.pat, day=date(2026, 3, 20), phases=("signin", "timeout"), sign=False
    )
    # Lakeside, March: two signed sessions.
    h["clean_mar"] = make_record(cast.olga, cast.lara, day=date(2026, 3, 9))
    h["minor_and_pain"] = make_record(
        cast.olga,
        cast.lara,
        day=date(2026, 3, 10),
        answers={"signout.bleeding": ["minor"], "signout.pain_during": ["4"]},
    )
    return h
