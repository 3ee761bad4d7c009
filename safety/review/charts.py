"""Server-rendered SVG bar charts: pure functions from numbers to accessible markup, no JavaScript.

Each chart is an <svg role="img"> named by its <title> and summarised by its <desc>; the page
shows the same figures as a table beside it. Colours are SVG presentation attributes (the
Content-Security-Policy allows no inline styles) and come from a palette that stays distinct
for colour-blind readers (Okabe and Ito).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext
from markupsafe import Markup, escape

from safety.web import translated

#: Okabe-Ito colours, darkest first, without the yellow that fails contrast on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Dash patterns of reference lines, one per published source.
DASHES = ("8 4", "2 3", "12 3 2 3")
REFERENCE_COLOUR = "#1d2733"

PLOT_HEIGHT = 200
MIN_PLOT_WIDTH = 560
LEFT = 48
RIGHT = 150
TOP = 16
BOTTOM = 44
MIN_BAR = 4
MAX_BAR = 28
GROUP_GAP = 6
#: Fewer sessions than this behind a month's rate: the bar is drawn pale and its size starred,
#: since one event moves such a rate by five points or more (issue 17).
SMALL_SAMPLE = 20
#: Sample sizes are written above the bars only while the bars are wide enough to hold them.
SIZE_LABEL_MIN_BAR = 14
LABEL_GAP = 13


@dataclass(frozen=True)
class Series:
    """One clinic's values, one per month; None where it had no sessions."""

    name: str
    values: tuple[float | None, ...]
    #: The counts behind each value, for the bar's tooltip: (events, sessions).
    counts: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Reference:
    """A published baseline drawn as a horizontal line."""

    label: str
    value: float


def colour(index: int) -> str:
    """Return the colour of the series at a position."""
    return PALETTE[index % len(PALETTE)]


def axis_scale(peak: float) -> tuple[float, float]:
    """Return (top, step) of a percent axis that holds `peak` in at most five round steps."""
    if peak <= 0:
        return 5.0, 1.0
    for step in (1, 2, 5, 10, 20, 25):
        intervals = max(1, math.ceil(peak / step - 1e-9))
        if intervals <= 5:
            return float(intervals * step), float(step)
    return 100.0, 25.0


def y_for(value: float, top: float, height: float = PLOT_HEIGHT) -> float:
    """Return the distance from the plot's top edge of a value on an axis from 0 to top."""
    value = min(max(value, 0.0), top)
    return height - (value / top) * height


def spread_labels(positions: Sequence[float], gap: float = LABEL_GAP) -> list[float]:
    """Move label positions apart so that no two are closer than `gap`, keeping their order."""
    order = sorted(range(len(positions)), key=lambda i: positions[i])
    placed = [0.0] * len(positions)
    previous = -math.inf
    for i in order:
        y = max(positions[i], previous + gap)
        placed[i] = y
        previous = y
    return placed


def month_axis_labels(months: Sequence[str]) -> list[tuple[str, str]]:
    """Return (month, year or '') for each YYYY-MM: the year under January and the first month."""
    labels = []
    for index, key in enumerate(months):
        year, month = (int(part) for part in key.split("-"))
        name = date(year, month, 1).strftime("%b")
        labels.append((name, str(year) if index == 0 or month == 1 else ""))
    return labels


