"""Charts of a report's tables as SVG, drawn server-side by matplotlib so the dashboard, the HTML
pack and the PDF show the same picture.

``chart_svg(chart, table)`` returns an ``<svg>`` element to inline in HTML:

- **deterministic**: a fixed hash salt and no date, so the same table gives the same bytes;
- **accessible**: ``role="img"`` labelled by a ``<title>`` (the chart's title) and a ``<desc>``
  (its note), every id prefixed by the chart's key so several charts share a page;
- **small**: text stays text (``svg.fonttype: none``), no XML prolog, no metadata block;
- **honest about suppression**: a hidden value is not drawn at all (no bar, no point, no
  label) and the note says some values are suppressed.

Kinds: ``bar`` (grouped bars, one per series), ``stacked_bar``, ``line`` (one line per series,
a hidden point breaks it) and ``funnel`` (horizontal bars from the first step down, each
labelled with its count and its conversion from the step before). A funnel's steps are the
table's rows (labelled by ``chart.x``) when it draws one series; with several series, the steps
are those columns and each row is drawn beside the others.

A plain ``Figure`` on the Agg canvas: no pyplot, no GUI backend and no global registry of
figures, so nothing outlives the call. matplotlib's settings are process-wide, so drawing holds
a lock (the dashboard draws several charts per request, from several threads).
"""

from __future__ import annotations

import io
import math
import re
import threading
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from refdesk.reports.cells import duration_text, is_hidden, percent_text
from refdesk.reports.document import Chart, Column, Table

# Dark enough for 3:1 against white (WCAG non-text contrast) and told apart by colour-blind eyes.
PALETTE = ("#1f4e79", "#b35806", "#1b7837", "#762a83", "#8c510a", "#4d4d4d")
INK = "#1b1b1b"
RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "refdesk-report",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": "#6b6b6b",
    "axes.labelcolor": INK,
    "text.color": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_LOCK = threading.Lock()


@dataclass
class _Series:
    label: str
    values: list[float | None]  # in the unit drawn (percent points, hours, counts)
    hidden: list[bool]


def _scaled(value, column: Column) -> float | None:
    if value is None:
        return None
    if column.kind == "percent":
        return float(value) * 100
    if column.kind == "duration":
        return float(value) / 3600
    return float(value)


def _label(value: float, column: Column) -> str:
    if column.kind == "percent":
        return percent_text(value / 100)
    if column.kind == "duration":
        return duration_text(value * 3600)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _axis_label(column: Column, table: Table) -> str:
    if column.kind == "percent":
        return "%"
    if column.kind == "duration":
        return "hours"
    return "people" if table.people else ""


def _columns(table: Table, keys) -> list[Column]:
    by_key = {column.key: column for column in table.columns}
    try:
        return [by_key[key] for key in keys]
    except KeyError as missing:
        raise ValueError(f"table {table.key} has no column {missing}") from None


def _series(
    chart: Chart, table: Table, threshold: int | None
) -> tuple[list[str], list[_Series], Column]:
    """Categories along the axis, the series drawn over them, and the column whose kind sets
    the unit."""
    columns = _columns(table, chart.series)
    x = _columns(table, [chart.x])[0]
    if chart.kind == "funnel" and len(columns) > 1:
        categories = [column.label for column in columns]
        series = [
            _Series(
                label=str(row.get(x.key, "")),
                values=[_scaled(row.get(column.key), column) for column in columns],
                hidden=[is_hidden(table, row, column, threshold) for column in columns],
            )
            for row in table.rows
        ]
        return categories, series, columns[0]
    categories = [str(row.get(x.key, "")) for row in table.rows]
    series = [
        _Series(
            label=column.label,
            values=[_scaled(row.get(column.key), column) for row in table.rows],
            hidden=[is_hidden(table, row, column, threshold) for row in table.rows],
        )
        for column in columns
    ]
    return categories, series, columns[0]


def _draw_bars(ax, categories, series, unit: Column, *, stacked: bool) -> None:
    positions = range(len(categories))
    width = 0.8 if stacked else 0.8 / max(len(series), 1)
    bottoms = [0.0] * len(categories)
    for index, one in enumerate(series):
        offset = 0 if stacked else (index - (len(series) - 1) / 2) * width
        shown = [i for i, value in enumerate(one.values) if value is not None]
        heights = [one.values[i] for i in shown]
        bars = ax.bar(
            [positions[i] + offset for i in shown],
            heights,
            width,
            bottom=[bottoms[i] for i in shown] if stacked else 0,
            label=one.label,
            color=PALETTE[index % len(PALETTE)],
        )
        if stacked:
            for i in shown:
                bottoms[i] += one.values[i]
        else:
            ax.bar_label(bars, labels=[_label(h, unit) for h in heights], padding=2, fontsize=8)
    ax.set_xticks(list(positions), categories)
    ax.set_xlim(-0.5, len(categories) - 0.5)  # a slot for every category, hidden ones too
    if len(categories) > 4 or any(len(c) > 12 for c in categories):
        ax.tick_params(axis="x", labelrotation=30)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")


