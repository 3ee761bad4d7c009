"""The compliance review services against a real database: filters, pages, counts, lot trace,
CSV streaming, flags and the dashboard's aggregates on a small data set computed by hand."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from conftest import CLEAN_PHASES, PASSWORD
from sqlalchemy import create_engine, func, literal, select

from safety.audit.models import AuditEvent
from safety.checklists import services as checklists
from safety.checklists.models import Flag, TreatmentSession
from safety.errors import Conflict, DomainError, Forbidden, NotFound
from safety.extensions import db
from safety.followup.models import FollowUp
from safety.integrity.verify import verify_and_record
from safety.review import rules, services
from safety.review.rules import LotQuery, RecordFilters

#: Now, for every test: a Friday afternoon in London, before the clinics close at 19:00.
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
PHASES = ("signin", "timeout", "signout")
DECLINED = {"signout.followup": ["declined"]}


@pytest.fixture
def make_record(app):
    """Fill (and sign) a checklist on a given day, with answers changed as given."""

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


@pytest.fixture
def cast(make_clinic, make_user, make_patient) -> Cast:
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


def ids_of(page) -> list[int]:
    return [row.id for row in page.rows]


def newest_first(session_ids: list[int]) -> list[int]:
    sessions = db.session.scalars(
        select(TreatmentSession).where(TreatmentSession.id.in_(session_ids))
    ).all()
    return [s.id for s in sorted(sessions, key=lambda s: (s.session_date, s.id), reverse=True)]


def read_csv(lines) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(lines))))


# --- the dashboard's aggregates --------------------------------------------------------------


@pytest.fixture
def small_history(cast, make_record) -> dict[str, int]:
    """Ten sessions whose figures are worked out by hand in the tests below."""
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
        cast.ada, cast.pat, day=date(2026, 2, 5), answers={"timeout.pain_during": ["6"]}
    )
    h["clean_feb"] = make_record(cast.colin, cast.quinn, day=date(2026, 2, 6))
    # Harbour, March: two signed sessions, one left unsigned for days, one still in progress.
    h["nausea"] = make_record(
        cast.ada,
        cast.pat,
        day=date(2026, 3, 2),
        answers={"signout.reaction": ["nausea"], "signout.reaction.note": ["Lay down; settled."]},
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
        answers={"signout.bleeding": ["minor"], "timeout.pain_during": ["4"]},
    )
    return h


def test_monthly_counts_match_the_hand_computed_figures(cast, small_history):
    counts = {
        (c.clinic_id, c.month): c
        for c in services.monthly_counts(date(2026, 1, 1), date(2026, 3, 31))
    }

    feb = counts[(cast.harbour.id, "2026-02")]
    assert (feb.started, feb.signed) == (4, 4)
    assert feb.events == {
        "bleeding": (2, 4),
        "bruising": (1, 4),
        "pain_during": (1, 4),
        "reaction": (0, 4),
    }
    march = counts[(cast.harbour.id, "2026-03")]
    assert (march.started, march.signed) == (4, 2)
    assert march.events == {
        "bleeding": (0, 2),
        "bruising": (1, 2),
        "pain_during": (0, 2),
        "reaction": (1, 2),
    }
    lakeside = counts[(cast.lakeside.id, "2026-03")]
    assert lakeside.events["bleeding"] == (1, 2)
    assert lakeside.events["pain_during"] == (1, 2)  # a score of exactly 4 counts
    assert (cast.lakeside.id, "2026-02") not in counts


def test_the_dashboard_shows_completion_overdue_flags_and_rates(cast, small_history):
    data = services.dashboard(cast.officer, months=3, now=NOW)

    assert (data.start, data.end) == (date(2026, 1, 1), date(2026, 3, 31))
    assert (data.started, data.signed, data.overdue, data.in_progress) == (10, 8, 1, 1)
    assert data.completion == pytest.approx(80.0)
    assert data.open_flags == {"critical": 0, "high": 1, "medium": 1, "low": 1}
    tables = {t.measure.key: t for t in data.tables}
    assert tables["bleeding"].overall == (pytest.approx(37.5), 3, 8)
    assert tables["bruising"].overall == (pytest.approx(25.0), 2, 8)
    assert tables["pain_during"].overall == (pytest.approx(25.0), 2, 8)
    assert tables["reaction"].overall == (pytest.approx(12.5), 1, 8)
    harbour_row = dict(tables["bleeding"].rows)["Harbour Physio"]
    assert [cell[0] for cell in harbour_row] == [None, pytest.approx(50.0), pytest.approx(0.0)]


def test_the_dashboard_can_look_at_one_clinic(cast, small_history):
    data = services.dashboard(cast.officer, months=3, clinic_id=cast.lakeside.id, now=NOW)

    assert (data.started, data.signed, data.overdue) == (2, 2, 0)
    assert data.open_flags == {"critical": 0, "high": 0, "medium": 0, "low": 0}
    assert [name for name, _cells in data.tables[0].rows] == ["Lakeside Physio"]


def test_an_acknowledged_flag_no_longer_counts_as_open(cast, small_history):
    flag = db.session.scalar(select(Flag).where(Flag.severity == "high"))
    services.acknowledge_flag(cast.officer, flag.id, now=NOW)
    db.session.commit()

    data = services.dashboard(cast.officer, months=3, now=NOW)

    assert data.open_flags["high"] == 0
    assert data.acknowledged_flags == 1


def test_the_follow_up_response_rate_counts_answered_of_those_sent(cast, small_history):
    due = NOW - timedelta(days=3)
    for status in ["answered", "answered", "answered", "sent", "scheduled", "failed"]:
        db.session.add(
            FollowUp(
                session_id=small_history["clean_mar"],
                kind="24h",
                channel="email",
                due_dt=due,
                status=status,
            )
        )
    db.session.commit()

    data = services.dashboard(cast.officer, months=3, now=NOW)

    assert data.response_rate == pytest.approx(75.0)
    assert data.reached == 4
    assert data.followups["failed"] == 1


def test_without_follow_ups_there_is_no_response_rate(cast, small_history):
    data = services.dashboard(cast.officer, months=3, now=NOW)

    assert data.reached == 0
    assert data.response_rate is None


def test_the_dashboard_shows_the_last_verification_run(cast, small_history):
    assert services.dashboard(cast.officer, now=NOW).verification is None

    verify_and_record()
    db.session.commit()

    run = services.dashboard(cast.officer, now=NOW).verification
    assert run is not None and run.is_intact
    assert run.records == 8


@pytest.mark.parametrize("who", ["ada", "admin"])
def test_only_compliance_officers_see_the_dashboard(cast, who):
    with pytest.raises(Forbidden):
        services.dashboard(getattr(cast, who), now=NOW)


# --- records: filters ------------------------------------------------------------------------


def find(cast, **filters):
    return services.find_records(cast.officer, RecordFilters(**filters), now=NOW)


def test_every_record_is_listed_newest_first_with_its_state(cast, small_history):
    page = find(cast)

    assert ids_of(page) == newest_first(list(small_history.values()))
    assert page.count == 10
    states = {row.id: row.state for row in page.rows}
    assert states[small_history["overdue"]] == "overdue"
    assert states[small_history["in_progress"]] == "in_progress"
    assert states[small_history["nausea"]] == "signed"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"flag": "any"}, {"prolonged", "nausea", "large_bruise"}),
        ({"flag": "high"}, {"prolonged"}),
        ({"flag": "low"}, {"nausea"}),
        ({"flag": "critical"}, set()),
        ({"state": "overdue"}, {"overdue"}),
        ({"state": "in_progress"}, {"in_progress"}),
        (
            {"date_from": date(2026, 2, 4), "date_to": date(2026, 2, 6)},
            {"prolonged", "painful", "clean_feb"},
        ),
        ({"date_from": date(2026, 3, 10)}, {"minor_and_pain", "overdue", "in_progress"}),
    ],
)
def test_records_narrow_to_the_filters(cast, small_history, filters, expected):
    page = find(cast, **filters)

    assert set(ids_of(page)) == {small_history[name] for name in expected}
    assert page.count == len(expected)


def test_records_narrow_to_a_clinic_a_practitioner_and_a_patient(cast, small_history):
    lakeside = {small_history["clean_mar"], small_history["minor_and_pain"]}
    colins = {small_history["clean_feb"], small_history["large_bruise"]}

    assert set(ids_of(find(cast, clinic_id=cast.lakeside.id))) == lakeside
    assert set(ids_of(find(cast, practitioner_id=cast.colin.id))) == colins
    assert set(ids_of(find(cast, patient_id=cast.quinn.id))) == colins
    assert ids_of(find(cast, clinic_id=cast.lakeside.id, practitioner_id=cast.colin.id)) == []


def test_signed_records_and_records_without_flags_exclude_the_rest(cast, small_history):
    signed = find(cast, state="signed")
    unflagged = find(cast, flag="none")

    assert signed.count == 8
    assert small_history["overdue"] not in ids_of(signed)
    assert unflagged.count == 7
    assert small_history["prolonged"] not in ids_of(unflagged)


def test_records_narrow_to_a_template_version(cast, small_history):
    version = db.session.get(TreatmentSession, small_history["clean_mar"]).template_version_id

    assert find(cast, template_version_id=version).count == 10
    assert find(cast, template_version_id=version + 1000).count == 0


def test_each_record_row_carries_its_flags_by_severity(cast, small_history):
    rows = {row.id: row for row in find(cast).rows}

    assert rows[small_history["prolonged"]].flags == {"high": 1}
    assert rows[small_history["clean_feb"]].flags == {}
    assert rows[small_history["prolonged"]].patient == "Pat Harbourside"
    assert rows[small_history["prolonged"]].clinic == "Harbour Physio"


def test_the_overdue_state_waits_for_the_clinics_closing_hour(cast, small_history):
    evening = datetime(2026, 3, 20, 19, 30, tzinfo=UTC)

    page = services.find_records(cast.officer, RecordFilters(state="overdue"), now=evening)

    assert set(ids_of(page)) == {small_history["overdue"], small_history["in_progress"]}


# --- records: pages --------------------------------------------------------------------------


@pytest.fixture
def same_day_records(cast, make_record) -> list[int]:
    """Eleven records, seven of them on one day, so pages break inside a run of equal dates."""
    made = [make_record(cast.ada, cast.pat, day=date(2026, 3, 12)) for _ in range(7)]
    made += [make_record(cast.ada, cast.pat, day=date(2026, 3, d)) for d in (10, 11, 13, 14)]
    return made


def test_pages_walk_every_record_once_in_a_stable_order_across_equal_dates(cast, same_day_records):
    seen: list[int] = []
    after = None
    sizes = []
    while True:
        page = services.find_records(
            cast.officer, RecordFilters(), after=after, page_size=3, now=NOW
        )
        seen += ids_of(page)
        sizes.append(len(page.rows))
        assert page.count == 11
        if page.next_cursor is None:
            break
        after = rules.decode_cursor(page.next_cursor)

    assert seen == newest_first(same_day_records)
    assert sizes == [3, 3, 3, 2]


def test_going_back_a_page_shows_the_same_records_as_before(cast, same_day_records):
    officer = cast.officer
    first = services.find_records(officer, RecordFilters(), page_size=3, now=NOW)
    second = services.find_records(
        officer, RecordFilters(), after=rules.decode_cursor(first.next_cursor), page_size=3, now=NOW
    )
    third = services.find_records(
        officer,
        RecordFilters(),
        after=rules.decode_cursor(second.next_cursor),
        page_size=3,
        now=NOW,
    )

    back = services.find_records(
        officer,
        RecordFilters(),
        before=rules.decode_cursor(third.prev_cursor),
        page_size=3,
        now=NOW,
    )
    back_again = services.find_records(
        officer, RecordFilters(), before=rules.decode_cursor(back.prev_cursor), page_size=3, now=NOW
    )

    assert ids_of(back) == ids_of(second)
    assert ids_of(back_again) == ids_of(first)
    assert back_again.prev_cursor is None
    assert first.prev_cursor is None


def test_a_new_record_does_not_shift_the_pages_already_being_read(
    cast, make_record, same_day_records
):
    first = services.find_records(cast.officer, RecordFilters(), page_size=3, now=NOW)
    make_record(cast.ada, cast.pat, day=date(2026, 3, 15))

    second = services.find_records(
        cast.officer,
        RecordFilters(),
        after=rules.decode_cursor(first.next_cursor),
        page_size=3,
        now=NOW,
    )

    assert not set(ids_of(first)) & set(ids_of(second))
    assert ids_of(second) == newest_first(same_day_records)[3:6]


def test_a_count_beyond_the_cap_says_there_are_more(cast, same_day_records, monkeypatch):
    monkeypatch.setattr(services, "COUNT_CAP", 5)

    page = find(cast)

    assert (page.count, page.is_count_capped) == (5, True)


def test_a_practitioner_finds_only_their_own_clinics_records(cast, small_history):
    page = services.find_records(cast.olga, RecordFilters(), now=NOW)

    assert set(ids_of(page)) == {small_history["clean_mar"], small_history["minor_and_pain"]}


def test_an_administrator_finds_no_records(cast, small_history):
    assert services.find_records(cast.admin, RecordFilters(), now=NOW).count == 0


def test_a_patient_is_found_by_any_part_of_their_name_within_scope(cast):
    assert [p[1] for p in services.find_patients(cast.officer, "harbour")] == ["Pat Harbourside"]
    assert [p[1] for p in services.find_patients(cast.officer, "pat harb")] == ["Pat Harbourside"]
    assert services.find_patients(cast.officer, "100%") == []
    assert services.find_patients(cast.olga, "Harbourside") == []


# --- record detail ---------------------------------------------------------------------------


def test_the_record_detail_has_phases_flags_and_its_own_audit_history(cast, small_history):
    record_id = small_history["prolonged"]

    detail = services.record_detail(cast.officer, record_id, now=NOW)
    db.session.commit()

    assert [e.phase for e in detail.entries] == ["signin", "timeout", "signout"]
    assert detail.names[detail.entries[0].author_id] == "Ada Author"
    assert [f.kind for f in detail.flags] == ["prolonged_bleeding"]
    assert detail.can_acknowledge == {detail.flags[0].id}
    actions = [event.action for event in detail.history]
    assert actions[:2] == ["Started the session", "Saved a phase"]
    assert "Signed the checklist" in actions
    assert actions[-1] == "Viewed the record"
    assert not detail.ticked_together


def test_a_checklist_ticked_at_the_end_still_shows_after_one_phase_is_saved_again(cast):
    start = datetime.combine(date(2026, 3, 2), time(10), UTC)
    session = checklists.start_session(cast.ada, patient_id=cast.pat.id, now=start)
    for seconds, phase in enumerate(PHASES):
        checklists.submit_phase(
            cast.ada,
            session.id,
            phase,
            CLEAN_PHASES[phase],
            now=start + timedelta(seconds=20 * seconds),
        )
    later = start + timedelta(minutes=15)
    checklists.submit_phase(cast.ada, session.id, "signin", CLEAN_PHASES["signin"], now=later)
    checklists.sign_session(cast.ada, session.id, PASSWORD, now=later + timedelta(minutes=1))
    db.session.commit()

    detail = services.record_detail(cast.officer, session.id, now=NOW)

    assert detail.ticked_together


def test_reading_a_record_someone_else_wrote_is_audited(cast, small_history):
    record_id = small_history["clean_feb"]

    services.record_detail(cast.officer, record_id, now=NOW)
    services.record_detail(cast.colin, record_id, now=NOW)  # the author
    db.session.commit()

    views = db.session.scalars(
        select(AuditEvent.actor_id).where(
            AuditEvent.action == "session.view", AuditEvent.object_id == str(record_id)
        )
    ).all()
    assert views == [cast.officer.id]


def test_another_clinics_record_is_not_found_for_a_practitioner(cast, small_history):
    with pytest.raises(NotFound):
        services.record_detail(cast.olga, small_history["prolonged"], now=NOW)


def test_flag_events_appear_in_the_history_of_their_record(cast, small_history):
    flag = db.session.scalar(select(Flag).where(Flag.session_id == small_history["prolonged"]))
    services.acknowledge_flag(cast.officer, flag.id, now=NOW)
    db.session.commit()

    detail = services.record_detail(cast.officer, small_history["prolonged"], now=NOW)

    assert any(
        e.action == "Acknowledged a flag" and e.actor == "Cora Compliance" for e in detail.history
    )


# --- flags -----------------------------------------------------------------------------------


def open_flag(session_id: int) -> Flag:
    return db.session.scalar(select(Flag).where(Flag.session_id == session_id))


def test_acknowledging_a_flag_records_who_and_when_with_an_audit_event(cast, small_history):
    flag = open_flag(small_history["large_bruise"])

    services.acknowledge_flag(cast.officer, flag.id, now=NOW)
    db.session.commit()

    db.session.expire_all()
    flag = db.session.get(Flag, flag.id)
    assert (flag.status, flag.acknowledged_by_id, flag.acknowledged_dt) == (
        "acknowledged",
        cast.officer.id,
        NOW,
    )
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "flag.acknowledge"))
    assert (event.object_type, event.object_id) == ("flags", str(flag.id))
    assert event.details["session"] == small_history["large_bruise"]


def test_a_flag_is_acknowledged_only_once(cast, small_history):
    flag = open_flag(small_history["large_bruise"])
    services.acknowledge_flag(cast.officer, flag.id, now=NOW)
    db.session.commit()

    with pytest.raises(Conflict):
        services.acknowledge_flag(cast.officer, flag.id, now=NOW)


def test_resolving_a_flag_keeps_the_note_and_audits_without_copying_it(cast, small_history):
    flag = open_flag(small_history["nausea"])

    services.resolve_flag(cast.officer, flag.id, "  Called the patient; all well.  ", now=NOW)
    db.session.commit()

    db.session.expire_all()
    flag = db.session.get(Flag, flag.id)
    assert flag.status == "resolved"
    assert flag.resolution_note == "Called the patient; all well."
    assert flag.acknowledged_by_id == cast.officer.id  # resolving acknowledges it too
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "flag.resolve"))
    assert "Called" not in str(event.details)


@pytest.mark.parametrize("note", ["", "   ", "x" * 2001])
def test_a_flag_is_not_resolved_without_a_usable_note(cast, small_history, note):
    flag = open_flag(small_history["nausea"])

    with pytest.raises(DomainError) as refused:
        services.resolve_flag(cast.officer, flag.id, note, now=NOW)

    assert "note" in refused.value.errors
    db.session.rollback()
    assert db.session.get(Flag, flag.id).status == "open"


def test_a_practitioner_acknowledges_only_flags_of_their_own_sessions(cast, small_history):
    own = open_flag(small_history["prolonged"])  # Ada's
    colleagues = open_flag(small_history["large_bruise"])  # Colin's, same clinic

    services.acknowledge_flag(cast.ada, own.id, now=NOW)
    with pytest.raises(NotFound):
        services.acknowledge_flag(cast.ada, colleagues.id, now=NOW)
    with pytest.raises(Forbidden):
        services.resolve_flag(cast.ada, own.id, "Done", now=NOW)


def test_the_flags_queue_of_a_practitioner_holds_only_their_own_flags(cast, small_history):
    page = services.list_flags(cast.ada, rules.FlagFilters())

    assert {row.flag.session_id for row in page.rows} == {
        small_history["prolonged"],
        small_history["nausea"],
    }


def test_the_flags_queue_puts_urgent_escalations_first_then_severity(cast, small_history):
    urgent = Flag(
        session_id=small_history["clean_mar"],
        kind="same_day",
        severity="medium",
        message="Patient reports redness and warmth at a site.",
        created_dt=NOW - timedelta(days=30),
    )
    db.session.add(urgent)
    db.session.commit()

    page = services.list_flags(cast.officer, rules.FlagFilters())

    assert [row.flag.kind for row in page.rows] == [
        "same_day",
        "prolonged_bleeding",
        "large_bruise",
        "reaction",
    ]
    assert page.rows[0].is_urgent


def test_the_flags_queue_filters_by_status_severity_and_kind(cast, small_history):
    services.resolve_flag(cast.officer, open_flag(small_history["nausea"]).id, "Done", now=NOW)
    db.session.commit()

    def kinds(**filters):
        page = services.list_flags(cast.officer, rules.FlagFilters(**filters))
        return sorted(row.flag.kind for row in page.rows)

    assert kinds() == ["large_bruise", "prolonged_bleeding"]
    assert kinds(status="resolved") == ["reaction"]
    assert kinds(status="all", severity="medium") == ["large_bruise"]
    assert kinds(status="all", kind="prolonged_bleeding") == ["prolonged_bleeding"]


def test_the_flags_queue_pages_through_every_flag(cast, small_history):
    first = services.list_flags(cast.officer, rules.FlagFilters(status="all"), page_size=2)
    second = services.list_flags(cast.officer, rules.FlagFilters(status="all"), page=2, page_size=2)

    assert first.count == 3
    assert (first.next_cursor, second.next_cursor, second.prev_cursor) == ("2", None, "1")
    assert len({r.flag.id for r in first.rows} | {r.flag.id for r in second.rows}) == 3


# --- lot trace -------------------------------------------------------------------------------


@pytest.fixture
def lots(cast, make_record) -> dict[str, int]:
    made = {}
    for name, lot, day, who, patient in [
        ("a1", "HW2611A", date(2026, 1, 5), cast.ada, cast.pat),
        ("a2", "HW2611A", date(2026, 2, 5), cast.colin, cast.quinn),
        ("b", "HW2611B", date(2026, 2, 6), cast.olga, cast.lara),
        ("sj", "SJ-40812", date(2026, 2, 7), cast.ada, cast.pat),
        ("hx", "HX1", date(2026, 2, 8), cast.ada, cast.pat),
    ]:
        made[name] = make_record(
            who, patient, day=day, answers={"timeout.needle_lot": [lot]}, sign=name != "b"
        )
    return made


def trace(cast, lot, prefix=False, start=None, end=None):
    page = services.lot_trace(cast.officer, LotQuery(lot, prefix, start, end))
    return set(ids_of(page)), page


def test_an_exact_lot_finds_every_session_patient_and_practitioner_that_used_it(cast, lots):
    found, page = trace(cast, "HW2611A")

    assert found == {lots["a1"], lots["a2"]}
    assert page.count == 2
    assert {(r.patient, r.practitioner) for r in page.rows} == {
        ("Pat Harbourside", "Ada Author"),
        ("Quinn Quayside", "Colin Colleague"),
    }


def test_a_lot_prefix_finds_every_lot_that_starts_with_it_and_no_other(cast, lots):
    found, page = trace(cast, "HW2611", prefix=True)

    assert found == {lots["a1"], lots["a2"], lots["b"]}
    assert not any(r.is_signed for r in page.rows if r.id == lots["b"])
    assert trace(cast, "HW", prefix=True)[0] == {lots["a1"], lots["a2"], lots["b"]}
    assert trace(cast, "SJ-4", prefix=True)[0] == {lots["sj"]}


def test_a_lot_typed_in_small_letters_still_finds_the_pack(cast, lots):
    assert trace(cast, "hw2611a")[0] == {lots["a1"], lots["a2"]}
    assert trace(cast, "hw2611", prefix=True)[0] == {lots["a1"], lots["a2"], lots["b"]}


def test_a_lot_trace_stays_within_its_dates(cast, lots):
    assert trace(cast, "HW2611A", start=date(2026, 2, 1))[0] == {lots["a2"]}
    assert trace(cast, "HW", True, date(2026, 1, 1), date(2026, 1, 31))[0] == {lots["a1"]}


def test_an_unknown_lot_finds_nothing(cast, lots):
    found, page = trace(cast, "NOPE")

    assert found == set()
    assert page.count == 0


def test_only_compliance_officers_trace_lots(cast, lots):
    with pytest.raises(Forbidden):
        services.lot_trace(cast.ada, LotQuery("HW2611A"))


def test_the_recall_csv_lists_patients_with_their_contacts_and_is_audited(cast, lots):
    lines = services.lot_trace_csv(cast.officer, LotQuery("HW2611A"), now=NOW)
    db.session.commit()
    rows = read_csv(lines)

    assert rows[0] == list(rules.LOT_TRACE_COLUMNS)
    by_id = {int(r[0]): dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert set(by_id) == {lots["a1"], lots["a2"]}
    assert by_id[lots["a1"]]["patient_family_name"] == "Harbourside"
    assert by_id[lots["a1"]]["patient_email"] == "ada@example.org"
    assert by_id[lots["a1"]]["practitioner"] == "Ada Author"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export.lot_trace"))
    assert event.actor_id == cast.officer.id
    assert event.details == {"lot": "HW2611A", "match": "exact"}


# --- CSV export ------------------------------------------------------------------------------


def test_the_csv_has_a_column_per_linkid_and_a_row_per_signed_record(cast, small_history):
    lines = services.export_csv(cast.officer, RecordFilters(), now=NOW)
    db.session.commit()
    rows = read_csv(lines)

    header = rows[0]
    assert header[: len(rules.EXPORT_METADATA)] == list(rules.EXPORT_METADATA)
    template = checklists.template_for(db.session.get(TreatmentSession, small_history["painful"]))
    assert header[len(rules.EXPORT_METADATA) :] == [item.link_id for item in template.items]
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(
        small_history[name] for name in small_history if name not in ("overdue", "in_progress")
    )
    assert all(len(r) == len(header) for r in rows)


def test_the_csv_cells_read_as_a_person_would_write_them(cast, small_history):
    rows = read_csv(services.export_csv(cast.officer, RecordFilters(), now=NOW))
    record = db.session.get(TreatmentSession, small_history["prolonged"])
    row = dict(zip(rows[0], next(r for r in rows if r[0] == str(record.id)), strict=True))

    assert row["clinic"] == "Harbour Physio"
    assert row["practitioner"] == "Ada Author"
    assert row["session_date"] == "2026-02-04"
    assert row["signed_utc"] == "2026-02-04T10:30:00Z"
    assert row["content_hash"] == record.content_hash
    assert row["flags"] == "high:prolonged_bleeding"
    assert row["signin.authorised"] == "yes"
    assert row["signin.anticoagulant"] == "no"
    assert row["signin.regions"] == "lumbar;hip"
    assert row["signin.bleeding_precaution"] == ""
    assert row["timeout.needles_inserted"] == "6"
    assert row["timeout.needle_lot"] == "LOT-2611A"
    assert row["signout.bleeding"] == "prolonged"


def test_free_text_that_looks_like_a_formula_is_exported_as_text(cast, make_record):
    record_id = make_record(
        cast.ada,
        cast.pat,
        day=date(2026, 3, 2),
        answers={"timeout.needle_lot": ['=HYPERLINK("http://x")']},
    )

    rows = read_csv(services.export_csv(cast.officer, RecordFilters(), now=NOW))
    row = dict(zip(rows[0], next(r for r in rows if r[0] == str(record_id)), strict=True))

    assert row["timeout.needle_lot"] == '\'=HYPERLINK("http://x")'


def written_by_the_csv_module(query) -> str:
    """What csv.writer writes for the export's rows: the reference for the database's CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(services.export_columns())
    writer.writerows(db.session.execute(query).all())
    return buffer.getvalue()


