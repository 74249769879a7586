"""Reads for routing: a referral's decisions and route summary, unassigned work per queue, who
may be given a referral, and where a person may re-route it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from refdesk.accounts.models import TeamMembership, User
from refdesk.accounts.roles import assignee_roles
from refdesk.intake.choices import LOAD_STAGES, Stage
from refdesk.intake.models import Referral
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import DecisionKind, ReviewState
from refdesk.routing.models import Queue, Review, RoutingDecision


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


def decision_explanation(decision: RoutingDecision, *, sees_lead: bool = True) -> list[str]:
    """The decision's sentences: the engine's explanation, or the fact of a manual re-route
    (what the person wrote stays out: people may write anything there).

    Without ``sees_lead`` the prescreen sentence, which names the markers the lead met or
    failed (health facts), is replaced by the outcome alone. The sentence is found from the
    stored decision's structure (its prescreen part), never by matching words.
    """
    if decision.kind == DecisionKind.REROUTE:
        previous = decision.previous_queue.slug if decision.previous_queue_id else "none"
        return [f"re-routed by {decision.decided_by} from {previous} to {decision.queue.slug}"]
    stored = decision.decision or {}
    sentences = list(stored.get("explanation") or []) or [stored.get("route", {}).get("why", "")]
    prescreen = stored.get("prescreen")
    if sees_lead or not prescreen or not prescreen.get("reasons"):
        return sentences  # no marker named (eligible): nothing to mask
    kind = {"not_eligible": "failed", "incomplete": "missing", "pending": "awaited"}.get(
        prescreen.get("outcome"), ""
    )
    count = len(prescreen["reasons"])
    masked = (
        f"Prescreen {prescreen.get('outcome', '')}: {count} {kind} marker{'s' * (count != 1)}, "
        "named only to the team working the lead."
    )
    why = prescreen.get("why")
    if why:
        return [masked if sentence == why else sentence for sentence in sentences]
    # Decisions stored before the prescreen kept its own sentence: the engine always put it
    # right after the eligibility sentence.
    return [masked if index == 1 else sentence for index, sentence in enumerate(sentences)]


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


# --- who may be given a referral ----------------------------------------------------------------


def _eligible_memberships(team_id: int, lead_kind: str) -> QuerySet[TeamMembership]:
    """Active, available members of the team whose role may work such a lead."""
    return TeamMembership.objects.filter(
        team_id=team_id,
        available=True,
        user__is_active=True,
        user__role__in=assignee_roles(lead_kind=lead_kind),
    )


def assignee_eligible(referral: Referral, user: User) -> bool:
    """May ``user`` be given the referral: an active, available member of its queue's team
    whose role works such leads?"""
    if referral.queue_id is None:
        return False
    return (
        _eligible_memberships(referral.queue.team_id, referral.lead_kind)
        .filter(user_id=user.pk)
        .exists()
    )


def assignees_for(referral: Referral) -> list[User]:
    """Whom the referral may be handed to, by name, each with ``open_load`` (open referrals
    assigned to them) set; the current assignee is left out. One query: each load is a count
    over the (assigned_to, stage) index, not over the member's whole history."""
    if referral.queue_id is None:
        return []
    open_load = (
        Referral.objects.filter(assigned_to=OuterRef("user_id"), stage__in=LOAD_STAGES)
        .order_by()
        .values("assigned_to")
        .annotate(n=Count("pk"))
        .values("n")
    )
    memberships = (
        _eligible_memberships(referral.queue.team_id, referral.lead_kind)
        .exclude(user_id=referral.assigned_to_id)
        .select_related("user")
        .annotate(open_load=Coalesce(Subquery(open_load, output_field=IntegerField()), Value(0)))
        .order_by("user__first_name", "user__last_name", "user__username")
    )
    users = []
    for membership in memberships:
        membership.user.open_load = membership.open_load
        users.append(membership.user)
    return users


# --- where a person may re-route a referral -----------------------------------------------------


@dataclass(frozen=True)
class RerouteTarget:
    queue: Queue
    allowed: bool
    why_not: str  # empty when allowed; words for the person, never patient data


def reroute_targets(referral: Referral) -> list[RerouteTarget]:
    """Every queue of the referral's own program (its program version declares them) except the
    one it is in, each allowed or refused with the reason.

    A queue is allowed when somebody in its team may work this kind of lead: an active member
    whose role works such leads (``assignee_roles``: a commercial team cannot take a patient).
    Queues of other programs are never targets: the lead's consent was given for this program's
    purposes, and another program's team would see the lead without that consent.
    """
    slugs = list(version_definition(referral.program_version).queues)
    queues = Queue.objects.filter(slug__in=slugs).exclude(pk=referral.queue_id).order_by("slug")
    workable = set(
        TeamMembership.objects.filter(
            team_id__in=[queue.team_id for queue in queues],
            user__is_active=True,
            user__role__in=assignee_roles(lead_kind=referral.lead_kind),
        ).values_list("team_id", flat=True)
    )
    return [
        RerouteTarget(
            queue=queue,
            allowed=queue.team_id in workable,
            why_not=""
            if queue.team_id in workable
            else f"nobody in the team of {queue.slug} may work a {referral.lead_kind} lead",
        )
        for queue in queues
    ]
