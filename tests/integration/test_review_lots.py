"""The lot trace against a real database: exact lots, prefixes, small letters, dates, and the
audited recall CSV with the patients' contacts."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import CLEAN_PHASES
from review_helpers import NOW, ids_of, read_csv
from sqlalchemy import func, select

from safety.audit.models import AuditEvent
from safety.checklists import services as checklists
from safety.errors import Forbidden
from safety.extensions import db
from safety.packs.models import SessionPack
from safety.review.lots import lot_reach, lot_trace, lot_trace_csv
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


# --- lots a recall always finds (issue 15) ---------------------------------------------------

GTIN = "09501101020917"
OTHER_GTIN = "00012345600012"

#: One printed lot, HW-2611A, as practitioners entered it.
SPELLINGS = [
    "hw-2611a",
    "ＨＷ－２６１１Ａ",
    "HW\u20102611A",
    "HW-26\u200b11A",
    "\u00a0HW\u22122611A ",
]


@pytest.fixture
def spelt(cast, make_record) -> list[int]:
    return [
        make_record(
            cast.ada, cast.pat, day=date(2026, 3, 1 + n), answers={"timeout.needle_lot": [lot]}
        )
        for n, lot in enumerate(SPELLINGS)
    ]


@pytest.mark.parametrize("asked", ["HW-2611A", *SPELLINGS])
def test_every_spelling_of_a_lot_finds_every_other(cast, spelt, asked):
    assert trace(cast, asked)[0] == set(spelt)


def test_a_prefix_in_another_spelling_finds_them_all_too(cast, spelt):
    assert trace(cast, "ｈｗ\u201126", prefix=True)[0] == set(spelt)


def test_each_lot_is_shown_as_it_was_entered(cast, spelt):
    page = trace(cast, "HW-2611A")[1]

    assert {r.needle_lot for r in page.rows} == {s.strip() for s in SPELLINGS}


@pytest.fixture
def scanned(cast, make_record) -> dict[str, int]:
    """Sessions that scanned their packs: the same lot of two devices, and two packs at once."""
    return {
        "ours": make_record(
            cast.ada,
            cast.pat,
            day=date(2026, 4, 1),
            answers={
                "timeout.needle_lot": [f"]d201{GTIN}17270531|10HW-2611A"],
                "timeout.needle_expiry": [""],
            },
        ),
        "other_device": make_record(
            cast.olga,
            cast.lara,
            day=date(2026, 4, 2),
            answers={
                "timeout.needle_lot": [f"01{OTHER_GTIN}10HW-2611A\x1d17270531"],
                "timeout.needle_expiry": [""],
            },
        ),
        "two_packs": make_record(
            cast.colin,
            cast.quinn,
            day=date(2026, 4, 3),
            answers={
                "timeout.needle_lot": ["ZZ-1"],
                "timeout.pack2.lot": [f"]C101{GTIN}10hw-2611a{{GS}}17270531"],
            },
        ),
    }


def test_a_recall_by_gtin_and_lot_finds_that_device_only(cast, scanned):
    found = lot_trace(cast.officer, LotQuery("HW-2611A", gtin=GTIN))

    assert set(ids_of(found)) == {scanned["ours"], scanned["two_packs"]}
    assert set(trace(cast, "HW-2611A")[0]) == set(scanned.values())


def test_a_recall_by_gtin_also_lists_the_lot_typed_without_a_gtin_marked_so(
    cast, scanned, make_record
):
    """A recall names a GTIN and a lot; a pack whose lot was typed with no GTIN may be that
    device's, and a trace that dropped it would leave its patient uncontacted (a review)."""
    typed = make_record(
        cast.olga,
        cast.lara,
        day=date(2026, 4, 4),
        answers={"timeout.needle_lot": ["HW-2611A"], "timeout.needle_expiry": ["2027-05-31"]},
    )

    found = lot_trace(cast.officer, LotQuery("HW-2611A", gtin=GTIN))

    assert set(ids_of(found)) == {scanned["ours"], scanned["two_packs"], typed}
    assert {r.id: r.gtin_recorded for r in found.rows} == {
        scanned["ours"]: True,
        scanned["two_packs"]: True,
        typed: False,
    }
    # The other device's pack of the same lot number is still left out, and its patient is
    # counted once the typed pack brings her in.
    assert scanned["other_device"] not in ids_of(found)
    assert lot_reach(cast.officer, LotQuery("HW-2611A", gtin=GTIN)).patients == 3
    rows = read_csv(lot_trace_csv(cast.officer, LotQuery("HW-2611A", gtin=GTIN), now=NOW))
    by = [dict(zip(rows[0], r, strict=True)) for r in rows[1:] if r[0].isdigit()]
    assert {(int(r["record_id"]), r["gtin"]) for r in by} == {
        (scanned["ours"], GTIN),
        (scanned["two_packs"], GTIN),
        (typed, ""),
    }


