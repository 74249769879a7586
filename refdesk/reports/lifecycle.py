"""The lifecycle audit: where referrals enter, how long each step takes, and where open work
stands still — the answer to "where do referrals stall".

Definitions:

- **entries**: referrals received in the period by source and submission method;
- **step times** over referrals received in the period: receipt to routing and receipt to
  closure in wall-clock time, receipt to first response in business time (as the SLA counts);
  median and 90th percentile (nearest rank, to the step: ``aggregates``) of those that took
  the step;
- **open work now** (as of the report, whatever the period): per stage, how many referrals of
  the scope's programs stand there, the median time they have stood there and the longest
  (``stage_changed_at``, or receipt for work still in the stage it arrived in) and the oldest
  receipt;
- **data still missing**: items referrers have not supplied yet, by field (open work only).
"""

from __future__ import annotations

from django.db.models import Count, F, Max, Min, Value
from django.db.models.functions import Coalesce

from refdesk.intake.choices import OPEN_STAGES, Stage, SubmissionMethod
from refdesk.intake.models import MissingItem, Referral
from refdesk.reports.aggregates import Seconds, histograms, percentile
from refdesk.reports.document import Column, Table
from refdesk.reports.scope import Scope

STAGE_ORDER = [s for s in Stage if s in OPEN_STAGES]


def entries_table(scope: Scope) -> Table:
    counted = {
        (row["source__slug"], row["submission_method"]): row["n"]
        for row in scope.referrals()
        .order_by()
        .values("source__slug", "submission_method")
        .annotate(n=Count("pk"))
    }
    sources = sorted({source for source, _ in counted})
    rows = []
    for source in sources:
        row = {"source": source}
        for method in SubmissionMethod:
            row[method.value] = counted.get((source, method.value), 0)
        row["total"] = sum(row[m.value] for m in SubmissionMethod)
        rows.append(row)
    return Table(
        key="entries",
        title="Where referrals enter",
        columns=[
            Column("source", "Source", "text"),
            *(Column(m.value, m.label) for m in SubmissionMethod),
            Column("total", "All methods"),
        ],
        rows=rows,
        total_column="total",
        note="Referrals received in the period by source and how they were submitted.",
    )


def step_times_table(scope: Scope) -> Table:
    cohort = scope.referrals()
    steps = [
        ("routing", "Receipt to routing", Seconds(F("routed_at"), F("received_at")), "wall clock"),
        (
            "first_response",
            "Receipt to first response",
            F("first_response_seconds"),
            "business time",
        ),
        ("closure", "Receipt to closure", Seconds(F("closed_at"), F("received_at")), "wall clock"),
    ]
    rows = []
    for key, label, expression, basis in steps:
        times = histograms(cohort, expression).get("all", [])
        rows.append(
            {
                "step": label,
                "basis": basis,
                "count": sum(n for _, n in times),
                "median": percentile(times, 0.5),
                "p90": percentile(times, 0.9),
                "key": key,
            }
        )
    return Table(
        key="step_times",
        title="How long each step takes",
        columns=[
            Column("step", "Step", "text"),
            Column("basis", "Measured in", "text"),
            Column("count", "Referrals"),
            Column("median", "Median", "duration", base="count"),
            Column("p90", "90th percentile", "duration", base="count"),
        ],
        rows=rows,
        people=False,
        note="Referrals received in the period that have taken the step.",
    )


def open_work_table(scope: Scope) -> Table:
    """Open work now, per stage (every open referral of the scope's programs and filters)."""
    open_work = Referral.objects.filter(
        program__in=scope.programs, stage__in=STAGE_ORDER, closed_at__isnull=True
    ).filter(scope.filter_q())
    since = Coalesce(F("stage_changed_at"), F("received_at"))
    standing = Seconds(Value(scope.now), since)
    counted = {
        row["stage"]: row
        for row in open_work.order_by()
        .values("stage")
        .annotate(n=Count("pk"), oldest=Min("received_at"), longest=Max(standing))
    }
    by_stage = histograms(open_work, standing, column="stage")
    rows = []
    for stage in STAGE_ORDER:
        row = counted.get(stage.value)
        if row is None:
            continue
        rows.append(
            {
                "stage": stage.label,
                "count": row["n"],
                "median": percentile(by_stage.get(stage.value, []), 0.5),
                "longest": row["longest"],
                "oldest": row["oldest"].date().isoformat() if row["oldest"] else "",
            }
        )
    return Table(
        key="open_work",
        title="Open work now, by stage",
        columns=[
            Column("stage", "Stage", "text"),
            Column("count", "Referrals"),
            Column("median", "Median time in stage", "duration", base="count"),
            Column("longest", "Longest", "duration", base="count"),
            Column("oldest", "Oldest received", "text"),
        ],
        rows=rows,
        note="As of the report's time, whatever the period: wall-clock time in the stage.",
    )


def still_missing_table(scope: Scope) -> Table:
    items = MissingItem.objects.filter(
        program__in=scope.programs, resolved_at__isnull=True, referral__stage__in=STAGE_ORDER
    ).filter(scope.filter_q("referral__"))
    rows = [
        {"field": row["field"], "count": row["n"], "oldest": row["oldest"].date().isoformat()}
        for row in items.order_by()
        .values("field")
        .annotate(n=Count("pk"), oldest=Min("recorded_at"))
        .order_by("-n", "field")
    ]
    return Table(
        key="still_missing",
        title="Data still missing from open referrals",
        columns=[
            Column("field", "Field", "text"),
            Column("count", "Referrals"),
            Column("oldest", "Missing since", "text"),
        ],
        rows=rows,
        note="Items referrers have not supplied yet (field names, never values), as of now.",
    )
