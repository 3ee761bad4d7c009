"""Pure rules of the compliance review: rates, overdue sessions, cursors, CSV cells and charts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest

from safety.review import charts, rules
from safety.review.rules import MonthCounts

SVG = "{http://www.w3.org/2000/svg}"


# --- rates -----------------------------------------------------------------------------------


def test_a_rate_is_the_percent_of_sessions_with_the_event():
    assert rules.rate(3, 60) == pytest.approx(5.0)
    assert rules.rate(0, 10) == 0.0


def test_a_rate_over_no_sessions_is_unknown_rather_than_zero():
    assert rules.rate(0, 0) is None
    assert rules.format_rate(None) == "—"


def test_a_rate_reads_with_one_decimal():
    assert rules.format_rate(4.6512) == "4.7 %"


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
    assert rules.period_bounds(date(2026, 3, 15), 3) == (date(2026, 1, 1), date(2026, 3, 31))
    assert rules.period_bounds(date(2026, 1, 31), 2) == (date(2025, 12, 1), date(2026, 1, 31))


def test_every_month_of_a_period_has_a_key_in_order():
    keys = rules.month_keys(date(2025, 11, 1), date(2026, 2, 28))

    assert keys == ("2025-11", "2025-12", "2026-01", "2026-02")
    assert rules.month_label("2026-02") == "Feb 2026"


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


def test_a_lot_is_looked_for_as_typed_and_in_capitals():
    assert rules.lot_variants("hw2611a") == ("hw2611a", "HW2611A")
    assert rules.lot_variants("HW2611A") == ("HW2611A",)


def test_a_prefix_bound_is_just_past_every_lot_that_starts_with_it():
    bound = rules.prefix_upper_bound("SJ-40")

    assert bound == "SJ-41"
    assert all("SJ-40" <= lot < bound for lot in ["SJ-40", "SJ-40812", "SJ-40977", "SJ-40\uffff"])
    assert not any("SJ-40" <= lot < bound for lot in ["SJ-41", "SJ-4", "SJ-39"])


def test_a_prefix_of_maximal_characters_has_no_bound_rather_a_wrong_one():
    assert rules.prefix_upper_bound("\U0010ffff") is None
    assert rules.prefix_upper_bound("a\U0010ffff") == "b"


# --- flags and history -----------------------------------------------------------------------


def test_a_records_flags_read_most_serious_first_in_one_cell():
    summary = rules.flags_summary([("medium", "large_bruise"), ("critical", "count_discrepancy")])

    assert summary == "critical:count_discrepancy; medium:large_bruise"


def test_a_flags_age_is_said_in_the_largest_unit_that_makes_sense():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

    assert rules.age_text(now - timedelta(seconds=20), now) == "just now"
    assert rules.age_text(now - timedelta(minutes=42), now) == "42 min"
    assert rules.age_text(now - timedelta(hours=30), now) == "30 h"
    assert rules.age_text(now - timedelta(days=9), now) == "9 days"


def test_an_audit_event_reads_as_words_with_its_useful_detail():
    assert rules.action_label("session.phase_submit") == "Saved a phase"
    assert rules.history_summary("session.phase_submit", {"phase": "timeout"}) == "Time out"
    assert (
        rules.history_summary("session.phase_submit", {"phase": "signin", "resubmitted": True})
        == "Sign in (saved again)"
    )
    assert rules.action_label("something.new") == "something.new"


# --- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\tx"])
def test_text_a_spreadsheet_would_run_as_a_formula_stays_text(text):
    assert rules.csv_text(text) == "'" + text


def test_ordinary_text_is_left_as_written():
    assert rules.csv_text("Ada Lovelace") == "Ada Lovelace"


def test_the_export_has_one_column_per_linkid_of_every_template_version():
    v1 = {"phases": [{"items": [{"linkId": "a", "type": "boolean"}, {"linkId": "b"}]}]}
    v2 = {"phases": [{"items": [{"linkId": "b"}, {"linkId": "c", "type": "text"}]}]}

    assert rules.export_columns([v1, v2]) == ["a", "b", "c"]
    assert rules.export_items([v1, v2]) == [("a", "boolean"), ("b", "string"), ("c", "text")]


def test_only_cells_the_database_writes_itself_skip_the_separator_check():
    items = [("signin.consent", "boolean"), ("timeout.needle_lot", "text"), ("n", "integer")]

    unchecked = rules.export_cells_without_separators(items)

    # yes/no, the id and the UTC time are formatted in SQL; stored text and numbers are not.
    assert unchecked == {"record_id", "signed_utc", "signin.consent"}


def test_only_plain_linkids_may_be_named_in_sql():
    assert rules.SAFE_LINK_ID.match("signout.bleeding")
    assert not rules.SAFE_LINK_ID.match("x'); DROP TABLE flags; --")
    assert not rules.SAFE_LINK_ID.match('a"b')


# --- charts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peak", "top", "step"),
    [(0, 5, 1), (4.65, 5, 1), (7.7, 8, 2), (16, 20, 5), (28.3, 30, 10), (100, 100, 20)],
)
def test_the_axis_holds_the_highest_value_in_round_steps(peak, top, step):
    assert charts.axis_scale(peak) == (top, step)


def test_values_are_placed_from_the_bottom_of_the_plot_and_clipped_to_it():
    assert charts.y_for(0, 20, height=200) == 200
    assert charts.y_for(10, 20, height=200) == 100
    assert charts.y_for(20, 20, height=200) == 0
    assert charts.y_for(50, 20, height=200) == 0


def test_labels_that_would_overlap_are_pulled_apart_in_order():
    placed = charts.spread_labels([100.0, 96.0, 40.0], gap=13)

    assert placed[2] == 40.0
    assert placed[1] == 96.0
    assert placed[0] == 109.0


def test_the_axis_names_the_year_under_january_and_the_first_month():
    labels = charts.month_axis_labels(["2025-11", "2025-12", "2026-01", "2026-02"])

    assert labels == [("Nov", "2025"), ("Dec", ""), ("Jan", "2026"), ("Feb", "")]


def _chart(**overrides):
    arguments = {
        "chart_id": "chart-bleeding",
        "title": "Bleeding at needle sites",
        "months": ["2026-01", "2026-02"],
        "series": [
            charts.Series("Harbour <Physio>", (5.0, None), ((1, 20), (0, 0))),
            charts.Series("Lakeside", (10.0, 20.0), ((2, 20), (4, 20))),
        ],
        "references": [charts.Reference("Brady 2014", 4.65), charts.Reference("Boyce 2020", 16)],
    }
    arguments.update(overrides)
    return charts.bar_chart(**arguments)


def test_a_chart_is_an_image_named_by_its_title_and_described():
    svg = ElementTree.fromstring(str(_chart()))

    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "chart-bleeding-title chart-bleeding-desc"
    assert svg.find(f"{SVG}title").text == "Bleeding at needle sites"
    description = svg.find(f"{SVG}desc").text
    assert "Jan 2026 to Feb 2026" in description
    assert "Highest: 20 % at Lakeside in Feb 2026" in description
    assert "Brady 2014 4.65 %" in description


def test_a_chart_draws_a_bar_per_clinic_and_month_with_sessions_and_a_tooltip():
    svg = ElementTree.fromstring(str(_chart()))

    bars = svg.findall(f".//{SVG}rect")
    tips = [bar.find(f"{SVG}title").text for bar in bars]
    assert len(bars) == 3  # Harbour had no sessions in February
    assert "Harbour <Physio>, Jan 2026: 5 % (1 of 20 sessions)" in tips
    assert "Lakeside, Feb 2026: 20 % (4 of 20 sessions)" in tips


def test_taller_bars_stand_for_higher_rates():
    svg = ElementTree.fromstring(str(_chart()))

    heights = {
        bar.find(f"{SVG}title").text.split(":")[1]: float(bar.get("height"))
        for bar in svg.findall(f".//{SVG}rect")
    }
    assert heights[" 20 % (4 of 20 sessions)"] == pytest.approx(
        2 * heights[" 10 % (2 of 20 sessions)"]
    )


def test_a_chart_draws_each_baseline_as_a_dashed_line_with_its_label():
    markup = str(_chart())

    assert markup.count('stroke-dasharray="') == 2
    assert "Brady 2014 4.65 %" in markup
    assert "Boyce 2020 16 %" in markup


def test_a_chart_escapes_names_and_uses_no_inline_style_or_script():
    markup = str(_chart())

    assert "Harbour &lt;Physio&gt;" in markup
    assert "<Physio>" not in markup
    assert not re.search(r"\sstyle=|<style|<script", markup)


def test_a_chart_without_sessions_says_so():
    markup = str(_chart(series=[charts.Series("Harbour", (None, None))], references=[]))

    assert "No sessions recorded in this period." in markup
    assert "<rect" not in markup


def test_a_legend_shows_a_swatch_per_clinic_and_a_line_per_baseline():
    legend = str(
        charts.legend([charts.Series("Harbour", (1.0,))], [charts.Reference("Brady 2014", 4.65)])
    )

    assert 'aria-hidden="true"' in legend
    assert "Harbour" in legend
    assert "Brady 2014 (4.65 %)" in legend


@pytest.mark.parametrize(
    ("text", "inside", "expected"),
    [
        ("1,a\n2,b\n", False, ("1,a\r\n2,b\r\n", False)),
        ('1,"a\nb"\n2,""""\n', False, ('1,"a\nb"\r\n2,""""\r\n', False)),
        ('1,"a\n', False, ('1,"a\n', True)),
        ('b",c\n2\n', True, ('b",c\r\n2\r\n', False)),
        ("more\n", True, ("more\n", True)),
    ],
)
def test_copied_csv_lines_end_with_crlf_outside_quoted_cells(text, inside, expected):
    assert rules.crlf_lines(text, inside) == expected
