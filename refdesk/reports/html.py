"""The review pack as one standalone, printable HTML document (and the source of the PDF).

Everything is inside the file: the print stylesheet (A4, each section on a new page), the charts
as inline SVG, no font, script or image fetched from anywhere. The header names the program,
the period, the time zone, when it was generated and the suppression threshold; the marks (a
rule change inside the month) stand at the top and again at the head of the sections they
affect. A hidden cell reads ``<5`` with a footnote saying why; no value reads ``—``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from refdesk.reports.cells import cell_text, footnote, is_hidden, marker
from refdesk.reports.charts import chart_svg
from refdesk.reports.document import Column, Mark, Report, Section, Table

NUMERIC = ("count", "percent", "duration", "number")


@dataclass
class CellView:
    text: str
    numeric: bool
    hidden: bool
    header: bool  # a label column: the row's header cell


@dataclass
class TableView:
    table: Table
    columns: list[Column]
    rows: list[list[CellView]]
    any_hidden: bool


@dataclass
class MarkView:
    mark: Mark
    when: str


@dataclass
class SectionView:
    section: Section
    tables: list[TableView]
    charts: list[str]
    marks: list[MarkView]


def local_time(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local.day} {local:%B %Y, %H:%M} ({zone})"


def table_view(table: Table, threshold: int | None) -> TableView:
    rows, any_hidden = [], False
    labels = table.label_columns
    row_header = labels[0].key if labels else None
    for row in table.rows:
        cells = []
        for column in table.columns:
            hidden = is_hidden(table, row, column, threshold)
            any_hidden |= hidden
            cells.append(
                CellView(
                    text=marker(threshold) if hidden else cell_text(row.get(column.key), column),
                    numeric=column.kind in NUMERIC,
                    hidden=hidden,
                    header=column.key == row_header,
                )
            )
        rows.append(cells)
    return TableView(table=table, columns=table.columns, rows=rows, any_hidden=any_hidden)


def _marks(marks: list[Mark], zone: str) -> list[MarkView]:
    return [MarkView(mark=mark, when=local_time(mark.at, zone)) for mark in marks]


def section_view(report: Report, section: Section) -> SectionView:
    threshold = report.suppression_threshold
    return SectionView(
        section=section,
        tables=[table_view(table, threshold) for table in section.tables],
        charts=[
            # chart_svg escapes every text it writes: the element is safe to inline
            mark_safe(chart_svg(chart, report.table(chart.table), threshold=threshold))
            for chart in section.charts
        ],
        marks=_marks(section.marks, report.timezone),
    )


def render_html(report: Report) -> str:
    threshold = report.suppression_threshold
    return render_to_string(
        "reports/pack.html",
        {
            "report": report,
            "generated": local_time(report.generated_at, report.timezone),
            "marks": _marks(report.marks, report.timezone),
            "sections": [section_view(report, section) for section in report.sections],
            "threshold": threshold,
            "marker": marker(threshold) if threshold is not None else "",
            "footnote": footnote(threshold) if threshold is not None else "",
        },
    )
