"""The funnel: of the referrals received in the period, how many reached each step so far, and
why the others dropped out.

Definitions (a referral counts at a step if it ever reached it, whatever it did next):

- **received**: received in the period (the cohort);
- **routed**: a queue was chosen (``routed_at`` set);
- **contacted**: a person responded to the lead (``first_responded_at`` set: a message sent by
  a person, a logged attempt, or a booking arranged with the lead);
- **scheduled**: an appointment was ever booked for it;
- **attended**: an appointment of it was attended;
- **qualified**: closed as ``qualified``.

Drop-off reasons are the outcomes that end a referral short of qualified: not eligible
(``not_qualified``), unreachable, declined, withdrawn, duplicate, entered in error; with their
reason codes. Conversion at each step is that step's count over the previous step's, except
qualified, over all received (a lead may qualify without an appointment).
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q

from refdesk.intake.choices import OUTCOME_REASONS, Outcome, reason_label
from refdesk.reports.aggregates import group_rows, rate
from refdesk.reports.document import Column, Table
from refdesk.reports.scope import DIMENSION_LABELS, Scope
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.models import Appointment

STEPS = ("received", "routed", "contacted", "scheduled", "attended", "qualified")
STEP_LABELS = {
    "received": "Received",
    "routed": "Routed",
    "contacted": "Contacted",
    "scheduled": "Scheduled",
    "attended": "Attended",
    "qualified": "Qualified",
}
# Each step's conversion is over the step it follows, except qualified: a lead may qualify
# without an appointment (a support call, materials sent), so it is over all received.
RATE_BASE = {
    "routed": "received",
    "contacted": "routed",
    "scheduled": "contacted",
    "attended": "scheduled",
    "qualified": "received",
}
DROP_OFFS = (
    Outcome.NOT_QUALIFIED,
    Outcome.UNREACHABLE,
    Outcome.DECLINED,
    Outcome.WITHDRAWN,
    Outcome.DUPLICATE,
    Outcome.ENTERED_IN_ERROR,
)
DROP_OFF_LABELS = {
    Outcome.NOT_QUALIFIED: "Not eligible",
    Outcome.UNREACHABLE: "Unreachable",
    Outcome.DECLINED: "Declined",
    Outcome.WITHDRAWN: "Withdrawn",
    Outcome.DUPLICATE: "Duplicate",
    Outcome.ENTERED_IN_ERROR: "Entered in error",
}


def step_measures() -> dict:
    booked = Appointment.objects.filter(referral=OuterRef("pk"))
    return {
        "received": Count("pk"),
        "routed": Count("pk", filter=Q(routed_at__isnull=False)),
        "contacted": Count("pk", filter=Q(first_responded_at__isnull=False)),
        "scheduled": Count("pk", filter=Q(Exists(booked))),
        "attended": Count("pk", filter=Q(Exists(booked.filter(status=AppointmentStatus.ATTENDED)))),
        "qualified": Count("pk", filter=Q(outcome=Outcome.QUALIFIED)),
    }


def funnel_measures() -> dict:
    """The count at each step (``STEPS``), at each drop-off outcome, and still open."""
    measures = step_measures()
    for outcome in DROP_OFFS:
        measures[outcome.value] = Count("pk", filter=Q(outcome=outcome))
    measures["open"] = Count("pk", filter=Q(closed_at__isnull=True))
    return measures


def funnel_rows(scope: Scope, by: str | None = None) -> list[dict]:
    """Per group of the cohort: ``funnel_measures``."""
    return scope.remember(
        ("funnel", by), lambda: group_rows(scope.referrals(), by, funnel_measures())
    )


def funnel_table(
    scope: Scope, by: str | None = None, *, key: str = "funnel", rows: list[dict] | None = None
) -> Table:
    """The funnel of ``funnel_rows`` (or of ``rows`` with the same keys: the rollups')."""
    label = DIMENSION_LABELS.get(by or "", "")
    columns = [Column("group", label or "Referrals", "text")]
    for step in STEPS:
        columns.append(Column(step, STEP_LABELS[step]))
        if step != STEPS[0]:
            base = RATE_BASE[step]
            columns.append(
                Column(
                    f"{step}_rate",
                    f"{STEP_LABELS[step]} / {STEP_LABELS[base].lower()}",
                    "percent",
                    base=base,
                )
            )
    out_rows = []
    for row in funnel_rows(scope, by) if rows is None else rows:
        out = {"group": row["group"] if by else "All referrals"}
        for step in STEPS[1:]:
            out[f"{step}_rate"] = rate(row[step], row[RATE_BASE[step]])
        out.update({step: row[step] for step in STEPS})
        out_rows.append(out)
    return Table(
        key=key,
        title=f"Funnel by {label.lower()}" if by else "Funnel",
        columns=columns,
        rows=out_rows,
        total_column=None,
        note="Referrals received in the period, counted at every step they have reached so far.",
    )


def drop_off_table(scope: Scope, by: str | None = None, *, rows: list[dict] | None = None) -> Table:
    """Closed short of qualified, by outcome, per group, with the open ones and a total."""
    label = DIMENSION_LABELS.get(by or "", "")
    source_rows = funnel_rows(scope, by) if rows is None else rows
    rows = []
    for row in source_rows:
        out = {"group": row["group"] if by else "All referrals"}
        out.update({outcome.value: row[outcome.value] for outcome in DROP_OFFS})
        out["qualified"] = row["qualified"]
        out["open"] = row["open"]
        out["total"] = row["received"]
        rows.append(out)
    return Table(
        key="drop_off" + (f"_by_{by}" if by else ""),
        title="Outcomes" + (f" by {label.lower()}" if by else ""),
        columns=[
            Column("group", label or "Referrals", "text"),
            Column("qualified", "Qualified"),
            *(Column(o.value, DROP_OFF_LABELS[o]) for o in DROP_OFFS),
            Column("open", "Still open"),
            Column("total", "Received"),
        ],
        rows=rows,
        total_column="total",
        note="Every referral received in the period once: qualified, closed short of it, or open.",
    )


def drop_off_reasons_table(scope: Scope) -> Table:
    """Closed short of qualified, by outcome and reason code."""
    counted = {
        (row["outcome"], row["outcome_reason"]): row["n"]
        for row in scope.referrals()
        .filter(outcome__in=[o.value for o in DROP_OFFS])
        .order_by()
        .values("outcome", "outcome_reason")
        .annotate(n=Count("pk"))
    }
    rows = []
    for outcome in DROP_OFFS:
        codes = list(OUTCOME_REASONS.get(outcome, ()))
        codes += sorted({code for (o, code) in counted if o == outcome and code not in codes})
        for code in codes:
            count = counted.get((outcome.value, code), 0)
            if count:
                rows.append(
                    {
                        "outcome": DROP_OFF_LABELS[outcome],
                        "reason": reason_label(code) if code else "(no reason)",
                        "count": count,
                    }
                )
    return Table(
        key="drop_off_reasons",
        title="Why referrals closed short of qualified",
        columns=[
            Column("outcome", "Outcome", "text"),
            Column("reason", "Reason", "text"),
            Column("count", "Referrals"),
        ],
        rows=rows,
    )
