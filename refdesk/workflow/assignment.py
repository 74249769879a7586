"""Who works a referral: automatic assignment, a claim, a supervisor's choice.

Routing picks the next member fairly (``routing.assignment.assignment_next``) and says who may
be given a referral (``routing.selectors.assignee_eligible``); these services give it to them,
each through the action table's conditional UPDATE, so a concurrent claim, re-route or
assignment wins cleanly.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from refdesk.access import policy
from refdesk.accounts.models import User
from refdesk.audit.services import Actor
from refdesk.core.errors import ApplicationError, InvalidTransition, PermissionDenied
from refdesk.intake.choices import Stage
from refdesk.intake.models import NoteKind, Referral
from refdesk.intake.notes import note_write
from refdesk.routing.assignment import assignment_next, assignment_noted
from refdesk.routing.selectors import assignee_eligible
from refdesk.workflow.notifications import notify_assigned
from refdesk.workflow.transitions import action_guard, referral_transition


def referral_assign(*, referral: Referral, actor: Actor) -> User | None:
    """Give a queued, unassigned referral to the least-loaded available member of its queue's
    team; returns them, or None when nobody is available (it then waits in the queue) or a
    concurrent claim or assignment got there first.
    """
    if referral.stage != Stage.QUEUED or referral.assigned_to_id or referral.queue_id is None:
        return None
    user = assignment_next(referral.queue, lead_kind=referral.lead_kind)
    if user is None:
        return None
    now = timezone.now()
    try:
        # One conditional UPDATE and its audit event (no savepoint: intake calls this).
        referral_transition(
            referral,
            action="assign",
            actor=actor,
            values={"assigned_to": user},
            where={"assigned_to": None, "queue": referral.queue_id},
            changes={"queue": (None, referral.queue.slug)},
            now=now,
        )
    except InvalidTransition:
        return None  # somebody claimed or assigned it meanwhile: their change stands
    assignment_noted(team_id=referral.queue.team_id, user_id=user.pk, at=now)
    notify_assigned(referral=referral, assignee=user, actor=actor, at=now)
    return user


def referral_assign_next(*, referral: Referral, actor: Actor) -> User:
    """A person asks for a queued, unassigned referral to go to the next available member:
    ``referral_assign``, with a clear refusal instead of None."""
    action_guard(referral, "assign")
    if referral.assigned_to_id is not None:
        raise InvalidTransition(
            "this referral is assigned already; assign it to a chosen member instead",
            code="already_assigned",
        )
    user = referral_assign(referral=referral, actor=actor)
    if user is None:
        raise ApplicationError(
            "nobody in the queue's team is available; it waits in the queue", code="nobody"
        )
    return user


def referral_claim(*, referral: Referral, user: User) -> Referral:
    """The user starts working a queued referral: ``queued`` -> ``in_progress``, assigned to them.

    A referral assigned to someone else cannot be claimed (re-route or re-assign it first);
    two people claiming at once: one wins, the other gets a 409 naming the stage it is in now.
    """
    if not user.is_active:
        raise PermissionDenied("an inactive user cannot claim work", code="user_inactive")
    action_guard(referral, "claim", to=Stage.IN_PROGRESS)
    if referral.assigned_to_id not in (None, user.pk):
        raise InvalidTransition("this referral is assigned to someone else", code="assigned")
    with transaction.atomic():
        old = referral.assigned_to.username if referral.assigned_to_id else None
        return referral_transition(
            referral,
            action="claim",
            actor=user,
            to=Stage.IN_PROGRESS,
            values={"assigned_to": user},
            # Still unassigned, or still theirs, as read (the guard above refused anyone else).
            where={"assigned_to": referral.assigned_to_id},
            # Named even when it was theirs already: the timeline says who claimed it.
            changes={"assigned_to": (old, user.username)},
        )


def referral_assign_to(
    *, referral: Referral, assignee: User, actor: Actor, reason: str = ""
) -> Referral:
    """A supervisor gives the referral to a member of its queue's team they choose.

    1. A person acting needs the policy's ``assign_to`` on this referral (views check it first
       and answer "not found"; this keeps every other caller honest): ``PermissionDenied``.
    2. The action table must allow ``assign_to`` from its stage: 409.
    3. The assignee must not already have it, and must be an active member of the queue's team,
       not away, whose role may work this lead: ``ApplicationError`` on the ``assignee`` field.
    4. One conditional UPDATE: stage, queue and assignee still as read, or a 409. The stage
       stays: claimed work stays in progress, in new hands.
    5. Audited as ``referral.assigned``; the reason, if any, is a note.
    """
    if isinstance(actor, User) and not policy.has_perm(actor, "referral.assign_to", referral):
        raise PermissionDenied("you may not assign this referral", code="forbidden")
    action_guard(referral, "assign_to")
    if referral.queue_id is None:
        raise InvalidTransition("a referral in no queue cannot be assigned", code="not_routed")
    if referral.assigned_to_id == assignee.pk:
        raise ApplicationError(
            f"the referral is already assigned to {assignee.username}",
            code="already_assigned",
            field="assignee",
        )
    if not assignee_eligible(referral, assignee):
        raise ApplicationError(
            f"{assignee.username} cannot take this referral: only an active member of the "
            "queue's team who is not away and whose role works such leads can",
            code="assignee_not_eligible",
            field="assignee",
        )
    with transaction.atomic():
        now = timezone.now()
        note = note_write(referral=referral, kind=NoteKind.ASSIGN, text=reason, actor=actor, at=now)
        updated = referral_transition(
            referral,
            action="assign_to",
            actor=actor,
            values={"assigned_to": assignee},
            where={"queue": referral.queue_id, "assigned_to": referral.assigned_to_id},
            note=note,
            now=now,
        )
        notify_assigned(referral=updated, assignee=assignee, actor=actor, at=now)
        return updated
