"""The worker's periodic sweep: due follow-up, lost tasks, lapsed consents, ending approvals,
old task results. ``refdesk worker`` runs it between tasks; any number of workers may.

Nothing here trusts a queue to remember: due work is found from ``next_action_at`` columns every
time, so a task that was never enqueued, a worker killed mid-batch or a restart loses nothing.
A task row left RUNNING by a dead worker is put back to READY once its lease
(``TASK_LEASE``) has passed; every task refdesk runs is idempotent, so running it again is safe.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from refdesk.core.ratelimit import rate_counters_prune
from refdesk.outreach.models import Message, Timer
from refdesk.workflow.consent import consent_expire_due
from refdesk.workflow.content import content_expiry_warn
from refdesk.workflow.followup import timers_fire_due
from refdesk.workflow.sending import messages_deliver_due

logger = logging.getLogger(__name__)

TASK_LEASE = timedelta(minutes=15)  # longer than any refdesk task runs
KEEP_FINISHED_TASKS = timedelta(days=14)
HOUSEKEEPING_EVERY = timedelta(minutes=10)


@dataclass
class SweepResult:
    messages: int = 0
    timers: int = 0
    tasks_requeued: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        return bool(self.messages or self.timers)


def tasks_requeue_stale(*, now: datetime | None = None) -> int:
    """Put task rows left RUNNING past their lease (the worker died) back to READY."""
    now = now or timezone.now()
    return DBTaskResult.objects.filter(status="RUNNING", started_at__lt=now - TASK_LEASE).update(
        status="READY", started_at=None
    )


def tasks_prune(*, now: datetime | None = None) -> int:
    """Delete finished task rows older than ``KEEP_FINISHED_TASKS`` (the audit trail, not the
    task table, is the record of what happened)."""
    now = now or timezone.now()
    deleted, _ = DBTaskResult.objects.filter(
        status__in=("SUCCESSFUL", "FAILED"), finished_at__lt=now - KEEP_FINISHED_TASKS
    ).delete()
    return deleted


def sweep_due(*, batch: int = 50, budget_seconds: float = 5.0) -> SweepResult:
    """Fire due timers and deliver due messages in batches until none is due or the time
    budget is spent (so queued tasks still get their turn)."""
    result = SweepResult()
    started = time.monotonic()
    while time.monotonic() - started < budget_seconds:
        timers = timers_fire_due(limit=batch)
        messages = messages_deliver_due(limit=batch)
        result.timers += timers
        result.messages += messages
        if not timers and not messages:
            break
    return result


def housekeeping(*, now: datetime | None = None) -> dict[str, int]:
    """The slow-cadence part of the sweep: lost tasks, consents, approvals, pruning (old task
    rows, and rate-limit counters whose window has ended)."""
    now = now or timezone.now()
    done = {"tasks_requeued": tasks_requeue_stale(now=now)}
    expired = 0
    while batch := consent_expire_due(now=now):
        expired += batch
    done["consents_expired"] = expired
    done["approvals_warned"] = content_expiry_warn(now=now)
    done["tasks_pruned"] = tasks_prune(now=now)
    done["rate_counters_pruned"] = rate_counters_prune(now=now.timestamp())
    if any(done.values()):
        logger.info("housekeeping: %s", ", ".join(f"{k}={v}" for k, v in done.items() if v))
    return done


def followup_replay(*, until: datetime, batch: int = 200) -> int:
    """Run every due timer and message as of its own due time, in time order, up to ``until``:
    what a worker running all along would have done (the demo builds its history with it).
    Returns how many items ran."""
    done = 0
    while True:
        first = min(
            (
                row
                for row in (
                    Timer.objects.filter(next_action_at__isnull=False)
                    .order_by("next_action_at")
                    .values_list("next_action_at", flat=True)
                    .first(),
                    Message.objects.filter(next_action_at__isnull=False)
                    .order_by("next_action_at")
                    .values_list("next_action_at", flat=True)
                    .first(),
                )
                if row is not None
            ),
            default=None,
        )
        if first is None or first > until:
            return done
        ran = timers_fire_due(now=first, limit=batch) + messages_deliver_due(now=first, limit=batch)
        if not ran:
            return done  # only leased items are due: a live worker has them
        done += ran
