from django.db import models

from refdesk.core.models import BaseModel


class IdempotencyRecord(BaseModel):
    """One accepted partner API request that carried an ``Idempotency-Key`` header.

    Written by ``partner_referral_submit`` in the same transaction as the referral, so a retry
    (even a concurrent one) finds either nothing or the finished response, never a half state.
    ``request_fingerprint`` is a keyed digest of the request body: it tells "same request" from
    "same key reused for a different request" without keeping the body (which holds patient data).
    The stored response is the whitelisted 201 body: ids and lifecycle values, no patient data.
    """

    partner_key = models.ForeignKey(
        "referrers.PartnerKey", on_delete=models.PROTECT, related_name="idempotency_records"
    )
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    referral = models.ForeignKey(
        "intake.Referral", on_delete=models.PROTECT, related_name="idempotency_records"
    )
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()

    class Meta:
        constraints = [
            # The unique index also serves the replay look-up (partner key, idempotency key).
            models.UniqueConstraint(
                fields=["partner_key", "key"],
                name="idempotency_key_once_per_partner_key",
                violation_error_message="This partner key already used that idempotency key.",
            ),
        ]

    def __str__(self):
        return f"{self.partner_key_id}:{self.key}"
