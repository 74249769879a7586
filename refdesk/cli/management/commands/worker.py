"""``refdesk worker``: runs queued tasks (django-tasks-db) and the follow-up sweep.

Between tasks it fires due timers and delivers due messages (``workflow.sweep``), and every
few minutes re-queues tasks whose worker died, records lapsed consents, warns of approvals
about to end, prunes old task rows and refreshes the reports' rollups. Run any number of
workers on PostgreSQL (claims use ``SKIP LOCKED``); on SQLite one is enough (``refdesk serve``
embeds it).
"""

from __future__ import annotations

import contextlib
import time

from django.db import close_old_connections
from django.db.utils import OperationalError
from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from refdesk.core.heartbeat import Heartbeat
from refdesk.reports.rollups import rollup_refresh
from refdesk.workflow.sweep import HOUSEKEEPING_EVERY, housekeeping, sweep_due


class SweepingWorker(Worker):
    """The database task worker, with the follow-up sweep run between tasks."""

    def __init__(self, *, batch_size: int, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = batch_size
        self._housekept = 0.0
        # Readiness (/readyz, `refdesk status`) looks for a recent beat of some worker.
        self.heartbeat = Heartbeat(self.worker_id)

    def _sweep(self) -> bool:
        close_old_connections()
        self.running_task = True  # a signal lets the current item finish before exiting
        try:
            self.heartbeat.beat()
            if time.monotonic() - self._housekept > HOUSEKEEPING_EVERY.total_seconds():
                housekeeping()
                rollup_refresh()  # the reports' months changed since the last refresh
                self._housekept = time.monotonic()
            return sweep_due(batch=self.batch_size).busy
        finally:
            self.running_task = False

    def run(self) -> None:
        try:
            self._loop()
        finally:
            # If the database went away, the row goes stale and is pruned.
            with contextlib.suppress(OperationalError):
                self.heartbeat.end()

    def _loop(self) -> None:
        # The library's loop, one task per turn, with the sweep before each turn. While the
        # sweep finds work it does not sleep; when neither has work it waits ``interval``.
        while self.running:
            busy = self._sweep()
            if not self.running:
                break
            close_old_connections()
            tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
            if not self.process_all_queues:
                tasks = tasks.filter(queue_name__in=self.queue_names)
            task_result = _claim(tasks, self.worker_id)
            if task_result is not None:
                self.run_task(task_result)
                busy = True
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                return
            if self.batch and not busy:
                return
            if self.running and not busy:
                time.sleep(self.interval)


def _claim(tasks, worker_id: str):
    with exclusive_transaction(tasks.db):
        try:
            task_result = tasks.get_locked()
            if task_result is not None:
                task_result.claim(worker_id)
            return task_result
        except OperationalError as error:
            if is_locked_database_exception(error):
                return None
            raise


class Command(DatabaseWorkerCommand):
    help = "Run a background worker: queued tasks and the follow-up sweep (many on PostgreSQL)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--sweep-batch",
            type=int,
            default=50,
            help="due messages and timers claimed per batch (default: 50)",
        )

    def handle(
        self,
        *,
        verbosity,
        queue_name,
        interval,
        batch,
        backend_name,
        startup_delay,
        reload,
        max_tasks,
        worker_id,
        exclude_queues,
        sweep_batch,
        **options,
    ):
        self.configure_logging(verbosity)
        worker = SweepingWorker(
            batch_size=sweep_batch,
            queue_names=queue_name.split(","),
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=False,
            max_tasks=max_tasks,
            worker_id=worker_id,
            excluded_queue_names=exclude_queues.split(",") if exclude_queues else [],
        )
        worker.configure_signals()
        worker.run()
