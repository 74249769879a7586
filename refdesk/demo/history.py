"""The demo's history, played in time order under a simulated clock.

A discrete-event simulation: ``History.at(when, step, ...)`` puts a step (a person acting
through a real service: a referrer submitting, staff claiming, a reviewer deciding) on a
priority queue; ``History.play()`` takes the steps in time order, sets the clock
(``time_machine``: every ``timezone.now()`` of the services and of ``audit_record`` reads it)
and runs each. Before each step the follow-up a worker running all along would have done runs at
its own due time — acknowledgements, messages, retries, SLA warnings, breaches and escalations,
reminders (``workflow.sweep.followup_replay``, one due time at a time, the clock set to it) —
and any task a step queued (a completion request to a referrer) runs at once; the worker's
housekeeping (lapsed consents, approvals about to end) runs four times a simulated day. So
nothing of the history is left to the real worker. Every event is stamped at its simulated
time, and since the clock only moves forward the audit chain's ``occurred_at`` never decreases
with ``seq``.

The clock never goes back past the newest event already in the trail: a database that already
has history (programs applied by hand, say) gets the demo's steps no earlier than that, so the
chain stays in time order.

Steps are written in batches of one simulated day per transaction (each step in its own
savepoint, so a refused step leaves nothing, as in autocommit): on SQLite with
``synchronous=FULL`` every commit waits for the disk, and one commit per service call made the
300-referral demo spend most of its time there. A batch is committed early when a step left
work for after the commit (a task to queue, a mail to send), so that work still happens at the
step's simulated time.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import time_machine
from django.db import connection, transaction
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ApplicationError
from refdesk.outreach.models import Message, Timer
from refdesk.workflow.sweep import followup_replay, housekeeping

BATCH = timedelta(days=1)  # simulated time written per transaction
# A worker runs its housekeeping every ten minutes; what it finds (consents past their validity,
# approvals near their end) changes by the day, so the history runs it four times a day.
HOUSEKEEPING = timedelta(hours=6)


def trail_newest() -> datetime | None:
    """When the newest audit event happened (None for an empty trail)."""
    return AuditEvent.objects.order_by("-seq").values_list("occurred_at", flat=True).first()


def next_due() -> datetime | None:
    """The earliest due time of any timer or message (what a worker would act on next)."""
    due = [
        query.filter(next_action_at__isnull=False)
        .order_by("next_action_at")
        .values_list("next_action_at", flat=True)
        .first()
        for query in (Timer.objects, Message.objects)
    ]
    return min((when for when in due if when is not None), default=None)


def database_tasks() -> DatabaseBackend | None:
    """The default task backend when it keeps tasks in the database (as ``make run`` does)."""
    backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    return backend if isinstance(backend, DatabaseBackend) else None


class History:
    """A queue of steps between ``start`` and ``end`` and the clock that plays them."""

    def __init__(self, *, start: datetime, end: datetime):
        newest = trail_newest()
        self.start = max(start, newest + timedelta(microseconds=1)) if newest else start
        self.end = end
        self.now = self.start
        self.steps = 0
        self.after_end = 0  # steps that fall after ``end`` (upcoming): not played
        self.refused: Counter[str] = Counter()  # step name: refusals (a person found it changed)
        self._queue: list = []
        self._order = itertools.count()
        self._clock = None
        self._db_tasks = database_tasks()
        self._batch = None  # the open transaction (an ``atomic``) and when it began
        self._batch_began = None
        self._housekept = self.start

    def at(self, when: datetime, step: Callable, *args) -> None:
        """Run ``step(history, *args)`` at ``when`` (steps after ``end`` are dropped: they
        have not happened yet)."""
        if when > self.end:
            self.after_end += 1
            return
        heapq.heappush(self._queue, (when, next(self._order), step, args))

    def __enter__(self) -> History:
        self._traveller = time_machine.travel(self.start, tick=False)
        self._clock = self._traveller.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._end_batch(*exc)
        finally:
            self._traveller.stop()
            self._clock = None

    def _begin_batch(self) -> None:
        if self._batch is None:
            self._batch = transaction.atomic()
            self._batch.__enter__()
            self._batch_began = self.now

    def _end_batch(self, *exc) -> None:
        """Commit the open batch (roll it back when leaving on an exception)."""
        batch, self._batch = self._batch, None
        if batch is not None:
            batch.__exit__(*(exc or (None, None, None)))

    def _commit_if_due(self) -> None:
        """Commit a day's batch, or at once when work waits for the commit."""
        if self._batch is not None and (
            self.now - self._batch_began >= BATCH or connection.run_on_commit
        ):
            self._end_batch()

    def move(self, when: datetime) -> datetime:
        """Set the clock to ``when``, never backwards."""
        if when > self.now:
            self.now = when
            self._clock.move_to(when)
        return self.now

    def play(self) -> None:
        """Every queued step in time order, the follow-up due before each, then the follow-up
        due up to ``end``; the clock is left at ``end``."""
        while self._queue:
            when, _, step, args = heapq.heappop(self._queue)
            self.catch_up(when)
            self.move(when)
            self.steps += 1
            self._begin_batch()
            try:
                with transaction.atomic():
                    step(self, *args)
            except ApplicationError as refused:
                # A person acting on a referral that changed meanwhile (a timer closed it, the
                # lead withdrew): refused with nothing written, as in the console.
                self.refused[f"{step.__name__}:{refused.code}"] += 1
            self.run_tasks()
        self.catch_up(self.end)
        self.move(self.end)
        self._end_batch()

    def catch_up(self, until: datetime) -> None:
        """Run due timers and messages up to ``until``, each due time with the clock set to it,
        and the worker's housekeeping (``HOUSEKEEPING``)."""
        while self._housekept + HOUSEKEEPING <= until:
            self._housekept += HOUSEKEEPING
            self.catch_up(self._housekept)
            self.move(self._housekept)
            self._begin_batch()
            housekeeping(now=self.now)
        while (due := next_due()) is not None and due <= until:
            self.move(due)
            self._begin_batch()
            if not followup_replay(until=self.now):
                return  # only leased items are due: nothing a worker could take
            self.run_tasks()

    def run_tasks(self) -> None:
        """Run the tasks the last step queued (with the database backend; the immediate backend
        of the tests has run them already), under the clock."""
        self._commit_if_due()
        if self._db_tasks is None:
            return
        alias = self._db_tasks.alias
        ready = list(DBTaskResult.objects.ready().filter(backend_name=alias))
        if not ready:
            return
        worker = Worker(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name=alias,
            startup_delay=False,
            max_tasks=None,
            worker_id="demo-history",
            excluded_queue_names=[],
        )
        tasks_log = logging.getLogger("django.tasks")
        level = tasks_log.level
        tasks_log.setLevel(max(level, logging.WARNING))  # no line per past task on the console
        try:
            for result in ready:
                result.claim(worker.worker_id)
                worker.run_task(result)
        finally:
            tasks_log.setLevel(level)
