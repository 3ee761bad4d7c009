"""`flask audit verify` holds every session, signed or not, to the events that started it and
saved its phases (safety/integrity/sessions.py).

An insider's review changed each of these and verify said intact: a signed record's start, an
open or cancelled session's patient or practitioner, a session put in with no event, and a
cancelled session's phase entries (one added with no trigger to drop, one deleted).
"""

from __future__ import annotations

import sys
import threading
from datetime import timedelta

import pytest
from factories import PASSWORD, clean_phases
from insider import guards_off
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from safety.audit.models import AuditEvent
from safety.auth.models import User
from safety.checklists import services as checklists
from safety.checklists.models import PhaseEntry, TreatmentSession
from safety.dbtypes import utcnow
from safety.extensions import db
from safety.integrity.verify import verify
from safety.packs.models import SessionPack

TS = TreatmentSession


def verified() -> str | None:
    db.session.expire_all()
    return verify().problem


def refused_consent(make_user, make_patient) -> tuple:
    """A session stopped at Sign in because the patient refused consent, then cancelled."""
    practitioner = make_user()
    patient = make_patient(practitioner)
    session = checklists.start_session(practitioner, patient_id=patient.id)
    checklists.submit_phase(practitioner, session.id, "signin", {"signin.consent": ["no"]})
    checklists.cancel_session(practitioner, session.id, "Patient did not consent to needling.")
    db.session.commit()
    assert verified() is None
    return practitioner, session.id


def event_of(action: str, session_id: int, **details) -> AuditEvent:
    events = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.object_id == str(session_id)
        )
    ).all()
    return next(e for e in events if all(e.details.get(k) == v for k, v in details.items()))


def test_a_consent_added_to_a_session_cancelled_for_refusing_it_is_named(make_user, make_patient):
    """No trigger to drop: phase entries refuse changes, not new rows. A later Sign in saying
    the patient consented became the cancelled session's Sign in."""
    practitioner, session_id = refused_consent(make_user, make_patient)
    added = PhaseEntry(
        session_id=session_id,
        phase="signin",
        answers={"signin.consent": "yes"},
        notes={},
        author_id=practitioner.id,
        submitted_dt=utcnow(),
    )
    db.session.add(added)
    db.session.commit()

    assert verified() == (
        f"phase entry {added.id} of session {session_id} has no session.phase_submit event on "
        "the audit chain: it was added behind the application's back"
    )


def test_a_cancelled_sessions_time_out_deleted_or_rewritten_is_named(make_user, make_session):
    """Cancelled after its Time out, needles may have gone in: without its Time out the record
    read as if none did, beside a flag saying they may have."""
    practitioner = make_user()
    session = make_session(practitioner, phases=("signin", "timeout"))
    checklists.cancel_session(practitioner, session.id, "Patient felt faint; session stopped.")
    db.session.commit()
    time_out = next(e for e in session.entries if e.phase == "timeout")
    assert verified() is None

    with guards_off():
        db.session.execute(
            text("UPDATE phase_entries SET answers = :a WHERE id = :id"),
            {"a": '{"timeout.needles_sterile":"no"}', "id": time_out.id},
        )
    assert verified() == (
        f"the answers of phase entry {time_out.id} of session {session.id} are not the ones "
        "its event recorded"
    )

    with guards_off():
        db.session.execute(delete(SessionPack).where(SessionPack.session_id == session.id))
        db.session.execute(delete(PhaseEntry).where(PhaseEntry.id == time_out.id))
    seq = event_of("session.phase_submit", session.id, entry=time_out.id).seq
    assert verified() == (
        f"phase entry {time_out.id} of session {session.id}, recorded by its event (seq {seq}), "
        "is missing"
    )


