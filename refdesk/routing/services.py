"""Writes for routing: queues, the engine's decisions applied to referrals, staff re-routes.

``referral_route`` (first routing), ``referral_reevaluate`` (after new information) and
``referral_reroute`` (a person moves it, with a reason) each store one ``RoutingDecision`` row,
so a referral's routing history is complete and replayable. Assignment lives in
``routing.assignment`` and the review gate in ``routing.reviews``; both are re-exported here.
Every service audits in its own transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from refdesk.accounts.models import Team
from refdesk.audit.services import actor_label, audit_batch, audit_record
from refdesk.core import sql
from refdesk.core.errors import ApplicationError, InvalidTransition
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.routing.assignment import referral_assign, referral_claim  # noqa: F401
from refdesk.routing.choices import DecisionKind
from refdesk.routing.effects import (
    GATING_FLAGS,
    ROUTE_CHANGED_FLAG,
    ask_referrer_on_commit,
    decide_referral,
    decision_store,
    gate,
    notice_reasons,
    notices_send,
    queue_by_slug,
    reviews_request,
)
from refdesk.routing.models import Queue, RoutingDecision
from refdesk.routing.reviews import review_approve, review_reject  # noqa: F401


@transaction.atomic
def queue_upsert(
    *, slug: str, name: str, team: Team, description: str, actor
) -> tuple[Queue, bool]:
    """Create the queue or bring it up to date; returns (queue, changed)."""
    queue = Queue.objects.select_for_update().filter(slug=slug).first()
    if queue is None:
        queue = Queue.objects.create(slug=slug, name=name, team=team, description=description)
        audit_record(
            actor=actor,
            action="queue.created",
            subject=queue,
            changes={"slug": (None, slug), "name": (None, name), "team": (None, team.slug)},
        )
        return queue, True
    wanted = {"name": name, "team": team, "description": description}
    changes = {
        field: (getattr(queue, field), value)
        for field, value in wanted.items()
        if getattr(queue, field) != value
    }
    if not changes:
        return queue, False
    for field, (_, value) in changes.items():
        setattr(queue, field, value)
    queue.save(update_fields=[*changes, "updated_at"])
    audit_record(
        actor=actor,
        action="queue.updated",
        subject=queue,
        changes={field: (str(old), str(new)) for field, (old, new) in changes.items()},
    )
    return queue, True


# --- services ---------------------------------------------------------------------------------


def referral_route(*, referral: Referral, actor) -> RoutingDecision:
    """Route a ``received`` referral by its own program version's rules.

    1. Facts from the stored referral (decrypted in memory) -> ``decide()``.
    2. Store the decision (kind initial; re-evaluation when the referral was routed before).
    3. Set queue, flags, routed_at, first-response due time, prescreen outcome and the stage:
       ``awaiting_review`` with pending reviews when flagged, ``needs_info`` when extra
       validation checks fail (their items become missing), else ``queued``.
    4. Notify every also_notify queue, keeping the referral's time of receipt.
    5. Audit, then assign a queued referral to the least-loaded available team member.
    """
    if referral.stage != Stage.RECEIVED:
        raise InvalidTransition(f"a referral in {referral.stage} cannot be routed")
    # No savepoint (intake's hot path): a failure past this point fails the caller's
    # transaction too, which is what a half-routed referral needs anyway.
    with transaction.atomic(savepoint=False), audit_batch():
        return _route(referral=referral, actor=actor)


def _route(*, referral: Referral, actor) -> RoutingDecision:
    if referral.stage != Stage.RECEIVED:
        raise InvalidTransition(f"a referral in {referral.stage} cannot be routed")
    definition, decision, digest = decide_referral(referral)
    stage, review_kinds, missing = gate(definition, decision)
    now = timezone.now()
    queue, previous = queue_by_slug(decision.route.queue), referral.queue
    kind = DecisionKind.RE_EVALUATION if referral.routed_at else DecisionKind.INITIAL
    stored = decision_store(
        referral=referral,
        decision=decision,
        digest=digest,
        kind=kind,
        queue=queue,
        previous=previous,
        actor=actor,
        now=now,
    )
    stored.program_version = referral.program_version
    # The intake response reads the decision just made; keep it instead of reading it back.
    referral.just_decided = stored
    values = {
        "queue": queue,
        "flags": list(decision.route.flags),
        "routed_at": now,
        # The SLA clock is paused while the referrer owes information.
        "first_response_due_at": None if stage == Stage.NEEDS_INFO else decision.first_response_due,
        "stage": stage,
        "missing": missing,
    }
    if decision.prescreen is not None:
        values["prescreen_outcome"] = decision.prescreen.outcome
    updated = sql.update(referral, {**values, "updated_at": now}, where={"stage": Stage.RECEIVED})
    if updated != 1:
        raise InvalidTransition("the referral changed meanwhile; reload and try again")
    old_prescreen = referral.prescreen_outcome
    for field, value in values.items():
        setattr(referral, field, value)
    changes = {
        "queue": (previous.slug if previous else None, queue.slug),
        "rule": (None, decision.route.rule_id),
        "version": (None, decision.version),
        "flags": (None, list(decision.route.flags)),
        "stage": (Stage.RECEIVED, stage),
    }
    if decision.prescreen is not None:
        changes["prescreen_outcome"] = (old_prescreen or None, decision.prescreen.outcome)
    if missing:
        changes["missing"] = (None, missing)
    audit_record(
        actor=actor,
        action="referral.routed",
        subject=referral,
        changes=changes,
        reason=decision.route.why,
    )
    reviews_request(referral=referral, kinds=review_kinds, actor=actor, now=now)
    notices_send(referral=referral, reasons=notice_reasons(definition, decision), actor=actor)
    if stage == Stage.NEEDS_INFO:
        from refdesk.intake.missing import missing_items_record

        missing_items_record(referral=referral, fields=missing)
        ask_referrer_on_commit(referral)
    elif stage == Stage.QUEUED:
        referral_assign(referral=referral, actor=actor)
    return stored


# Stages in which new information re-runs the engine (earlier ones are routed when complete).
REEVALUATE_STAGES = (Stage.AWAITING_REVIEW, Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED)
CLAIMED_STAGES = (Stage.IN_PROGRESS, Stage.SCHEDULED)


def referral_reevaluate(
    *, referral: Referral, actor, reason: str, keep_prescreen: bool = False
) -> RoutingDecision:
    """Re-run the engine after new information (answers, prescreen, qualification updates).

    1. Lock the referral; a ``received`` one is simply routed; closed or needs_info is refused.
    2. Store the decision (kind re_evaluation); earlier decisions stay as history.
    3. Not yet claimed: apply the new queue (clearing an assignee from the old team). Claimed
       (in_progress, scheduled): keep the queue and the worker, flag ``route_changed``.
    4. New gating flags request their reviews (a queued referral goes back to
       ``awaiting_review``); new alerts notify their queues. Prescreen outcome follows the
       engine unless ``keep_prescreen`` (a staff-recorded outcome stands; the stored decision
       still shows the engine's view).
    5. Audit ``referral.reevaluated``; assign when it is queued and unassigned.
    """
    with transaction.atomic(), audit_batch():
        locked = (
            Referral.objects.select_for_update(of=("self",))
            .select_related("program_version", "queue", "source", "referrer")
            .get(pk=referral.pk)
        )
        if locked.stage == Stage.RECEIVED:
            stored = _route(referral=locked, actor=actor)
        else:
            stored = _reevaluate(
                referral=locked, actor=actor, reason=reason, keep_prescreen=keep_prescreen
            )
    for field in ("stage", "queue", "assigned_to", "flags", "prescreen_outcome", "routed_at"):
        setattr(referral, field, getattr(locked, field))
    referral.first_response_due_at = locked.first_response_due_at
    return stored


def _reevaluate(*, referral: Referral, actor, reason: str, keep_prescreen: bool):
    if referral.stage not in REEVALUATE_STAGES:
        raise InvalidTransition(f"a referral in {referral.stage} cannot be re-evaluated")
    definition, decision, digest = decide_referral(referral)
    now = timezone.now()
    new_queue, old_queue = queue_by_slug(decision.route.queue), referral.queue
    stored = decision_store(
        referral=referral,
        decision=decision,
        digest=digest,
        kind=DecisionKind.RE_EVALUATION,
        queue=new_queue,
        previous=old_queue,
        actor=actor,
        now=now,
        reason=reason,
    )
    before = {
        "queue": old_queue.slug if old_queue else None,
        "flags": list(referral.flags),
        "stage": referral.stage,
        "prescreen_outcome": referral.prescreen_outcome or None,
        "assigned_to": referral.assigned_to.username if referral.assigned_to_id else None,
    }
    claimed = referral.stage in CLAIMED_STAGES
    flags = set(decision.route.flags)
    if new_queue != old_queue:
        if claimed:
            flags.add(ROUTE_CHANGED_FLAG)
        else:
            referral.queue, referral.assigned_to = new_queue, None
    elif claimed and ROUTE_CHANGED_FLAG in referral.flags:
        flags.add(ROUTE_CHANGED_FLAG)  # still differs from an earlier suggestion? keep it
    referral.flags = sorted(flags)
    referral.first_response_due_at = decision.first_response_due
    if decision.prescreen is not None and not keep_prescreen:
        referral.prescreen_outcome = decision.prescreen.outcome
    kinds = [kind for flag, kind in GATING_FLAGS.items() if flag in flags]
    new_reviews = reviews_request(referral=referral, kinds=kinds, actor=actor, now=now)
    if new_reviews and referral.stage == Stage.QUEUED:
        referral.stage, referral.assigned_to = Stage.AWAITING_REVIEW, None
    referral.save(
        update_fields=[
            "queue",
            "assigned_to",
            "flags",
            "first_response_due_at",
            "prescreen_outcome",
            "stage",
            "updated_at",
        ]
    )
    after = {
        "queue": referral.queue.slug if referral.queue else None,
        "flags": list(referral.flags),
        "stage": referral.stage,
        "prescreen_outcome": referral.prescreen_outcome or None,
        "assigned_to": referral.assigned_to.username if referral.assigned_to_id else None,
    }
    changes = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    changes["rule"] = (None, decision.route.rule_id)
    changes["version"] = (None, decision.version)
    if claimed and new_queue != old_queue:
        changes["suggested_queue"] = (None, new_queue.slug)
    audit_record(
        actor=actor,
        action="referral.reevaluated",
        subject=referral,
        changes=changes,
        reason=reason or decision.route.why,
    )
    notices_send(referral=referral, reasons=notice_reasons(definition, decision), actor=actor)
    if referral.stage == Stage.QUEUED and referral.assigned_to_id is None:
        referral_assign(referral=referral, actor=actor)
    return stored


# Closed work stays where it ended; a booked appointment must be cancelled before a move.
REROUTE_REFUSED = (Stage.RECEIVED, Stage.SCHEDULED, Stage.CLOSED)


@transaction.atomic
def referral_reroute(*, referral: Referral, queue: Queue | str, reason: str, actor):
    """A person moves the referral to another queue, with a reason (required).

    Stored as a ``reroute`` decision with the previous queue, for the routing audit; the
    assignee belongs to the old queue's team, so it is cleared, a claimed referral goes back to
    ``queued`` and a queued one is assigned again in the new queue. Returns the decision.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("a re-route needs a reason", code="reason_required", field="reason")
    target = queue_by_slug(queue) if isinstance(queue, str) else queue
    referral = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("queue", "assigned_to", "program_version")
        .get(pk=referral.pk)
    )
    if referral.stage in REROUTE_REFUSED or referral.queue_id is None:
        raise InvalidTransition(f"a referral in {referral.stage} cannot be re-routed")
    if referral.queue_id == target.pk:
        raise ApplicationError(
            "the referral is already in this queue", code="same_queue", field="queue"
        )
    now = timezone.now()
    previous, old_assignee, old_stage = referral.queue, referral.assigned_to, referral.stage
    stored = RoutingDecision.objects.create(
        referral=referral,
        program_version_id=referral.program_version_id,
        kind=DecisionKind.REROUTE,
        queue=target,
        previous_queue=previous,
        flags=list(referral.flags),
        decided_at=now,
        decided_by=actor_label(actor),
        reason=reason,
    )
    referral.queue, referral.assigned_to = target, None
    if referral.stage == Stage.IN_PROGRESS:
        referral.stage = Stage.QUEUED  # the new team claims it afresh
    referral.save(update_fields=["queue", "assigned_to", "stage", "updated_at"])
    changes = {
        "queue": (previous.slug, target.slug),
        "assigned_to": (old_assignee.username if old_assignee else None, None),
    }
    if referral.stage != old_stage:
        changes["stage"] = (old_stage, referral.stage)
    audit_record(
        actor=actor, action="referral.rerouted", subject=referral, reason=reason, changes=changes
    )
    if referral.stage == Stage.QUEUED:
        referral_assign(referral=referral, actor=actor)
    return stored