def test_a_session_is_found_through_its_second_pack(cast, scanned):
    page = trace(cast, "hw-2611a")[1]

    row = next(r for r in page.rows if r.id == scanned["two_packs"])
    assert row.needle_lot == "hw-2611a"
    assert trace(cast, "ZZ-1")[0] == {scanned["two_packs"]}


def test_the_trace_counts_distinct_patients_to_contact_and_their_clinics(cast, scanned, lots):
    reach = lot_reach(cast.officer, LotQuery("HW-2611", is_prefix=True))

    # pat, lara and quinn: three people at two clinics. HW2611A (no dash) is another lot.
    assert reach.patients == 3
    assert reach.clinics == [("Harbour Physio", 2), ("Lakeside Physio", 1)]
    assert reach.practitioners == ["Ada Author", "Colin Colleague", "Olga Other"]
    assert (reach.first_date, reach.last_date) == (date(2026, 4, 1), date(2026, 4, 3))


def test_a_pack_of_one_gtin_and_lot_reads_as_its_record(cast, scanned):
    reach = lot_reach(cast.officer, LotQuery("HW-2611A", gtin=GTIN))

    assert (reach.patients, reach.practitioners) == (2, ["Ada Author", "Colin Colleague"])
    assert (reach.first_date, reach.last_date) == (date(2026, 4, 1), date(2026, 4, 3))


def test_the_recall_csv_has_one_row_per_pack_with_its_gtin(cast, scanned):
    rows = read_csv(lot_trace_csv(cast.officer, LotQuery("HW-2611A", gtin=GTIN), now=NOW))
    header, body = rows[0], rows[1:]

    by = [dict(zip(header, r, strict=True)) for r in body]
    assert sorted((int(r["record_id"]), r["needle_lot"], r["gtin"]) for r in by) == sorted(
        [(scanned["ours"], "HW-2611A", GTIN), (scanned["two_packs"], "hw-2611a", GTIN)]
    )


def test_a_corrected_time_out_is_traced_by_its_new_lot_only(cast, make_record):
    session_id = make_record(
        cast.ada, cast.pat, day=date(2026, 5, 1), phases=("signin", "timeout"), sign=False
    )
    form = {**CLEAN_PHASES["timeout"], "timeout.needle_lot": ["NEW-1"]}
    checklists.submit_phase(cast.ada, session_id, "timeout", form, now=NOW)
    db.session.commit()

    assert trace(cast, "NEW-1")[0] == {session_id}
    assert session_id not in trace(cast, "LOT-2611A")[0]
    # The first entry's pack is kept, superseded, not deleted.
    assert db.session.scalar(select(func.count()).where(SessionPack.session_id == session_id)) == 2


def test_a_prefix_trace_pages_newest_first_one_row_per_session_and_back_again(cast, make_record):
    from safety.review.rules.records import decode_cursor

    days = [date(2026, 6, d) for d in (1, 2, 2, 3, 5)]
    made = [
        make_record(cast.ada, cast.pat, day=day, answers={"timeout.needle_lot": [f"PG-{n}"]})
        for n, day in enumerate(days)
    ]
    # Two packs of the prefix in one session: still one session to contact.
    both = make_record(
        cast.colin,
        cast.quinn,
        day=date(2026, 6, 4),
        answers={
            "timeout.needle_lot": ["PG-7A"],
            "timeout.pack2.lot": ["pg-7b"],
            "timeout.pack2.expiry": ["2099-12-31"],
        },
    )
    newest_first = [made[4], both, made[3], made[2], made[1], made[0]]
    query = LotQuery("PG-", is_prefix=True)

    seen, pages, after = [], [], None
    while True:
        page = lot_trace(cast.officer, query, after=after, page_size=2)
        pages.append(page)
        seen += ids_of(page)
        assert page.count == 6
        if page.next_cursor is None:
            break
        after = decode_cursor(page.next_cursor)
    back = lot_trace(cast.officer, query, before=decode_cursor(pages[-1].prev_cursor), page_size=2)

    assert seen == newest_first
    assert len(pages) == 3
    assert ids_of(back) == newest_first[2:4]
    assert next(r for r in pages[0].rows if r.id == both).needle_lot == "PG-7A"


def test_percent_and_underscore_in_a_lot_prefix_are_only_themselves(cast, make_record):
    made = {
        lot: make_record(
            cast.ada, cast.pat, day=date(2026, 7, 1), answers={"timeout.needle_lot": [lot]}
        )
        for lot in ("A%B-1", "A_B-2", "AXB-3")
    }

    assert trace(cast, "A%", prefix=True)[0] == {made["A%B-1"]}
    assert trace(cast, "A_", prefix=True)[0] == {made["A_B-2"]}
    assert trace(cast, "A", prefix=True)[0] == set(made.values())
