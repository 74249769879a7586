"""What the lifecycle keeps besides the referral itself: people's notifications.

A notification names a referral (by relation; pages show its reference) and what happened, never
patient data: the bell and its list are safe to show on any screen.
"""

from __future__ import annotations

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
