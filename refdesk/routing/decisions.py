"""Routing decides; it never writes the referral. ``routing_plan`` runs the engine on a stored
referral and says where it should go: the queue, flags, due time, the stage the route gates it
to, the reviews to request and the queues to notify. The workflow applies the plan to the
referral (``refdesk.workflow.route``); the rows that are routing's own — the stored decision,
review requests, notices — are written here, each audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from refdesk.audit.services import Actor, actor_label, audit_record
from refdesk.consent.selectors import CurrentConsent
from refdesk.core import sql
from refdesk.core.errors import ApplicationError
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.programs import engine
from refdesk.programs.engine.types import Decision
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import ReviewKind
from refdesk.routing.facts import facts_digest, referral_facts
from refdesk.routing.models import Queue, QueueNotice, Review, RoutingDecision

# Route flags that hold a referral in awaiting_review until a person signs it off.
GATING_FLAGS = {
    "medical_review_required": ReviewKind.MEDICAL_REVIEW,
    "extra_validation": ReviewKind.EXTRA_VALIDATION,
}
# Added when a re-evaluation would move a referral someone already works: a person decides.
ROUTE_CHANGED_FLAG = "route_changed"


def queue_by_slug(slug: str) -> Queue:
    # SQL built once: 227 µs less than filter().first() on SQLite, 345 µs on PostgreSQL
    # (bench/sql_paths.py); every routing runs it.
    queue = next(iter(sql.select(Queue, "slug = %s", [slug])), None)
    if queue is None:
        # Queues come from `program apply`; a missing one is a configuration error, not data.
        raise ApplicationError(
            f"queue {slug} does not exist; apply the program again", code="unknown_queue"
        )
    return queue


@dataclass(frozen=True)
class RoutingPlan:
    """Where the engine sends a referral, and what that asks for."""

    definition: ProgramDefinition
    decision: Decision
    digest: str  # keyed digest of the facts the engine saw
    queue: Queue
    stage: str  # the stage a first routing gates it to
    review_kinds: tuple[str, ...]  # reviews the route's flags ask for
    missing: tuple[str, ...]  # items a referrer can supply to pass failed checks
    notices: dict[str, str]  # {queue slug: the alert or route that asks for a copy}


def routing_plan(
    referral: Referral,
    *,
    consent: CurrentConsent | None = None,
    sla_paused: timedelta | None = None,
) -> RoutingPlan:
    """Run the engine on the stored referral under its own program version (lead data is
    decrypted in memory only). ``sla_paused``: business time the first-response clock stood
    still, which the due time adds."""
    definition = version_definition(referral.program_version)
    facts = referral_facts(referral, definition=definition, consent=consent)
    decision = engine.decide(
        definition,
        facts,
        version=referral.program_version.number,
        sla_paused=sla_paused or timedelta(0),
    )
    stage, kinds, missing = gate(definition, decision)
    return RoutingPlan(
        definition=definition,
        decision=decision,
        digest=facts_digest(facts),
        queue=queue_by_slug(decision.route.queue),
        stage=stage,
        review_kinds=tuple(kinds),
        missing=tuple(missing),
        notices=notice_reasons(definition, decision),
    )


def decision_store(
    *,
    referral: Referral,
    decision: Decision,
    digest: str,
    kind: str,
    queue: Queue,
    previous: Queue | None,
    actor: Actor,
    now,
    reason: str = "",
    note=None,
) -> RoutingDecision:
    route = decision.route
    # SQL built once: 107 µs less than save() on SQLite, 162 µs on PostgreSQL (bench/sql_paths.py).
    return sql.insert(
        RoutingDecision(
            referral=referral,
            program_version_id=referral.program_version_id,
            kind=kind,
            rule_id=route.rule_id,
            rule_position=route.position,
            default_route=route.default,
            queue=queue,
            previous_queue=previous,
            flags=list(route.flags),
            also_notify=list(route.also_notify),
            facts_digest=digest,
            decision=decision.to_dict(),
            decided_at=now,
            decided_by=actor_label(actor),
            reason=reason,
            note=note,
        )
    )


def gate(definition: ProgramDefinition, decision: Decision) -> tuple[str, list[str], list[str]]:
    """(stage, review kinds to request, missing items) for a fresh decision.

    Extra validation whose checks are not all met sends the referral back to the referrer
    (``needs_info``, the failed checks' items missing) before anyone reviews it.
    """
    flags = set(decision.route.flags)
    if "extra_validation" in flags and any(c.status != "met" for c in decision.route.checks):
        return Stage.NEEDS_INFO, [], engine.failed_check_items(definition, decision)
    kinds = [kind for flag, kind in GATING_FLAGS.items() if flag in flags]
    return (Stage.AWAITING_REVIEW if kinds else Stage.QUEUED), kinds, []


def notice_reasons(definition: ProgramDefinition, decision: Decision) -> dict[str, str]:
    """{queue: the alert or route id that asked for it}, for every also_notify queue."""
    route = decision.route
    reasons: dict[str, str] = {}
    fired = set(route.alerts)
    for alert in definition.alerts:
        if alert.id in fired:
            for queue in alert.also_notify:
                reasons.setdefault(queue, alert.id)
    for queue in route.also_notify:
        reasons.setdefault(queue, route.rule_id)
    return reasons


def reviews_request(*, referral: Referral, kinds: Iterable[str], actor: Actor, now) -> list[Review]:
    """A pending review of each kind, unless one is already pending or was decided."""
    if not kinds:
        return []  # most referrals: spare the intake path a query
    existing = set(Review.objects.filter(referral=referral).values_list("kind", flat=True))
    created = []
    for kind in kinds:
        if kind in existing:
            continue
        review = Review.objects.create(referral=referral, kind=kind, requested_at=now)
        audit_record(
            actor=actor,
            action="review.requested",
            subject=referral,
            changes={"review": (None, str(review.public_id)), "kind": (None, kind)},
        )
        created.append(review)
    return created


def notices_send(*, referral: Referral, reasons: dict[str, str], actor: Actor) -> list[QueueNotice]:
    if not reasons:
        return []
    sent = set(QueueNotice.objects.filter(referral=referral).values_list("queue__slug", "reason"))
    notices = []
    for slug, reason in sorted(reasons.items()):
        if (slug, reason) in sent:
            continue
        notice = QueueNotice.objects.create(
            referral=referral,
            queue=queue_by_slug(slug),
            reason=reason,
            received_at=referral.received_at,
        )
        audit_record(
            actor=actor,
            action="notice.sent",
            subject=referral,
            changes={
                "queue": (None, slug),
                "reason": (None, reason),
                "received_at": (None, referral.received_at.isoformat()),
            },
        )
        notices.append(notice)
    return notices
