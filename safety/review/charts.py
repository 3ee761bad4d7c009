"""Server-rendered SVG bar charts: pure functions from numbers to accessible markup, no JavaScript.

Each chart is an <svg role="img"> named by its <title> and summarised by its <desc>; the page
shows the same figures as a table beside it. A chart draws a bar per clinic only while each
clinic has a colour of its own (the palette's seven): with more, repeated colours would make
the key lie, and twenty clinics' bars over a year are three pixels wide. It then draws all
clinics together, a bar per month, with a line from the lowest to the highest clinic; the
table gives each clinic, and choosing a clinic shows its own bars. Colours are SVG
presentation attributes (the Content-Security-Policy allows no inline styles) and come from a
palette that stays distinct for colour-blind readers (Okabe and Ito). Their words, month names
and numbers are the reader's (Babel's month names for the request's language; English outside
a request). One file of about 530 lines: the chart, its parts, its key and its summary for
screen readers are one drawing, read and changed together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask_babel import gettext
from markupsafe import Markup, escape

from safety import i18n
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
#: Room a month keeps beside its bar for the line from its lowest to its highest clinic
#: (half each side, so the bar stays in the middle), and the half-width of that line's caps.
SPREAD_ROOM = 20
SPREAD_CAP = 3


@dataclass(frozen=True)
class Series:
    """One clinic's values, one per month; None where it had no sessions."""

    name: str
    values: tuple[float | None, ...]
    #: The counts behind each value, for the bar's tooltip: (events, sessions).
    counts: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Spread:
    """The lowest and highest clinic of a month, among those with enough sessions to compare."""

    low: float
    low_name: str
    high: float
    high_name: str


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


def _first_day(key: str) -> date:
    year, month = (int(part) for part in key.split("-"))
    return date(year, month, 1)


def month_axis_labels(months: Sequence[str]) -> list[tuple[str, str]]:
    """Return (month, year or '') for each YYYY-MM: the year under January and the first month."""
    language = i18n.current_language()
    labels = []
    for index, key in enumerate(months):
        first = _first_day(key)
        name = babel_dates.format_date(first, "LLL", locale=language)
        labels.append((name, str(first.year) if index == 0 or first.month == 1 else ""))
    return labels


def month_label(key: str) -> str:
    """Show YYYY-MM as the reader says a month: "Mar 2026", "mars 2026", "mar 2026"."""
    return babel_dates.format_skeleton("yMMM", _first_day(key), locale=i18n.current_language())


def format_rate(value: float | None) -> str:
    """Show a percent the way a report would: one decimal, or a dash when there is none."""
    if value is None:
        return "—"
    return _percent(round(value, 1), decimals="0.0")


def _coordinate(value: float) -> str:
    """Return a position to a tenth of a pixel, without a trailing ".0"."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _percent(value: float, decimals: str = "0.##") -> str:
    """A percent with the reader's decimal sign ("12.5 %", "12,5 %"), to two places at most."""
    number = babel_numbers.format_decimal(
        value, format=f"#,##{decimals}", locale=i18n.current_language()
    )
    return f"{number} %"


def describe(
    title: str,
    months: Sequence[str],
    series: Sequence[Series],
    references: Sequence[Reference],
) -> str:
    """Summarise a chart in a sentence or two for people who cannot see it."""
    if not months:
        return gettext("%(title)s: no months to show.", title=title)
    parts = [
        gettext(
            "%(title)s per month by clinic, %(start)s to %(end)s.",
            title=title,
            start=month_label(months[0]),
            end=month_label(months[-1]),
        )
    ]
    points = [
        (value, s.name, months[i])
        for s in series
        for i, value in enumerate(s.values)
        if value is not None
    ]
    if points and not any(value for value, _name, _month in points):
        parts.append(gettext("None in any clinic or month."))
    elif points:
        value, name, month = max(points, key=lambda p: p[0])
        parts.append(
            gettext(
                "Highest: %(rate)s at %(clinic)s in %(month)s.",
                rate=_percent(round(value, 1)),
                clinic=name,
                month=month_label(month),
            )
        )
    else:
        parts.append(gettext("No sessions recorded in this period."))
    if references:
        refs = ", ".join(f"{r.label} {_percent(r.value)}" for r in references)
        parts.append(gettext("Published baselines: %(baselines)s.", baselines=refs))
    return " ".join(parts)


