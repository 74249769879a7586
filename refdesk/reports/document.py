"""A report as data: what the metrics produce and every renderer (dashboard, HTML, PDF, CSV,
XLSX) draws, so each format shows the same numbers and suppression is applied in one place.

A ``Report`` is a titled period of one program (or all programs) made of ``Section``s; a section
holds ``Table``s and ``Chart``s drawn from them, and ``Mark``s that flag what a reader must know
to read a number right (a rule change inside the period). Pure: no Django, no database.

Tables come in two shapes, told apart by their columns:

- **Counts of people** (``Column.kind == "count"``): the cells of a cross-table — one row per
  group (a source, a queue), one column per category — with ``Table.total_column`` naming the
  row total when the table has one. Aggregate exports hide the small ones
  (``refdesk.reports.suppression``), complementary cells included.
- **Derived figures** (``percent``, ``duration``, ``number``): computed from counts of the same
  row; ``Column.base`` names the count column they are computed from, so a derived figure is
  hidden whenever its base is (a rate of 1 in 3 identifies as well as the 1).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

ColumnKind = Literal["text", "count", "percent", "duration", "number"]
ChartKind = Literal["bar", "stacked_bar", "line", "funnel"]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: ColumnKind = "count"
    # For a derived column: the count column of the same row it is computed from.
    base: str | None = None
    # Shown under the label (what exactly is counted); never patient data.
    help: str = ""


@dataclass
class Table:
    key: str  # unique within the report: the CSV file name and the XLSX sheet name
    title: str
    columns: list[Column]
    # One dict per row, keyed by column key. Text columns label the row; counts are ints;
    # percents are fractions 0..1 (or None: no base); durations are seconds (or None).
    rows: list[dict]
    # The count column holding each row's total, when the table has one (for suppression).
    total_column: str | None = None
    note: str = ""
    # Rows are people counted (True) or something else (events, rules: False, never suppressed).
    people: bool = True

    @property
    def label_columns(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "text"]

    @property
    def count_columns(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "count"]

    def row_label(self, row: dict) -> str:
        return " / ".join(str(row.get(c.key, "")) for c in self.label_columns)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    kind: ChartKind
    table: str  # the key of the table it draws
    x: str  # the column along the category axis
    series: tuple[str, ...]  # the columns drawn
    note: str = ""


@dataclass(frozen=True)
class Mark:
    """Something that changes how a number reads: e.g. a program version that came into force
    inside the period (``at``), with what changed."""

    at: datetime | None
    title: str
    detail: str = ""
    kind: Literal["rule_change", "info", "warning"] = "info"


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


@dataclass
class Report:
    title: str
    program: str  # the program's slug, or "" for all programs
    program_name: str
    start: date  # first day, in the program's time zone
    end: date  # last day, inclusive
    timezone: str
    generated_at: datetime
    sections: list[Section] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)  # shown at the top (rule changes)
    # Set by the renderer that suppressed it: the threshold used, or None when not suppressed.
    suppression_threshold: int | None = None
    # What its files are named after (then the period); empty: the program.
    file_stem: str = ""

    @property
    def period_label(self) -> str:
        last_day = calendar.monthrange(self.start.year, self.start.month)[1]
        whole_month = self.start.day == 1 and self.end == self.start.replace(day=last_day)
        if whole_month:
            return self.start.strftime("%B %Y")
        return f"{self.start.isoformat()} to {self.end.isoformat()}"

    def tables(self) -> list[Table]:
        return [table for section in self.sections for table in section.tables]

    def table(self, key: str) -> Table:
        for table in self.tables():
            if table.key == key:
                return table
        raise KeyError(key)
