"""Intake quality: how complete referrals arrive, by source, and what referrers leave out.

Definitions, over referrals received in the period:

- **complete**: nothing the program requires was missing at submission (no ``MissingItem``);
  **incomplete**: something was (the referral waited in ``needs_info``);
- **fields most often missing**: ``MissingItem`` rows by field name (never a value);
- **time to supply**: from the item's recording to the referrer supplying it (``resolved_at``),
  wall-clock; median and 90th percentile (nearest rank, to the step: ``aggregates``); still
  missing counted;
- **duplicates**: referrals recognised as the same lead as a recent one (``duplicate_of`` set).
"""

from __future__ import annotations

from django.db.models import Count, Exists, F, OuterRef, Q

from refdesk.intake.choices import SubmissionMethod
from refdesk.intake.models import MissingItem, Rejection
from refdesk.reports.aggregates import (
    Seconds,
    group_rows,
    histograms,
    merge_histograms,
    percentile,
    rate,
)
from refdesk.reports.cells import DASH, duration_text
from refdesk.reports.document import Column, Table
from refdesk.reports.scope import DIMENSION_LABELS, Scope


def quality_table(scope: Scope, by: str | None = "source") -> Table:
    missing = MissingItem.objects.filter(referral=OuterRef("pk"))
    rows = group_rows(
        scope.referrals(),
        by,
        {
            "received": Count("pk"),
            "incomplete": Count("pk", filter=Q(Exists(missing))),
            "still_missing": Count("pk", filter=Q(Exists(missing.filter(resolved_at=None)))),
            "duplicates": Count("pk", filter=Q(duplicate_of__isnull=False)),
        },
    )
    label = DIMENSION_LABELS.get(by or "", "")
    out = []
    for row in rows:
        complete = row["received"] - row["incomplete"]
        out.append(
            {
                "group": row["group"] if by else "All referrals",
                "complete": complete,
                "incomplete": row["incomplete"],
                "received": row["received"],
                "complete_rate": rate(complete, row["received"]),
                "still_missing": row["still_missing"],
                "duplicates": row["duplicates"],
            }
        )
    return Table(
        key="intake_quality" + (f"_by_{by}" if by else ""),
        title="Intake quality" + (f" by {label.lower()}" if by else ""),
        columns=[
            Column("group", label or "Referrals", "text"),
            Column("complete", "Complete"),
            Column("incomplete", "Incomplete"),
            Column("received", "Received"),
            Column("complete_rate", "Complete on arrival", "percent", base="received"),
            Column("still_missing", "Still waiting on the referrer"),
            Column("duplicates", "Duplicates"),
        ],
        rows=out,
        total_column="received",
        note="Referrals received in the period; incomplete ones lacked a required item.",
    )


def missing_fields_table(scope: Scope, *, limit: int = 15) -> Table:
    """The fields referrers left out, most often first, with how long supplying them took."""
    items = MissingItem.objects.filter(referral__in=scope.referrals())
    counted = list(
        items.order_by()
        .values("field")
        .annotate(missing=Count("pk"), supplied=Count("pk", filter=Q(resolved_at__isnull=False)))
        .order_by("-missing", "field")[:limit]
    )
    by_field = histograms(
        items.filter(resolved_at__isnull=False),
        Seconds(F("resolved_at"), F("recorded_at")),
        column="field",
    )
    rows = [
        {
            "field": row["field"],
            "missing": row["missing"],
            "supplied": row["supplied"],
            "supplied_rate": rate(row["supplied"], row["missing"]),
            "median": percentile(by_field.get(row["field"], []), 0.5),
            "p90": percentile(by_field.get(row["field"], []), 0.9),
        }
        for row in counted
    ]
    overall = percentile(merge_histograms(*by_field.values()), 0.5)
    overall_text = DASH if overall is None else duration_text(overall)
    return Table(
        key="missing_fields",
        title="Fields most often missing",
        columns=[
            Column("field", "Field", "text"),
            Column("missing", "Missing"),
            Column("supplied", "Supplied later"),
            Column("supplied_rate", "Supplied", "percent", base="missing"),
            Column("median", "Median time to supply", "duration", base="supplied"),
            Column("p90", "90th percentile", "duration", base="supplied"),
        ],
        rows=rows,
        people=True,
        note=(
            "Items (field names, never values) missing from referrals received in the period. "
            f"Median time to supply over all fields: {overall_text}."
        ),
    )


def rejections_table(scope: Scope) -> Table:
    """Refused submissions of the period by error code and how they came (one row per error of
    a refused submission: ``intake.rejections``), with the field most often behind each code.
    Errors, not people: nobody was stored, so no count identifies anyone."""
    rejected = Rejection.objects.filter(scope.window("occurred_at"))
    for name, value in scope.filters:
        if name == "source":
            rejected = rejected.filter(source__slug=value)
        elif name != "program":  # a referrer, queue, request type: unknown for a refusal
            rejected = rejected.none()
    counted: dict[str, dict] = {}
    for row in rejected.order_by().values("code", "method").annotate(n=Count("pk")):
        into = counted.setdefault(
            row["code"], {"code": row["code"], **{m.value: 0 for m in SubmissionMethod}}
        )
        into[row["method"]] += row["n"]
    fields: dict[str, tuple[int, str]] = {}
    for row in rejected.order_by().values("code", "field").annotate(n=Count("pk")):
        best = fields.get(row["code"])
        if best is None or (row["n"], row["field"]) > best:
            fields[row["code"]] = (row["n"], row["field"])
    rows = []
    for code, row in counted.items():
        row["total"] = sum(row[m.value] for m in SubmissionMethod)
        row["field"] = fields.get(code, (0, ""))[1] or "(the whole submission)"
        rows.append(row)
    rows.sort(key=lambda r: (-r["total"], r["code"]))
    return Table(
        key="rejections",
        title="Refused submissions by error code",
        columns=[
            Column("code", "Error code", "text"),
            Column("field", "Most often on", "text"),
            *(Column(m.value, m.label) for m in SubmissionMethod),
            Column("total", "All"),
        ],
        rows=rows,
        people=False,
        note="Each error of a submission refused for its content, whether or not it was sent "
        "again; field names only, never values.",
    )