def _coordinate(value: float) -> str:
    """Return a position to a tenth of a pixel, without a trailing ".0"."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _percent(value: float) -> str:
    return f"{_number(value)} %"


def describe(
    title: str,
    months: Sequence[str],
    series: Sequence[Series],
    references: Sequence[Reference],
) -> str:
    """Summarise a chart in a sentence or two for people who cannot see it."""
    if not months:
        return f"{title}: no months to show."
    span = f"{month_axis_labels(months[:1])[0][0]} {months[0][:4]}"
    last = months[-1]
    span_end = f"{month_axis_labels([last])[0][0]} {last[:4]}"
    parts = [f"{title} per month by clinic, {span} to {span_end}."]
    points = [
        (value, s.name, months[i])
        for s in series
        for i, value in enumerate(s.values)
        if value is not None
    ]
    if points:
        value, name, month = max(points, key=lambda p: p[0])
        label = month_axis_labels([month])[0][0] + " " + month[:4]
        parts.append(f"Highest: {_percent(round(value, 1))} at {name} in {label}.")
    else:
        parts.append("No sessions recorded in this period.")
    if references:
        refs = ", ".join(f"{r.label} {_percent(r.value)}" for r in references)
        parts.append(f"Published baselines: {refs}.")
    return " ".join(parts)


def bar_chart(
    *,
    chart_id: str,
    title: str,
    months: Sequence[str],
    series: Sequence[Series],
    references: Sequence[Reference] = (),
) -> Markup:
    """Return an SVG bar chart of percents: months along the bottom, one bar per series."""
    groups = max(len(months), 1)
    per_group = max(len(series), 1)
    plot_width = max(MIN_PLOT_WIDTH, groups * (per_group * MIN_BAR + GROUP_GAP))
    group_width = plot_width / groups
    bar = min(MAX_BAR, (group_width - GROUP_GAP) / per_group)
    peak = max(
        [v for s in series for v in s.values if v is not None] + [r.value for r in references],
        default=0.0,
    )
    top, step = axis_scale(peak)
    width = LEFT + plot_width + RIGHT
    height = TOP + PLOT_HEIGHT + BOTTOM
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" id="{escape(chart_id)}"'
        f' width="{width:.0f}" height="{height}" viewBox="0 0 {width:.0f} {height}"'
        f' aria-labelledby="{escape(title_id)} {escape(desc_id)}">',
        f'<title id="{escape(title_id)}">{escape(title)}</title>',
        f'<desc id="{escape(desc_id)}">{escape(describe(title, months, series, references))}'
        "</desc>",
        f'<g transform="translate({LEFT},{TOP})" font-family="inherit" font-size="12"'
        f' fill="{REFERENCE_COLOUR}">',
    ]
    # Grid lines and the percent axis.
    ticks = round(top / step)
    for i in range(ticks + 1):
        value = step * i
        y = y_for(value, top)
        out.append(
            f'<line x1="0" x2="{plot_width:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#cbd2d9" stroke-width="1"/>'
            f'<text x="-6" y="{y + 4:.1f}" text-anchor="end">{escape(_percent(value))}</text>'
        )
    # Bars, a group per series carrying its colour: with twenty clinics over a year there are
    # a thousand bars, so each says only where it stands and what it shows.
    bar_width = _coordinate(max(bar - 1, 1))
    month_names = [
        f"{name} {month[:4]}"
        for (name, _year), month in zip(month_axis_labels(months), months, strict=True)
    ]
    sizes: list[str] = []
    for index, s in enumerate(series):
        out.append(f'<g fill="{colour(index)}">')
        for month_index, value in enumerate(s.values):
            x = month_index * group_width + (group_width - bar * per_group) / 2 + index * bar
            counts = s.counts[month_index] if month_index < len(s.counts) else None
            small = bool(counts) and 0 < counts[1] < SMALL_SAMPLE
            y = y_for(value or 0, top)
            if counts and counts[1] and bar >= SIZE_LABEL_MIN_BAR:
                # The sample size over each bar (a star when small), even over a bar of zero.
                sizes.append(
                    f'<text x="{_coordinate(x + bar / 2)}" y="{_coordinate(y - 3)}" '
                    f'text-anchor="middle" font-size="9">{counts[1]}{"*" if small else ""}</text>'
                )
            if not value:  # no sessions, or none with the event: a bar of no height says
                continue  # nothing and cannot be pointed at; the table gives its figures
            tip = f"{s.name}, {month_names[month_index]}: {_percent(round(value, 1))}"
            if counts:
                tip += f" ({counts[0]} of {counts[1]} sessions)"
            if small:
                tip += ": a small sample, read with care"
            pale = ' fill-opacity="0.45"' if small else ""
            out.append(
                f'<rect x="{_coordinate(x)}" y="{_coordinate(y)}" width="{bar_width}" '
                f'height="{_coordinate(PLOT_HEIGHT - y)}"{pale}><title>{escape(tip)}</title></rect>'
            )
        out.append("</g>")
    out.extend(sizes)
    # Month labels.
    for month_index, (name, year) in enumerate(month_axis_labels(months)):
        x = (month_index + 0.5) * group_width
        out.append(
            f'<text x="{x:.1f}" y="{PLOT_HEIGHT + 16}" text-anchor="middle">{escape(name)}</text>'
        )
        if year:
            out.append(
                f'<text x="{x:.1f}" y="{PLOT_HEIGHT + 31}" text-anchor="middle">'
                f"{escape(year)}</text>"
            )
    # Reference lines with their labels on the right, pulled apart where they would overlap.
    ys = [y_for(r.value, top) for r in references]
    for index, (reference, y, label_y) in enumerate(
        zip(references, ys, spread_labels(ys), strict=True)
    ):
        dash = DASHES[index % len(DASHES)]
        out.append(
            f'<line x1="0" x2="{plot_width:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{REFERENCE_COLOUR}" stroke-width="2" stroke-dasharray="{dash}"/>'
            f'<text x="{plot_width + 6:.1f}" y="{label_y + 4:.1f}">'
            f"{escape(reference.label)} {escape(_percent(reference.value))}</text>"
        )
    out.append(
        f'<line x1="0" x2="0" y1="0" y2="{PLOT_HEIGHT}" stroke="{REFERENCE_COLOUR}"/>'
        f'<line x1="0" x2="{plot_width:.1f}" y1="{PLOT_HEIGHT}" y2="{PLOT_HEIGHT}" '
        f'stroke="{REFERENCE_COLOUR}"/>'
    )
    out.append("</g></svg>")
    return Markup("".join(out))


def legend(series: Sequence[Series], references: Sequence[Reference] = ()) -> Markup:
    """Return the key of a chart: a swatch per series and a line sample per baseline."""
    items = []
    for index, s in enumerate(series):
        items.append(
            '<li><svg width="14" height="14" aria-hidden="true" focusable="false">'
            f'<rect width="14" height="14" fill="{colour(index)}"/></svg> {escape(s.name)}</li>'
        )
    for index, reference in enumerate(references):
        dash = DASHES[index % len(DASHES)]
        items.append(
            '<li><svg width="28" height="14" aria-hidden="true" focusable="false">'
            f'<line x1="0" x2="28" y1="7" y2="7" stroke="{REFERENCE_COLOUR}" stroke-width="2" '
            f'stroke-dasharray="{dash}"/></svg> {escape(reference.label)} '
            f"({escape(_percent(reference.value))})</li>"
        )
    items.append(
        f"<li>Above each bar: the sessions it counts; a star and a paler bar: fewer than "
        f"{SMALL_SAMPLE} sessions, too few for the rate to mean much.</li>"
    )
    return Markup('<ul class="legend">' + "".join(items) + "</ul>")


def measure_series(table) -> list[Series]:
    """Return one series per clinic of a measure table (see rules.measure_table)."""
    return [
        Series(
            name=name,
            values=tuple(cell[0] for cell in cells),
            counts=tuple((cell[1], cell[2]) for cell in cells),
        )
        for name, cells in table.rows
    ]


def measure_references(table) -> list[Reference]:
    """Return the published baselines of a measure table as reference lines."""
    return [Reference(b.source, b.rate) for b in table.measure.baselines]


def measure_chart(table) -> Markup:
    """Return the bar chart of one measure table, by clinic and month, with its baselines."""
    return bar_chart(
        chart_id=f"chart-{table.measure.key}",
        title=gettext("%(measure)s: percent of sessions", measure=translated(table.measure.title)),
        months=table.months,
        series=measure_series(table),
        references=measure_references(table),
    )


def measure_legend(table) -> Markup:
    """Return the key of a measure's chart."""
    return legend(measure_series(table), measure_references(table))
