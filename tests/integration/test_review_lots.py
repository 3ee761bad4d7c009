"""The lot trace against a real database: exact lots, prefixes, small letters, dates, and the
audited recall CSV with the patients' contacts."""

from __future__ import annotations

from datetime import date

import pytest
from review_helpers import NOW, ids_of, read_csv
from sqlalchemy import select

from safety.audit.models import AuditEvent
from safety.errors import Forbidden
from safety.extensions import db
from safety.review.lots import lot_trace, lot_trace_csv
from safety.review.rules.lots import LOT_TRACE_COLUMNS, LotQuery

pytest_plugins = ["review_world"]


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
    page = lot_trace(cast.officer, LotQuery(lot, prefix, start, end))
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
        lot_trace(cast.ada, LotQuery("HW2611A"))


def test_the_recall_csv_lists_patients_with_their_contacts_and_is_audited(cast, lots):
    lines = lot_trace_csv(cast.officer, LotQuery("HW2611A"), now=NOW)
    db.session.commit()
    rows = read_csv(lines)

    assert rows[0] == list(LOT_TRACE_COLUMNS)
    by_id = {int(r[0]): dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert set(by_id) == {lots["a1"], lots["a2"]}
    assert by_id[lots["a1"]]["patient_family_name"] == "Harbourside"
    assert by_id[lots["a1"]]["patient_email"] == "ada@example.org"
    assert by_id[lots["a1"]]["practitioner"] == "Ada Author"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export.lot_trace"))
    assert event.actor_id == cast.officer.id
    assert event.details == {"lot": "HW2611A", "match": "exact"}
