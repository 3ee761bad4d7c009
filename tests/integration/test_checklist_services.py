"""Checklist use cases against a real database: pinning, phases, signing, flags, scope, audit."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CLEAN_PHASES, CLEAN_PHASES_V1, PASSWORD
from sqlalchemy import func, inspect, select

from safety.audit.models import AuditEvent
from safety.auth import policy
from safety.auth import services as auth
from safety.checklists import rules, services
from safety.checklists.models import Flag, PhaseEntry, TreatmentSession
from safety.dbtypes import utcnow
from safety.errors import Conflict, DomainError, Forbidden, NotFound
from safety.extensions import db
from safety.risks import services as risks

ALL_PHASES = ("signin", "timeout", "signout")
#: A risk section naming only bleeding: its template drops the infection and bruising controls.
BLEEDING_ONLY = "## Risks\n\n- Bleeding at the needle sites.\n"
DISCREPANCY = {
    "signout.needles_removed": ["5"],
    "signout.needles_disposed": ["5"],
    "signout.count_discrepancy": ["Couch and floor searched; one needle found under the plinth."],
}


def link_ids(session: TreatmentSession) -> set[str]:
    return {item.link_id for item in services.template_for(session).items}


def entries_of(session_id: int) -> list[PhaseEntry]:
    return list(
        db.session.scalars(
            select(PhaseEntry).where(PhaseEntry.session_id == session_id).order_by(PhaseEntry.id)
        )
    )


def events(action: str, session_id: int | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    if session_id is not None:
        query = query.where(AuditEvent.object_id == str(session_id))
    return list(db.session.scalars(query))


def reloaded(session_id: int) -> TreatmentSession:
    """Read a session back from the database, not from the identity map."""
    db.session.commit()
    db.session.expire_all()
    return db.session.get(TreatmentSession, session_id)


def publish_bleeding_only_template(admin):
    draft, _ = risks.create_draft_from_text(BLEEDING_ONLY, actor=admin)
    risks.publish(draft.id, actor=admin)
    db.session.commit()
    return draft


@pytest.fixture
def practitioner(make_user):
    return make_user("practitioner")


# --- the patient picker -----------------------------------------------------------------------


def test_the_picker_orders_patients_by_their_latest_visit_and_names_the_unseen_last(
    practitioner, make_patient, make_user, make_clinic
):
    """Each patient's last visit is their latest session, cancelled or not, whatever the order
    the sessions were started in; patients never seen follow by name (two namesakes in a stable
    order); other clinics' never show."""
    later = datetime(2026, 3, 2, 10, tzinfo=UTC)
    earlier = datetime(2026, 1, 5, 10, tzinfo=UTC)
    twice = make_patient(practitioner, given_name="Ada", family_name="Twice")
    once = make_patient(practitioner, given_name="Bea", family_name="Once")
    make_patient(practitioner, given_name="Cy", family_name="Brown")
    make_patient(practitioner, given_name="Di", family_name="Abbot")
    namesake = make_patient(practitioner, given_name="Di", family_name="Abbot")
    stranger = make_user("practitioner", clinic=make_clinic("Elsewhere"))
    elsewhere = make_patient(stranger, given_name="Eve", family_name="Elsewhere")
    # Ada's latest visit is neither her first session started nor her last, and was cancelled.
    services.start_session(practitioner, patient_id=twice.id, now=earlier)
    latest = services.start_session(practitioner, patient_id=twice.id, now=later)
    services.cancel_session(practitioner, latest.id, "Consent withdrawn", now=later)
    services.start_session(practitioner, patient_id=twice.id, now=earlier + timedelta(days=1))
    services.start_session(practitioner, patient_id=once.id, now=later - timedelta(days=1))
    services.start_session(stranger, patient_id=elsewhere.id, now=later + timedelta(days=1))
    db.session.commit()

    listed = [(p.family_name, last) for p, last in services.patients_to_start(practitioner)]

    assert listed == [
        ("Twice", later.date()),
        ("Once", (later - timedelta(days=1)).date()),
        ("Abbot", None),
        ("Abbot", None),
        ("Brown", None),
    ]
    abbots = [p.id for p, _ in services.patients_to_start(practitioner, search="Abbot")]
    assert abbots == sorted(abbots) and namesake.id == abbots[-1]
    assert [p.family_name for p, _ in services.patients_to_start(practitioner, limit=1)] == [
        "Twice"
    ]
    assert [p.family_name for p, _ in services.patients_to_start(practitioner, search="cy b")] == [
        "Brown"
    ]


