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
