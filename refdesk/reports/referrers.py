"""Referrer and partner reports: what one referrer sent in a period and, where its agreement
allows, how those referrals ended — counts only, never a person.

What a partner may see is its source's agreement (``agreement.reports`` in the program file):
``received`` — counts of referrals received, by month and request type; ``outcomes`` — the
outcome counts too. A source without a partner agreement (a clinician referring) gets outcome
counts. Every report is an aggregate export: small numbers are suppressed like the pack's, which
matters more here than anywhere, because a referrer knows whom they referred.

No reward, payment or incentive is tied to referral counts, and refdesk stores none: the report
says so (``ANTI_KICKBACK``), and a test checks that no model holds such a field.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth

from refdesk.core.errors import NotFound
from refdesk.intake.choices import Outcome
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer
from refdesk.reports.document import Column, Report, Section, Table
from refdesk.reports.funnel import DROP_OFF_LABELS, DROP_OFFS
from refdesk.reports.scope import Scope

ANTI_KICKBACK = (
    "No reward, payment, gift or other incentive is offered for, or tied to, the number or the "
    "outcome of referrals. These figures are shared only to report on the program's service "
    "to the people referred; refdesk records no payment or incentive of any kind."
)


def sharing_level(referrer: Referrer) -> str:
    """``received`` or ``outcomes``: what this referrer's reports may show."""
    program = referrer.source.program
    definition = version_definition(program.active_version)
    source = definition.sources.get(referrer.source.slug)
    agreement = source.agreement if source is not None else None
    return agreement.reports if agreement is not None else "outcomes"


def referrer_report(
    *, code: str, start: dt.date, end: dt.date, now: dt.datetime | None = None
) -> Report:
    referrer = (
        Referrer.objects.select_related("source__program__active_version")
        .filter(code=code.strip().upper())
        .first()
    )
    if referrer is None:
        raise NotFound("no referrer with that code")
    program = referrer.source.program
    scope = Scope.build(program=program.slug, start=start, end=end, now=now, referrer=referrer.code)
    level = sharing_level(referrer)
    cohort = scope.referrals()
    zone = scope.zones[program.pk]
    monthly = (
        cohort.annotate(month=TruncMonth("received_at", tzinfo=ZoneInfo(zone)))
        .order_by()
        .values("month", "request_type")
        .annotate(n=Count("pk"))
    )
    request_types = sorted({row["request_type"] for row in monthly})
    by_month: dict[str, dict] = {}
    for row in monthly:
        key = row["month"].strftime("%Y-%m")
        into = by_month.setdefault(key, {"month": key, **{t: 0 for t in request_types}})
        into[row["request_type"]] += row["n"]
    for row in by_month.values():
        row["total"] = sum(row[t] for t in request_types)
    received = Table(
        key="referrals_sent",
        title="Referrals received from you",
        columns=[
            Column("month", "Month", "text"),
            *(Column(t, t.replace("_", " ").capitalize()) for t in request_types),
            Column("total", "All requests"),
        ],
        rows=[by_month[k] for k in sorted(by_month)],
        total_column="total",
        note="Counted by the month we received them, in the program's time zone.",
    )
    tables = [received]
    if level == "outcomes":
        measures = {o.value: Count("pk", filter=Q(outcome=o)) for o in DROP_OFFS}
        measures["qualified"] = Count("pk", filter=Q(outcome=Outcome.QUALIFIED))
        measures["open"] = Count("pk", filter=Q(closed_at__isnull=True))
        measures["total"] = Count("pk")
        counted = cohort.aggregate(**measures)
        tables.append(
            Table(
                key="outcomes",
                title="How they stand",
                columns=[
                    Column("group", "Referrals", "text"),
                    Column("qualified", "Taken forward"),
                    *(Column(o.value, DROP_OFF_LABELS[o]) for o in DROP_OFFS),
                    Column("open", "In progress"),
                    Column("total", "All"),
                ],
                rows=[{"group": "Received in the period", **counted}],
                total_column="total",
                note="Counts only, as they stand today; never a person's details.",
            )
        )
    sharing = (
        "counts of referrals received and how they stand"
        if level == "outcomes"
        else "counts of referrals received only (your agreement shares no outcomes)"
    )
    return Report(
        title=f"Referral report for {referrer.name}",
        program=program.slug,
        program_name=program.name,
        start=start,
        end=end,
        timezone=zone,
        generated_at=scope.now,
        file_stem=f"referrer-{referrer.code}",
        sections=[
            Section(
                "referrals",
                "Your referrals",
                intro=f"Referrer code {referrer.code}, {referrer.source.label}. This report "
                f"shows {sharing}.",
                tables=tables,
            ),
            Section("statement", "Statement", intro=ANTI_KICKBACK),
        ],
    )
