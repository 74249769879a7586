"""Outreach records: approved content (templates and materials), messages and follow-up timers.

The wording lives in the program files (reviewed in git); its approval state lives here. Time-
driven work hangs off ``next_action_at`` columns (messages and timers), claimed by a worker with
a conditional UPDATE and a lease, so a lost task or a killed worker leaves nothing undone.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from refdesk.core.fields import EncryptedTextField
from refdesk.core.models import BaseModel
from refdesk.outreach.choices import (
    ApprovalState,
    Audience,
    ContentKind,
    MessagePurpose,
    MessageStatus,
    TimerKind,
    TimerState,
)


class ContentVersion(BaseModel):
    """One version of a program's template or material, as read from a program file.

    Created by ``content_sync`` (when a program version is applied) as a draft; approved by a
    person who is not its author (``content_approve``), which retires the approved version it
    replaces; retired by ``content_retire``. A changed wording is a new row (new content hash),
    so what was approved is exactly what is sent. Never deleted: messages point at it.
    """

    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, related_name="content_versions"
    )
    kind = models.CharField(max_length=10, choices=ContentKind.choices)
    key = models.CharField(max_length=63, help_text="The template or material id in the file.")
    version = models.PositiveIntegerField(help_text="The version number in the file.")
    language = models.CharField(max_length=16, default="en")
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the definition.")
    definition = models.JSONField(help_text="The template or material as in the file.")
    state = models.CharField(
        max_length=10, choices=ApprovalState.choices, default=ApprovalState.DRAFT
    )
    author = models.CharField(max_length=200, help_text="Who applied the file (an actor label).")
    review_ref = models.CharField(max_length=100, blank=True)
    approved_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Re-approval due.")
    retired_at = models.DateTimeField(null=True, blank=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "kind", "key", "content_hash"],
                name="content_version_unique_wording",
                violation_error_message="This wording is already recorded for the program.",
            ),
            # Exactly one approved version is in force per template/material and language.
            models.UniqueConstraint(
                fields=["program", "kind", "key", "language"],
                condition=Q(state="approved"),
                name="content_version_one_approved",
                violation_error_message="Another version is already approved.",
            ),
            models.CheckConstraint(
                condition=~Q(state="approved")
                | Q(
                    approved_by__isnull=False,
                    approved_at__isnull=False,
                    expires_at__isnull=False,
                ),
                name="content_version_approval_recorded",
                violation_error_message="An approved version names its approver and expiry.",
            ),
        ]
        indexes = [
            # The console's list and the sender's lookup: versions of one template/material.
            models.Index(fields=["program", "kind", "key", "state"], name="content_lookup"),
            # The daily expiry check: approved versions by expiry.
            models.Index(
                fields=["expires_at"], condition=Q(state="approved"), name="content_expiry"
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.key} v{self.version} ({self.state})"

    @property
    def title(self) -> str:
        return self.definition.get("name") or self.definition.get("title") or self.key


class Message(BaseModel):
    """One message to a lead or a referrer: from one approved template version, on one channel.

    Created by ``message_schedule`` (acknowledgements, first messages, retries, staff sends);
    sent by ``message_deliver`` once ``next_action_at`` is due, after the consent check, which
    may refuse it (``refused`` with its reason) or hold it (quiet hours: rescheduled). The
    recipient and the rendered text are encrypted; the idempotency key goes to the backend
    (Message-ID, provider key) before the call, so a retry after a crash is recognised.
    """

    referral = models.ForeignKey(
        "intake.Referral", on_delete=models.PROTECT, related_name="messages"
    )
    template = models.ForeignKey(
        ContentVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="messages"
    )
    template_key = models.CharField(max_length=63)
    purpose = models.CharField(max_length=20, choices=MessagePurpose.choices)
    audience = models.CharField(max_length=10, choices=Audience.choices)
    channel = models.CharField(max_length=10)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.SCHEDULED
    )
    reason = models.CharField(max_length=40, blank=True, help_text="Why refused or held.")
    next_action_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    tries = models.PositiveSmallIntegerField(default=0)
    idempotency_key = models.CharField(max_length=80, unique=True)
    recipient = EncryptedTextField(blank=True)
    subject = EncryptedTextField(blank=True)
    body = EncryptedTextField(blank=True)
    materials = models.ManyToManyField(ContentVersion, blank=True, related_name="sent_in")
    # The appointment it is about (confirmation, reminder, change, cancellation, offer) and the
    # appointment's sequence when it was scheduled: a reminder for a time that has since moved
    # is not sent.
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
    )
    appointment_sequence = models.PositiveIntegerField(null=True, blank=True)
    # The iCalendar invite attached to the email (rendered with the text, sent again unchanged
    # on a resend); encrypted: it names the recipient as attendee.
    calendar = EncryptedTextField(blank=True)
    provider_id = models.CharField(max_length=100, blank=True)
    requested_by = models.CharField(max_length=200, help_text="Who asked (an actor label).")
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(next_action_at__isnull=True)
                | Q(status__in=["scheduled", "claimed", "sending"]),
                name="message_due_only_while_pending",
                violation_error_message="Only a pending message has a due time.",
            ),
            models.CheckConstraint(
                condition=~Q(status="refused") | ~Q(reason=""),
                name="message_refusal_has_reason",
                violation_error_message="A refused message records why.",
            ),
        ]
        indexes = [
            # The worker's scan: pending messages by due time (partial: finished rows drop out).
            models.Index(
                fields=["next_action_at"],
                condition=Q(next_action_at__isnull=False),
                name="message_due",
            ),
            # The referral page's list and the retry machine's "what was sent to this lead".
            models.Index(fields=["referral", "created_at"], name="message_referral"),
            # Delivery callbacks find the message by the provider's id.
            models.Index(
                fields=["provider_id"], condition=~Q(provider_id=""), name="message_provider"
            ),
            # Reports: messages sent in a period, and those the consent check refused.
            models.Index(
                fields=["sent_at"], condition=Q(sent_at__isnull=False), name="message_sent"
            ),
            models.Index(
                fields=["created_at"], condition=Q(status="refused"), name="message_refused"
            ),
            # Metrics (/metrics): send failures of the last hour, read at every scrape.
            models.Index(
                fields=["failed_at"], condition=Q(failed_at__isnull=False), name="message_failed"
            ),
        ]

    def __str__(self):
        return f"{self.purpose} {self.channel} ({self.status})"


class Timer(models.Model):
    """One piece of time-driven follow-up for a referral: a contact attempt due, closing as
    unreachable, an SLA warning, breach or escalation.

    Created by the follow-up services when a referral is routed (and again when its clock
    moves); acted on by ``timer_fire`` once ``next_action_at`` is due. Each fires at most once
    (unique per referral, kind and attempt); whether it still applies is decided when it fires.
    """

    referral = models.ForeignKey("intake.Referral", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=TimerKind.choices)
    attempt = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=10, choices=TimerState.choices, default=TimerState.PENDING)
    next_action_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["referral", "kind", "attempt"],
                name="timer_once",
                violation_error_message="This timer is already set for the referral.",
            ),
            models.CheckConstraint(
                condition=Q(next_action_at__isnull=True) | Q(state__in=["pending", "running"]),
                name="timer_due_only_while_pending",
                violation_error_message="Only a pending timer has a due time.",
            ),
        ]
        indexes = [
            # The worker's scan: pending timers by due time.
            models.Index(
                fields=["next_action_at"],
                condition=Q(next_action_at__isnull=False),
                name="timer_due",
            ),
            # Cancelling a referral's pending timers (closing, first response).
            models.Index(fields=["referral", "state"], name="timer_referral"),
        ]

    def __str__(self):
        return f"{self.kind} #{self.attempt} ({self.state})"
