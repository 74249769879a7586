"""Applying routing decisions to a referral: the first routing, re-evaluation after new
information, and a person's re-route. Routing decides (``routing.decisions.routing_plan``) and
stores its decision rows; these services move the referral.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from refdesk.audit.services import Actor, actor_label, audit_batch
from refdesk.consent.selectors import CurrentConsent
from refdesk.core.errors import ApplicationError, InvalidTransition
from refdesk.intake.choices import CLAIMED_STAGES, Stage
from refdesk.intake.missing import missing_items_record
from refdesk.intake.models import NoteKind, Referral
from refdesk.intake.notes import note_write
from refdesk.routing.choices import DecisionKind
from refdesk.routing.decisions import (
    GATING_FLAGS,
    ROUTE_CHANGED_FLAG,
    decision_store,
    notices_send,
    queue_by_slug,
    reviews_request,
    routing_plan,
)
from refdesk.routing.models import Queue, RoutingDecision
from refdesk.routing.selectors import reroute_targets
from refdesk.workflow.assignment import referral_assign
from refdesk.workflow.effects import ask_referrer_on_commit
from refdesk.workflow.sla import sla_pause, sla_paused
from refdesk.workflow.transitions import action_guard, referral_transition


def referral_route(
    *, referral: Referral, actor: Actor, consent: CurrentConsent | None = None
) -> RoutingDecision:
    """Route a ``received`` referral by its own program version's rules.

    1. ``routing_plan``: facts from the stored referral (decrypted in memory) -> the engine.
    2. Store the decision (kind initial; re-evaluation when the referral was routed before).
    3. Move it (``route``): queue, flags, routed_at, first-response due time (the SLA from
       receipt plus any time the clock stood paused), prescreen outcome, and the stage the route
       gates it to — ``awaiting_review`` with pending reviews when flagged, ``needs_info`` when
       extra validation checks fail (their items become missing; the clock stops), else
       ``queued``.
    4. Notify every also_notify queue, keeping the referral's time of receipt.
    5. Assign a queued referral to the least-loaded available team member.

    ``consent``: the consent in force, when the caller holds it (intake: just recorded).
    """
    action_guard(referral, "route", to=Stage.QUEUED)
    # No savepoint (intake's hot path): a failure past this point fails the caller's
    # transaction too, which is what a half-routed referral needs anyway.
    with transaction.atomic(savepoint=False), audit_batch():
        return _route(referral=referral, actor=actor, consent=consent)


def _route(
    *, referral: Referral, actor: Actor, consent: CurrentConsent | None = None
) -> RoutingDecision:
    plan = routing_plan(referral, consent=consent, sla_paused=sla_paused(referral))
    decision, now, previous = plan.decision, timezone.now(), referral.queue
    stored = decision_store(
        referral=referral,
        decision=decision,
        digest=plan.digest,
        kind=DecisionKind.RE_EVALUATION if referral.routed_at else DecisionKind.INITIAL,
        queue=plan.queue,
        previous=previous,
        actor=actor,
        now=now,
    )
    stored.program_version = referral.program_version
    # The intake response reads the decision just made; keep it instead of reading it back.
    referral.just_decided = stored
    values = {
        "queue": plan.queue,
        "flags": list(decision.route.flags),
        "routed_at": now,
        "first_response_due_at": decision.first_response_due,
        "missing": list(plan.missing),
    }
    if plan.stage == Stage.NEEDS_INFO:
        values |= sla_pause(now)
    if decision.prescreen is not None:
        values["prescreen_outcome"] = decision.prescreen.outcome
    referral_transition(
        referral,
        action="route",
        actor=actor,
        to=plan.stage,
        values=values,
        changes={"rule": (None, decision.route.rule_id), "version": (None, decision.version)},
        reason=decision.route.why,
        now=now,
    )
    reviews_request(referral=referral, kinds=plan.review_kinds, actor=actor, now=now)
    notices_send(referral=referral, reasons=plan.notices, actor=actor)
    if plan.stage == Stage.NEEDS_INFO:
        missing_items_record(referral=referral, fields=plan.missing)
        ask_referrer_on_commit(referral)
    elif plan.stage == Stage.QUEUED:
        referral_assign(referral=referral, actor=actor)
    return stored


def referral_reevaluate(
    *, referral: Referral, actor: Actor, reason: str, keep_prescreen: bool = False
) -> RoutingDecision:
    """Re-run the engine after new information (answers, prescreen, qualification updates).

    1. Lock the referral; a ``received`` one is simply routed; others must allow
       ``reevaluate`` (not closed, not waiting on the referrer).
    2. Store the decision (kind re_evaluation); earlier decisions stay as history.
    3. Not yet claimed: apply the new queue (clearing an assignee from the old team). Claimed
       (in_progress, scheduled): keep the queue and the worker, flag ``route_changed``.
    4. New gating flags request their reviews (a queued referral goes back to
       ``awaiting_review``); new alerts notify their queues. Prescreen outcome follows the
       engine unless ``keep_prescreen`` (a staff-recorded outcome stands; the stored decision
       still shows the engine's view).
    5. Audit ``referral.reevaluated``; assign when it is queued and unassigned.

    ``reason`` is refdesk's own words ("prescreen recorded"); what a person wrote is a note.
    """
    with transaction.atomic(), audit_batch():
        locked = (
            Referral.objects.select_for_update(of=("self",))
            .select_related("program_version", "queue", "source", "referrer", "assigned_to")
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


def _reevaluate(*, referral: Referral, actor: Actor, reason: str, keep_prescreen: bool):
    action_guard(referral, "reevaluate")
    plan = routing_plan(referral, sla_paused=sla_paused(referral))
    decision, now = plan.decision, timezone.now()
    new_queue, old_queue = plan.queue, referral.queue
    stored = decision_store(
        referral=referral,
        decision=decision,
        digest=plan.digest,
        kind=DecisionKind.RE_EVALUATION,
        queue=new_queue,
        previous=old_queue,
        actor=actor,
        now=now,
        reason=reason,
    )
    claimed = referral.stage in CLAIMED_STAGES
    flags = set(decision.route.flags)
    values: dict = {"first_response_due_at": decision.first_response_due}
    if new_queue != old_queue:
        if claimed:
            flags.add(ROUTE_CHANGED_FLAG)
        else:
            values |= {"queue": new_queue, "assigned_to": None}
    elif claimed and ROUTE_CHANGED_FLAG in referral.flags:
        flags.add(ROUTE_CHANGED_FLAG)  # still differs from an earlier suggestion? keep it
    values["flags"] = sorted(flags)
    if decision.prescreen is not None and not keep_prescreen:
        values["prescreen_outcome"] = decision.prescreen.outcome
    kinds = [kind for flag, kind in GATING_FLAGS.items() if flag in flags]
    new_reviews = reviews_request(referral=referral, kinds=kinds, actor=actor, now=now)
    to = referral.stage
    if new_reviews and referral.stage == Stage.QUEUED:
        to, values["assigned_to"] = Stage.AWAITING_REVIEW, None
    changes = {"rule": (None, decision.route.rule_id), "version": (None, decision.version)}
    if claimed and new_queue != old_queue:
        changes["suggested_queue"] = (None, new_queue.slug)
    referral_transition(
        referral,
        action="reevaluate",
        actor=actor,
        to=to,
        values=values,
        changes=changes,
        reason=reason or decision.route.why,
        now=now,
    )
    notices_send(referral=referral, reasons=plan.notices, actor=actor)
    if referral.stage == Stage.QUEUED and referral.assigned_to_id is None:
        referral_assign(referral=referral, actor=actor)
    return stored


def referral_reroute(
    *, referral: Referral, queue: Queue | str, reason: str, actor: Actor
) -> RoutingDecision:
    """A person moves the referral to another queue of its program, with a reason (required).

    1. The reason is a note (encrypted with the referral); without one, nothing happens.
    2. Only queues of the referral's own program version whose team may work this kind of lead
       (``routing.selectors.reroute_targets``); anything else is refused with the reason.
    3. Stored as a ``reroute`` decision with the previous queue, for the routing audit; the
       assignee belongs to the old queue's team, so it is cleared, a claimed referral goes back
       to ``queued`` and a queued one is assigned again in the new queue.
    """
    if not (reason or "").strip():
        raise ApplicationError("a re-route needs a reason", code="reason_required", field="reason")
    with transaction.atomic(), audit_batch():
        return _reroute(referral=referral, queue=queue, reason=reason, actor=actor)


def _reroute(*, referral: Referral, queue: Queue | str, reason: str, actor: Actor):
    referral = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("queue", "assigned_to", "program_version")
        .get(pk=referral.pk)
    )
    action_guard(referral, "reroute")
    if referral.queue_id is None:
        raise InvalidTransition("a referral in no queue cannot be re-routed", code="not_routed")
    slug = queue if isinstance(queue, str) else queue.slug
    if slug == referral.queue.slug:
        raise ApplicationError(
            "the referral is already in this queue", code="same_queue", field="queue"
        )
    target = next((t for t in reroute_targets(referral) if t.queue.slug == slug), None)
    if target is None:
        queue_by_slug(slug)  # an unknown queue says so
        raise ApplicationError(
            f"{slug} is not a queue of this referral's program; re-route it within its program",
            code="reroute_other_program",
            field="queue",
        )
    if not target.allowed:
        raise ApplicationError(
            f"cannot re-route to {slug}: {target.why_not}",
            code="reroute_not_workable",
            field="queue",
        )
    now = timezone.now()
    note = note_write(referral=referral, kind=NoteKind.REROUTE, text=reason, actor=actor, at=now)
    stored = RoutingDecision.objects.create(
        referral=referral,
        program_version_id=referral.program_version_id,
        kind=DecisionKind.REROUTE,
        queue=target.queue,
        previous_queue=referral.queue,
        flags=list(referral.flags),
        decided_at=now,
        decided_by=actor_label(actor),
        note=note,
    )
    referral_transition(
        referral,
        action="reroute",
        actor=actor,
        # the new team claims it afresh
        to=Stage.QUEUED if referral.stage == Stage.IN_PROGRESS else referral.stage,
        values={"queue": target.queue, "assigned_to": None},
        note=note,
        now=now,
    )
    if referral.stage == Stage.QUEUED:
        referral_assign(referral=referral, actor=actor)
    return stored