@pytest.mark.parametrize("column", ["patient_id", "practitioner_id"])
def test_a_cancelled_session_moved_to_another_patient_or_practitioner_is_named(
    make_user, make_patient, column
):
    practitioner, session_id = refused_consent(make_user, make_patient)
    other = (
        make_patient(practitioner, given_name="Grace", family_name="Hopper").id
        if column == "patient_id"
        else make_user(clinic=practitioner.clinic).id
    )
    started = event_of("session.create", session_id)
    with guards_off():
        db.session.execute(update(TS).where(TS.id == session_id).values({column: other}))

    event = f"audit event {started.seq} of chain {started.chain_id}"
    assert verified() == (
        f"session {session_id} is not for the patient its start (seq {started.seq}) names"
        if column == "patient_id"
        else f"session {session_id} is not the practitioner's who started it ({event})"
    )


def test_an_open_session_moved_to_another_patient_is_named(make_user, make_patient, make_session):
    """No trigger guards a row not yet signed: the practitioner then signed it for the wrong
    patient."""
    practitioner = make_user()
    session = make_session(practitioner, phases=("signin", "timeout"))
    other = make_patient(practitioner, given_name="Grace", family_name="Hopper")
    started = event_of("session.create", session.id)
    db.session.execute(update(TS).where(TS.id == session.id).values(patient_id=other.id))
    db.session.commit()

    assert verified() == (
        f"session {session.id} is not for the patient its start (seq {started.seq}) names"
    )


def test_a_session_put_in_with_no_event_is_named(make_user, make_patient, make_session):
    """A made-up open session three days back put a patient under a needle lot."""
    practitioner = make_user()
    real = make_session(practitioner, phases=("signin",))
    forged = TS(
        clinic_id=real.clinic_id,
        patient_id=make_patient(practitioner, given_name="Grace", family_name="Hopper").id,
        practitioner_id=practitioner.id,
        template_version_id=real.template_version_id,
        session_date=real.session_date - timedelta(days=3),
        started_dt=real.started_dt - timedelta(days=3),
        needle_lot="LOT-2611A",
    )
    db.session.add(forged)
    db.session.commit()

    assert verified() == (
        f"session {forged.id} has no session.create event on the audit chain: it was put there "
        "behind the application's back"
    )


def test_a_signed_records_start_moved_is_named(make_user, make_session):
    session = make_session(make_user(), phases=("signin", "timeout", "signout"), sign=True)
    started = event_of("session.create", session.id)
    with guards_off():
        db.session.execute(
            update(TS)
            .where(TS.id == session.id)
            .values(started_dt=session.started_dt - timedelta(days=1))
        )

    assert verified() == (
        f"session {session.id} does not start at the time audit event {started.seq} of chain "
        f"{started.chain_id} started it"
    )


def test_sessions_the_application_started_saved_again_and_cancelled_verify(
    make_user, make_patient, make_session
):
    """No false alarm: a phase saved twice, a session cancelled after Time out, one left open,
    one signed, one started twice by a double tap."""
    practitioner = make_user()
    patient = make_patient(practitioner)
    first = checklists.start_session(practitioner, patient_id=patient.id)
    again = checklists.start_session(practitioner, patient_id=patient.id)
    assert again.id == first.id
    db.session.commit()
    resaved = make_session(practitioner, phases=("signin", "timeout"))
    checklists.submit_phase(practitioner, resaved.id, "signin", clean_phases(resaved)["signin"])
    checklists.cancel_session(practitioner, resaved.id, "Patient felt faint; session stopped.")
    make_session(practitioner, phases=("signin", "timeout", "signout"), sign=True)
    db.session.commit()

    assert verified() is None


def test_a_cancelled_sessions_pack_taken_out_of_a_recall_is_named(make_user, make_session):
    """Cancelled after its Time out, needles may have gone in and were never counted out:
    marking its pack superseded, which the database allows, took the patient out of the lot
    trace with no trigger to switch off (an insider's review)."""
    practitioner = make_user()
    session = make_session(practitioner, phases=("signin", "timeout"))
    checklists.cancel_session(practitioner, session.id, "Patient felt faint; session stopped.")
    db.session.commit()
    assert db.session.scalars(select(SessionPack).where(SessionPack.session_id == session.id)).all()
    assert verified() is None

    db.session.execute(
        update(SessionPack).where(SessionPack.session_id == session.id).values(superseded=True)
    )
    db.session.commit()

    assert verified() == f"session {session.id}: its needle packs are not those its Time out saved"


