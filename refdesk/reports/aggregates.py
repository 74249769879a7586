"""Small shared pieces of the report queries: grouping by a dimension, durations in the
database, and percentiles read from a histogram the database counted.

Percentiles are nearest-rank over durations rounded down to a **step**: 5 minutes under 8 hours,
30 minutes under 48 hours, the hour beyond (``bucket``). The p-th percentile of N values is the
smallest step v such that at least ceil(p * N) values fall at or below it. The database rounds
the values and counts them (``GROUP BY``: at most a few hundred rows, never one per referral);
the rank is found in that short histogram. The same on SQLite and PostgreSQL, and computable
from a rollup of the same histogram, which therefore stays a few hundred rows per group
whatever the number of referrals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.db.models import Aggregate, Case, Count, F, Func, IntegerField, Q, QuerySet, When

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


# (below this many seconds, round down to this many)
STEPS = ((8 * 3600, 300), (48 * 3600, 1800))
BEYOND = 3600


def bucket(name: str = "_s") -> Case:
    """The duration in field (or annotation) ``name`` rounded down to its step, in SQL
    (integer division on both databases)."""
    cases = [When(Q(**{f"{name}__lt": limit}), then=F(name) / step * step) for limit, step in STEPS]
    return Case(*cases, default=F(name) / BEYOND * BEYOND, output_field=IntegerField())


def bucket_of(seconds: int) -> int:
    """The same rounding in Python (tests, and values not read from the database)."""
    for limit, step in STEPS:
        if seconds < limit:
            return seconds // step * step
    return seconds // BEYOND * BEYOND


def histograms(
    queryset: QuerySet,
    seconds_expression,
    by: str | None = None,
    *,
    prefix: str = "",
    column: str | None = None,
) -> dict[str, list[tuple[int, int]]]:
    """{group: [(step, count)]} of the non-null values per group — of dimension ``by``, or
    of any ``column`` of the queried model (a stage, a field name); one group, "all", when
    neither — ascending, counted by the database in one query."""
    if column is None and by is not None:
        column = f"{prefix}{DIMENSIONS[by]}"
    keys = [column] if column else []
    rows = (
        queryset.order_by()
        .annotate(_s=seconds_expression)
        .filter(_s__isnull=False)
        .annotate(_m=bucket())
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
    """The nearest-rank ``p`` percentile (0 < p <= 1) in seconds (a step's start), or None."""
    rows = sorted(histogram_rows)
    total = sum(count for _, count in rows)
    if not total:
        return None
    rank = max(1, math.ceil(p * total))
    seen = 0
    for value, count in rows:
        seen += count
        if seen >= rank:
            return value
    return rows[-1][0]  # pragma: no cover - unreachable: seen reaches total


def merge_histograms(*parts: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: dict[int, int] = {}
    for part in parts:
        for value, count in part:
            merged[value] = merged.get(value, 0) + count
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