# --- template pinning -----------------------------------------------------------------------


def test_starting_a_session_pins_the_current_template_version(practitioner, make_patient):
    patient = make_patient(practitioner)

    session = services.start_session(practitioner, patient_id=patient.id)
    db.session.commit()

    current = risks.current_template()
    assert session.template_version_id == current.id
    assert current.is_published
    [created] = events("session.create", session.id)
    assert created.details == {"template": current.version, "patient": session.patient_id}


def test_a_newly_published_version_never_changes_a_started_session(
    practitioner, make_user, make_session
):
    started = make_session(practitioner, phases=("signin",))
    pinned = started.template_version_id
    before = link_ids(started)

    newer = publish_bleeding_only_template(make_user("admin"))

    started = reloaded(started.id)
    assert risks.current_template().id == newer.id != pinned
    assert started.template_version_id == pinned
    assert link_ids(started) == before
    assert {"timeout.needle_lot", "signout.bruising"} <= link_ids(started)


def test_a_started_session_is_still_checked_against_its_pinned_version(
    practitioner, make_user, make_session
):
    started = make_session(practitioner, phases=("signin", "timeout"))
    publish_bleeding_only_template(make_user("admin"))
    without_bruising = {k: v for k, v in CLEAN_PHASES["signout"].items() if k != "signout.bruising"}

    with pytest.raises(DomainError) as refused:
        services.submit_phase(practitioner, started.id, "signout", without_bruising)
    db.session.rollback()

    assert "signout.bruising" in refused.value.errors
    services.submit_phase(practitioner, started.id, "signout", CLEAN_PHASES["signout"])
    services.sign_session(practitioner, started.id, PASSWORD)
    signed = reloaded(started.id)
    assert signed.answers["timeout.needle_lot"] == "LOT-2611A"
    assert signed.answers["signout.bruising"] == "none"
    assert services.signed_content(signed)["template_version"] == started.template_version_id


def test_new_sessions_use_the_newly_published_version(practitioner, make_user, make_session):
    first = make_session(practitioner)
    newer = publish_bleeding_only_template(make_user("admin"))

    later = make_session(practitioner, phases=("signin", "timeout", "signout"))

    assert later.template_version_id == newer.id != first.template_version_id
    # An import adds controls and never removes the infection-control baseline.
    assert "timeout.needle_lot" in link_ids(later)
    assert "signout.bleeding" in link_ids(later)
    assert "signout.bruising" not in link_ids(later)
    signout_entry = entries_of(later.id)[-1]
    assert "signout.bruising" not in signout_entry.answers
    assert "signout.needles_used" in signout_entry.answers


# --- phases ---------------------------------------------------------------------------------


def test_each_phase_is_kept_as_its_own_entry_with_its_author_and_time(practitioner, make_patient):
    patient = make_patient(practitioner)
    start = utcnow() - timedelta(hours=1)
    times = {
        "signin": start + timedelta(minutes=2, microseconds=1),
        "timeout": start + timedelta(minutes=9, microseconds=2),
        "signout": start + timedelta(minutes=31, microseconds=3),
    }
    session = services.start_session(practitioner, patient_id=patient.id, now=start)
    for phase in ALL_PHASES:
        services.submit_phase(
            practitioner, session.id, phase, CLEAN_PHASES[phase], now=times[phase]
        )
    db.session.commit()
    db.session.expire_all()

    entries = entries_of(session.id)

    assert [e.phase for e in entries] == list(ALL_PHASES)
    assert {e.author_id for e in entries} == {practitioner.id}
    assert [e.submitted_dt for e in entries] == [times[p] for p in ALL_PHASES]
    assert entries[0].answers["signin.authorised"] is True
    assert entries[0].answers["signin.regions"] == ["lumbar", "hip"]
    assert entries[2].answers["signout.needles_used"] == 6
    assert "timeout.needle_lot" not in entries[0].answers
    submits = events("session.phase_submit", session.id)
    assert [e.details["phase"] for e in submits] == list(ALL_PHASES)
    assert [e.details["entry"] for e in submits] == [e.id for e in entries]