def test_an_open_sessions_pack_given_another_lot_is_named(make_user, make_session):
    session = make_session(make_user(), phases=("signin", "timeout"))
    with guards_off():
        db.session.execute(
            update(SessionPack)
            .where(SessionPack.session_id == session.id)
            .values(lot="OTHER-LOT", lot_key="OTHERLOT")
        )

    assert verified() == f"session {session.id}: its needle packs are not those its Time out saved"


# --- no false alarm while the clinics work --------------------------------------------------


def meanwhile(app, job) -> None:
    """Another request (its own app context, connection and commit), run to its end now."""
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                job()
                db.session.commit()
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert not errors, errors


def after_each_statement_of(monkeypatch, app, check: str, jobs) -> list:
    """Run the next job as another request right after each statement `check` reads with,
    and return the jobs not yet run. A check that compared two statements' reads named a Time
    out saved, or a record signed, between them as tampering: once in each of its two
    readings (`records._read_twice`) was enough (a review)."""
    real = Session.execute
    pending = list(jobs)

    def execute(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        callers = {sys._getframe(depth).f_code.co_name for depth in range(1, 6)}
        if pending and check in callers:
            rows = result.all()
            meanwhile(app, pending.pop(0))
            return rows
        return result

    monkeypatch.setattr(Session, "execute", execute)
    return pending


def open_session(make_user, make_session, phases) -> tuple[int, int, dict]:
    """A new practitioner's session with `phases` saved: their id, its id and its clean forms."""
    session = make_session(make_user(), phases=phases)
    return session.practitioner_id, session.id, clean_phases(session)


def save(practitioner_id, session_id, phase, form):
    return lambda: checklists.submit_phase(
        db.session.get(User, practitioner_id), session_id, phase, form
    )


def sign(practitioner_id, session_id):
    return lambda: checklists.sign_session(
        db.session.get(User, practitioner_id), session_id, PASSWORD
    )


@pytest.mark.real_commits
@pytest.mark.parametrize("check", ["_unsigned_entries", "verify_open_packs"])
def test_practitioners_saving_and_signing_while_verify_reads_is_not_tampering(
    app, make_user, make_session, monkeypatch, check
):
    ada, first, clean = open_session(make_user, make_session, ["signin", "timeout"])
    bob, second, _ = open_session(make_user, make_session, ("signin", "timeout", "signout"))
    assert verified() is None
    another_pack = {**clean["timeout"], "timeout.needle_lot": ["LOT-NEW-PACK"]}
    pending = after_each_statement_of(
        monkeypatch, app, check, [save(ada, first, "timeout", another_pack), sign(bob, second)]
    )

    assert verified() is None
    # The Time out went in while verify read (and the signature, had it read a second time).
    assert len(pending) <= 1
    saved = select(PhaseEntry).where(PhaseEntry.session_id == first, PhaseEntry.phase == "timeout")
    assert len(db.session.scalars(saved).all()) == 2


def test_an_unsigned_entrys_author_changed_is_named(make_user, make_session):
    _, session_id, _ = open_session(make_user, make_session, ["signin"])
    entry = db.session.scalars(select(PhaseEntry).where(PhaseEntry.session_id == session_id)).one()
    seq = event_of("session.phase_submit", session_id, entry=entry.id).seq
    with guards_off():
        db.session.execute(
            update(PhaseEntry).where(PhaseEntry.id == entry.id).values(author_id=make_user().id)
        )

    assert verified() == (
        f"phase entry {entry.id} of session {session_id} is not the signin of session "
        f"{session_id} its event (seq {seq}) recorded"
    )
