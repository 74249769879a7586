"""The replay: read-only, chunked, and spread over the machine's cores when there is a lot of it."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from datetime import date

from django.db import connection, transaction

from refdesk.core.errors import NotFound
from refdesk.governance.simulation.report import SimulationReport, Tally, compare
from refdesk.governance.simulation.stored import Chunk, FactsBuilder, chunks, referral_rows
from refdesk.programs.engine import decide
from refdesk.programs.models import Program
from refdesk.programs.schema import ProgramDefinition
from refdesk.referrers.models import Referrer, Source
from refdesk.routing.models import Queue

# Below this many referrals, starting worker processes costs more than it saves.
PARALLEL_MIN = 20_000
IN_FLIGHT = 3  # chunks queued per worker: enough to keep them busy, little memory


def program_simulate(
    *, definition: ProgramDefinition, since: date | None = None, workers: int | None = None
) -> SimulationReport:
    """Replay the program's stored referrals through ``definition``; write nothing.

    1. Find the program by the definition's id (``NotFound`` if it was never applied).
    2. In a read-only transaction that is rolled back, read the referrals (since ``since``) in
       chunks with their latest engine decisions and consent records.
    3. Rebuild each one's facts, decide it with the draft (as version active + 1) and compare
       with the stored decision; on a large program, worker processes do this part
       (``workers``: how many; None decides by the size of the program and the idle cores).
    """
    program = Program.objects.select_related("active_version").filter(slug=definition.id).first()
    if program is None:
        raise NotFound(f"program '{definition.id}' has not been applied yet; nothing to replay")
    active = program.active_version.number if program.active_version else None
    report = SimulationReport(
        program=definition.id, active_version=active, draft_version=(active or 0) + 1, since=since
    )
    with _read_only():
        rows, report.skipped_duplicates, report.skipped_entered_in_error = referral_rows(
            program, since
        )
        replayer = Replayer(
            definition,
            version=report.draft_version,
            sources=dict(Source.objects.filter(program=program).values_list("id", "slug")),
            referrers=dict(
                Referrer.objects.filter(source__program=program).values_list("id", "code")
            ),
        )
        stored = chunks(rows, program.pk, dict(Queue.objects.values_list("id", "slug")))
        workers = _workers(rows) if workers is None else workers
        tallies = _in_workers(replayer, stored, workers) if workers > 1 else map(replayer, stored)
        for tally in tallies:
            report.merge(tally)
    return report


class Replayer:
    """Facts, the draft's decision and the comparison for each referral of a chunk."""

    def __init__(self, definition: ProgramDefinition, *, version: int, sources, referrers):
        self.definition = definition
        self.version = version
        self.builder = FactsBuilder(definition, sources=sources, referrers=referrers)

    def __call__(self, chunk: Chunk) -> Tally:
        tally = Tally()
        facts_of, definition, version = self.builder.facts, self.definition, self.version
        for row in chunk.rows:
            stored = chunk.decisions.get(row[0])
            if stored is None:
                tally.not_routed += 1
                continue
            facts = facts_of(row, chunk.consents.get(row[0], ()), stored.decided_at)
            compare(tally, row[1], stored, decide(definition, facts, version=version))
        return tally


def _workers(rows) -> int:
    """Worker processes for this replay: only with a core to spare and enough to replay.

    Workers add pickling and cost more CPU in total than one process; they shorten the wall
    time only when cores are idle, so a busy machine replays in one process.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    idle = (cores or 1) - os.getloadavg()[0]
    if idle < 1 or rows.count() < PARALLEL_MIN:
        return 1
    return max(2, min(int(idle), 4))


_replayer: Replayer | None = None  # the forked workers' copy


def _run_in_worker(chunk: Chunk) -> Tally:
    return _replayer(chunk)


def _in_workers(replayer: Replayer, stored: Iterator[Chunk], workers: int) -> Iterator[Tally]:
    """Tallies of the chunks in their order, decided by forked workers.

    The database is read in this process only (the workers inherit the connection but never use
    it); results are taken in submission order so the examples do not depend on timing.
    """
    global _replayer
    _replayer = replayer
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pending: deque = deque()
            for chunk in stored:
                pending.append(pool.apply_async(_run_in_worker, (chunk,)))
                if len(pending) >= workers * IN_FLIGHT:
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()
    finally:
        _replayer = None


@contextlib.contextmanager
def _read_only() -> Iterator[None]:
    """Any write inside fails loudly, and whatever was done is rolled back.

    SQLite: Django's transactions there are ``BEGIN IMMEDIATE``, which would hold the database's
    one write lock (and stall intake) for the whole replay; a plain ``BEGIN`` reads a consistent
    WAL snapshot without blocking writers, and ``query_only`` refuses any write.
    PostgreSQL: a rolled-back transaction (a savepoint when already in one) set ``READ ONLY``.
    """
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        own = not connection.in_atomic_block
        # Inside a caller's transaction, a savepoint keeps a refused write from poisoning it.
        with contextlib.nullcontext() if own else transaction.atomic():
            # The driver's own cursor: a refused write marks Django's atomic block for
            # rollback, and query_only must still be switched off then.
            cursor = connection.connection.cursor()
            if own:
                cursor.execute("BEGIN DEFERRED")
            cursor.execute("PRAGMA query_only = ON")
            try:
                yield
            finally:
                cursor.execute("PRAGMA query_only = OFF")
                if own:
                    cursor.execute("ROLLBACK")
                cursor.close()
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
        yield
        transaction.set_rollback(True)
