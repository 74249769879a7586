"""Consent coverage: of the referrals received in the period, how many may be contacted now,
for which purpose and on which channel; and the withdrawals and expiries of the period.

Definitions:

- a referral's consent **now** is its newest consent record (the history is append-only); it
  covers a purpose or channel when that record grants it, lists it, and has not passed its
  expiry (as of the report);
- **coverage** of a purpose (channel) = referrals covered / referrals received in the period;
- **withdrawals** and **expiries**: withdrawal and expiry records written in the period, for
  referrals of the scope whatever their receipt, by withdrawal reason.
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q

from refdesk.consent.choices import ConsentEvent, WithdrawalReason
from refdesk.consent.models import ConsentRecord
from refdesk.programs.selectors import version_definition
from refdesk.reports.aggregates import rate
from refdesk.reports.document import Column, Table
from refdesk.reports.scope import Scope


def _vocabulary(scope: Scope) -> tuple[list[str], list[str]]:
    purposes: list[str] = []
    channels: list[str] = []
    for program in scope.programs:
        if program.active_version_id is None:
            continue
        consent = version_definition(program.active_version).consent
        if consent is None:
            continue
        purposes += [p for p in consent.purposes if p not in purposes]
        channels += [c for c in consent.channels if c not in channels]
    return purposes, channels


def coverage_table(scope: Scope) -> Table:
    purposes, channels = _vocabulary(scope)
    newer = ConsentRecord.objects.filter(
        referral=OuterRef("referral"), recorded_at__gt=OuterRef("recorded_at")
    )
    current = ConsentRecord.objects.filter(referral=OuterRef("pk"), granted=True).filter(
        ~Exists(newer), Q(expires_at__isnull=True) | Q(expires_at__gt=scope.now)
    )
    measures = {"received": Count("pk"), "any": Count("pk", filter=Q(Exists(current)))}
    for i, purpose in enumerate(purposes):
        listed = current.filter(purposes__icontains=f'"{purpose}"')
        measures[f"p{i}"] = Count("pk", filter=Q(Exists(listed)))
    for i, channel in enumerate(channels):
        listed = current.filter(channels__icontains=f'"{channel}"')
        measures[f"c{i}"] = Count("pk", filter=Q(Exists(listed)))
    counted = scope.referrals().aggregate(**measures)
    received = counted["received"]
    rows = [{"kind": "Any purpose", "item": "—", "count": counted["any"]}]
    rows += [
        {"kind": "Purpose", "item": purpose, "count": counted[f"p{i}"]}
        for i, purpose in enumerate(purposes)
    ]
    rows += [
        {"kind": "Channel", "item": channel, "count": counted[f"c{i}"]}
        for i, channel in enumerate(channels)
    ]
    for row in rows:
        row["received"] = received
        row["coverage"] = rate(row["count"], received)
    return Table(
        key="consent_coverage",
        title="Consent in force now",
        columns=[
            Column("kind", "Kind", "text"),
            Column("item", "Purpose or channel", "text"),
            Column("count", "Referrals covered"),
            Column("coverage", "Coverage", "percent", base="count"),
            Column("received", "Received"),
        ],
        rows=rows,
        note=(
            "Referrals received in the period whose newest consent record grants it and has "
            "not expired, as of the report."
        ),
    )


def withdrawals_table(scope: Scope) -> Table:
    records = scope.related(
        ConsentRecord.objects.filter(event__in=[ConsentEvent.WITHDRAWN, ConsentEvent.EXPIRED]),
        "recorded_at",
    )
    counted = {
        (row["event"], row["reason"]): row["n"]
        for row in records.order_by().values("event", "reason").annotate(n=Count("pk"))
    }
    rows = []
    for reason in WithdrawalReason:
        if counted.get((ConsentEvent.WITHDRAWN.value, reason.value)):
            rows.append(
                {
                    "event": "Withdrawn",
                    "reason": reason.label,
                    "count": counted[(ConsentEvent.WITHDRAWN.value, reason.value)],
                }
            )
    unexplained = counted.get((ConsentEvent.WITHDRAWN.value, ""), 0)
    if unexplained:
        rows.append({"event": "Withdrawn", "reason": "(no reason code)", "count": unexplained})
    expired = sum(n for (event, _), n in counted.items() if event == ConsentEvent.EXPIRED)
    if expired:
        rows.append({"event": "Expired", "reason": "Validity period over", "count": expired})
    return Table(
        key="consent_changes",
        title="Consent withdrawn or expired in the period",
        columns=[
            Column("event", "Event", "text"),
            Column("reason", "Reason", "text"),
            Column("count", "Records"),
        ],
        rows=rows,
    )
