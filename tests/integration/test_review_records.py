"""The record list and the record page against a real database: filters, keyset pages that
hold still, capped counts, patient search within scope, and a record's detail and history."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from conftest import CLEAN_PHASES, PASSWORD
from review_helpers import NOW, PHASES, ids_of, newest_first
from sqlalchemy import func, insert, select

from safety.audit.models import AuditEvent
from safety.checklists import services as checklists
from safety.checklists.models import Flag, TreatmentSession
from safety.errors import NotFound
from safety.extensions import db
from safety.review import flags, queries, records
from safety.review.rules.records import RecordFilters, decode_cursor

pytest_plugins = ["review_world"]


def find(cast, **filters):
    return records.find_records(cast.officer, RecordFilters(**filters), now=NOW)


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

    page = records.find_records(cast.officer, RecordFilters(state="overdue"), now=evening)

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
        page = records.find_records(
            cast.officer, RecordFilters(), after=after, page_size=3, now=NOW
        )
        seen += ids_of(page)
        sizes.append(len(page.rows))
        assert page.count == 11
        if page.next_cursor is None:
            break
        after = decode_cursor(page.next_cursor)

    assert seen == newest_first(same_day_records)
    assert sizes == [3, 3, 3, 2]


def test_going_back_a_page_shows_the_same_records_as_before(cast, same_day_records):
    officer = cast.officer
    first = records.find_records(officer, RecordFilters(), page_size=3, now=NOW)
    second = records.find_records(
        officer, RecordFilters(), after=decode_cursor(first.next_cursor), page_size=3, now=NOW
    )
    third = records.find_records(
        officer,
        RecordFilters(),
        after=decode_cursor(second.next_cursor),
        page_size=3,
        now=NOW,
    )

    back = records.find_records(
        officer,
        RecordFilters(),
        before=decode_cursor(third.prev_cursor),
        page_size=3,
        now=NOW,
    )
    back_again = records.find_records(
        officer, RecordFilters(), before=decode_cursor(back.prev_cursor), page_size=3, now=NOW
    )

    assert ids_of(back) == ids_of(second)
    assert ids_of(back_again) == ids_of(first)
    assert back_again.prev_cursor is None
    assert first.prev_cursor is None


def test_a_new_record_does_not_shift_the_pages_already_being_read(
    cast, make_record, same_day_records
):
    first = records.find_records(cast.officer, RecordFilters(), page_size=3, now=NOW)
    make_record(cast.ada, cast.pat, day=date(2026, 3, 15))

    second = records.find_records(
        cast.officer,
        RecordFilters(),
        after=decode_cursor(first.next_cursor),
        page_size=3,
        now=NOW,
    )

    assert not set(ids_of(first)) & set(ids_of(second))
    assert ids_of(second) == newest_first(same_day_records)[3:6]


def test_a_count_beyond_the_cap_says_there_are_more(cast, same_day_records, monkeypatch):
    monkeypatch.setattr(queries, "COUNT_CAP", 5)

    page = find(cast)

    assert (page.count, page.is_count_capped) == (5, True)


def test_a_practitioner_finds_only_their_own_clinics_records(cast, small_history):
    page = records.find_records(cast.olga, RecordFilters(), now=NOW)

    assert set(ids_of(page)) == {small_history["clean_mar"], small_history["minor_and_pain"]}


def test_an_administrator_finds_no_records(cast, small_history):
    assert records.find_records(cast.admin, RecordFilters(), now=NOW).count == 0


def test_the_clinic_filter_offers_only_the_clinics_whose_records_the_user_reads(cast):
    everyone = [name for _, name in records.filter_options(cast.officer).clinics]
    olgas = records.filter_options(cast.olga).clinics

    assert {"Harbour Physio", "Lakeside Physio"} <= set(everyone)
    assert olgas == [(cast.lakeside.id, "Lakeside Physio")]
    assert records.filter_options(cast.admin).clinics == []


def test_a_patient_is_found_by_any_part_of_their_name_within_scope(cast):
    assert [p[1] for p in records.find_patients(cast.officer, "harbour")] == ["Pat Harbourside"]
    assert [p[1] for p in records.find_patients(cast.officer, "pat harb")] == ["Pat Harbourside"]
    assert records.find_patients(cast.officer, "100%") == []
    assert records.find_patients(cast.olga, "Harbourside") == []


# --- record detail ---------------------------------------------------------------------------


def test_the_record_detail_has_phases_flags_and_its_own_audit_history(cast, small_history):
    record_id = small_history["prolonged"]

    detail = records.record_detail(cast.officer, record_id, now=NOW)
    db.session.commit()

    assert [e.phase for e in detail.entries] == ["signin", "timeout", "signout"]
    assert detail.names[detail.entries[0].author_id] == "Ada Author"
    assert [f.kind for f in detail.flags] == ["prolonged_bleeding"]
    assert detail.can_acknowledge == {detail.flags[0].id}
    actions = [line.event.action for line in detail.history]
    assert actions[:2] == ["Started the session", "Saved a phase"]
    assert "Signed the checklist" in actions
    assert actions[-1] == "Viewed the record"
    assert not detail.ticked_together


def test_the_history_names_each_saved_phase_as_the_records_template_does(cast, small_history):
    detail = records.record_detail(cast.officer, small_history["prolonged"], now=NOW)

    saved = [line.event.summary for line in detail.history if line.event.action == "Saved a phase"]
    assert saved == [detail.progress.template.phase(phase).title for phase in PHASES]
    assert saved == ["Sign in", "Time out", "Sign out"]


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

    detail = records.record_detail(cast.officer, session.id, now=NOW)

    assert detail.ticked_together


def test_reading_a_record_someone_else_wrote_is_audited(cast, small_history):
    record_id = small_history["clean_feb"]

    records.record_detail(cast.officer, record_id, now=NOW)
    records.record_detail(cast.colin, record_id, now=NOW)  # the author
    db.session.commit()

    views = db.session.scalars(
        select(AuditEvent.actor_id).where(
            AuditEvent.action == "session.view", AuditEvent.object_id == str(record_id)
        )
    ).all()
    assert views == [cast.officer.id]


def test_another_clinics_record_is_not_found_for_a_practitioner(cast, small_history):
    with pytest.raises(NotFound):
        records.record_detail(cast.olga, small_history["prolonged"], now=NOW)


def test_flag_events_appear_in_the_history_of_their_record(cast, small_history):
    flag = db.session.scalar(select(Flag).where(Flag.session_id == small_history["prolonged"]))
    flags.acknowledge_flag(cast.officer, flag.id, now=NOW)
    db.session.commit()

    detail = records.record_detail(cast.officer, small_history["prolonged"], now=NOW)

    assert any(
        line.event.action == "Acknowledged a flag" and line.event.actor == "Cora Compliance"
        for line in detail.history
    )


def test_the_history_folds_a_run_of_one_readers_views_into_one_line(cast, small_history):
    """The database folds them: the page shows one line for many reads, and each is audited."""
    record_id = small_history["prolonged"]
    readers = [cast.officer, cast.officer, cast.officer, cast.colin, cast.officer]
    for minutes, reader in enumerate(readers):
        records.record_detail(reader, record_id, now=NOW + timedelta(minutes=minutes))
        db.session.commit()
    flag = db.session.scalar(select(Flag).where(Flag.session_id == record_id))
    flags.acknowledge_flag(cast.officer, flag.id, now=NOW + timedelta(minutes=10))
    db.session.commit()

    detail = records.record_detail(cast.officer, record_id, now=NOW + timedelta(minutes=11))
    db.session.commit()

    tail = [
        (line.event.actor, line.event.action, line.count, line.event.created_dt, line.until)
        for line in detail.history[-5:]
    ]
    viewed = "Viewed the record"
    assert tail == [
        ("Cora Compliance", viewed, 3, NOW, NOW + timedelta(minutes=2)),
        ("Colin Colleague", viewed, 1, NOW + timedelta(minutes=3), None),
        ("Cora Compliance", viewed, 1, NOW + timedelta(minutes=4), None),
        ("Cora Compliance", "Acknowledged a flag", 1, NOW + timedelta(minutes=10), None),
        ("Cora Compliance", viewed, 1, NOW + timedelta(minutes=11), None),
    ]
    again = records.record_detail(cast.officer, record_id, now=NOW + timedelta(minutes=12))
    db.session.commit()
    assert (again.history[-1].count, again.history[-1].until) == (2, NOW + timedelta(minutes=12))
    views = db.session.scalar(
        select(func.count()).where(
            AuditEvent.action == "session.view", AuditEvent.object_id == str(record_id)
        )
    )
    assert views == 7  # every read is still in the audit trail


def test_events_of_a_record_on_two_chains_with_the_same_numbers_stay_apart(cast, small_history):
    """Before migration 0009 a record's events went on one chain, later ones on its clinic's:
    sequence numbers repeat across chains, and two events must never share a line."""
    record_id = small_history["prolonged"]
    [first] = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_id == str(record_id), AuditEvent.action == "session.create")
        .limit(1)
    ).all()
    # Another event of the record on another chain, with the same number.
    db.session.execute(
        insert(AuditEvent).values(
            chain_id=first.chain_id + 1000,
            seq=first.seq,
            created_dt=first.created_dt,
            actor_id=cast.ada.id,
            action="session.create",
            object_type="treatment_sessions",
            object_id=str(record_id),
            details={},
            prev_hash="0" * 64,
            hash="1" * 64,
        )
    )
    db.session.commit()

    detail = records.record_detail(cast.officer, record_id, now=NOW)

    started = [line.count for line in detail.history if line.event.action == "Started the session"]
    assert started == [1, 1]