def _draw_line(ax, categories, series, unit: Column) -> None:
    positions = list(range(len(categories)))
    for index, one in enumerate(series):
        values = [math.nan if value is None else value for value in one.values]
        ax.plot(
            positions,
            values,
            marker="o",
            markersize=3,
            linewidth=1.5,
            label=one.label,
            color=PALETTE[index % len(PALETTE)],
        )
    ax.set_xticks(positions, categories)
    if len(categories) > 6:
        ax.tick_params(axis="x", labelrotation=30)
    ax.set_ylim(bottom=0)


def _draw_funnel(ax, categories, series, unit: Column) -> None:
    positions = list(range(len(categories)))
    height = 0.8 / max(len(series), 1)
    for index, one in enumerate(series):
        offset = (index - (len(series) - 1) / 2) * height
        shown = [i for i, value in enumerate(one.values) if value is not None]
        bars = ax.barh(
            [positions[i] + offset for i in shown],
            [one.values[i] for i in shown],
            height,
            label=one.label,
            color=PALETTE[index % len(PALETTE)],
        )
        labels = []
        first = one.values[0] if one.values else None
        for i in shown:
            text = _label(one.values[i], unit)
            # Each step as a share of the first (received): the steps need not be nested (a
            # lead may qualify without an appointment), so "of the previous" could pass 100%.
            # Only between two shown counts: with one hidden, the ratio would tell it.
            if i > 0 and first:
                text += f" ({percent_text(one.values[i] / first)} of {categories[0].lower()})"
            labels.append(text)
        ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
    ax.set_yticks(positions, categories)
    ax.set_ylim(-0.5, len(categories) - 0.5)
    ax.invert_yaxis()  # the first step on top
    ax.margins(x=0.35)


def _note(chart: Chart, series: list[_Series], threshold: int | None) -> str:
    parts = [chart.note] if chart.note else []
    if threshold is not None and any(any(one.hidden) for one in series):
        parts.append(
            f"Values not drawn are suppressed: fewer than {threshold}, or hidden so a small "
            "number cannot be recomputed from the totals."
        )
    elif any(value is None for one in series for value in one.values):
        parts.append("Values not drawn have no value in this period.")
    return " ".join(parts)


def _figure(chart: Chart, table: Table, threshold: int | None) -> tuple[Figure, str]:
    categories, series, unit = _series(chart, table, threshold)
    note = _note(chart, series, threshold)
    rows = max(len(categories), 1)
    tall = chart.kind == "funnel"
    figure = Figure(figsize=(7.0, max(2.4, 0.45 * rows + 1.2) if tall else 3.2))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_title(chart.title, loc="left", fontsize=10, fontweight="bold")
    if not categories:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No data in this period", ha="center", va="center")
    elif chart.kind in ("bar", "stacked_bar"):
        _draw_bars(ax, categories, series, unit, stacked=chart.kind == "stacked_bar")
        ax.set_ylabel(_axis_label(unit, table))
    elif chart.kind == "line":
        _draw_line(ax, categories, series, unit)
        ax.set_ylabel(_axis_label(unit, table))
    elif chart.kind == "funnel":
        _draw_funnel(ax, categories, series, unit)
        ax.set_xlabel(_axis_label(unit, table))
    else:
        raise ValueError(f"unknown chart kind {chart.kind!r}")
    if categories and len(series) > 1:
        ax.legend(frameon=False, fontsize=8, loc="best")
    if note:
        figure.text(0.01, 0.01, note, fontsize=7, wrap=True, va="bottom")
    figure.tight_layout(rect=(0, 0.08 if note else 0, 1, 1))
    return figure, note


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|xlink:href="#|href="#)([^)"]+)')


def _inline(svg: str, chart: Chart, note: str) -> str:
    """Make matplotlib's file an element for HTML: no prolog or metadata, ids unique to this
    chart, and a title and description assistive technology announces."""
    prefix = "chart-" + re.sub(r"[^A-Za-z0-9_-]+", "-", chart.key)
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    opening = svg.index(">", svg.index("<svg")) + 1
    described = f" {prefix}-desc" if note else ""
    tag = svg[: opening - 1] + (
        f' role="img" aria-labelledby={quoteattr(prefix + "-title" + described)}>'
    )
    head = f'<title id="{prefix}-title">{escape(chart.title)}</title>'
    if note:
        head += f'<desc id="{prefix}-desc">{escape(note)}</desc>'
    return tag + head + svg[opening:].strip() + "\n"


def chart_svg(chart: Chart, table: Table, *, threshold: int | None = None) -> str:
    """The chart as an inline ``<svg>`` element. ``threshold``: the suppression threshold of
    the report the table comes from (None when it was not suppressed), to tell a hidden value
    from one that does not exist."""
    if chart.table != table.key:
        raise ValueError(f"chart {chart.key} draws table {chart.table}, not {table.key}")
    buffer = io.StringIO()
    with _LOCK, matplotlib.rc_context(RC):
        figure, note = _figure(chart, table, threshold)
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return _inline(buffer.getvalue(), chart, note)
