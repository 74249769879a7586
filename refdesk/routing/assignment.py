"""Assignment: who works a queued referral. ``referral_assign`` and ``referral_claim``.

Fair by construction: the least-loaded active, available member of the queue's team gets the
next referral. Load is the number of open referrals assigned to a person; ties go in turn (the
member with fewer assignments over time first, then the earliest account), so equal members
take turns. Away members (``TeamMembership.available = False``) and deactivated users are never
chosen; with nobody left, the referral waits in its queue unassigned and is counted by
``unassigned_counts_by_queue``.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from refdesk.accounts.models import TeamMembership, User
from refdesk.audit.services import audit_record
from refdesk.core.errors import InvalidTransition, PermissionDenied
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral

# Stages in which an assigned referral still takes its owner's time.
LOAD_STAGES = (Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED, Stage.AWAITING_REVIEW)


def assignment_candidates(queue) -> list[User]:
    """The queue team's active, available members, best candidate first (one query).

    Order: fewest open referrals assigned, then fewest assigned ever (turn-taking among
    equals), then the oldest account, so the choice is deterministic.
    """
    memberships = (
        TeamMembership.objects.filter(team_id=queue.team_id, available=True, user__is_active=True)
        .select_related("user")
        .annotate(
            open_load=Count(
                "user__assigned_referrals",
                filter=Q(user__assigned_referrals__stage__in=LOAD_STAGES),
            ),
            assigned_ever=Count("user__assigned_referrals"),
        )
        .order_by("open_load", "assigned_ever", "user_id")
    )
    return [membership.user for membership in memberships]


# No savepoint: one conditional UPDATE, nothing to undo partially (and intake calls it).
@transaction.atomic(savepoint=False)
def referral_assign(*, referral: Referral, actor) -> User | None:
    """Give a queued, unassigned referral to the least-loaded available member of its queue's
    team; returns them, or None when nobody is available (it then waits in the queue).

    The write is ``UPDATE ... WHERE assigned_to IS NULL AND stage = 'queued'``: a concurrent
    assignment or claim wins cleanly and this call returns None.
    """
    if referral.stage != Stage.QUEUED or referral.assigned_to_id or referral.queue_id is None:
        return None
    candidates = assignment_candidates(referral.queue)
    if not candidates:
        return None
    user = candidates[0]
    updated = Referral.objects.filter(
        pk=referral.pk, stage=Stage.QUEUED, assigned_to__isnull=True, queue_id=referral.queue_id
    ).update(assigned_to=user, updated_at=timezone.now())
    if updated != 1:
        return None
    referral.assigned_to = user
    audit_record(
        actor=actor,
        action="referral.assigned",
        subject=referral,
        changes={"assigned_to": (None, user.username), "queue": (None, referral.queue.slug)},
    )
    return user


@transaction.atomic
def referral_claim(*, referral: Referral, user: User) -> Referral:
    """The user starts working a queued referral: ``queued`` -> ``in_progress``, assigned to them.

    A referral assigned to someone else cannot be claimed (re-route or re-assign it first);
    two people claiming at once: one wins, the other gets ``InvalidTransition``.
    """
    if not user.is_active:
        raise PermissionDenied("an inactive user cannot claim work", code="user_inactive")
    if referral.stage != Stage.QUEUED:
        raise InvalidTransition(f"a referral in {referral.stage} cannot be claimed")
    if referral.assigned_to_id not in (None, user.pk):
        raise InvalidTransition("this referral is assigned to someone else", code="assigned")
    updated = (
        Referral.objects.filter(pk=referral.pk, stage=Stage.QUEUED)
        .filter(Q(assigned_to__isnull=True) | Q(assigned_to=user))
        .update(stage=Stage.IN_PROGRESS, assigned_to=user, updated_at=timezone.now())
    )
    if updated != 1:
        raise InvalidTransition("the referral changed meanwhile; reload and try again")
    old_assignee = referral.assigned_to.username if referral.assigned_to_id else None
    audit_record(
        actor=user,
        action="referral.claimed",
        subject=referral,
        changes={
            "stage": (Stage.QUEUED, Stage.IN_PROGRESS),
            "assigned_to": (old_assignee, user.username),
        },
    )
    referral.stage, referral.assigned_to = Stage.IN_PROGRESS, user
    return referral
