"""Pure rules of the dashboard: rates, their baselines, monthly roll-ups and calendar months."""

from __future__ import annotations

from datetime import date

import pytest

from safety.review import charts
from safety.review.rules import dashboard as rules
from safety.review.rules.dashboard import MonthCounts

# --- rates -----------------------------------------------------------------------------------


def test_a_rate_is_the_percent_of_sessions_with_the_event():
    assert rules.rate(3, 60) == pytest.approx(5.0)
    assert rules.rate(0, 10) == 0.0


def test_a_rate_over_no_sessions_is_unknown_rather_than_zero():
    assert rules.rate(0, 0) is None
    assert charts.format_rate(None) == "—"


def test_a_rate_reads_with_one_decimal():
    assert charts.format_rate(4.6512) == "4.7 %"
    assert charts.format_rate(5) == "5.0 %"


def test_the_response_rate_counts_answered_follow_ups_of_those_sent_or_answered():
    by_status = {"answered": 3, "sent": 1, "scheduled": 10, "failed": 2, "cancelled": 4}

    assert rules.response_rate(by_status) == pytest.approx(75.0)


def test_there_is_no_response_rate_before_any_follow_up_was_sent():
    assert rules.response_rate({"scheduled": 5}) is None
    assert rules.response_rate({}) is None


def test_days_roll_up_into_months_per_clinic():
    day_rows = [
        # day, clinic, started, signed, then (events, recorded) per measure
        (date(2026, 3, 2), 1, 2, 2, 1, 2, 0, 2, 1, 2, 0, 2),
        (date(2026, 3, 30), 1, 3, 2, 1, 2, 1, 2, 0, 2, 0, 2),
        (date(2026, 4, 1), 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1),
        (date(2026, 3, 5), 2, 4, 4, 0, 4, 0, 4, 0, 4, 0, 4),
    ]

    months = {(m.clinic_id, m.month): m for m in rules.roll_up_months(day_rows)}

    march = months[(1, "2026-03")]
    assert (march.started, march.signed) == (5, 4)
    assert march.events["bleeding"] == (2, 4)
    assert march.events["bruising"] == (1, 4)
    assert march.events["pain_during"] == (1, 4)
    assert march.rate_of("bleeding") == pytest.approx(50.0)
    assert months[(1, "2026-04")].events["reaction"] == (1, 1)
    assert months[(2, "2026-03")].started == 4
    assert set(months) == {(1, "2026-03"), (1, "2026-04"), (2, "2026-03")}


def test_a_measure_table_gives_every_clinic_a_cell_for_every_month():
    counts = [MonthCounts(1, "2026-02", 10, 10, {"bleeding": (1, 10)})]
    bleeding = rules.MEASURES[0]

    table = rules.measure_table(
        bleeding, counts, [(1, "Harbour"), (2, "Lakeside")], ("2026-01", "2026-02")
    )

    assert table.rows[0] == ("Harbour", ((None, 0, 0), (pytest.approx(10.0), 1, 10)))
    assert table.rows[1] == ("Lakeside", ((None, 0, 0), (None, 0, 0)))
    assert table.overall == (pytest.approx(10.0), 1, 10)


def test_the_published_baselines_are_the_ones_in_the_design():
    baselines = {m.key: {b.source: b.rate for b in m.baselines} for m in rules.MEASURES}

    assert baselines["bleeding"] == {"Brady 2014": 4.65, "Boyce 2020": 16.0}
    assert baselines["bruising"] == {"Brady 2014": 7.55, "Boyce 2020": 7.7}
    assert baselines["pain_during"] == {"Brady 2014": 3.01, "Boyce 2020": 5.9}
    assert baselines["reaction"] == {}


def test_the_pain_caption_says_which_scores_count():
    pain = next(m for m in rules.MEASURES if m.key == "pain_during")

    assert "4 or more out of 10" in pain.definition


# --- months ----------------------------------------------------------------------------------


def test_a_period_covers_whole_calendar_months_ending_with_this_one():
    # The period ends today: no day that has not happened yet.
    assert rules.period_bounds(date(2026, 3, 15), 3) == (date(2026, 1, 1), date(2026, 3, 15))
    assert rules.period_bounds(date(2026, 1, 31), 2) == (date(2025, 12, 1), date(2026, 1, 31))


def test_every_month_of_a_period_has_a_key_in_order():
    keys = rules.month_keys(date(2025, 11, 1), date(2026, 2, 28))

    assert keys == ("2025-11", "2025-12", "2026-01", "2026-02")
    assert charts.month_label("2026-02") == "Feb 2026"