@pytest.mark.parametrize(
    ("submitted", "phase", "missing"),
    [
        ((), "timeout", "Sign in"),
        ((), "signout", "Sign in"),
        (("signin",), "signout", "Time out"),
    ],
)
def test_a_phase_is_refused_before_the_phase_it_follows(
    practitioner, make_session, submitted, phase, missing
):
    session = make_session(practitioner, phases=submitted)

    with pytest.raises(Conflict, match=f"Complete the {missing} phase first."):
        services.submit_phase(practitioner, session.id, phase, CLEAN_PHASES[phase])
    db.session.rollback()

    assert [e.phase for e in entries_of(session.id)] == list(submitted)


def test_a_phase_with_a_broken_rule_is_refused_whole(practitioner, make_session):
    session = make_session(practitioner, phases=("signin", "timeout"))
    unreconciled = {**CLEAN_PHASES["signout"], "signout.needles_removed": ["5"]}

    with pytest.raises(DomainError) as refused:
        services.submit_phase(practitioner, session.id, "signout", unreconciled)
    db.session.rollback()

    assert refused.value.errors["signout.count_discrepancy"] == (
        "The needle counts do not reconcile (6 used / 5 removed). Say what was done before signing."
    )
    assert [e.phase for e in entries_of(session.id)] == ["signin", "timeout"]


def test_a_resubmitted_phase_keeps_both_entries_and_the_latest_wins(practitioner, make_session):
    session = make_session(practitioner, phases=("signin", "timeout"))
    corrected = {**CLEAN_PHASES["timeout"], "timeout.needle_lot": ["LOT-9999Z"]}

    services.submit_phase(practitioner, session.id, "timeout", corrected)
    services.submit_phase(practitioner, session.id, "signout", CLEAN_PHASES["signout"])
    services.sign_session(practitioner, session.id, PASSWORD)
    signed = reloaded(session.id)

    timeouts = [e for e in entries_of(session.id) if e.phase == "timeout"]
    assert [e.answers["timeout.needle_lot"] for e in timeouts] == ["LOT-2611A", "LOT-9999Z"]
    assert services.progress(signed).answers["timeout.needle_lot"] == "LOT-9999Z"
    assert signed.needle_lot == "LOT-9999Z"
    assert signed.answers["timeout.needle_lot"] == "LOT-9999Z"
    assert len(services.signed_content(signed)["entries"]) == 4
    resubmits = [e.details["resubmitted"] for e in events("session.phase_submit", session.id)]
    assert resubmits == [False, False, True, False]


def test_only_the_practitioner_who_started_a_session_can_fill_it_in_or_sign_it(
    practitioner, make_user, make_session
):
    colleague = make_user("practitioner", clinic=practitioner.clinic)
    session = make_session(practitioner, phases=("signin", "timeout", "signout"))

    with pytest.raises(Forbidden):
        services.submit_phase(colleague, session.id, "signin", CLEAN_PHASES["signin"])
    with pytest.raises(Forbidden):
        services.sign_session(colleague, session.id, PASSWORD)
    db.session.rollback()

    assert len(entries_of(session.id)) == 3
    assert not reloaded(session.id).is_signed


def test_a_phase_opens_for_its_author_only_and_never_once_the_session_is_closed(
    practitioner, make_user, make_session
):
    colleague = make_user("practitioner", clinic=practitioner.clinic)
    session = make_session(practitioner, phases=("signin",))

    found, state = services.open_phase(practitioner, session.id, "timeout")
    assert found.id == session.id and list(state.latest) == ["signin"]
    with pytest.raises(Forbidden):
        services.open_phase(colleague, session.id, "timeout")
    with pytest.raises(NotFound):
        services.open_phase(practitioner, session.id, "nope")

    services.cancel_session(practitioner, session.id, "Started for the wrong patient.")
    # Closed is said first, to the author and to a colleague who reads the record alike.
    for reader in (practitioner, colleague):
        with pytest.raises(Conflict, match="cancelled"):
            services.open_phase(reader, session.id, "timeout")


# --- the content hash -----------------------------------------------------------------------


@pytest.fixture
def signed_with_resubmission(practitioner, make_session):
    """A signed session whose Time out was submitted twice (the first entry superseded)."""
    session = make_session(practitioner, phases=("signin", "timeout"))
    services.submit_phase(
        practitioner,
        session.id,
        "timeout",
        {**CLEAN_PHASES["timeout"], "timeout.guide_tubes": ["none"]},
    )
    services.submit_phase(practitioner, session.id, "signout", CLEAN_PHASES["signout"])
    services.sign_session(practitioner, session.id, PASSWORD)
    return reloaded(session.id)


