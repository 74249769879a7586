"""Handing a referral to a chosen person: ``referral_assign_to`` and ``assignees_for``.

Automatic assignment (``routing.assignment``) picks the next member fairly; a supervisor
(``policy.ACTION_ROLES["assign_to"]``) may instead choose who works a referral — to balance
load by hand, or to hand over the work of someone who is away. Both follow one eligibility
rule: an active member of the team owning the referral's queue, not away, whose role may work
such a lead (``assignee_roles``).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from refdesk.access import policy
from refdesk.accounts.models import TeamMembership, User
from refdesk.accounts.roles import assignee_roles
from refdesk.audit.services import audit_record
from refdesk.core.errors import ApplicationError, InvalidTransition, PermissionDenied
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.routing.assignment import LOAD_STAGES

# Stages in which a referral sits in its queue with someone answerable for it, so a supervisor
# may hand it to a chosen member. Not awaiting_review: the review gate clears the assignee and
# its decision assigns afresh. Not received or closed: there is no work to hand over.
REASSIGNABLE_STAGES = frozenset(
    {Stage.QUEUED, Stage.NEEDS_INFO, Stage.IN_PROGRESS, Stage.SCHEDULED}
)


def _eligible_memberships(referral: Referral) -> QuerySet[TeamMembership]:
    return TeamMembership.objects.filter(
        team_id=referral.queue.team_id,
        available=True,
        user__is_active=True,
        user__role__in=assignee_roles(lead_kind=referral.lead_kind),
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
        _eligible_memberships(referral)
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


@transaction.atomic
def referral_assign_to(*, referral: Referral, assignee: User, actor, reason: str = "") -> Referral:
    """A supervisor gives the referral to a member of its queue's team they choose.

    1. A person acting needs the policy's ``assign_to`` on this referral (views check it first
       and answer "not found"; this keeps every other caller honest): ``PermissionDenied``.
    2. The referral must be open in a queue (``REASSIGNABLE_STAGES``): ``InvalidTransition``.
    3. The assignee must not already have it, and must be an active member of the queue's team,
       not away, whose role may work this lead: ``ApplicationError`` on the ``assignee`` field.
    4. One conditional ``UPDATE ... WHERE`` stage, queue and assignee are still as read: a
       concurrent claim, re-route or assignment wins cleanly and this raises
       ``InvalidTransition``. The stage stays: claimed work stays in progress, in new hands.
    5. Audited as ``referral.assigned`` with the old and new assignee and the reason.
    """
    if isinstance(actor, User) and not policy.has_perm(actor, "referral.assign_to", referral):
        raise PermissionDenied("you may not assign this referral", code="forbidden")
    if referral.stage not in REASSIGNABLE_STAGES or referral.queue_id is None:
        raise InvalidTransition(
            f"a referral in {referral.stage} cannot be assigned", code="not_assignable"
        )
    if referral.assigned_to_id == assignee.pk:
        raise ApplicationError(
            f"the referral is already assigned to {assignee.username}",
            code="already_assigned",
            field="assignee",
        )
    if not _eligible_memberships(referral).filter(user_id=assignee.pk).exists():
        raise ApplicationError(
            f"{assignee.username} cannot take this referral: only an active member of the "
            "queue's team who is not away and whose role works such leads can",
            code="assignee_not_eligible",
            field="assignee",
        )
    old_assignee = referral.assigned_to.username if referral.assigned_to_id else None
    updated = Referral.objects.filter(
        pk=referral.pk,
        stage=referral.stage,
        queue_id=referral.queue_id,
        assigned_to_id=referral.assigned_to_id,
    ).update(assigned_to=assignee, updated_at=timezone.now())
    if updated != 1:
        raise InvalidTransition("the referral changed meanwhile; reload and try again")
    referral.assigned_to = assignee
    audit_record(
        actor=actor,
        action="referral.assigned",
        subject=referral,
        changes={"assigned_to": (old_assignee, assignee.username)},
        reason=(reason or "").strip(),
    )
    return referral
