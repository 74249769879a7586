"""In-app notifications: a new assignment (stored, written with the assignment) and first
responses about to fall due (computed when read, from the referrals' due times).

Nothing here carries patient data: a notification names a referral by reference and says what
happened; the referral page decides what its reader may see.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from refdesk.accounts.models import User
from refdesk.audit.services import Actor, actor_label
from refdesk.intake import choices
from refdesk.intake.models import Referral
from refdesk.workflow.models import Notification, NotificationKind

# A first response due within this long counts as "about to breach".
SLA_WARNING = dt.timedelta(hours=2)
INBOX_SIZE = 50


def notify_assigned(*, referral: Referral, assignee: User, actor: Actor, at: dt.datetime) -> None:
    """Tell ``assignee`` a referral is now theirs; nothing when they took it themselves. Called
    inside the assignment's transaction: no assignment without its notification and back."""
    if isinstance(actor, User) and actor.pk == assignee.pk:
        return
    Notification.objects.create(
        user=assignee,
        referral=referral,
        kind=NotificationKind.ASSIGNED,
        actor=actor_label(actor),
        created_at=at,
    )


def notify(
    *,
    users,
    kind: str,
    actor: Actor,
    at: dt.datetime,
    referral: Referral | None = None,
    subject: str = "",
) -> int:
    """Tell each of ``users`` (once each) about something; in the caller's transaction.
    ``subject`` names what it is about when it is not a referral, never patient data."""
    rows = [
        Notification(
            user=user,
            referral=referral,
            kind=kind,
            subject=subject[:200],
            actor=actor_label(actor),
            created_at=at,
        )
        for user in {user.pk: user for user in users}.values()
    ]
    Notification.objects.bulk_create(rows)
    return len(rows)


@dataclass(frozen=True)
class Inbox:
    unread: list[Notification]
    read: list[Notification]
    due_soon: list[Referral]  # mine, clock running, due within SLA_WARNING (or breached)


def _due_soon(user: User, now: dt.datetime):
    return Referral.objects.filter(
        assigned_to=user,
        stage__in=choices.SLA_RUNNING_STAGES,
        sla_paused_at__isnull=True,
        first_response_due_at__lt=now + SLA_WARNING,
    )


def inbox_for(user: User, *, now: dt.datetime | None = None) -> Inbox:
    """The user's notifications, newest first, and their referrals about to breach (soonest
    first). Three queries whatever the size."""
    now = now or timezone.now()
    items = list(
        Notification.objects.filter(user=user)
        .select_related("referral", "referral__program")
        .only(
            "kind",
            "subject",
            "actor",
            "created_at",
            "read_at",
            "referral__reference",
            "referral__public_id",
            "referral__program__name",
        )[:INBOX_SIZE]
    )
    due = list(
        _due_soon(user, now)
        .select_related("program")
        .only("reference", "public_id", "first_response_due_at", "stage", "program__name")
        .order_by("first_response_due_at")[:INBOX_SIZE]
    )
    return Inbox(
        unread=[item for item in items if item.read_at is None],
        read=[item for item in items if item.read_at is not None],
        due_soon=due,
    )


def inbox_count(user: User, *, now: dt.datetime | None = None) -> int:
    """Unread notifications plus referrals about to breach: the number on the bell."""
    now = now or timezone.now()
    unread = Notification.objects.filter(user=user, read_at__isnull=True).count()
    return unread + _due_soon(user, now).count()


def notifications_mark_read(*, user: User, at: dt.datetime | None = None) -> int:
    """Mark every unread notification of the user read (only theirs); returns how many."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=at or timezone.now()
    )
