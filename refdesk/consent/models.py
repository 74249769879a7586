from django.db import models

from refdesk.consent.choices import ConsentMethod
from refdesk.core.models import BaseModel


class ConsentRecord(BaseModel):
    """The documented permission (or refusal) to contact one lead, as captured at one moment.

    Created by ``referral_submit`` in the same transaction as the referral; withdrawal stamps
    ``withdrawn_at`` through ``consent_withdraw``. Never deleted. The consent text shown is kept by
    version and hash, so what the lead agreed to can be reproduced exactly.
    """

    referral = models.ForeignKey(
        "intake.Referral", on_delete=models.PROTECT, related_name="consents"
    )
    granted = models.BooleanField()
    purposes = models.JSONField(default=list)
    channels = models.JSONField(default=list)
    method = models.CharField(max_length=30, choices=ConsentMethod.choices)
    text_version = models.CharField(max_length=40)
    text_hash = models.CharField(max_length=64)
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=200)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["referral", "recorded_at"]

    def __str__(self):
        state = "withdrawn" if self.withdrawn_at else ("granted" if self.granted else "refused")
        return f"consent {state} ({self.text_version})"

    @property
    def is_active(self) -> bool:
        return self.granted and self.withdrawn_at is None
