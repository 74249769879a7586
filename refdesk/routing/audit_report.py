"""The routing audit of one month: where people overrode the rules and where the rules are idle.

Read-only selector behind ``refdesk routing audit --month YYYY-MM [--program P]``. Drift shows as
re-routes (by the rule that routed the referral first, and by queue from -> to, with the reasons
staff gave and how long the wrong route stood), routes that never matched, referrals that fell to
the default route, and queues whose open referrals nobody holds.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Min

from refdesk.core.errors import ApplicationError, NotFound
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.programs.models import Program
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import DecisionKind
from refdesk.routing.models import RoutingDecision


def parse_month(text: str) -> datetime:
    """``2026-03`` -> 2026-03-01 00:00 UTC; anything else is an ``ApplicationError``."""
    try:
        start = datetime.strptime(f"{text} +0000", "%Y-%m %z")
    except (TypeError, ValueError):
        raise ApplicationError(
            f"month must be YYYY-MM, e.g. 2026-03 (got {text!r})", code="invalid_month"
        ) from None
    return start.astimezone(UTC)


def _next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


@dataclass
class RerouteGroup:
    before: str  # the queue (or rule) the referral was in before the re-route
    after: str
    count: int = 0
    reasons: Counter = field(default_factory=Counter)
    waits: list[float] = field(default_factory=list)  # seconds from initial decision to re-route

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.before,
            "to": self.after,
            "count": self.count,
            "reasons": [{"reason": r, "count": n} for r, n in self.reasons.most_common()],
            **_wait_summary(self.waits),
        }


def _wait_summary(waits: list[float]) -> dict[str, float | None]:
    if not waits:
        return {"median_hours": None, "max_hours": None}
    return {
        "median_hours": round(statistics.median(waits) / 3600, 2),
        "max_hours": round(max(waits) / 3600, 2),
    }


@dataclass
class RoutingAudit:
    month: str  # YYYY-MM
    program: str | None
    initial_decisions: int = 0
    reroutes: int = 0
    reroute_waits: list[float] = field(default_factory=list)
    reroutes_by_queue: list[RerouteGroup] = field(default_factory=list)
    reroutes_by_rule: list[RerouteGroup] = field(default_factory=list)
    never_matched: list[dict[str, Any]] = field(default_factory=list)  # {program, rule, position}
    default_route: int = 0
    unassigned: list[dict[str, Any]] = field(default_factory=list)  # {queue, count, oldest}

    @property
    def default_share(self) -> float | None:
        return self.default_route / self.initial_decisions if self.initial_decisions else None

    def to_dict(self) -> dict[str, Any]:
        share = self.default_share
        return {
            "month": self.month,
            "program": self.program,
            "initial_decisions": self.initial_decisions,
            "reroutes": {
                "count": self.reroutes,
                **_wait_summary(self.reroute_waits),
                "by_queue": [group.to_dict() for group in self.reroutes_by_queue],
                "by_rule": [group.to_dict() for group in self.reroutes_by_rule],
            },
            "never_matched_rules": self.never_matched,
            "default_route": {
                "count": self.default_route,
                "share": round(share, 4) if share is not None else None,
            },
            "unassigned_queues": [
                {**row, "oldest": row["oldest"].isoformat() if row["oldest"] else None}
                for row in self.unassigned
            ],
        }


def routing_audit(*, month: str, program: str | None = None) -> RoutingAudit:
    """Build the audit of ``month`` (``YYYY-MM``, UTC), optionally for one program's slug.

    1. Initial decisions of the month: count, default-route count, matches per rule.
    2. Re-routes of the month, each set against the referral's first engine decision (its rule,
       and the time since it) and grouped by queue from -> to and by that rule.
    3. Routes of each program's active version that no initial decision of the month matched.
    4. Queues holding open referrals that nobody is assigned, now, with the oldest receipt.
    """
    start = parse_month(month)
    end = _next_month(start)
    programs = Program.objects.select_related("active_version").order_by("slug")
    if program is not None:
        programs = programs.filter(slug=program)
        if not programs.exists():
            raise NotFound(f"no program '{program}'")
    report = RoutingAudit(month=start.strftime("%Y-%m"), program=program)
    decisions = RoutingDecision.objects.filter(decided_at__gte=start, decided_at__lt=end)
    if program is not None:
        decisions = decisions.filter(referral__program__slug=program)

    initial = decisions.filter(kind=DecisionKind.INITIAL)
    matches = {
        (row["referral__program__slug"], row["rule_id"]): row["n"]
        for row in initial.values("referral__program__slug", "rule_id").annotate(n=Count("id"))
    }
    report.initial_decisions = sum(matches.values())
    report.default_route = initial.filter(default_route=True).count()
    _reroutes(report, decisions)
    for each in programs:
        if each.active_version is None:
            continue
        definition = version_definition(each.active_version)
        for position, route in enumerate(definition.routes, start=1):
            if not matches.get((each.slug, route.id)):
                report.never_matched.append(
                    {
                        "program": each.slug,
                        "rule": route.id,
                        "position": position,
                        "default": bool(route.default),
                    }
                )
    _unassigned(report, program)
    return report


def _reroutes(report: RoutingAudit, decisions) -> None:
    reroutes = list(
        decisions.filter(kind=DecisionKind.REROUTE)
        .order_by("decided_at", "id")
        # The reason a person gave is a note, decrypted here for the operator running the
        # audit (never stored in clear).
        .values_list(
            "referral_id", "decided_at", "previous_queue__slug", "queue__slug", "note__text"
        )
    )
    report.reroutes = len(reroutes)
    if not reroutes:
        return
    # Each re-routed referral's engine decisions: the first starts the clock, the latest one
    # before the re-route names the rule that people overrode.
    engine: dict[int, list[tuple[datetime, str]]] = {}
    rows = (
        RoutingDecision.objects.filter(referral_id__in={row[0] for row in reroutes})
        .exclude(kind=DecisionKind.REROUTE)
        .order_by("referral_id", "decided_at", "id")
        .values_list("referral_id", "decided_at", "rule_id")
    )
    for referral_id, decided_at, rule_id in rows:
        engine.setdefault(referral_id, []).append((decided_at, rule_id))
    by_queue: dict[tuple[str, str], RerouteGroup] = {}
    by_rule: dict[str, RerouteGroup] = {}
    for referral_id, decided_at, before, after, reason in reroutes:
        history = engine.get(referral_id, [])
        initial_at = history[0][0] if history else None
        rule_id = next((rule for at, rule in reversed(history) if at <= decided_at), "")
        wait = (decided_at - initial_at).total_seconds() if initial_at is not None else None
        rule = rule_id or "(no engine decision)"
        for group in (
            by_queue.setdefault((before, after), RerouteGroup(before or "(none)", after)),
            by_rule.setdefault(rule, RerouteGroup(rule, "")),
        ):
            group.count += 1
            group.reasons[(reason or "").strip() or "(no reason)"] += 1
            if wait is not None:
                group.waits.append(wait)
        if wait is not None:
            report.reroute_waits.append(wait)
    report.reroutes_by_queue = sorted(by_queue.values(), key=lambda g: (-g.count, g.before))
    report.reroutes_by_rule = sorted(by_rule.values(), key=lambda g: (-g.count, g.before))


def _unassigned(report: RoutingAudit, program: str | None) -> None:
    open_rows = Referral.objects.filter(queue__isnull=False, assigned_to__isnull=True).exclude(
        stage=Stage.CLOSED
    )
    if program is not None:
        open_rows = open_rows.filter(program__slug=program)
    rows = (
        open_rows.values("queue__slug")
        .annotate(count=Count("id"), oldest=Min("received_at"))
        .order_by("queue__slug")
    )
    report.unassigned = [
        {"queue": row["queue__slug"], "count": row["count"], "oldest": row["oldest"]}
        for row in rows
    ]
