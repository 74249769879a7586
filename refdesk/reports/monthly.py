"""The review pack: every metric of a scope assembled into one ``Report`` — what the monthly
review meeting reads (``refdesk report monthly``), and what the dashboard shows for any period.

Each section's figures come from the module that owns their definition; this module only
chooses and orders them, and adds the headline figures and the trend.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone

from refdesk.intake.choices import Outcome
from refdesk.intake.models import Referral
from refdesk.reports import (
    activity,
    consent,
    funnel,
    intake_quality,
    lifecycle,
    response,
    rollups,
    routing,
)
from refdesk.reports.aggregates import rate
from refdesk.reports.document import Chart, Column, Report, Section, Table
from refdesk.reports.scope import Scope, parse_month


def monthly_report(*, program: str, month: str, now: dt.datetime | None = None) -> Report:
    """The review pack of ``program`` (a slug) for ``month`` (YYYY-MM, the program's zone)."""
    start, end = parse_month(month)
    scope = Scope.build(program=program, start=start, end=end, now=now)
    return build_report(scope, title=f"Monthly review, {start:%B %Y}")


def headline_table(scope: Scope, total: dict | None = None) -> Table:
    """The headline figures of the scope (or of ``total``: one rollup row with the same keys)."""
    if total is None:
        steps = funnel.funnel_rows(scope)[0]
        sla = response.response_rows(scope, None)[0]
        shows = activity.appointments_table(scope, None).rows[0]
    else:
        steps = sla = shows = total
    row = {
        "received": steps["received"],
        "qualified": steps["qualified"],
        "conversion": rate(steps["qualified"], steps["received"]),
        "median": sla["median"],
        "responded": sla["responded"],
        "attainment": sla["attainment"],
        "measured": sla["measured"],
        "breaches": sla["breaches"],
        "no_show_rate": shows["no_show_rate"],
        "kept_or_missed": shows["kept_or_missed"],
        "open": steps["open"],
    }
    return Table(
        key="headline",
        title="Headline figures",
        columns=[
            Column("received", "Referrals received"),
            Column("qualified", "Qualified so far"),
            Column("conversion", "Conversion to qualified", "percent", base="received"),
            Column("median", "Median time to first response", "duration", base="responded"),
            Column("attainment", "SLA attainment", "percent", base="measured"),
            Column("breaches", "SLA breaches"),
            Column("no_show_rate", "No-show rate", "percent", base="kept_or_missed"),
            Column("open", "Still open"),
        ],
        rows=[row],
        note="Referrals received in the period, as they stand when the report was made.",
    )


def trend_table(scope: Scope, months: int = 12) -> Table:
    """Received and qualified per month for the last ``months`` months up to the period's end
    (each program's months in its own zone): from the rollups when they cover those months,
    else one query per program."""
    first = scope.end.replace(day=1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    last = (scope.end.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    trend_scope = scope.with_period(first, last - dt.timedelta(days=1))
    if rollups.covers(trend_scope):
        rows = [
            {"month": row["group"], "received": row["received"], "qualified": row["qualified"]}
            for row in rollups.rolled_up(trend_scope, "month")
            if row["received"]
        ]
    else:
        rows = _trend_rows(trend_scope)
    return Table(
        key="trend",
        title="Received and qualified, month by month",
        columns=[
            Column("month", "Month", "text"),
            Column("received", "Received"),
            Column("qualified", "Qualified so far"),
        ],
        rows=rows,
        # Qualified is a part of received: the rest is a hidden cell of its own.
        total_column="received",
        note="Each month's referrals, qualified as they stand now.",
    )


def _trend_rows(scope: Scope) -> list[dict]:
    counted: dict[str, dict] = {}
    for program in scope.programs:
        zone = ZoneInfo(scope.zones[program.pk])
        start, end = scope.bounds(program)
        rows = (
            Referral.objects.filter(program=program, received_at__gte=start, received_at__lt=end)
            .filter(scope.filter_q())
            .annotate(month=TruncMonth("received_at", tzinfo=zone))
            .order_by()
            .values("month")
            .annotate(
                received=Count("pk"), qualified=Count("pk", filter=Q(outcome=Outcome.QUALIFIED))
            )
        )
        for row in rows:
            key = row["month"].strftime("%Y-%m")
            into = counted.setdefault(key, {"month": key, "received": 0, "qualified": 0})
            into["received"] += row["received"]
            into["qualified"] += row["qualified"]
    return [counted[key] for key in sorted(counted)]


def build_report(scope: Scope, *, title: str) -> Report:
    versions, marks = routing.versions_table_and_marks(scope)
    program = scope.program
    report = Report(
        title=title,
        program=program.slug if program else "",
        program_name=scope.label,
        start=scope.start,
        end=scope.end,
        timezone=", ".join(sorted(set(scope.zones.values()))) or "UTC",
        generated_at=scope.now or timezone.now(),
        marks=marks,
    )
    funnel_table = funnel.funnel_table(scope)
    report.sections = [
        Section(
            "summary",
            "Summary",
            tables=[headline_table(scope), trend_table(scope)],
            charts=[
                Chart(
                    "trend",
                    "Referrals by month",
                    "line",
                    table="trend",
                    x="month",
                    series=("received", "qualified"),
                )
            ],
            marks=marks,
        ),
        Section(
            "funnel",
            "Funnel and outcomes",
            intro=funnel.__doc__.split("\n\n")[0],
            tables=[
                funnel_table,
                funnel.funnel_table(scope, "source", key="funnel_by_source"),
                funnel.drop_off_table(scope, "source"),
                funnel.drop_off_reasons_table(scope),
            ],
            charts=[
                Chart(
                    "funnel",
                    "Funnel",
                    "funnel",
                    table="funnel",
                    x="group",
                    series=funnel.STEPS,
                ),
                Chart(
                    "outcomes",
                    "Outcomes by source",
                    "stacked_bar",
                    table="drop_off_by_source",
                    x="group",
                    series=("qualified", *[o.value for o in funnel.DROP_OFFS], "open"),
                ),
            ],
            marks=marks,
        ),
        Section(
            "response",
            "First response and SLA",
            tables=[
                response.response_table(scope, "queue"),
                response.response_table(scope, "source"),
            ],
            charts=[
                Chart(
                    "sla",
                    "First response by queue",
                    "stacked_bar",
                    table="first_response_by_queue",
                    x="group",
                    series=("on_time", "late", "overdue"),
                )
            ],
            marks=marks,
        ),
        Section(
            "intake",
            "Intake quality",
            tables=[
                intake_quality.quality_table(scope, "source"),
                intake_quality.missing_fields_table(scope),
                intake_quality.rejections_table(scope),
                lifecycle.entries_table(scope),
            ],
            charts=[
                Chart(
                    "missing",
                    "Fields most often missing",
                    "bar",
                    table="missing_fields",
                    x="field",
                    series=("missing",),
                )
            ],
        ),
    ]
    if any(p.goal == "trial_prescreening" for p in scope.programs):
        report.sections.append(
            Section(
                "prescreen",
                "Prescreen outcomes",
                tables=[activity.prescreen_table(scope), activity.failing_markers_table(scope)],
                charts=[
                    Chart(
                        "markers",
                        "Markers that failed",
                        "bar",
                        table="failing_markers",
                        x="marker",
                        series=("count",),
                    )
                ],
            )
        )
    report.sections += [
        Section(
            "activity",
            "Scheduling and messages",
            tables=[
                activity.appointments_table(scope, "source"),
                activity.messages_table(scope),
                activity.refusals_table(scope),
            ],
            charts=[
                Chart(
                    "appointments",
                    "Appointments by source",
                    "stacked_bar",
                    table="appointments_by_source",
                    x="group",
                    series=("attended", "no_show", "cancelled", "upcoming"),
                )
            ],
        ),
        Section(
            "lifecycle",
            "Where referrals stall",
            tables=[
                lifecycle.step_times_table(scope),
                lifecycle.open_work_table(scope),
                lifecycle.still_missing_table(scope),
            ],
            charts=[
                Chart(
                    "open_work",
                    "Open work by stage",
                    "bar",
                    table="open_work",
                    x="stage",
                    series=("count",),
                )
            ],
        ),
        Section(
            "consent",
            "Consent",
            tables=[consent.coverage_table(scope), consent.withdrawals_table(scope)],
        ),
        Section(
            "routing",
            "Routing audit and program versions",
            tables=[
                versions,
                routing.routing_summary_table(scope),
                routing.rule_matches_table(scope),
                routing.reroutes_table(scope),
            ],
            marks=marks,
        ),
    ]
    return report
