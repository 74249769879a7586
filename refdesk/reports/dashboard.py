"""The dashboard's figures: headline, funnel, month by month, SLA by queue, outcomes by
source — for one program or all, any period, optionally one source.

Whole months filtered at most by source read the rollups (``rollups.rolled_up``: a few rows
per month, so all time over millions of referrals stays fast); anything else (a part month)
reads the referrals directly through the same definitions. Either way the tables are built by
the same functions as the monthly pack, so the dashboard and the pack show the same numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.reports import funnel, response, rollups
from refdesk.reports.document import Chart, Report, Section
from refdesk.reports.lifecycle import STAGE_ORDER
from refdesk.reports.monthly import headline_table, trend_table
from refdesk.reports.routing import versions_table_and_marks
from refdesk.reports.scope import Scope

PERIODS = {
    "this_month": "This month",
    "last_month": "Last month",
    "last_3_months": "Last 3 months",
    "last_12_months": "Last 12 months",
    "all": "All time",
}


def _first_of(day: dt.date, months_back: int = 0) -> dt.date:
    first = day.replace(day=1)
    for _ in range(months_back):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return first


def _last_of(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def period_bounds(period: str, today: dt.date, programs=()) -> tuple[dt.date, dt.date]:
    """A named period as whole months (so the rollups can answer), or a month YYYY-MM."""
    if period == "this_month":
        return _first_of(today), _last_of(today)
    if period == "last_month":
        first = _first_of(today, 1)
        return first, _last_of(first)
    if period == "last_3_months":
        return _first_of(today, 2), _last_of(today)
    if period == "last_12_months":
        return _first_of(today, 11), _last_of(today)
    if period == "all":
        # The oldest receipt of each program: one index seek each (program, received_at).
        firsts = [
            Referral.objects.filter(program=program)
            .order_by("received_at")
            .values_list("received_at", flat=True)
            .first()
            for program in programs
        ]
        firsts = [first.date() for first in firsts if first is not None]
        # A day early: the oldest receipt's month in a zone west of UTC may be the one before.
        start = _first_of(min(firsts) - dt.timedelta(days=1)) if firsts else _first_of(today)
        return start, _last_of(today)
    raise ValueError(period)


def _months(scope: Scope) -> int:
    """How many months the period spans (the trend's length)."""
    return (scope.end.year - scope.start.year) * 12 + scope.end.month - scope.start.month + 1


@dataclass
class Dashboard:
    report: Report
    from_rollups: bool
    rolled_up_at: dt.datetime | None


def dashboard(scope: Scope) -> Dashboard:
    use_rollups = rollups.covers(scope)
    versions, marks = versions_table_and_marks(
        scope, counted=rollups.received_by_version(scope) if use_rollups else None
    )
    if use_rollups:
        [total] = rollups.rolled_up(scope, None)
        by_queue = rollups.rolled_up(scope, "queue")
        by_source = rollups.rolled_up(scope, "source")
        tables = [
            headline_table(scope, total),
            funnel.funnel_table(scope, rows=[total]),
            trend_table(scope, months=_months(scope)),
            response.response_table(scope, "queue", rows=by_queue),
            funnel.drop_off_table(scope, "source", rows=by_source),
        ]
    else:
        tables = [
            headline_table(scope),
            funnel.funnel_table(scope),
            trend_table(scope, months=_months(scope)),
            response.response_table(scope, "queue"),
            funnel.drop_off_table(scope, "source"),
        ]
    state = rollups.rollup_state() if use_rollups else None
    report = Report(
        title="Reports",
        program=scope.program.slug if scope.program else "",
        program_name=scope.label,
        start=scope.start,
        end=scope.end,
        timezone=", ".join(sorted(set(scope.zones.values()))) or "UTC",
        generated_at=scope.now,
        marks=marks,
        sections=[
            Section(
                "dashboard",
                "Dashboard",
                tables=[*tables, versions],
                charts=[
                    Chart("funnel", "Funnel", "funnel", "funnel", "group", funnel.STEPS),
                    Chart(
                        "trend",
                        "Referrals by month",
                        "line",
                        "trend",
                        "month",
                        ("received", "qualified"),
                    ),  # fmt: skip
                    Chart(
                        "sla",
                        "First response by queue",
                        "stacked_bar",
                        "first_response_by_queue",
                        "group",
                        ("on_time", "late", "overdue"),
                    ),  # fmt: skip
                    Chart(
                        "outcomes",
                        "Outcomes by source",
                        "stacked_bar",
                        "drop_off_by_source",
                        "group",
                        ("qualified", *[o.value for o in funnel.DROP_OFFS], "open"),
                    ),  # fmt: skip
                ],
                marks=marks,
            )
        ],
    )
    return Dashboard(
        report=report,
        from_rollups=use_rollups,
        rolled_up_at=state.refreshed_at if state else None,
    )


@dataclass
class OpenWork:
    stage: str
    referrals: list[tuple[str, object, dt.datetime, str]]  # reference, public id, received, queue


def oldest_open(scope: Scope, per_stage: int = 5) -> list[OpenWork]:
    """The oldest open referrals in each open stage (references only: for who supervises the
    work, ``reports.drill_down``), whatever the period."""
    result = []
    for stage in STAGE_ORDER:
        if stage == Stage.RECEIVED:
            continue
        rows = list(
            Referral.objects.filter(program__in=scope.programs, stage=stage, closed_at__isnull=True)
            .filter(scope.filter_q())
            .order_by("received_at", "pk")
            .values_list("reference", "public_id", "received_at", "queue__slug")[:per_stage]
        )
        if rows:
            result.append(OpenWork(stage=stage.label, referrals=rows))
    return result
