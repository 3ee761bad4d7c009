"""The dashboard's charts: axes, bars, baselines and legends as accessible SVG."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from safety.review import charts
from safety.review.rules import dashboard as dashboard_rules
from safety.review.rules.dashboard import MonthCounts

SVG = "{http://www.w3.org/2000/svg}"


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


def test_a_chart_of_nothing_but_zeros_names_no_highest():
    quiet = [charts.Series("Lakeside", (0.0, 0.0), ((0, 20), (0, 20)))]

    description = ElementTree.fromstring(str(_chart(series=quiet))).find(f"{SVG}desc").text

    assert "Highest" not in description and "None in any clinic or month." in description


def test_a_chart_draws_a_bar_per_clinic_and_month_with_sessions_and_a_tooltip():
    svg = ElementTree.fromstring(str(_chart()))

    bars = svg.findall(f".//{SVG}rect")
    tips = [bar.find(f"{SVG}title").text for bar in bars]
    assert len(bars) == 3  # Harbour had no sessions in February
    assert "Harbour <Physio>, Jan 2026: 5 % (1 of 20 sessions)" in tips
    assert "Lakeside, Feb 2026: 20 % (4 of 20 sessions)" in tips


def test_a_month_without_events_draws_no_bar_of_no_height():
    svg = ElementTree.fromstring(
        str(_chart(series=[charts.Series("Harbour", (0.0, 12.5), ((0, 8), (1, 8)))]))
    )

    tips = [bar.find(f"{SVG}title").text for bar in svg.findall(f".//{SVG}rect")]
    assert tips == ["Harbour, Feb 2026: 12.5 % (1 of 8 sessions): a small sample, read with care"]


def test_each_bar_shows_its_sample_size_and_a_small_sample_is_pale_and_starred():
    svg = ElementTree.fromstring(
        str(_chart(series=[charts.Series("Harbour", (10.0, 12.5), ((2, 20), (1, 8)))]))
    )

    sizes = [text.text for text in svg.findall(f".//{SVG}text") if text.get("font-size") == "9"]
    assert sizes == ["20", "8*"]
    opacity = {
        bar.find(f"{SVG}title").text[:17]: bar.get("fill-opacity")
        for bar in svg.findall(f".//{SVG}rect")
    }
    assert opacity == {"Harbour, Jan 2026": None, "Harbour, Feb 2026": "0.45"}


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


# --- many clinics: all together, with each month's spread --------------------------------------


def _clinics(n: int) -> list[charts.Series]:
    """n clinics over two months: clinic i has i events of 20 sessions in January, none after."""
    return [
        charts.Series(f"Clinic {i:02d}", (100 * i / 20, None), ((i, 20), (0, 0))) for i in range(n)
    ]


def test_all_clinics_together_are_the_events_over_the_sessions_of_every_clinic():
    series = [
        charts.Series("Harbour", (10.0, 50.0), ((2, 20), (1, 2))),
        charts.Series("Lakeside", (0.0, None), ((0, 30), (0, 0))),
    ]

    together = charts.together(series, ["2026-01", "2026-02"])

    assert together.name == "All 2 clinics together"
    assert together.values == (4.0, 50.0)  # 2 of 50, not the mean of 10 % and 0 %
    assert together.counts == ((2, 50), (1, 2))


def test_a_month_without_sessions_anywhere_has_no_rate_together():
    together = charts.together([charts.Series("Harbour", (None,), ((0, 0),))], ["2026-01"])

    assert together.values == (None,)


def test_a_spread_runs_from_the_lowest_to_the_highest_clinic_with_enough_sessions():
    series = [
        charts.Series("Harbour", (5.0,), ((1, 20),)),
        charts.Series("Lakeside", (25.0,), ((5, 20),)),
        # Three sessions, one bleed: 33 % says little, so it is not the top of the line.
        charts.Series("Tiny", (33.3,), ((1, 3),)),
    ]

    assert charts.spreads(series, ["2026-01"]) == [
        charts.Spread(low=5.0, low_name="Harbour", high=25.0, high_name="Lakeside")
    ]


def test_a_month_with_fewer_than_two_clinics_to_compare_has_no_spread():
    series = [
        charts.Series("Harbour", (5.0,), ((1, 20),)),
        charts.Series("Tiny", (50.0,), ((1, 2),)),
    ]

    assert charts.spreads(series, ["2026-01"]) == [None]


def _table(series: list[charts.Series]):
    """The dashboard's own table of a measure, from each clinic's January counts."""
    counts = [
        MonthCounts(i, "2026-01", s.counts[0][1], s.counts[0][1], {"bleeding": s.counts[0]})
        for i, s in enumerate(series)
    ]
    clinics = [(i, s.name) for i, s in enumerate(series)]
    bleeding = next(m for m in dashboard_rules.MEASURES if m.key == "bleeding")
    return dashboard_rules.measure_table(bleeding, counts, clinics, ("2026-01", "2026-02"))


def test_a_chart_draws_a_bar_per_clinic_while_each_has_a_colour_of_its_own():
    svg = ElementTree.fromstring(str(charts.measure_chart(_table(_clinics(len(charts.PALETTE))))))

    tips = [bar.find(f"{SVG}title").text for bar in svg.findall(f".//{SVG}rect")]
    assert len(tips) == len(charts.PALETTE) - 1  # Clinic 00 had no event: no bar of no height
    assert tips[0].startswith("Clinic 01, Jan 2026: 5 %")
    assert not svg.findall(f".//{SVG}g[@class='spread']")


def test_with_more_clinics_than_colours_a_chart_draws_them_together_and_their_spread():
    many = _clinics(len(charts.PALETTE) + 1)

    svg = ElementTree.fromstring(str(charts.measure_chart(_table(many))))

    tips = [bar.find(f"{SVG}title").text for bar in svg.findall(f".//{SVG}rect")]
    assert tips == ["All 8 clinics together, Jan 2026: 17.5 % (28 of 160 sessions)"]
    spreads = svg.findall(f".//{SVG}g[@class='spread']")
    assert [s.find(f"{SVG}title").text for s in spreads] == [
        "Jan 2026: clinics from 0 % (Clinic 00) to 35 % (Clinic 07)"
    ]
    # The description still names the clinic that stood out, not the average.
    assert "Highest: 35 % at Clinic 07 in Jan 2026" in svg.find(f"{SVG}desc").text
    legend = str(charts.measure_legend(_table(many)))
    assert "All 8 clinics together" in legend and "From the lowest clinic to the highest" in legend
    assert "Clinic 03" not in legend


def test_a_spread_stands_beside_its_bar_within_its_month():
    svg = ElementTree.fromstring(str(charts.measure_chart(_table(_clinics(20)))))

    bar = svg.find(f".//{SVG}rect")
    line = svg.find(f".//{SVG}g[@class='spread']/{SVG}line")
    caps = svg.findall(f".//{SVG}g[@class='spread']/{SVG}line")[1:]
    right_of_bar = float(bar.get("x")) + float(bar.get("width"))
    month_end = float(svg.get("width")) - charts.LEFT - charts.RIGHT  # the plot's width
    month_end /= 2  # two months
    assert right_of_bar < float(line.get("x1")) == float(line.get("x2"))
    assert max(float(cap.get("x2")) for cap in caps) < month_end
    # The line spans the clinics' rates: 0 % at the bottom of the plot, 95 % above it.
    assert float(line.get("y2")) == charts.PLOT_HEIGHT
    assert float(line.get("y1")) < float(bar.get("y"))
