"""The review pack as data files: CSV (one file per table, plus ``about.csv``) and an XLSX
workbook (an "About" sheet, then one sheet per table).

Numbers stay numbers: counts as integers, percents as the percent printed in the pack (42.0,
its header says "(%)"; in XLSX the fraction with a percent format), durations in whole minutes
(the pack's "2 h 15 min" is 135). A hidden cell holds the marker (``<5``), never a blank that
could pass for zero; no value is left empty. Text that a spreadsheet would run as a formula
(starting with = + - @, a tab or a return) is neutralised: prefixed with ``'`` in CSV, stored
as plain text in XLSX.
"""

from __future__ import annotations

import csv
import io
import re

from openpyxl import Workbook
from openpyxl.styles import Font

from refdesk.reports.cells import (
    DASH,
    duration_minutes,
    footnote,
    is_hidden,
    marker,
    percent_number,
)
from refdesk.reports.document import Column, Mark, Report, Table
from refdesk.reports.html import local_time

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
UNITS = {"percent": " (%)", "duration": " (minutes)"}


def safe_text(value: str) -> str:
    """A text cell a spreadsheet shows as text (OWASP's CSV injection advice)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def header(column: Column) -> str:
    return column.label + UNITS.get(column.kind, "")


def data_value(value, column: Column):
    """The value as a data file holds it (None: no value)."""
    if value is None:
        return None
    if column.kind == "count":
        return int(value)
    if column.kind == "percent":
        return percent_number(value)
    if column.kind == "duration":
        return duration_minutes(value)
    if column.kind == "number":
        return value
    return str(value)


def _mark_text(mark: Mark, zone: str) -> str:
    when = local_time(mark.at, zone)
    text = mark.title + (f". {mark.detail}" if mark.detail else "")
    return f"{when}: {text}" if when else text


def about_rows(report: Report) -> list[tuple[str, str]]:
    """What a reader needs beside the numbers: whose, which period, which zone, when, how
    suppressed, and what changed."""
    threshold = report.suppression_threshold
    rows = [
        ("Report", report.title),
        ("Program", report.program_name),
        ("Program id", report.program or "all programs"),
        ("Period", report.period_label),
        ("First day", report.start.isoformat()),
        ("Last day", report.end.isoformat()),
        ("Time zone", report.timezone),
        ("Generated", local_time(report.generated_at, report.timezone)),
        (
            "Suppression threshold",
            str(threshold) if threshold is not None else "none (internal use only)",
        ),
    ]
    if threshold is not None:
        rows.append(("Hidden cells", footnote(threshold)))
    rows.append(("No value", f"{DASH} in the pack, empty here"))
    for mark in report.marks:
        label = "Rule change" if mark.kind == "rule_change" else mark.kind.capitalize()
        rows.append((label, _mark_text(mark, report.timezone)))
    for section in report.sections:
        for mark in section.marks:
            if mark not in report.marks:
                rows.append((f"{section.title}: {mark.kind}", _mark_text(mark, report.timezone)))
        for table in section.tables:
            rows.append(
                (f"Table {table.key}", table.title + (f": {table.note}" if table.note else ""))
            )
    return rows


def table_rows(table: Table, threshold: int | None) -> list[list]:
    """The header and the rows of a table as data: hidden cells as the marker."""
    rows: list[list] = [[header(column) for column in table.columns]]
    for row in table.rows:
        rows.append(
            [
                marker(threshold)
                if is_hidden(table, row, column, threshold)
                else data_value(row.get(column.key), column)
                for column in table.columns
            ]
        )
    return rows


def _csv(rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(
            ["" if v is None else safe_text(v) if isinstance(v, str) else v for v in row]
        )
    return buffer.getvalue().encode("utf-8")


def render_csv(report: Report) -> dict[str, bytes]:
    """``{"about.csv": ..., "<table.key>.csv": ...}``, UTF-8, a header row of column labels."""
    files = {"about.csv": _csv([("Item", "Value"), *about_rows(report)])}
    for table in report.tables():
        name = f"{table.key}.csv"
        if name in files:
            raise ValueError(f"two tables share the key {table.key}")
        files[name] = _csv(table_rows(table, report.suppression_threshold))
    return files


_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def sheet_names(titles: list[str]) -> list[str]:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique regardless of case."""
    names, seen = [], {"about"}
    for title in titles:
        base = _SHEET_FORBIDDEN.sub(" ", title).strip().strip("'") or "Table"
        name, n = base[:31], 1
        while name.lower() in seen:
            n += 1
            suffix = f" ({n})"
            name = base[: 31 - len(suffix)] + suffix
        seen.add(name.lower())
        names.append(name)
    return names


def render_xlsx(report: Report) -> bytes:
    threshold = report.suppression_threshold
    book = Workbook()
    about = book.active
    about.title = "About"
    _put_row(about, 1, ["Item", "Value"], bold=True)
    for index, (item, value) in enumerate(about_rows(report), start=2):
        _put_row(about, index, [item, value])
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 100

    tables = report.tables()
    for table, name in zip(tables, sheet_names([t.title for t in tables]), strict=True):
        sheet = book.create_sheet(name)
        _text(sheet["A1"], table.title)
        sheet["A1"].font = Font(bold=True, size=12)
        if table.note:
            _put_row(sheet, 2, [table.note])
        _put_row(sheet, 3, [header(column) for column in table.columns], bold=True)
        for r, row in enumerate(table.rows, start=4):
            for c, column in enumerate(table.columns, start=1):
                cell = sheet.cell(row=r, column=c)
                if is_hidden(table, row, column, threshold):
                    _text(cell, marker(threshold))
                    continue
                value = row.get(column.key)
                if value is None:
                    continue
                if column.kind == "percent":
                    cell.value = float(value)
                    cell.number_format = "0.0%"
                elif column.kind in ("count", "duration", "number"):
                    cell.value = data_value(value, column)
                    cell.number_format = "#,##0" if column.kind != "number" else "#,##0.0"
                else:
                    _text(cell, str(value))
        sheet.freeze_panes = "A4"
        for c, column in enumerate(table.columns, start=1):
            width = 28 if column.kind == "text" else max(12, len(header(column)) + 2)
            sheet.column_dimensions[sheet.cell(row=3, column=c).column_letter].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _text(cell, value: str) -> None:
    """Plain text, never a formula (openpyxl takes a string starting with = as one)."""
    cell.value = value
    cell.data_type = "s"


def _put_row(sheet, row: int, values, *, bold: bool = False) -> None:
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=column)
        _text(cell, str(value))
        if bold:
            cell.font = Font(bold=True)
