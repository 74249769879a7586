"""A report as an aggregate export may show it: ``suppressed_report`` runs every table of people
through small-number suppression (``refdesk.reports.suppression``: primary and complementary)
and hides every derived figure computed from a hidden or small count. Every renderer of an
export (HTML, PDF, CSV, XLSX) and the dashboard draw the result, so each shows the same cells.

How a table of people becomes the grid suppression checks:

- its rows are disjoint groups (a source, a queue) and its count columns the categories; the
  column totals are computed here, as if printed under the table (whether a renderer prints
  them or not, nothing hidden can be worked out from them);
- with a ``total_column`` that is at least the sum of the other counts in every row, the total
  is the row's total and what it holds beyond the categories (people in none of them) is one
  more cell: a reader can compute it by subtraction, so it is suppressed like any other;
- when the categories overlap (a row's total is less than their sum), the total column is one
  more category and the row totals suppression checks are never printed (it hides more, never
  less).

Pure: no Django, no database.
"""

from __future__ import annotations

from dataclasses import replace

from refdesk.reports.cells import DERIVED_KINDS
from refdesk.reports.document import Report, Table
from refdesk.reports.suppression import TOTAL, Suppressed, suppress

REST = "__rest__"  # the part of a row's total in none of its categories


def _count(value) -> int:
    return int(value or 0)


def suppress_table(table: Table, threshold: int) -> tuple[Table, Suppressed | None]:
    """The table as shown after suppression, and the grid suppression decided on (None for a
    table that is not counts of people)."""
    if not table.people or not table.rows or not table.count_columns:
        return replace(table, rows=[dict(row) for row in table.rows]), None
    keys = [column.key for column in table.count_columns]
    total = table.total_column
    categories = [key for key in keys if key != total]
    with_total = total is not None and all(
        _count(row.get(total)) >= sum(_count(row.get(key)) for key in categories)
        for row in table.rows
    )
    if not with_total:
        categories = keys
    grid = {}
    for index, row in enumerate(table.rows):
        cells = {key: _count(row.get(key)) for key in categories}
        if with_total:
            cells[REST] = _count(row.get(total)) - sum(cells.values())
        grid[index] = cells
    result = suppress(grid, threshold=threshold)

    rows = []
    for index, original in enumerate(table.rows):
        shown = dict(original)
        for key in categories:
            shown[key] = result.cells[index][key]
        if with_total:
            shown[total] = result.cells[index][TOTAL]
        for column in table.columns:
            if column.kind not in DERIVED_KINDS or not column.base:
                continue
            base_hidden = column.base in keys and shown.get(column.base) is None
            if base_hidden or _count(original.get(column.base)) < threshold:
                shown[column.key] = None
        rows.append(shown)
    return replace(table, rows=rows), result


def suppressed_report(report: Report, threshold: int) -> Report:
    """A copy of ``report`` with every table of people suppressed at ``threshold``; tables of
    other things (events, rules) are copied unchanged. The original is not modified."""
    if threshold < 1:
        raise ValueError("the suppression threshold is a count of at least 1")
    if report.suppression_threshold is not None:
        if report.suppression_threshold == threshold:
            return report
        raise ValueError("this report is suppressed already, at another threshold")
    sections = [
        replace(
            section,
            tables=[suppress_table(table, threshold)[0] for table in section.tables],
            charts=list(section.charts),
            marks=list(section.marks),
        )
        for section in report.sections
    ]
    return replace(
        report, sections=sections, marks=list(report.marks), suppression_threshold=threshold
    )
