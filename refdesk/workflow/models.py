"""What the lifecycle keeps besides the referral itself: people's notifications and the manual
checks waiting on a queue.

A notification names a referral (by relation; pages show its reference) and what happened, never
patient data: the bell and its list are safe to show on any screen.
"""

from __future__ import annotations

import uuid

from django.db import models

from refdesk.accounts.models import User
from refdesk.intake.models import Referral


class NotificationKind(models.TextChoices):
    ASSIGNED = "assigned", "Assigned to you"
    ATTEMPT_DUE = "attempt_due", "Contact attempt due"  # the retry cadence: call or write now
    SLA_WARNING = "sla_warning", "First response due soon"  # to the assignee, before breach
    SLA_BREACHED = "sla_breached", "First response overdue"  # to the assignee, at breach
    ESCALATED = "escalated", "Escalated: first response overdue"  # queue leads, program owner
    MANUAL_CHECK = "manual_check", "Manual check needed"  # a high-value lead needs a person
    CONTENT_EXPIRING = "content_expiring", "Approval ending"  # a template or material
    CALLBACK_REQUESTED = "callback_requested", "Call back requested"  # by the lead, via a link


class Notification(models.Model):
    """One thing a staff member should know: written by a workflow service in the same
    transaction as the change it announces (a new assignment, an attempt due, an SLA warning or
    escalation fired by a timer, an approval about to end)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    referral = models.ForeignKey(
        Referral, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    # What it is about when it is not a referral (a template's name); never patient data.
    subject = models.CharField(max_length=200, blank=True)
    actor = models.CharField(max_length=200, help_text="Who caused it (an audit actor label).")
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at", "-created_at"], name="notification_inbox"),
        ]

    def __str__(self):
        return f"{self.kind} for {self.user_id}"


class ManualCheck(models.Model):
    """A task on the referral's queue: a person must look at this referral where automation
    would otherwise decide (a high-value lead's retry window ended, a no-show). Opened by
    ``workflow.checks.manual_check_open`` (with notifications to the assignee or the team
    leads), done by ``manual_check_resolve``; both audited. Shown on the queue and the
    referral page until done."""

    class Reason(models.TextChoices):
        RETRIES_EXHAUSTED = "retries_exhausted", "Retry window over"  # high-value, or short
        NO_SHOW = "no_show", "Missed appointment"  # the program asks a person to follow up

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="checks")
    queue = models.ForeignKey(
        "routing.Queue", on_delete=models.PROTECT, null=True, blank=True, related_name="checks"
    )
    reason = models.CharField(max_length=30, choices=Reason.choices)
    # Why, in refdesk's words (e.g. "High-value lead: missed appointment"); no patient data.
    subject = models.CharField(max_length=200)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["opened_at", "id"]
        indexes = [
            # The queue's open checks.
            models.Index(fields=["queue", "resolved_at"], name="check_queue_open"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["referral", "reason"],
                condition=models.Q(resolved_at__isnull=True),
                name="check_one_open_per_reason",
                violation_error_message="This referral already has that check open.",
            ),
        ]

    def __str__(self):
        return f"{self.reason} check on {self.referral_id}"
