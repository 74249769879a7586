"""Shared model base. ``core`` depends on no domain app."""

import uuid

from django.db import models


class BaseModel(models.Model):
    """Common columns: a public UUID (the only id shown outside the database) and timestamps."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class WorkerHeartbeat(models.Model):
    """A background worker saying it is alive (``refdesk worker``, refdesk.core.heartbeat).

    Written by the worker's loop at most every ``HEARTBEAT_EVERY``; readiness (``/readyz``,
    ``refdesk status``) needs one seen within ``REFDESK_WORKER_STALE_SECONDS``. Operational
    bookkeeping, not business state: it is not audited, and rows unseen for a day are pruned.
    """

    worker_id = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"worker {self.worker_id} on {self.host} (pid {self.pid})"


class RateCounter(models.Model):
    """Hits of one key in one fixed window of a rate-limit scope (``refdesk.core.ratelimit``).

    ``key_digest`` is a keyed hash of the key (a client address, a login name, an API key's
    id): the key itself is never stored. Rows are pruned once their window has ended.
    """

    scope = models.CharField(max_length=40)
    key_digest = models.CharField(max_length=32)
    window_start = models.BigIntegerField()  # Unix seconds, a multiple of the window
    window_end = models.BigIntegerField()  # Unix seconds; the row is pruned after it
    hits = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key_digest", "window_start"],
                name="core_ratecounter_one_per_window",
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key_digest[:8]} @{self.window_start}: {self.hits}"
