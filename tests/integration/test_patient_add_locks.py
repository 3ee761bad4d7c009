"""Adding a patient beside the same practitioner's other work, on PostgreSQL: the row that
makes a form's repeated taps take turns must not stop that practitioner's audited requests.

The form holds the practitioner's `users` row while it looks for the patient its key already
added. A plain FOR UPDATE there also blocks the key-share lock that an audit event's foreign
key to `users` takes: a record viewed in another tab, waiting to append its event with the
clinic's chain head held, and the form, waiting for that head to append its own, deadlocked
and one of them was a 500 (found by a review). SQLite has one writer at a time, so only
PostgreSQL can show it.
"""

from __future__ import annotations

import threading
import time

import pytest

from safety.auth.models import User
from safety.checklists import services as checklists
from safety.clinics import rules as clinic_rules
from safety.clinics import services as clinics
from safety.extensions import db


@pytest.mark.real_commits  # two requests in threads, each on its own connection
def test_a_new_patient_form_and_a_record_viewed_at_once_by_one_practitioner_both_go_through(
    app, make_user, make_clinic, make_session, monkeypatch
):
    if db.engine.dialect.name != "postgresql":
        return
    clinic = make_clinic("Harbour Physio")
    practitioner = make_user("practitioner", clinic=clinic, name="Ada Author")
    colleague = make_user("practitioner", clinic=clinic, name="Col League")
    record_id = make_session(colleague).id
    user_id = practitioner.id
    db.session.commit()
    holding, release = threading.Event(), threading.Event()
    looked_up = clinics._added_by_form
    outcomes: dict[str, str] = {}

    def look_up_then_wait(*args, **kwargs):
        found = looked_up(*args, **kwargs)
        holding.set()  # the users row is held now
        release.wait(timeout=20)
        return found

    monkeypatch.setattr(clinics, "_added_by_form", look_up_then_wait)

    def request(name: str, work) -> None:
        with app.app_context():
            try:
                work(db.session.get(User, user_id))
                db.session.commit()
                outcomes[name] = "ok"
            except Exception as exc:  # reported by the test thread
                outcomes[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            finally:
                db.session.remove()

    def add(actor) -> None:
        checklists.start_session_for_new_patient(
            actor,
            given_name="Dee",
            family_name="Lock",
            email="dee@example.org",
            phone=None,
            is_followup_consent=True,
            form_key=clinic_rules.new_form_key(),
        )

    def view(actor) -> None:
        holding.wait(timeout=20)
        checklists.record_view(actor, record_id)

    threads = [
        threading.Thread(target=request, args=("add", add)),
        threading.Thread(target=request, args=("view", view)),
    ]
    for thread in threads:
        thread.start()
    holding.wait(timeout=20)
    time.sleep(0.5)  # the view's commit reaches the users row meanwhile
    release.set()
    for thread in threads:
        thread.join(timeout=60)

    assert outcomes == {"add": "ok", "view": "ok"}
