"""Claiming due follow-up rows (messages, timers) for one worker: a lease and one locked read.

Due rows are found by their ``next_action_at``; a worker takes a batch under a lease
(``followup_lease``) and marks it in the same transaction. On PostgreSQL ``SKIP LOCKED`` lets
workers claim disjoint batches without waiting on each other; on SQLite the claim's
transaction is the writer lock. A claim whose worker died lapses with its lease and is taken
again. A leaf module: messages, sending and followup all use it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q


def followup_lease() -> timedelta:
    """How long a worker's claim on a message or timer lasts: after it, another worker retakes
    the row (its worker died). ``REFDESK_FOLLOWUP_LEASE_SECONDS``, 5 minutes by default: longer
    than any one item takes; tests shorten it to restart a killed worker quickly."""
    return timedelta(seconds=getattr(settings, "REFDESK_FOLLOWUP_LEASE_SECONDS", 300))


def claim_due(
    model: type[models.Model],
    *,
    due: Q,
    now: datetime,
    limit: int,
    mark: Callable[[list[int], datetime], None],
) -> list[tuple[int, datetime]]:
    """Lock up to ``limit`` rows of ``model`` matching ``due`` whose ``next_action_at`` has come,
    oldest first, and ``mark(ids, lease)`` them in the same transaction. Returns (id, lease)."""
    if not model.objects.filter(next_action_at__lte=now).exists():
        return []  # a plain read first: an idle worker never takes SQLite's write lock
    lease = now + followup_lease()
    with transaction.atomic():
        ids = list(
            model.objects.select_for_update(skip_locked=True)
            .filter(due, next_action_at__lte=now)
            .order_by("next_action_at")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            mark(ids, lease)
    return [(pk, lease) for pk in ids]
