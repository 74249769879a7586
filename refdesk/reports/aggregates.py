"""Small shared pieces of the report queries: grouping by a dimension, durations in the
database, and percentiles read from a histogram the database counted.

Percentiles are nearest-rank over whole minutes: the p-th percentile of N values is the
smallest value v such that at least ceil(p * N) values are <= v. The database groups the values
by minute and counts them (``GROUP BY``, one row per distinct minute, never per referral); the
rank is found in that short histogram. Exact to the minute, the same on SQLite and PostgreSQL,
and computable from a rollup of the same histogram.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.db.models import Aggregate, Count, F, Func, IntegerField, QuerySet

from refdesk.reports.scope import DIMENSIONS


class Seconds(Func):
    """Whole seconds from ``start`` to ``end`` (two timestamp columns), in SQL."""

    output_field = IntegerField()

    def __init__(self, end, start, **extra):
        super().__init__(end, start, **extra)

    def as_sql(self, compiler, connection, **extra_context):  # PostgreSQL
        end, start = (compiler.compile(e) for e in self.get_source_expressions())
        sql = f"CAST(FLOOR(EXTRACT(EPOCH FROM ({end[0]} - {start[0]}))) AS integer)"
        return sql, (*end[1], *start[1])

    def as_sqlite(self, compiler, connection, **extra_context):
        end, start = (compiler.compile(e) for e in self.get_source_expressions())
        sql = f"CAST((julianday({end[0]}) - julianday({start[0]})) * 86400 AS integer)"
        return sql, (*end[1], *start[1])


def histograms(
    queryset: QuerySet,
    seconds_expression,
    by: str | None = None,
    *,
    prefix: str = "",
    column: str | None = None,
) -> dict[str, list[tuple[int, int]]]:
    """{group: [(minute, count)]} of the non-null values per group — of dimension ``by``, or
    of any ``column`` of the queried model (a stage, a field name); one group, "all", when
    neither — ascending, counted by the database in one query."""
    if column is None and by is not None:
        column = f"{prefix}{DIMENSIONS[by]}"
    keys = [column] if column else []
    rows = (
        queryset.order_by()
        .annotate(_s=seconds_expression)
        .filter(_s__isnull=False)
        .annotate(_m=F("_s") / 60)
        .values(*keys, "_m")
        .annotate(_n=Count("pk"))
        .values_list(*keys, "_m", "_n")
    )
    result: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        group = (row[0] or "") if column else "all"
        result.setdefault(group, []).append((int(row[-2]), int(row[-1])))
    return {group: sorted(values) for group, values in result.items()}


def percentile(histogram_rows: Iterable[tuple[int, int]], p: float) -> int | None:
    """The nearest-rank ``p`` percentile (0 < p <= 1) in seconds (a whole minute), or None."""
    rows = sorted(histogram_rows)
    total = sum(count for _, count in rows)
    if not total:
        return None
    rank = max(1, math.ceil(p * total))
    seen = 0
    for minute, count in rows:
        seen += count
        if seen >= rank:
            return minute * 60
    return rows[-1][0] * 60  # pragma: no cover - unreachable: seen reaches total


def merge_histograms(*parts: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: dict[int, int] = {}
    for part in parts:
        for minute, count in part:
            merged[minute] = merged.get(minute, 0) + count
    return sorted(merged.items())


def group_rows(
    queryset: QuerySet, by: str | None, measures: dict[str, Aggregate], *, prefix: str = ""
) -> list[dict]:
    """One dict per group of dimension ``by`` (``group``: its value, "" for none) with the
    ``measures`` (aggregates) counted by the database; one row ("all") when ``by`` is None.
    Groups come sorted by their value."""
    if by is None:
        row = queryset.aggregate(**measures)
        return [{"group": "all", **{k: v or 0 for k, v in row.items()}}]
    column = f"{prefix}{DIMENSIONS[by]}"
    rows = queryset.order_by().values(column).annotate(**measures).order_by(column)
    return [{"group": row.pop(column) or "", **{k: v or 0 for k, v in row.items()}} for row in rows]


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None