def test_the_database_writes_the_csv_the_csv_module_would(cast, small_history, make_record):
    # SQLite prints each line itself and PostgreSQL's COPY writes the CSV; both must match
    # csv.writer byte for byte, quotes, commas and line breaks inside cells included.
    # Each separator alone in some cell, so that each one on its own must cause quoting.
    make_record(
        cast.ada,
        cast.pat,
        day=date(2026, 3, 3),
        answers={
            "timeout.needle_lot": ['LOT "7" box 2 ✓'],
            "timeout.skin_prepared": ["no"],
            "timeout.skin_prepared.note": ["wiped twice"],
            "signin.anticoagulant": ["yes"],
            "signin.bleeding_precaution": ["=pressure, then wait"],
        },
    )
    for day, lot in ((4, "box 2\nsecond line"), (5, "box 3\rsecond line")):
        make_record(
            cast.ada, cast.pat, day=date(2026, 3, day), answers={"timeout.needle_lot": [lot]}
        )
    for filters in (RecordFilters(clinic_id=cast.harbour.id, flag="any"), RecordFilters()):
        query = services.export_query(cast.officer, filters, now=NOW)

        written = "".join(services.export_csv(cast.officer, filters, now=NOW))

        assert written == written_by_the_csv_module(query)
    assert '"LOT ""7"" box 2 ✓"' in written
    assert '"box 2\nsecond line"' in written  # a line feed in a cell stays as it is


