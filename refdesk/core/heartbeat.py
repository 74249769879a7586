"""Worker heartbeats: each ``refdesk worker`` says it is alive, readiness reads it.

A worker calls ``Heartbeat.beat()`` on every turn of its loop; it writes (one UPDATE, an INSERT
the first time) at most every ``HEARTBEAT_EVERY``, so a busy worker pays nothing per task. Rows
not seen for ``PRUNE_AFTER`` are deleted by the next beat of any worker, so dead workers leave
no lasting trace; a worker that stops cleanly deletes its own row.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from refdesk.core.models import WorkerHeartbeat

PRUNE_AFTER = timedelta(days=1)


def heartbeat_interval() -> timedelta:
    """How often a worker writes: a quarter of the staleness limit, at most 30 seconds."""
    return timedelta(seconds=max(1, min(30, settings.REFDESK_WORKER_STALE_SECONDS // 4)))


def stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.REFDESK_WORKER_STALE_SECONDS)


class Heartbeat:
    def __init__(self, worker_id: str):
        self.worker_id = worker_id[:64]
        self.started_at = timezone.now()
        self._written: datetime | None = None

    def beat(self, now: datetime | None = None) -> bool:
        """Record that the worker is alive, unless it did so less than an interval ago."""
        now = now or timezone.now()
        if self._written is not None and now - self._written < heartbeat_interval():
            return False
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "host": socket.gethostname()[:255],
                "pid": os.getpid(),
                "started_at": self.started_at,
                "seen_at": now,
            },
        )
        WorkerHeartbeat.objects.filter(seen_at__lt=now - PRUNE_AFTER).delete()
        self._written = now
        return True

    def end(self) -> None:
        """The worker stops cleanly: it no longer counts as running."""
        WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()


def workers_fresh(now: datetime | None = None):
    now = now or timezone.now()
    return WorkerHeartbeat.objects.filter(seen_at__gte=stale_before(now))
