"""How a report's cells read, in one place for every renderer: which cells suppression hid, the
marker and footnote that stand for them, and the text of a count, a percent and a duration.

Pure: no Django, no database.
"""

from __future__ import annotations

from refdesk.reports.document import Column, Table

DASH = "—"  # no value (no base to compute a rate from, an empty period)
DERIVED_KINDS = ("percent", "duration", "number")


def marker(threshold: int) -> str:
    """What a hidden cell shows instead of its number: ``<5``."""
    return f"<{threshold}"


def footnote(threshold: int) -> str:
    return (
        f"{marker(threshold)}: suppressed: fewer than {threshold}, or hidden so a small number "
        "cannot be recomputed from the totals."
    )


def is_hidden(table: Table, row: dict, column: Column, threshold: int | None) -> bool:
    """Did suppression hide this cell? In a suppressed table of people a count is never None
    unless hidden, and a derived figure is hidden with its base (a derived None beside a shown
    base is simply no value, e.g. a rate of nothing)."""
    if threshold is None or not table.people:
        return False
    if column.kind == "count":
        return row.get(column.key) is None
    if column.kind in DERIVED_KINDS and column.base:
        return row.get(column.key) is None and row.get(column.base) is None
    return False


def duration_text(seconds: float) -> str:
    """``2 h 15 min``, ``45 min``, ``0 min``: rounded to the minute, hours past a day kept as
    hours (business time has no natural day)."""
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    if not minutes:
        return f"{hours:,} h"
    return f"{hours:,} h {minutes} min"


def percent_text(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def cell_text(value, column: Column) -> str:
    """The text a reader sees for a shown value (``hidden`` cells are the caller's to mark)."""
    if value is None:
        return DASH
    if column.kind == "count":
        return f"{int(value):,}"
    if column.kind == "percent":
        return percent_text(value)
    if column.kind == "duration":
        return duration_text(value)
    if column.kind == "number":
        return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    return str(value)


def percent_number(fraction: float) -> float:
    """A percent as the number printed beside "%" (42.0), for files a spreadsheet reads."""
    return round(fraction * 100, 1)


def duration_minutes(seconds: float) -> int:
    return round(seconds / 60)
