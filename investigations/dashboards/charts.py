"""Charts drawn on the server as SVG: the numbers a service counted become shapes a template draws.

No charting library and no script: a chart is a ``Chart`` whose rectangles, ticks and labels are
computed here, and ``templates/dashboards/_chart.html`` writes them as ``<svg role="img">`` plus a
real table of the same numbers for screen readers (and for anyone who wants the figures). Colours
come from classes (``.series-0`` …) that ``static/css/charts.css`` styles with the design system's
variables: the CSP allows no inline style, and an SVG ``fill`` attribute cannot read a CSS variable.

A ``Tally`` is what a service returns: the category labels (days, weeks, states), one or more named
series of numbers, and the unit. ``column_chart`` draws it as (stacked) columns, ``bar_chart`` as
horizontal bars; both keep the tally, so the table under the chart is the service's own numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The drawing's own coordinate system (the SVG scales to its box through its viewBox).
WIDTH = 480
HEIGHT = 200
LEFT = 40  # room for the value axis' labels
BOTTOM = 24  # room for the category labels
TOP = 8
RIGHT = 8
BAR_HEIGHT = 18
BAR_GAP = 8
LABEL_WIDTH = 140  # horizontal bars: room for the category labels
# The longest label drawn (longer ones are cut short with an ellipsis; the table has them whole).
COLUMN_LABEL_CHARS = 8
BAR_LABEL_CHARS = 18
# The palette has this many series classes; more series reuse them in turn.
PALETTE = 6


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float, ...]
    # The CSS class suffix that colours it: a verdict's own ("malicious" is always the bad colour), or
    # the series' position in the palette.
    tone: str = ""


@dataclass(frozen=True)
class Tally:
    """Numbers by category: ``labels[i]`` is the category of every series' ``values[i]``."""

    labels: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str = ""
    # What the labels are (the table's first column): "Day", "Week", "State".
    category: str = "Category"
    # Shorter labels for the drawing's axis, where space is short ("Fri 20" for "Fri 20 Nov"); the
    # table keeps the full ones.
    axis_labels: tuple[str, ...] = ()
    # What the counts leave out, in words (e.g. "counted the first 1,000 entries"), shown under the chart.
    note: str = ""

    @property
    def totals(self) -> tuple[float, ...]:
        return tuple(sum(s.values[i] for s in self.series) for i in range(len(self.labels)))

    @property
    def empty(self) -> bool:
        return not any(self.totals)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """The header and rows of the chart's data table, as text (what the template prints)."""
        header = [self.category, *(s.name for s in self.series)]
        if len(self.series) > 1:
            header.append("Total")
        rows = []
        for i, label in enumerate(self.labels):
            cells = [label, *(number(s.values[i]) for s in self.series)]
            if len(self.series) > 1:
                cells.append(number(self.totals[i]))
            rows.append(cells)
        return header, rows


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str  # what a pointer's tooltip says (the SVG <title> of the shape)


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    tally: Tally
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    labels: list[Text] = field(default_factory=list)
    ticks: list[Text] = field(default_factory=list)
    gridlines: list[float] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css, name)

    @property
    def table(self):
        return self.tally.table()


def number(value: float) -> str:
    """A figure as the table prints it: whole numbers without decimals, others with one."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _tone(series: Series, index: int) -> str:
    return f"series-{series.tone}" if series.tone else f"series-{index % PALETTE}"


def _nice_top(value: float) -> float:
    """The axis' top: the smallest 1, 2 or 5 times 10^n at or above the largest value."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _describe(title: str, tally: Tally) -> str:
    if tally.empty:
        return f"{title}: nothing to show."
    peak = max(range(len(tally.labels)), key=lambda i: tally.totals[i])
    unit = f" {tally.unit}" if tally.unit else ""
    return (
        f"{title}: {number(sum(tally.totals))}{unit} in all over {len(tally.labels)} "
        f"{'category' if len(tally.labels) == 1 else 'categories'}; the most, {number(tally.totals[peak])}, "
        f"in {tally.labels[peak]}."
    )


def _axis_label(tally: Tally, i: int, limit: int) -> str:
    label = tally.axis_labels[i] if len(tally.axis_labels) == len(tally.labels) else tally.labels[i]
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _tick_fractions(top: float):
    # Counts read best on whole numbers: the middle line only when it falls on one.
    return (0, 0.5, 1) if float(top / 2).is_integer() else (0, 1)


def _legend(tally: Tally):
    return [(_tone(s, i), s.name) for i, s in enumerate(tally.series)] if len(tally.series) > 1 else []


def column_chart(*, chart_id: str, title: str, tally: Tally) -> Chart:
    """Columns, one per label; several series stack in each column."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_top(max(tally.totals, default=0))
    slot = plot_w / max(1, len(tally.labels))
    bar_w = slot * 0.6
    chart = Chart(chart_id, title, _describe(title, tally), tally, WIDTH, HEIGHT, legend=_legend(tally))
    for fraction in _tick_fractions(top):
        y = TOP + plot_h * (1 - fraction)
        chart.gridlines.append(round(y, 1))
        chart.ticks.append(Text(LEFT - 4, round(y + 4, 1), number(top * fraction), anchor="end"))
    unit = f" {tally.unit}" if tally.unit else ""
    for i, label in enumerate(tally.labels):
        x = LEFT + slot * i + (slot - bar_w) / 2
        base = TOP + plot_h
        for n, series in enumerate(tally.series):
            value = series.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            tip = f"{label}: {number(value)}{unit}" + (f" {series.name}" if len(tally.series) > 1 else "")
            chart.rects.append(Rect(round(x, 1), round(base, 1), round(bar_w, 1), round(h, 1), _tone(series, n), tip))
        chart.labels.append(Text(round(x + bar_w / 2, 1), HEIGHT - 6, _axis_label(tally, i, COLUMN_LABEL_CHARS)))
    return chart


def bar_chart(*, chart_id: str, title: str, tally: Tally) -> Chart:
    """Horizontal bars, one row per label (long category names read better across); series stack."""
    rows = max(1, len(tally.labels))
    height = TOP + rows * (BAR_HEIGHT + BAR_GAP)
    plot_w = WIDTH - LABEL_WIDTH - RIGHT - 40  # room after the longest bar for its figure
    top = _nice_top(max(tally.totals, default=0))
    chart = Chart(chart_id, title, _describe(title, tally), tally, WIDTH, height, legend=_legend(tally))
    unit = f" {tally.unit}" if tally.unit else ""
    for i, label in enumerate(tally.labels):
        y = TOP + i * (BAR_HEIGHT + BAR_GAP)
        x = LABEL_WIDTH
        for n, series in enumerate(tally.series):
            value = series.values[i]
            if value <= 0:
                continue
            w = plot_w * value / top
            tip = f"{label}: {number(value)}{unit}" + (f" {series.name}" if len(tally.series) > 1 else "")
            chart.rects.append(Rect(round(x, 1), y, round(w, 1), BAR_HEIGHT, _tone(series, n), tip))
            x += w
        chart.labels.append(
            Text(LABEL_WIDTH - 6, y + BAR_HEIGHT - 5, _axis_label(tally, i, BAR_LABEL_CHARS), anchor="end")
        )
        chart.ticks.append(Text(round(x + 4, 1), y + BAR_HEIGHT - 5, number(tally.totals[i]), anchor="start"))
    return chart
