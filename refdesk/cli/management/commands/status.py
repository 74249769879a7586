"""``refdesk status``: the readiness checks, the task queue and the workers; exit 0 when ready.

The same checks as ``/readyz`` (refdesk.core.health), plus what an operator looks at next: how
many tasks wait and for how long, and each worker's last heartbeat.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand
from django.db import DatabaseError
from django.utils import timezone

from refdesk.core.health import readiness, task_queue
from refdesk.core.heartbeat import stale_before
from refdesk.core.models import WorkerHeartbeat


class Command(BaseCommand):
    help = "Readiness checks, task queue depth and age, workers and their last heartbeat."

    def handle(self, *args, **options):
        now = timezone.now()
        result = readiness(now)
        self.stdout.write(f"status: {'ready' if result.ready else 'NOT READY'}")
        for check in result.checks:
            mark = "ok" if check.ok else ("FAIL" if check.required else "warn")
            self.stdout.write(f"  {check.name:<11} {mark:<4} {check.detail}")
        if result.checks[0].ok:
            self._queue_and_workers(now)
        sys.exit(0 if result.ready else 1)

    def _queue_and_workers(self, now) -> None:
        try:
            queue = task_queue(now)
            workers = list(WorkerHeartbeat.objects.order_by("-seen_at"))
        except DatabaseError as error:
            self.stdout.write(f"  (could not read the queue: {type(error).__name__})")
            return
        oldest = "-" if queue.oldest_age_seconds is None else f"{queue.oldest_age_seconds:.0f} s"
        self.stdout.write(f"tasks: {queue.depth} ready, oldest waiting {oldest}")
        self.stdout.write(f"workers: {len(workers)}")
        stale = stale_before(now)
        for worker in workers:
            ago = (now - worker.seen_at).total_seconds()
            state = "stale" if worker.seen_at < stale else "fresh"
            self.stdout.write(
                f"  {worker.worker_id}  {worker.host} pid {worker.pid}  "
                f"started {worker.started_at:%Y-%m-%d %H:%M:%S}Z  "
                f"last seen {ago:.0f} s ago ({state})"
            )
