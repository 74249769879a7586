"""How an engine decision lands on a referral: the stored decision row, the stage it gates to,
the reviews it requests, the notices it sends. Used by the routing services only.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from refdesk.audit.services import actor_label, audit_record
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
# Facts a check may test, and the intake item that supplies each (for needs_info).
_FACT_ITEMS = {
    "target_specialty": "lead.specialty",
    "specialty": "lead.specialty",
    "npi_check": "lead.npi",
    "preferred_contact": "lead.preferred_contact",
    "country": "lead.country",
    "region": "lead.region",
}


def queue_by_slug(slug: str) -> Queue:
    queue = next(iter(sql.select(Queue, "slug = %s", [slug])), None)
    if queue is None:
        # Queues come from `program apply`; a missing one is a configuration error, not data.
        raise ApplicationError(
            f"queue {slug} does not exist; apply the program again", code="unknown_queue"
        )
    return queue


def decide_referral(referral: Referral) -> tuple[ProgramDefinition, Decision, str]:
    definition = version_definition(referral.program_version)
    facts = referral_facts(referral, definition=definition)
    decision = engine.decide(definition, facts, version=referral.program_version.number)
    return definition, decision, facts_digest(facts)


def decision_store(
    *,
    referral: Referral,
    decision: Decision,
    digest: str,
    kind: str,
    queue: Queue,
    previous: Queue | None,
    actor,
    now,
    reason: str = "",
) -> RoutingDecision:
    route = decision.route
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
        )
    )


def _failed_check_items(definition: ProgramDefinition, decision: Decision) -> list[str]:
    """Intake items a referrer can supply to pass the route's failed checks."""
    failed = {c.id for c in decision.route.checks if c.status != "met"}
    route = next((r for r in definition.routes if r.id == decision.route.rule_id), None)
    items: set[str] = set()
    for check in route.then.checks if route else ():
        if check.id in failed:
            found = set(_condition_items(check.when))
            items |= found or {f"check.{check.id}"}
    return sorted(items)


def _condition_items(condition) -> Iterable[str]:
    for key, value in (condition or {}).items():
        if key in ("all", "any"):
            for part in value:
                yield from _condition_items(part)
        elif key == "not":
            yield from _condition_items(value)
        elif key.startswith("answers."):
            yield key
        elif key in _FACT_ITEMS:
            yield _FACT_ITEMS[key]


def gate(definition: ProgramDefinition, decision: Decision) -> tuple[str, list[str], list[str]]:
    """(stage, review kinds to request, missing items) for a fresh decision.

    Extra validation whose checks are not all met sends the referral back to the referrer
    (``needs_info``, the failed checks' items missing) before anyone reviews it.
    """
    flags = set(decision.route.flags)
    if "extra_validation" in flags and any(c.status != "met" for c in decision.route.checks):
        return Stage.NEEDS_INFO, [], _failed_check_items(definition, decision)
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


def reviews_request(*, referral: Referral, kinds: list[str], actor, now) -> list[Review]:
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


def notices_send(*, referral: Referral, reasons: dict[str, str], actor) -> list[QueueNotice]:
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


def ask_referrer_on_commit(referral: Referral) -> None:
    if not referral.referrer.email:
        return
    from refdesk.intake.tasks import send_completion_request

    public_id = str(referral.public_id)
    transaction.on_commit(lambda: send_completion_request.enqueue(public_id), robust=True)