def test_the_content_hash_recomputes_from_the_stored_record(signed_with_resubmission):
    session = signed_with_resubmission
    db.session.remove()  # nothing left in memory: everything comes from the database
    session = db.session.get(TreatmentSession, session.id)

    assert len(session.content_hash) == 64
    assert session.content_hash == rules.content_hash(services.signed_content(session))
    [sign_event] = events("session.sign", session.id)
    assert sign_event.details == {"content_hash": session.content_hash}


@pytest.mark.parametrize("index", range(4), ids=["signin", "timeout", "timeout-again", "signout"])
def test_the_content_hash_changes_if_any_phase_entrys_answers_differ(
    signed_with_resubmission, index
):
    content = services.signed_content(signed_with_resubmission)
    tampered = copy.deepcopy(content)
    answers = tampered["entries"][index]["answers"]
    first = sorted(answers)[0]
    answers[first] = f"{answers[first]}-altered"

    assert rules.content_hash(content) == signed_with_resubmission.content_hash
    assert rules.content_hash(tampered) != signed_with_resubmission.content_hash


def test_the_signature_shows_the_printed_name_time_and_meaning(practitioner, make_session):
    before = utcnow()

    session = make_session(practitioner, phases=ALL_PHASES, sign=True)

    assert session.signed_by_id == practitioner.id
    assert session.signer_name == practitioner.name
    assert session.signature_meaning == services.SIGNATURE_MEANING
    assert before <= session.signed_dt <= utcnow()
    assert session.signed_dt.tzinfo is not None


# --- signing --------------------------------------------------------------------------------


def test_signing_refuses_an_incomplete_checklist(practitioner, make_session):
    session = make_session(practitioner, phases=("signin", "timeout"))

    with pytest.raises(DomainError, match="The Sign out phase has not been completed."):
        services.sign_session(practitioner, session.id, PASSWORD)
    db.session.rollback()

    session = reloaded(session.id)
    assert not session.is_signed
    assert session.content_hash is None
    assert session.flags == []
    assert events("session.sign", session.id) == []


def test_signing_refuses_a_wrong_password_and_counts_the_failure(practitioner, make_session):
    session = make_session(practitioner, phases=ALL_PHASES)

    with pytest.raises(DomainError) as refused:
        services.sign_session(practitioner, session.id, "not-my-password")
    db.session.commit()  # as the route does, so the failure is remembered

    assert "password" in refused.value.errors
    assert not reloaded(session.id).is_signed
    assert db.session.get(type(practitioner), practitioner.id).failed_login_count == 1
    assert len(events("session.sign_failed", session.id)) == 1


def test_wrong_signing_passwords_lock_signing_but_leave_sign_in_to_its_own_throttle(
    app, practitioner, make_session
):
    session = make_session(practitioner, phases=ALL_PHASES)

    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        with pytest.raises(DomainError):
            services.sign_session(practitioner, session.id, "not-my-password")
        db.session.commit()

    user = db.session.get(type(practitioner), practitioner.id)
    assert user.locked_until_dt is not None and user.locked_until_dt > utcnow()
    # Only the session's holder reaches the signing form; the sign-in page throttles per
    # client, so this lock is nothing a stranger could use to keep the owner out.
    assert auth.authenticate(user.email, PASSWORD) == user


def test_signing_is_refused_while_the_account_is_locked(app, practitioner, make_session):
    session = make_session(practitioner, phases=ALL_PHASES)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        with pytest.raises(DomainError):
            services.sign_session(practitioner, session.id, "not-my-password")
        db.session.commit()

    # The lockout stops password guessing; the signing form must not be a way round it.
    with pytest.raises(DomainError):
        services.sign_session(practitioner, session.id, PASSWORD)
    db.session.rollback()

    assert not reloaded(session.id).is_signed


def test_signing_a_clean_checklist_raises_no_flags(practitioner, make_session):
    session = make_session(practitioner, phases=ALL_PHASES, sign=True)

    assert session.is_signed
    assert session.flags == []


def test_signing_raises_a_critical_flag_for_a_needle_count_that_does_not_reconcile(
    practitioner, make_session
):
    session = make_session(practitioner, phases=ALL_PHASES, overrides=DISCREPANCY, sign=True)

    flags = list(db.session.scalars(select(Flag).where(Flag.session_id == session.id)))

    assert [(f.kind, f.severity, f.link_id) for f in flags] == [
        ("count_discrepancy", "critical", "signout.count_discrepancy")
    ] * 2
    assert [f.message for f in flags] == [
        "Needle counts do not reconcile: 6 used / 5 removed.",
        "Needle counts do not reconcile: 6 opened / 5 disposed.",
    ]
    assert flags[0].status == "open"
    assert session.answers["signout.count_discrepancy"].startswith("Couch and floor searched")


