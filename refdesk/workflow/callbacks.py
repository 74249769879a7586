"""A lead asks for a call back through the link in a message ({links.reschedule}) when their
program does not book appointments (one that does books them: ``workflow.booking``): the
request and the time of day they prefer are recorded on the referral's timeline and the person
working it is told. Nothing the lead types is stored: they choose from
fixed options, so no free text (and no patient data) reaches the trail."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from refdesk.accounts.models import User
from refdesk.audit.services import audit_record
from refdesk.core.errors import ApplicationError, ValidationFailed
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.workflow.models import NotificationKind
from refdesk.workflow.notifications import notify

CALL_TIMES = {
    "weekday_morning": "Weekday mornings",
    "weekday_afternoon": "Weekday afternoons",
    "any_working_hours": "Any time in working hours",
}
ACTOR = "lead:callback-link"


@transaction.atomic
def callback_request(*, referral: Referral, when: str, now: datetime | None = None) -> None:
    """Record that the lead asked to be called back at ``when`` (a ``CALL_TIMES`` code) and
    tell the assignee (or, unassigned, the queue's team leads). A closed referral refuses."""
    if when not in CALL_TIMES:
        raise ValidationFailed(
            [{"field": "when", "code": "required", "message": "Choose when we should call you."}]
        )
    now = now or timezone.now()
    referral = (
        Referral.objects.select_for_update(of=("self",)).select_related("queue").get(pk=referral.pk)
    )
    if referral.stage == Stage.CLOSED:
        raise ApplicationError(
            "this referral is closed; please contact the team that wrote to you",
            code="referral_closed",
        )
    users = [referral.assigned_to] if referral.assigned_to_id else []
    if not users and referral.queue_id:
        users = list(
            User.objects.filter(
                memberships__team_id=referral.queue.team_id, memberships__lead=True, is_active=True
            )
        )
    notify(
        users=users,
        kind=NotificationKind.CALLBACK_REQUESTED,
        referral=referral,
        subject=CALL_TIMES[when],
        actor=ACTOR,
        at=now,
    )
    audit_record(
        actor=ACTOR,
        action="referral.callback_requested",
        subject=referral,
        changes={"when": (None, when)},
    )
