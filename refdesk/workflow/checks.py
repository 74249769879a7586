"""Manual checks: a task on the referral's queue where a person decides instead of automation
(high-value leads, no-shows). Opening one notifies the assignee (or, unassigned, the team
leads of the queue); a second open check for the same reason is not created."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from refdesk.accounts.models import User
from refdesk.audit.services import Actor, actor_label, audit_record
from refdesk.core.errors import Conflict
from refdesk.intake.models import Referral
from refdesk.workflow.models import ManualCheck, NotificationKind
from refdesk.workflow.notifications import notify


def queue_leads(referral: Referral) -> list[User]:
    """The active team leads of the referral's queue's team."""
    if referral.queue_id is None:
        return []
    return list(
        User.objects.filter(
            memberships__team_id=referral.queue.team_id, memberships__lead=True, is_active=True
        )
    )


def manual_check_open(
    *,
    referral: Referral,
    reason: str,
    subject: str,
    actor: Actor,
    now: datetime,
    changes: dict | None = None,
    why: str = "",
) -> ManualCheck:
    """Open a check on the referral's queue (or return the one already open for ``reason``),
    notify who works it and audit ``followup.manual_check``; in the caller's transaction."""
    open_check = ManualCheck.objects.filter(
        referral=referral, reason=reason, resolved_at__isnull=True
    ).first()
    if open_check is not None:
        return open_check
    check = ManualCheck.objects.create(
        referral=referral, queue_id=referral.queue_id, reason=reason, subject=subject, opened_at=now
    )
    users = [referral.assigned_to] if referral.assigned_to_id else queue_leads(referral)
    notify(
        users=users,
        kind=NotificationKind.MANUAL_CHECK,
        referral=referral,
        subject=subject,
        actor=actor,
        at=now,
    )
    audit_record(
        actor=actor,
        action="followup.manual_check",
        subject=referral,
        changes={"check": (None, reason), **(changes or {})},
        reason=why or subject,
    )
    return check


def manual_check_resolve(*, check: ManualCheck, user: User, now: datetime | None = None) -> None:
    """A person did the check: it leaves the queue. Audited ``followup.manual_check_done``."""
    now = now or timezone.now()
    with transaction.atomic():
        done = ManualCheck.objects.filter(pk=check.pk, resolved_at__isnull=True).update(
            resolved_at=now, resolved_by=actor_label(user)
        )
        if not done:
            raise Conflict("This check was already done.", code="check_done")
        audit_record(
            actor=user,
            action="followup.manual_check_done",
            subject=check.referral,
            changes={"check": (check.reason, None)},
        )


def open_checks(referral: Referral) -> list[ManualCheck]:
    return list(ManualCheck.objects.filter(referral=referral, resolved_at__isnull=True))