def bar_chart(
    *,
    chart_id: str,
    title: str,
    months: Sequence[str],
    series: Sequence[Series],
    references: Sequence[Reference] = (),
    spreads: Sequence[Spread | None] = (),
    described: Sequence[Series] | None = None,
) -> Markup:
    """Return an SVG bar chart of percents: months along the bottom, one bar per series.

    `spreads` draws a line per month from its lowest to its highest clinic over the bars;
    `described` are the series the description names the highest of (the clinics, when the
    bars are all of them together)."""
    groups = max(len(months), 1)
    per_group = max(len(series), 1)
    room = SPREAD_ROOM if any(spreads) else 0
    plot_width = max(MIN_PLOT_WIDTH, groups * (per_group * MIN_BAR + GROUP_GAP + room))
    group_width = plot_width / groups
    bar = min(MAX_BAR, (group_width - GROUP_GAP - room) / per_group)
    peak = max(
        [v for s in series for v in s.values if v is not None]
        + [spread.high for spread in spreads if spread]
        + [r.value for r in references],
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
        f'<desc id="{escape(desc_id)}">'
        f"{escape(describe(title, months, described or series, references))}</desc>",
        f'<g transform="translate({LEFT},{TOP})" font-family="inherit" font-size="12"'
        f' fill="{REFERENCE_COLOUR}">',
    ]
    out += _grid(top, step, plot_width)
    out += _bars(series, months, top=top, group_width=group_width, bar=bar)
    beside = bar / 2 + SPREAD_ROOM / 2 - SPREAD_CAP
    out += _spreads(spreads, months, top=top, group_width=group_width, beside=beside)
    out += _month_labels(months, group_width)
    out += _reference_lines(references, top, plot_width)
    out.append(
        f'<line x1="0" x2="0" y1="0" y2="{PLOT_HEIGHT}" stroke="{REFERENCE_COLOUR}"/>'
        f'<line x1="0" x2="{plot_width:.1f}" y1="{PLOT_HEIGHT}" y2="{PLOT_HEIGHT}" '
        f'stroke="{REFERENCE_COLOUR}"/>'
    )
    out.append("</g></svg>")
    return Markup("".join(out))


def _grid(top: float, step: float, plot_width: float) -> list[str]:
    """Grid lines and the percent axis."""
    out = []
    ticks = round(top / step)
    for i in range(ticks + 1):
        value = step * i
        y = y_for(value, top)
        out.append(
            f'<line x1="0" x2="{plot_width:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#cbd2d9" stroke-width="1"/>'
            f'<text x="-6" y="{y + 4:.1f}" text-anchor="end">{escape(_percent(value))}</text>'
        )
    return out


def _bars(
    series: Sequence[Series], months: Sequence[str], *, top: float, group_width: float, bar: float
) -> list[str]:
    """The bars, a group per series carrying its colour, then the sample sizes over them."""
    out: list[str] = []
    per_group = max(len(series), 1)
    bar_width = _coordinate(max(bar - 1, 1))
    month_names = [month_label(month) for month in months]
    # Said once per chart, filled per bar: gettext is asked three times, not three per bar.
    tip_said = gettext("%(clinic)s, %(month)s: %(rate)s")
    counts_said = gettext("(%(events)s of %(sessions)s sessions)")
    small_said = gettext("%(tip)s: a small sample, read with care")
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
            tip = tip_said % {
                "clinic": s.name,
                "month": month_names[month_index],
                "rate": _percent(round(value, 1)),
            }
            if counts:
                tip += " " + counts_said % {"events": counts[0], "sessions": counts[1]}
            if small:
                tip = small_said % {"tip": tip}
            pale = ' fill-opacity="0.45"' if small else ""
            out.append(
                f'<rect x="{_coordinate(x)}" y="{_coordinate(y)}" width="{bar_width}" '
                f'height="{_coordinate(PLOT_HEIGHT - y)}"{pale}><title>{escape(tip)}</title></rect>'
            )
        out.append("</g>")
    return out + sizes


def _spreads(
    spreads: Sequence[Spread | None],
    months: Sequence[str],
    *,
    top: float,
    group_width: float,
    beside: float,
) -> list[str]:
    """A line per month from the lowest clinic's rate to the highest's, with short caps.

    It stands `beside` the middle of the month, right of its bar, so that it crosses
    neither the bar nor the sample size written over it."""
    out: list[str] = []
    said = gettext(
        "%(month)s: clinics from %(lowest)s (%(lowest_clinic)s) to %(highest)s (%(highest_clinic)s)"
    )
    cap = SPREAD_CAP
    for month_index, spread in enumerate(spreads):
        if spread is None:
            continue
        x = _coordinate((month_index + 0.5) * group_width + beside)
        low, high = y_for(spread.low, top), y_for(spread.high, top)
        tip = said % {
            "month": month_label(months[month_index]),
            "lowest": _percent(round(spread.low, 1)),
            "lowest_clinic": spread.low_name,
            "highest": _percent(round(spread.high, 1)),
            "highest_clinic": spread.high_name,
        }
        caps = "".join(
            f'<line x1="{_coordinate(float(x) - cap)}" x2="{_coordinate(float(x) + cap)}" '
            f'y1="{_coordinate(y)}" y2="{_coordinate(y)}"/>'
            for y in (low, high)
        )
        out.append(
            f'<g class="spread" stroke="{REFERENCE_COLOUR}" stroke-width="1.5"><title>'
            f'{escape(tip)}</title><line x1="{x}" x2="{x}" y1="{_coordinate(high)}" '
            f'y2="{_coordinate(low)}"/>{caps}</g>'
        )
    return out


