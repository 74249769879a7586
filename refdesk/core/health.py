"""Readiness: can this deployment do its work? Read by ``/readyz`` and ``refdesk status``.

Three checks, each answering ok or not with a fixed, non-secret reason (never a host name, a
database name or an error text, which may carry either):

- ``database``: the default database answers ``SELECT 1``;
- ``migrations``: no migration is unapplied (remembered per process once true: a release's
  migrations are applied before it starts, so they cannot become unapplied under it);
- ``worker``: at least one ``refdesk worker`` beat within ``REFDESK_WORKER_STALE_SECONDS``.
  Readiness is about the system: without any worker no acknowledgement, message, SLA warning or
  escalation goes out, so a web node is not ready either (``REFDESK_READYZ_REQUIRES_WORKER=false``
  reports the check without failing on it; docs/operations.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from refdesk.core.heartbeat import workers_fresh

logger = logging.getLogger(__name__)

_migrations_applied = False


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks if check.required)

    def as_json(self) -> dict:
        return {
            "status": "ready" if self.ready else "not ready",
            "checks": {
                check.name: {
                    "ok": check.ok,
                    "detail": check.detail,
                    **({} if check.required else {"required": False}),
                }
                for check in self.checks
            },
            "failing": [c.name for c in self.checks if c.required and not c.ok],
        }


def check_database(alias: str = "default") -> Check:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        # The error text may name the host or the database: only its class is logged.
        logger.warning("readiness: database unreachable (%s)", type(error).__name__)
        return Check("database", False, "unreachable")
    return Check("database", True, "answers")


def check_migrations(alias: str = "default") -> Check:
    global _migrations_applied
    if _migrations_applied:
        return Check("migrations", True, "all applied")
    try:
        executor = MigrationExecutor(connections[alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        logger.warning("readiness: migrations unreadable (%s)", type(error).__name__)
        return Check("migrations", False, "unknown (database unreachable)")
    if plan:
        return Check("migrations", False, f"{len(plan)} unapplied")
    _migrations_applied = True
    return Check("migrations", True, "all applied")


def check_worker(now: datetime | None = None) -> Check:
    required = settings.REFDESK_READYZ_REQUIRES_WORKER
    try:
        fresh = workers_fresh(now).count()
    except DatabaseError as error:
        logger.warning("readiness: heartbeats unreadable (%s)", type(error).__name__)
        return Check("worker", False, "unknown (database unreachable)", required)
    if not fresh:
        limit = settings.REFDESK_WORKER_STALE_SECONDS
        return Check("worker", False, f"no worker seen in the last {limit} s", required)
    return Check("worker", True, f"{fresh} running", required)


def readiness(now: datetime | None = None) -> Readiness:
    now = now or timezone.now()
    database = check_database()
    if not database.ok:
        # Every other check reads the database: say so instead of waiting on it twice more.
        unknown = "unknown (database unreachable)"
        return Readiness(
            (
                database,
                Check("migrations", False, unknown),
                Check("worker", False, unknown, settings.REFDESK_READYZ_REQUIRES_WORKER),
            )
        )
    return Readiness((database, check_migrations(), check_worker(now)))


def forget_migrations_applied() -> None:
    """For tests: check the migrations again on the next call."""
    global _migrations_applied
    _migrations_applied = False


@dataclass(frozen=True)
class TaskQueue:
    depth: int
    oldest_age_seconds: float | None


def task_queue(now: datetime | None = None) -> TaskQueue:
    """Tasks ready to run and how long the oldest has waited since it was enqueued."""
    from_now = now or timezone.now()
    ready = DBTaskResult.objects.ready()
    depth = ready.count()
    oldest = ready.order_by("enqueued_at").values_list("enqueued_at", flat=True).first()
    age = (from_now - oldest).total_seconds() if oldest is not None else None
    return TaskQueue(depth, max(0.0, age) if age is not None else None)
