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


class Notification(models.Model):
    """One thing a staff member should know: written by a workflow service in the same
    transaction as the change it announces (a new assignment). SLA warnings are not stored:
    the list computes them from the due times, so none is ever missed or stale."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
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
