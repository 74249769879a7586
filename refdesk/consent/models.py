from django.db import models

from refdesk.consent.choices import ConsentEvent, ConsentMethod, WithdrawalReason
from refdesk.core.models import BaseModel


class ConsentRecord(BaseModel):
    """One event in a lead's consent — given at intake, refused, given later (on a recorded
    call), withdrawn for some or all purposes and channels, expired — and the permission in force
    after it. Append-only: the newest record is the current state (``consent_current``), the
    list is the history. Never changed, never deleted.

    Created by ``referral_submit`` at intake and by the workflow's consent services
    (``consent_record``, ``consent_withdraw``, ``consent_expire``), each in the transaction of
    its audit event. The consent text is kept by version and hash, so what the lead agreed to
    can be reproduced exactly; a withdrawal or expiry carries the text forward.
    """

    referral = models.ForeignKey(
        "intake.Referral", on_delete=models.PROTECT, related_name="consents"
    )
    event = models.CharField(max_length=20, choices=ConsentEvent.choices)
    # The permission in force after this event.
    granted = models.BooleanField()
    purposes = models.JSONField(default=list)
    channels = models.JSONField(default=list)
    method = models.CharField(max_length=30, choices=ConsentMethod.choices)
    text_version = models.CharField(max_length=40)
    text_hash = models.CharField(max_length=64)
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=200)
    # When the permission lapses (the program's validity period); null: it does not.
    expires_at = models.DateTimeField(null=True, blank=True)
    # A withdrawal: what it took back, and why (a code).
    withdrawn_purposes = models.JSONField(default=list, blank=True)
    withdrawn_channels = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=30, choices=WithdrawalReason.choices, blank=True)
    # What a person wrote about it, encrypted with the referral.
    note = models.ForeignKey(
        "intake.ReferralNote", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["referral", "recorded_at", "id"]
        indexes = [
            # consent_current: WHERE referral=? ORDER BY recorded_at DESC, id DESC LIMIT 1.
            models.Index(fields=["referral", "recorded_at"], name="consent_referral_time"),
            # consent_expire's sweep: granted permissions whose validity has run out.
            models.Index(
                fields=["expires_at"],
                name="consent_expiry",
                condition=models.Q(granted=True, expires_at__isnull=False),
            ),
            # Reports: the withdrawals and expiries of a period (few among all records).
            models.Index(
                fields=["recorded_at"],
                name="consent_withdrawn_or_expired",
                condition=models.Q(event__in=["withdrawn", "expired"]),
            ),
        ]

    def __str__(self):
        return f"consent {self.event} ({self.text_version})"

    @property
    def withdrawn_items(self) -> list[str]:
        """What a withdrawal took back: purposes, then channels."""
        return [*self.withdrawn_purposes, *self.withdrawn_channels]