def test_signing_raises_a_flag_for_every_unexpected_answer_most_serious_first(
    practitioner, make_session
):
    overrides = {
        **DISCREPANCY,
        "timeout.skin_prepared": ["no"],
        "timeout.skin_prepared.note": ["Alcohol wipes ran out; soap and water used."],
        "signout.bleeding": ["prolonged"],
        "signout.bleeding.note": ["Pressure for six minutes until it stopped."],
    }

    session = make_session(practitioner, phases=ALL_PHASES, overrides=overrides, sign=True)

    flags = [(f.kind, f.severity, f.link_id) for f in session.flags]
    assert flags[:2] == [("count_discrepancy", "critical", "signout.count_discrepancy")] * 2
    assert set(flags[2:]) == {
        ("deviation", "high", "timeout.skin_prepared"),
        ("prolonged_bleeding", "high", "signout.bleeding"),
    }
    assert session.notes["timeout.skin_prepared"] == "Alcohol wipes ran out; soap and water used."


def test_a_signed_session_refuses_any_further_phase_or_signature(practitioner, make_session):
    session = make_session(practitioner, phases=ALL_PHASES, sign=True)
    signed_hash, entry_count = session.content_hash, len(entries_of(session.id))

    for phase in ALL_PHASES:
        with pytest.raises(Conflict, match="signed"):
            services.submit_phase(practitioner, session.id, phase, CLEAN_PHASES[phase])
    with pytest.raises(Conflict, match="signed"):
        services.sign_session(practitioner, session.id, PASSWORD)
    db.session.rollback()

    session = reloaded(session.id)
    assert session.content_hash == signed_hash
    assert len(entries_of(session.id)) == entry_count
    assert len(events("session.sign", session.id)) == 1


# --- scope and views ------------------------------------------------------------------------


@pytest.fixture
def two_clinics(make_clinic, make_user, make_session):
    london = make_clinic("Riverside", "Europe/London")
    toronto = make_clinic("Lakeshore", "America/Toronto")
    author = make_user("practitioner", clinic=london)
    colleague = make_user("practitioner", clinic=london)
    elsewhere = make_user("practitioner", clinic=toronto)
    return {
        "author": author,
        "colleague": colleague,
        "elsewhere": elsewhere,
        "compliance": make_user("compliance"),
        "admin": make_user("admin"),
        "london_session": make_session(author, phases=ALL_PHASES, sign=True),
        "colleague_session": make_session(colleague),
        "toronto_session": make_session(elsewhere),
    }


def visible_ids(actor) -> set[int]:
    return set(
        db.session.scalars(policy.visible_sessions(actor).with_only_columns(TreatmentSession.id))
    )


def test_practitioners_see_only_their_own_clinics_sessions(two_clinics):
    london = {two_clinics["london_session"].id, two_clinics["colleague_session"].id}

    assert visible_ids(two_clinics["author"]) == london
    assert visible_ids(two_clinics["colleague"]) == london
    assert visible_ids(two_clinics["elsewhere"]) == {two_clinics["toronto_session"].id}


def test_compliance_sees_every_clinic_and_administrators_see_no_sessions(two_clinics):
    everything = {
        two_clinics[k].id for k in ("london_session", "colleague_session", "toronto_session")
    }

    assert visible_ids(two_clinics["compliance"]) == everything
    assert visible_ids(two_clinics["admin"]) == set()


@pytest.mark.parametrize("reader", ["elsewhere", "admin"])
def test_a_session_outside_the_readers_scope_is_not_found(two_clinics, reader):
    with pytest.raises(NotFound):
        services.record_view(two_clinics[reader], two_clinics["london_session"].id)

    assert events("session.view") == []


def test_viewing_ones_own_record_is_not_audited(two_clinics):
    record = services.record_view(two_clinics["author"], two_clinics["london_session"].id)
    db.session.commit()

    assert record.id == two_clinics["london_session"].id
    assert events("session.view") == []


