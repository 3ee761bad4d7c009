"""Pure rules of the record list: overdue sessions, states, filters and keyset cursors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from safety.review.rules import records as rules

# --- filter choices --------------------------------------------------------------------------


def test_a_practitioner_is_offered_with_their_clinic_so_namesakes_are_told_apart():
    people = [(3, "Sam Lee", "Harbour Physio"), (9, "Sam Lee", "Lakeside Physio")]

    assert rules.practitioner_choices(people) == [
        (3, "Sam Lee (Harbour Physio)"),
        (9, "Sam Lee (Lakeside Physio)"),
    ]


def test_a_version_is_offered_by_its_number_in_a_sentence_the_reader_can_translate():
    (choice,) = rules.version_choices([(12, 2)])

    assert choice == (12, "Version 2")
    assert (choice[1].msgid, choice[1].values) == ("Version %(version)s", {"version": 2})


# --- overdue ---------------------------------------------------------------------------------

LONDON = ZoneInfo("Europe/London")


def test_a_session_becomes_overdue_when_the_clinics_working_day_ends():
    before_close = datetime(2026, 3, 10, 18, 59, tzinfo=LONDON)
    at_close = datetime(2026, 3, 10, 19, 0, tzinfo=LONDON)

    assert rules.overdue_cutoff(before_close, LONDON, 19) == date(2026, 3, 9)
    assert rules.overdue_cutoff(at_close, LONDON, 19) == date(2026, 3, 10)


def test_the_working_day_is_read_in_the_clinics_own_zone():
    # 23:30 UTC is already the next morning in Sydney, before that clinic's day has ended.
    now = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)

    assert rules.overdue_cutoff(now, "Australia/Sydney", 19) == date(2026, 3, 10)
    assert rules.overdue_cutoff(now, "America/Toronto", 19) == date(2026, 3, 10)
    assert rules.overdue_cutoff(now, "Europe/London", 19) == date(2026, 3, 10)
    assert rules.overdue_cutoff(now, "America/Toronto", 20) == date(2026, 3, 9)


def test_the_close_of_day_follows_a_daylight_saving_change():
    # London moves to BST on 29 March 2026: 18:30 UTC is 19:30 local, after a 19:00 close.
    now = datetime(2026, 3, 30, 18, 30, tzinfo=UTC)

    assert rules.overdue_cutoff(now, LONDON, 19) == date(2026, 3, 30)


@pytest.mark.parametrize(
    ("is_signed", "day", "state"),
    [
        (True, date(2026, 3, 1), "signed"),
        (False, date(2026, 3, 9), "overdue"),
        (False, date(2026, 3, 10), "in_progress"),
        (True, date(2026, 3, 10), "signed"),
    ],
)
def test_a_session_is_signed_overdue_or_in_progress(is_signed, day, state):
    assert rules.session_state(is_signed, day, date(2026, 3, 9)) == state


def test_phases_saved_seconds_apart_look_ticked_at_the_end():
    start = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    together = [start, start + timedelta(seconds=20), start + timedelta(seconds=50)]
    spread = [start, start + timedelta(minutes=10), start + timedelta(minutes=35)]

    assert rules.ticked_together(together, phases=3)
    assert not rules.ticked_together(spread, phases=3)
    assert not rules.ticked_together(together[:2], phases=3)


# --- filters, cursors and lots ---------------------------------------------------------------


def test_filters_become_query_arguments_of_ids_and_dates_only():
    filters = rules.RecordFilters(
        clinic_id=2, patient_id=7, date_from=date(2026, 1, 1), flag="high", state="overdue"
    )

    assert filters.as_args() == {
        "clinic": "2",
        "patient": "7",
        "from": "2026-01-01",
        "flag": "high",
        "state": "overdue",
    }
    assert rules.RecordFilters().is_empty


def test_a_cursor_reads_back_to_the_same_position():
    cursor = rules.encode_cursor(date(2026, 3, 10), 42)

    assert rules.decode_cursor(cursor) == (date(2026, 3, 10), 42)


@pytest.mark.parametrize(
    "value",
    ["", "abc", "2026-03-10", "2026-13-40_4", "2026-03-10_0", "2026-03-10_99999999999", None],
)
def test_anything_that_is_not_a_cursor_is_refused(value):
    assert rules.decode_cursor(value) is None