def test_sqlite_prints_lines_of_any_width_as_the_csv_module_would():
    # SQLite takes at most 127 arguments per function call: a wide line is printed in parts.
    row = [None, "", 42, "plain", 'say "hi"', "a,b", "two\nlines", "cr\rhere", "✓ é", *range(300)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    line = services._CsvLine(*(services._CsvField(literal(value)) for value in row))

    with create_engine("sqlite://").connect() as connection:
        printed = connection.execute(select(line)).scalar_one()

    assert printed + "\r\n" == buffer.getvalue()


def test_the_csv_respects_the_record_filters(cast, small_history):
    rows = read_csv(
        services.export_csv(cast.officer, RecordFilters(clinic_id=cast.lakeside.id), now=NOW)
    )

    assert {int(r[0]) for r in rows[1:]} == {
        small_history["clean_mar"],
        small_history["minor_and_pain"],
    }


def test_the_csv_streams_in_batches_with_the_same_rows(cast, small_history, monkeypatch):
    whole = read_csv(services.export_csv(cast.officer, RecordFilters(), now=NOW))
    monkeypatch.setattr(services, "EXPORT_BATCH", 3)

    chunks = list(services.export_csv(cast.officer, RecordFilters(), now=NOW))

    assert len(chunks) == 1 + 3  # the header, then 8 rows in batches of 3, 3 and 2
    assert read_csv(chunks) == whole


def test_the_export_is_audited_with_its_filters(cast, small_history):
    services.export_csv(cast.officer, RecordFilters(clinic_id=cast.harbour.id), now=NOW)
    db.session.commit()

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export.csv"))
    assert event.actor_id == cast.officer.id
    assert event.details["filters"] == {"clinic": str(cast.harbour.id)}


def test_only_compliance_officers_export(cast, small_history):
    with pytest.raises(Forbidden):
        services.export_csv(cast.ada, RecordFilters(), now=NOW)
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "export.csv")) == 0


def test_the_same_patient_scope_applies_to_the_export_as_to_the_list(cast, small_history):
    rows = read_csv(
        services.export_csv(cast.officer, RecordFilters(patient_id=cast.quinn.id), now=NOW)
    )

    assert {int(r[0]) for r in rows[1:]} == {
        small_history["clean_feb"],
        small_history["large_bruise"],
    }