@pytest.mark.parametrize("reader", ["colleague", "compliance"])
def test_a_view_by_anyone_but_the_author_is_audited(two_clinics, reader):
    session_id = two_clinics["london_session"].id
    at = datetime(2031, 3, 4, 10, 30, tzinfo=UTC)

    services.record_view(two_clinics[reader], session_id, now=at)
    db.session.commit()

    [view] = events("session.view", session_id)
    assert view.actor_id == two_clinics[reader].id
    assert view.object_type == "treatment_sessions"
    assert view.created_dt == at


def test_sessions_for_today_lists_the_clinics_sessions_and_earlier_unsigned_ones(
    practitioner, make_patient, make_user
):
    patient = make_patient(practitioner)
    last_week = utcnow() - timedelta(days=7)
    old_signed = services.start_session(practitioner, patient_id=patient.id, now=last_week)
    for phase in ALL_PHASES:
        services.submit_phase(
            practitioner, old_signed.id, phase, CLEAN_PHASES[phase], now=last_week
        )
    services.sign_session(practitioner, old_signed.id, PASSWORD, now=last_week)
    old_open = services.start_session(practitioner, patient_id=patient.id, now=last_week)
    today = services.start_session(practitioner, patient_id=patient.id)
    db.session.commit()

    listed = {s.id for s in services.sessions_for_today(practitioner)}

    assert listed == {old_open.id, today.id}
    assert services.sessions_for_today(make_user("compliance")) == []
    assert db.session.scalar(select(func.count()).select_from(TreatmentSession)) == 3


def test_today_reads_the_answers_of_open_sessions_only(practitioner, make_patient):
    """A busy afternoon lists many signed sessions; their answers are not read for the list."""
    patient = make_patient(practitioner)
    signed = services.start_session(practitioner, patient_id=patient.id)
    for phase in ALL_PHASES:
        services.submit_phase(practitioner, signed.id, phase, CLEAN_PHASES[phase])
    services.sign_session(practitioner, signed.id, PASSWORD)
    open_one = services.start_session(practitioner, patient_id=patient.id)
    services.submit_phase(practitioner, open_one.id, "signin", CLEAN_PHASES["signin"])
    db.session.commit()  # and forgets what the session had loaded

    listed = {s.id: s for s in services.sessions_for_today(practitioner)}

    assert "entries" in inspect(listed[signed.id]).unloaded
    assert [e.phase for e in listed[open_one.id].entries] == ["signin"]
    assert services.progress(listed[open_one.id]).next_phase == "timeout"
    # Read anyway, a signed session's entries load as before.
    assert [e.phase for e in listed[signed.id].entries] == list(ALL_PHASES)


def test_signing_refuses_counts_that_no_longer_reconcile_after_an_earlier_phase_is_resubmitted(
    practitioner, make_session
):
    # Version 1 counts needles inserted at time out: a later time out can undo sign out.
    risks.default_of_register(1)
    db.session.commit()
    session = make_session(practitioner, phases=ALL_PHASES)
    recount = {**CLEAN_PHASES_V1["timeout"], "timeout.needles_inserted": ["7"]}
    services.submit_phase(practitioner, session.id, "timeout", recount)

    with pytest.raises(DomainError, match="needle counts do not reconcile"):
        services.sign_session(practitioner, session.id, PASSWORD)
    db.session.rollback()

    assert not reloaded(session.id).is_signed


def test_the_session_date_is_the_clinics_local_date(make_clinic, make_user, make_patient):
    toronto = make_user("practitioner", clinic=make_clinic("Lakeshore", "America/Toronto"))
    patient = make_patient(toronto)
    evening_in_toronto = datetime(2031, 3, 5, 2, 30, tzinfo=UTC)  # 21:30 on 4 March locally

    session = services.start_session(toronto, patient_id=patient.id, now=evening_in_toronto)
    services.submit_phase(
        toronto, session.id, "signin", CLEAN_PHASES["signin"], now=evening_in_toronto
    )
    expiring_today = {**CLEAN_PHASES["timeout"], "timeout.needle_expiry": ["2031-03-04"]}
    services.submit_phase(toronto, session.id, "timeout", expiring_today, now=evening_in_toronto)

    assert reloaded(session.id).session_date.isoformat() == "2031-03-04"
    expired = {**CLEAN_PHASES["timeout"], "timeout.needle_expiry": ["2031-03-03"]}
    with pytest.raises(DomainError) as refused:
        services.submit_phase(toronto, session.id, "timeout", expired, now=evening_in_toronto)
    assert refused.value.errors["timeout.needle_expiry"] == rules.EXPIRED_PACK
