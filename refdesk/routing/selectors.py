"""Reads for routing: a referral's decisions, its route summary, unassigned work per queue."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.routing.choices import DecisionKind, ReviewState
from refdesk.routing.models import Review, RoutingDecision


def unassigned_counts_by_queue() -> dict[str, int]:
    """{queue slug: queued referrals nobody is assigned to}, for queues that have any.

    Served by the (queue, stage, first_response_due_at) index.
    """
    rows = (
        Referral.objects.filter(stage=Stage.QUEUED, assigned_to__isnull=True, queue__isnull=False)
        .values("queue__slug")
        .annotate(count=Count("id"))
        .order_by("queue__slug")
    )
    return {row["queue__slug"]: row["count"] for row in rows}


def review_pending(referral: Referral) -> bool:
    """Whether a review of the referral still waits for its reviewer (the review gate)."""
    return Review.objects.filter(referral=referral, state=ReviewState.PENDING).exists()


def routing_history(referral: Referral) -> list[RoutingDecision]:
    """Every decision about the referral, oldest first."""
    return list(
        RoutingDecision.objects.filter(referral=referral)
        .select_related("queue", "previous_queue", "program_version")
        .order_by("decided_at", "id")
    )


def latest_decision(referral: Referral) -> RoutingDecision | None:
    just_decided = getattr(referral, "just_decided", None)
    if just_decided is not None:  # routed in this very request (intake's hot path)
        return just_decided
    return (
        RoutingDecision.objects.filter(referral=referral)
        .select_related("queue", "previous_queue", "program_version")
        .order_by("-decided_at", "-id")
        .first()
    )


def decision_explanation(decision: RoutingDecision) -> list[str]:
    """The decision's sentences: the engine's explanation, or the fact of a manual re-route
    (its free-text reason stays out: people may write anything there)."""
    if decision.kind == DecisionKind.REROUTE:
        previous = decision.previous_queue.slug if decision.previous_queue_id else "none"
        return [f"re-routed by {decision.decided_by} from {previous} to {decision.queue.slug}"]
    sentences = decision.decision.get("explanation") or []
    return list(sentences) or [decision.decision.get("route", {}).get("why", "")]


def route_summary(referral: Referral) -> dict[str, Any] | None:
    """The API's ``route``: queue, rule, version, flags, explanation; None before routing."""
    decision = latest_decision(referral)
    if decision is None:
        return None
    return {
        "queue": decision.queue.slug,
        "rule": decision.rule_id or None,
        "version": decision.program_version.number,
        "flags": list(referral.flags),
        "explanation": decision_explanation(decision),
    }