def _month_labels(months: Sequence[str], group_width: float) -> list[str]:
    """The month under each group, and the year under a year's first month."""
    out = []
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
    return out


def _reference_lines(references: Sequence[Reference], top: float, plot_width: float) -> list[str]:
    """Reference lines with their labels on the right, pulled apart where they would overlap."""
    out = []
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
    return out


def legend(
    series: Sequence[Series], references: Sequence[Reference] = (), *, spread: bool = False
) -> Markup:
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
    if spread:
        said = gettext(
            "From the lowest clinic to the highest, among those with %(num)s sessions or "
            "more that month; the table below gives every clinic.",
            num=SMALL_SAMPLE,
        )
        items.append(
            '<li><svg width="14" height="14" aria-hidden="true" focusable="false">'
            f'<g stroke="{REFERENCE_COLOUR}" stroke-width="1.5"><line x1="7" x2="7" y1="1" '
            'y2="13"/><line x1="3" x2="11" y1="1" y2="1"/><line x1="3" x2="11" y1="13" '
            f'y2="13"/></g></svg> {escape(said)}</li>'
        )
    said = gettext(
        "Above each bar: the sessions it counts; a star and a paler bar: fewer than "
        "%(num)s sessions, too few for the rate to mean much.",
        num=SMALL_SAMPLE,
    )
    items.append(f"<li>{escape(said)}</li>")
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


def together(series: Sequence[Series], months: Sequence[str]) -> Series:
    """Return all clinics as one series: each month's events over its sessions, in every clinic."""
    values, counts = [], []
    for month_index in range(len(months)):
        events = sum(s.counts[month_index][0] for s in series if month_index < len(s.counts))
        sessions = sum(s.counts[month_index][1] for s in series if month_index < len(s.counts))
        values.append(100.0 * events / sessions if sessions else None)
        counts.append((events, sessions))
    name = gettext("All %(num)s clinics together", num=len(series))
    return Series(name=name, values=tuple(values), counts=tuple(counts))


def spreads(series: Sequence[Series], months: Sequence[str]) -> list[Spread | None]:
    """Return each month's lowest and highest clinic, of those with SMALL_SAMPLE sessions or more.

    A clinic with three sessions and one bleed (33 %) would otherwise be the top of every
    line; a month with fewer than two such clinics has no spread to show."""
    out: list[Spread | None] = []
    for month_index in range(len(months)):
        rated = [
            (s.values[month_index], s.name)
            for s in series
            if month_index < len(s.counts)
            and s.counts[month_index][1] >= SMALL_SAMPLE
            and s.values[month_index] is not None
        ]
        if len(rated) < 2:
            out.append(None)
            continue
        (low, low_name), (high, high_name) = min(rated), max(rated)
        out.append(Spread(low=low, low_name=low_name, high=high, high_name=high_name))
    return out


def by_clinic(series: Sequence[Series]) -> bool:
    """Whether a chart can draw each clinic in a colour of its own."""
    return len(series) <= len(PALETTE)


def measure_references(table) -> list[Reference]:
    """Return the published baselines of a measure table as reference lines."""
    return [Reference(b.source, b.rate) for b in table.measure.baselines]


def measure_chart(table) -> Markup:
    """Return the bar chart of one measure table, by month, with its baselines.

    A bar per clinic while each has a colour of its own; else all of them together, with
    each month's spread between clinics."""
    series = measure_series(table)
    title = gettext("%(measure)s: percent of sessions", measure=translated(table.measure.title))
    if by_clinic(series):
        drawn, spread, described = series, [], series
    else:
        drawn, spread = [together(series, table.months)], spreads(series, table.months)
        # The description names the highest clinic as the spread does: of those with enough
        # sessions, not a clinic whose three sessions made 33 %.
        described = [
            Series(
                s.name,
                tuple(
                    value if sessions >= SMALL_SAMPLE else None
                    for value, (_events, sessions) in zip(s.values, s.counts, strict=True)
                ),
                s.counts,
            )
            for s in series
        ]
    return bar_chart(
        chart_id=f"chart-{table.measure.key}",
        title=title,
        months=table.months,
        series=drawn,
        references=measure_references(table),
        spreads=spread,
        described=described,
    )


def measure_legend(table) -> Markup:
    """Return the key of a measure's chart."""
    series = measure_series(table)
    if by_clinic(series):
        return legend(series, measure_references(table))
    return legend([together(series, table.months)], measure_references(table), spread=True)
