"""Time to first response and SLA attainment, per queue (or any dimension).

Definitions, over referrals received in the period:

- **time to first response**: ``first_response_seconds`` — the program's business time from
  receipt to the first response to the lead, less the time the clock stood still while the
  referrer owed information; median and 90th percentile (nearest rank, to the step: ``aggregates``).
- **on time**: responded no later than ``first_response_due_at``; **late**: responded after it;
  **overdue**: never responded and the due time passed before it was closed, or, still open,
  before the report was made; **running**: open, not yet responded, not yet due. Referrals
  with no clock (closed at intake as duplicates, waiting on the referrer, booked by the lead
  before anyone wrote) count in none of them.
- **SLA attainment** = on time / (on time + late + overdue).
- **breaches** = late + overdue; **escalations**: SLA escalations that fired (the leads were
  told), counted by their referral's queue.
"""

from __future__ import annotations

from django.db.models import Count, F, Q

from refdesk.outreach.choices import TimerKind, TimerState
from refdesk.outreach.models import Timer
from refdesk.reports.aggregates import group_rows, histograms, percentile, rate
from refdesk.reports.document import Column, Table
from refdesk.reports.scope import DIMENSION_LABELS, Scope


def sla_measures(now) -> dict:
    """The SLA verdicts, counted. ``on_time``, ``late`` and ``missed`` (closed with no response
    after the due time had passed) never change once reached; ``overdue_open`` and ``running``
    depend on ``now``."""
    responded = Q(first_responded_at__isnull=False, first_response_due_at__isnull=False)
    waiting = Q(first_responded_at__isnull=True, first_response_due_at__isnull=False)
    return {
        "on_time": Count(
            "pk", filter=responded & Q(first_responded_at__lte=F("first_response_due_at"))
        ),
        "late": Count(
            "pk", filter=responded & Q(first_responded_at__gt=F("first_response_due_at"))
        ),
        "missed": Count(
            "pk",
            filter=waiting & Q(closed_at__isnull=False, first_response_due_at__lt=F("closed_at")),
        ),
        **open_sla_measures(now),
    }


def open_sla_measures(now) -> dict:
    waiting = Q(
        first_responded_at__isnull=True,
        first_response_due_at__isnull=False,
        closed_at__isnull=True,
    )
    return {
        "overdue_open": Count("pk", filter=waiting & Q(first_response_due_at__lt=now)),
        "running": Count("pk", filter=waiting & Q(first_response_due_at__gte=now)),
    }


def sla_figures(row: dict) -> dict:
    """Derived figures of a row of ``sla_measures`` counts (added in place, and returned)."""
    row["overdue"] = row["missed"] + row["overdue_open"]
    row["breaches"] = row["late"] + row["overdue"]
    row["measured"] = row["on_time"] + row["late"] + row["overdue"]
    row["attainment"] = rate(row["on_time"], row["measured"])
    return row


def response_rows(scope: Scope, by: str | None = "queue") -> list[dict]:
    return scope.remember(("response", by), lambda: _response_rows(scope, by))


def _response_rows(scope: Scope, by: str | None) -> list[dict]:
    cohort = scope.referrals()
    rows = group_rows(cohort, by, sla_measures(scope.now))
    escalated = _escalations(scope, by)
    times_by_group = histograms(cohort, F("first_response_seconds"), by)
    for row in rows:
        times = times_by_group.get(row["group"], [])
        row["responded"] = sum(n for _, n in times)
        row["median"] = percentile(times, 0.5)
        row["p90"] = percentile(times, 0.9)
        sla_figures(row)
        row["escalations"] = escalated.get(row["group"], 0)
    return rows


def _escalations(scope: Scope, by: str | None) -> dict[str, int]:
    fired = scope.related(
        Timer.objects.filter(kind=TimerKind.SLA_ESCALATION, state=TimerState.DONE),
        "referral__received_at",
    )
    rows = group_rows(fired, by, {"n": Count("pk")}, prefix="referral__")
    return {row["group"]: row["n"] for row in rows}


def response_table(
    scope: Scope, by: str | None = "queue", *, rows: list[dict] | None = None
) -> Table:
    label = DIMENSION_LABELS.get(by or "", "")
    source_rows = response_rows(scope, by) if rows is None else rows
    rows = []
    for row in source_rows:
        rows.append({**row, "group": row["group"] if by else "All referrals"})
    return Table(
        key="first_response" + (f"_by_{by}" if by else ""),
        title="First response and SLA" + (f" by {label.lower()}" if by else ""),
        columns=[
            Column("group", label or "Referrals", "text"),
            Column("responded", "Responded"),
            Column("median", "Median", "duration", base="responded", help="business time"),
            Column("p90", "90th percentile", "duration", base="responded", help="business time"),
            Column("on_time", "On time"),
            Column("late", "Late"),
            Column("overdue", "Overdue, no response"),
            Column("attainment", "SLA attainment", "percent", base="measured"),
            Column("measured", "With a clock"),
            Column("escalations", "Escalations"),
        ],
        rows=rows,
        total_column="measured",
        note=(
            "Referrals received in the period. Times are business time from receipt, less time "
            "waiting on the referrer; percentiles are nearest-rank, to 5 minutes under 8 hours."
        ),
    )
