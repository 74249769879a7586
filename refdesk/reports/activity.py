"""Scheduling, messages and prescreen outcomes of the period.

Definitions:

- **appointments** are counted by their start time in the period (the day the call or meeting
  was, or was to be): booked (every appointment), attended, no-show, cancelled, still booked,
  rescheduled (moved at least once; ``moves`` counts every move); **no-show rate** = no-show /
  (attended + no-show), by the referral's source.
- **messages** by their own times: sent (``sent_at`` in the period: the provider accepted
  them), delivered and bounced/failed among them; refused (the consent check said no) by
  ``created_at`` in the period, by reason; by channel.
- **prescreen outcomes** of trial referrals received in the period, and the markers that failed
  (named by the engine's latest decision on each referral found not eligible).
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, Sum

from refdesk.intake.choices import PrescreenOutcome
from refdesk.outreach.choices import MessageStatus
from refdesk.outreach.models import Message
from refdesk.programs.selectors import version_definition
from refdesk.reports.aggregates import group_rows, rate
from refdesk.reports.document import Column, Table
from refdesk.reports.scope import DIMENSION_LABELS, Scope
from refdesk.routing.choices import DecisionKind
from refdesk.routing.models import RoutingDecision
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.models import Appointment


def appointment_measures() -> dict:
    return {
        "booked": Count("pk"),
        "attended": Count("pk", filter=Q(status=AppointmentStatus.ATTENDED)),
        "no_show": Count("pk", filter=Q(status=AppointmentStatus.NO_SHOW)),
        "cancelled": Count("pk", filter=Q(status=AppointmentStatus.CANCELLED)),
        "upcoming": Count("pk", filter=Q(status=AppointmentStatus.BOOKED)),
        "rescheduled": Count("pk", filter=Q(reschedules__gt=0)),
        "moves": Sum("reschedules"),
    }


def appointments(scope: Scope):
    """Appointments starting in the period, of referrals matching the filters."""
    return scope.related(Appointment.objects.all(), "starts_at")


def no_show_rate(row: dict) -> float | None:
    return rate(row["no_show"], row["attended"] + row["no_show"])


def appointments_table(scope: Scope, by: str | None = "source") -> Table:
    label = DIMENSION_LABELS.get(by or "", "")
    rows = group_rows(appointments(scope), by, appointment_measures(), prefix="referral__")
    out = []
    for row in rows:
        kept = row["attended"] + row["no_show"]
        out.append(
            {
                **row,
                "group": row["group"] if by else "All appointments",
                "kept_or_missed": kept,
                "no_show_rate": no_show_rate(row),
            }
        )
    return Table(
        key="appointments" + (f"_by_{by}" if by else ""),
        title="Appointments" + (f" by {label.lower()}" if by else ""),
        columns=[
            Column("group", label or "Appointments", "text"),
            Column("attended", "Attended"),
            Column("no_show", "No-show"),
            Column("cancelled", "Cancelled"),
            Column("upcoming", "Still booked"),
            Column("booked", "Booked"),
            Column("no_show_rate", "No-show rate", "percent", base="kept_or_missed"),
            Column("kept_or_missed", "Attended or missed"),
            Column("rescheduled", "Rescheduled"),
            Column("moves", "Moves"),
        ],
        rows=out,
        total_column="booked",
        note="Appointments starting in the period, by the status they have now.",
    )


def messages_table(scope: Scope) -> Table:
    messages = Message.objects.all()
    sent = scope.related(messages, "sent_at")
    refused = scope.related(messages.filter(status=MessageStatus.REFUSED), "created_at")
    by_channel = {
        row["channel"]: row
        for row in sent.order_by()
        .values("channel")
        .annotate(
            sent=Count("pk"),
            delivered=Count("pk", filter=Q(status=MessageStatus.DELIVERED)),
            bounced=Count("pk", filter=Q(status=MessageStatus.BOUNCED)),
            failed=Count("pk", filter=Q(status=MessageStatus.FAILED)),
        )
    }
    refusals = {
        row["channel"]: row["n"]
        for row in refused.order_by().values("channel").annotate(n=Count("pk"))
    }
    rows = []
    for channel in sorted(set(by_channel) | set(refusals)):
        row = by_channel.get(channel, {})
        rows.append(
            {
                "channel": channel,
                "sent": row.get("sent", 0),
                "delivered": row.get("delivered", 0),
                "bounced": row.get("bounced", 0),
                "failed": row.get("failed", 0),
                "refused": refusals.get(channel, 0),
                "delivered_rate": rate(row.get("delivered", 0), row.get("sent", 0)),
            }
        )
    return Table(
        key="messages",
        title="Messages by channel",
        columns=[
            Column("channel", "Channel", "text"),
            Column("sent", "Sent"),
            Column("delivered", "Delivered"),
            Column("delivered_rate", "Delivered", "percent", base="sent"),
            Column("bounced", "Bounced"),
            Column("failed", "Failed"),
            Column("refused", "Refused by the consent check"),
        ],
        rows=rows,
        people=False,
        note="Sent: accepted by the provider in the period; refused: stopped before sending.",
    )


def refusals_table(scope: Scope) -> Table:
    refused = scope.related(Message.objects.filter(status=MessageStatus.REFUSED), "created_at")
    rows = [
        {"reason": (row["reason"] or "(none)").replace("_", " "), "count": row["n"]}
        for row in refused.order_by()
        .values("reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "reason")
    ]
    return Table(
        key="message_refusals",
        title="Messages refused, by reason",
        columns=[Column("reason", "Reason", "text"), Column("count", "Messages")],
        rows=rows,
        people=False,
        note="Every message passes the consent and contact checks; these did not.",
    )


def prescreen_table(scope: Scope) -> Table:
    cohort = scope.referrals().filter(program__goal="trial_prescreening")
    measures = {o.value: Count("pk", filter=Q(prescreen_outcome=o)) for o in PrescreenOutcome}
    measures["none"] = Count("pk", filter=Q(prescreen_outcome=""))
    measures["total"] = Count("pk")
    row = group_rows(cohort, None, measures)[0]
    rows = [{"group": "Trial referrals", **row}]
    return Table(
        key="prescreen",
        title="Prescreen outcomes",
        columns=[
            Column("group", "Referrals", "text"),
            *(Column(o.value, o.label) for o in PrescreenOutcome),
            Column("none", "Not prescreened yet"),
            Column("total", "Received"),
        ],
        rows=rows,
        total_column="total",
        note="Trial-prescreening referrals received in the period, by their prescreen outcome.",
    )


def failing_markers_table(scope: Scope) -> Table:
    """Per marker: how many referrals found not eligible failed it (the engine's latest decision
    names the failed markers; a referral may fail several)."""
    not_eligible = scope.referrals().filter(prescreen_outcome=PrescreenOutcome.NOT_ELIGIBLE)
    later = RoutingDecision.objects.filter(
        referral=OuterRef("referral"), decided_at__gt=OuterRef("decided_at")
    ).exclude(kind=DecisionKind.REROUTE)
    latest = (
        RoutingDecision.objects.filter(referral__in=not_eligible)
        .exclude(kind=DecisionKind.REROUTE)
        .filter(~Exists(later))
    )
    markers: list[str] = []
    for program in scope.programs:
        if program.goal == "trial_prescreening" and program.active_version_id:
            definition = version_definition(program.active_version)
            for marker in definition.prescreen.markers if definition.prescreen else ():
                if marker.id not in markers:
                    markers.append(marker.id)
    measures = {
        f"m{i}": Count("pk", filter=Q(decision__prescreen__reasons__icontains=f'"{marker}"'))
        for i, marker in enumerate(markers)
    }
    counted = latest.aggregate(**measures) if measures else {}
    rows = [
        {"marker": marker, "count": counted.get(f"m{i}") or 0} for i, marker in enumerate(markers)
    ]
    rows = [row for row in rows if row["count"]]
    rows.sort(key=lambda row: (-row["count"], row["marker"]))
    return Table(
        key="failing_markers",
        title="Markers that failed",
        columns=[Column("marker", "Marker", "text"), Column("count", "Referrals")],
        rows=rows,
        note="Referrals found not eligible, by each marker they failed (one may fail several).",
    )
