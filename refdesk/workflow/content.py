"""Approved content on the console's side: which templates and materials a user may read, a
version's approval history, and warning the people who sign content off before an approval ends.

Outreach records the content and its approval (``outreach.services``); telling people about it
needs the notifications, which live here, above outreach. Nothing here carries patient data: a
template's name, version and dates only.

``content_expiry_warn`` is run by the worker (daily is enough); each approval is warned about
once, claimed with a conditional UPDATE (``WHERE expiry_warned_at IS NULL``), so two workers
running at the same moment never warn twice. A new approval clears the mark (``content_approve``),
so the next period is warned about again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from refdesk.access import policy
from refdesk.access.selectors import NOT_FOUND_MESSAGE, program_list_content_visible_to
from refdesk.accounts.choices import Role
from refdesk.accounts.models import User
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_record
from refdesk.outreach.choices import ApprovalState
from refdesk.outreach.models import ContentVersion
from refdesk.programs.models import Program
from refdesk.workflow.models import NotificationKind
from refdesk.workflow.notifications import notify

logger = logging.getLogger(__name__)

ACTOR = "system:content"
# Who is told an approval is ending: the owner team's people who may renew it.
WARNED_ROLES = (Role.PROGRAM_OWNER, Role.MEDICAL_REVIEWER)
DEFAULT_WARN_DAYS = 30


# --- reads for the console -----------------------------------------------------------------------


def content_list_visible_to(*, user) -> QuerySet[ContentVersion]:
    """Every recorded version of the templates and materials of the programs the user may read
    (``content.view``), with program and approver; empty when none."""
    return ContentVersion.objects.filter(
        program__in=program_list_content_visible_to(user=user)
    ).select_related("program", "approved_by")


def content_get_for_user(*, user, public_id: uuid.UUID | str) -> ContentVersion:
    """The version with this public id if the user may read its program's content, else the
    same ``Http404`` as an unknown or malformed id."""
    try:
        key = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404(NOT_FOUND_MESSAGE) from None
    content = content_list_visible_to(user=user).filter(public_id=key).first()
    if content is None or not policy.has_perm(user, "content.view", content.program):
        raise Http404(NOT_FOUND_MESSAGE)
    return content


def content_history(content: ContentVersion) -> list[AuditEvent]:
    """The audit events whose subject is this version (drafted, approved, warned, retired),
    oldest first."""
    return list(
        AuditEvent.objects.filter(
            subject_type=content._meta.model_name, subject_id=str(content.public_id)
        )
        .only("occurred_at", "actor", "action", "changes", "reason", "seq")
        .order_by("seq")
    )


def content_siblings(content: ContentVersion) -> list[ContentVersion]:
    """The other recorded versions of the same template or material, newest first."""
    return list(
        ContentVersion.objects.filter(
            program_id=content.program_id, kind=content.kind, key=content.key
        )
        .exclude(pk=content.pk)
        .select_related("approved_by")
        .order_by("-created_at", "-id")
    )


# --- warning before an approval ends ---------------------------------------------------------


def warn_days(program: Program) -> int:
    """``followup.approvals.warn_days`` of the program's active version (read from its stored
    definition, already loaded with the program: no query)."""
    definition = program.active_version.definition if program.active_version else {}
    approvals = (definition.get("followup") or {}).get("approvals") or {}
    return int(approvals.get("warn_days", DEFAULT_WARN_DAYS))


def content_warned_people(program: Program) -> list[User]:
    """The active program owners and medical reviewers of the program's owner team."""
    return list(
        User.objects.filter(
            memberships__team_id=program.owner_team_id, role__in=WARNED_ROLES, is_active=True
        )
        .distinct()
        .order_by("username")
    )


def expiry_subject(content: ContentVersion) -> str:
    """What the notification names: "<name> v<version> approval ends <date>" (no patient data)."""
    ends = timezone.localdate(content.expires_at).isoformat()
    return f"{content.title} v{content.version} approval ends {ends}"


def content_url(content: ContentVersion) -> str:
    path = reverse("desk:content_detail", kwargs={"public_id": content.public_id})
    return f"{settings.REFDESK_BASE_URL}{path}"


def _warning_email(content: ContentVersion, program: Program) -> tuple[str, str]:
    ends = timezone.localdate(content.expires_at).isoformat()
    subject = f"{program.name}: {expiry_subject(content)}"
    body = (
        f'The approval of {content.get_kind_display().lower()} "{content.title}" '
        f"(version {content.version}, {content.language}) in {program.name} ends on {ends}.\n\n"
        "After that date it is no longer sent. Before then, approve it again (apply the program "
        "file with a new review reference and approve the new draft), or retire it:\n"
        f"{content_url(content)}\n"
    )
    return subject, body


@transaction.atomic
def _warn_one(content: ContentVersion, program: Program, now: datetime) -> bool:
    claimed = ContentVersion.objects.filter(
        pk=content.pk, state=ApprovalState.APPROVED, expiry_warned_at__isnull=True
    ).update(expiry_warned_at=now, updated_at=now)
    if not claimed:  # another worker warned, or it was re-approved or retired meanwhile
        return False
    people = content_warned_people(program)
    notify(
        users=people,
        kind=NotificationKind.CONTENT_EXPIRING,
        actor=ACTOR,
        at=now,
        subject=expiry_subject(content),
    )
    audit_record(
        actor=ACTOR,
        action="content.expiry_warned",
        subject=content,
        changes={
            "expiry_warned_at": (None, now.isoformat()),
            "expires_at": (None, content.expires_at.isoformat()),
            "warned": (None, [person.audit_label for person in people]),
        },
    )
    addresses = [person.email for person in people if person.email]
    if addresses:
        subject, body = _warning_email(content, program)
        # After commit: no email about a warning that was rolled back.
        transaction.on_commit(lambda: send_mail(subject, body, None, addresses))
    return True


def content_expiry_warn(*, now: datetime | None = None) -> int:
    """Warn the owner team's program owners and medical reviewers (a notification and an email)
    about each approved version whose approval ends within the program's
    ``followup.approvals.warn_days`` (or has ended) and that was not warned about yet.

    One transaction per version: claimed by a conditional UPDATE, notified, audited
    (``content.expiry_warned``). Returns how many versions were warned about.
    """
    now = now or timezone.now()
    programs = Program.objects.filter(
        content_versions__state=ApprovalState.APPROVED,
        content_versions__expiry_warned_at__isnull=True,
    ).distinct()
    warned = 0
    for program in programs.select_related("active_version"):
        due = ContentVersion.objects.filter(
            program=program,
            state=ApprovalState.APPROVED,
            expiry_warned_at__isnull=True,
            expires_at__lte=now + timedelta(days=warn_days(program)),
        ).order_by("expires_at", "id")
        for content in due:
            if _warn_one(content, program, now):
                warned += 1
    if warned:
        logger.info("content expiry: %d approval(s) warned about", warned)
    return warned


@dataclass(frozen=True)
class Expiry:
    """How an approval's end reads on the console."""

    text: str  # "expires in 12 days", "expires in less than a day", "expired", "" (none)
    expired: bool
    soon: bool  # within the program's warning period


def expiry_of(content: ContentVersion, *, now: datetime, warn: int) -> Expiry:
    if content.expires_at is None or content.state != ApprovalState.APPROVED:
        return Expiry("", False, False)
    if content.expires_at <= now:
        return Expiry("expired", True, False)
    left = content.expires_at - now
    days = left.days
    text = (
        "expires in less than a day"
        if days == 0
        else f"expires in {days} day{'s' if days != 1 else ''}"
    )
    return Expiry(text, False, left <= timedelta(days=warn))
