"""What a node needs before it serves, as Django system checks (``refdesk check --deploy``).

``refdesk serve`` runs the errors among them at start and refuses to start on any, naming the
command that fixes it, so a missed deployment step is a clear message instead of a 500 on every
page:

- ``refdesk.E001`` static files are not collected, or were collected by an older version (the
  manifest lacks files this version ships): ``refdesk collectstatic --no-input``;
- ``refdesk.E002`` a database cache's table is missing: ``refdesk createcachetable``;
- ``refdesk.E003`` migrations are not applied: ``refdesk migrate``;
- ``refdesk.W004`` (a warning) on PostgreSQL, this node may open more connections than the server
  accepts (``REFDESK_WEB_PROCESSES`` x ``REFDESK_WEB_THREADS`` + its worker, against
  ``max_connections`` less the reserved ones).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.cache import caches
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

MANIFEST_STORAGE = "ManifestStaticFilesStorage"


def static_files_check() -> list[Error]:
    backend = settings.STORAGES.get("staticfiles", {}).get("BACKEND", "")
    if MANIFEST_STORAGE not in backend.rsplit(".", 1)[-1] or not settings.STATIC_ROOT:
        return []  # no manifest to miss (the test settings serve static files from the apps)
    manifest = os.path.join(settings.STATIC_ROOT, "staticfiles.json")
    fix = "run `refdesk collectstatic --no-input` (STATIC_ROOT follows REFDESK_DATA_DIR)"
    try:
        with open(manifest, encoding="utf-8") as handle:
            collected = set(json.load(handle).get("paths", {}))
    except FileNotFoundError:
        return [
            Error(
                f"static files are not collected: no manifest in {settings.STATIC_ROOT}",
                hint=fix,
                id="refdesk.E001",
            )
        ]
    except (OSError, ValueError):
        return [Error("the static files manifest cannot be read", hint=fix, id="refdesk.E001")]
    shipped = {
        path.replace(os.sep, "/")
        for finder in finders.get_finders()
        for path, _storage in finder.list(ignore_patterns=["CVS", ".*", "*~"])
    }
    missing = shipped - collected
    if missing:
        example = sorted(missing)[0]
        return [
            Error(
                f"static files were collected by another version: {len(missing)} file(s) of "
                f"this version missing (e.g. {example})",
                hint=fix,
                id="refdesk.E001",
            )
        ]
    return []


def cache_table_check() -> list[Error]:
    errors = []
    for alias in settings.CACHES:
        cache = caches[alias]
        table = getattr(cache, "_table", None)
        if table is None or not type(cache).__module__.endswith("backends.db"):
            continue
        try:
            exists = table in connection.introspection.table_names()
        except DatabaseError:
            continue  # the database check says so
        if not exists:
            errors.append(
                Error(
                    f"the cache table {table!r} (cache {alias!r}) does not exist",
                    hint="run `refdesk createcachetable`",
                    id="refdesk.E002",
                )
            )
    return errors


def migrations_check() -> list[Error]:
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        return [
            Error(
                f"the database cannot be reached ({type(error).__name__})",
                hint="check DATABASE_URL and that the server is up",
                id="refdesk.E003",
            )
        ]
    if plan:
        return [
            Error(
                f"{len(plan)} migration(s) not applied to the database",
                hint="run `refdesk migrate` (once per release, before starting the new version)",
                id="refdesk.E003",
            )
        ]
    return []


@dataclass(frozen=True)
class NodeSize:
    processes: int
    threads: int
    embedded_worker: bool

    @property
    def connections(self) -> int:
        """At most one connection per serving thread (persistent), plus the worker's one."""
        return self.processes * self.threads + (1 if self.embedded_worker else 0)


def node_size(
    processes: int | None = None, threads: int | None = None, embedded_worker: bool = True
) -> NodeSize:
    """This node's serving size: explicit values, else REFDESK_WEB_PROCESSES/THREADS, else the
    defaults of ``refdesk serve`` (one process on SQLite; one per core on PostgreSQL; 8 threads)."""
    if processes is None:
        processes = settings.REFDESK_WEB_PROCESSES or (
            1 if connection.vendor == "sqlite" else (os.cpu_count() or 1)
        )
    if threads is None:
        threads = settings.REFDESK_WEB_THREADS
    return NodeSize(processes=processes, threads=threads, embedded_worker=embedded_worker)


def server_connection_limit() -> int | None:
    """PostgreSQL's ``max_connections`` less the superuser-reserved slots; None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
        )
        return cursor.fetchone()[0]


def connection_sizing_check(size: NodeSize | None = None) -> list[Warning]:
    try:
        limit = server_connection_limit()
    except DatabaseError:
        return []
    if limit is None:
        return []
    size = size or node_size()
    if size.connections <= limit:
        return []
    return [
        Warning(
            f"this node may hold {size.connections} database connections "
            f"({size.processes} process(es) x {size.threads} threads"
            f"{' + 1 worker' if size.embedded_worker else ''}), more than the "
            f"{limit} the PostgreSQL server accepts",
            hint=(
                "lower REFDESK_WEB_PROCESSES or REFDESK_WEB_THREADS, raise max_connections, or "
                "put a pooler in front (docs/deploy.md, 'Connection sizing'); every node and "
                "worker counts against the same limit"
            ),
            id="refdesk.W004",
        )
    ]


def serve_blockers() -> list[Error]:
    """The errors ``refdesk serve`` refuses to start with."""
    return static_files_check() + migrations_check() + cache_table_check()


# Deployment checks: `refdesk check --deploy` lists them with Django's own. Not tagged "database"
# (Django runs those only with --database): a deployment check that skips the database misses
# the steps that break a deployment most often.
@register(Tags.staticfiles, deploy=True)
def _static_files(app_configs=None, **kwargs):
    return static_files_check()


@register(Tags.caches, deploy=True)
def _cache_tables(app_configs=None, **kwargs):
    return cache_table_check()


@register("migrations", deploy=True)
def _migrations(app_configs=None, **kwargs):
    return migrations_check()


@register("connections", deploy=True)
def _connection_sizing(app_configs=None, **kwargs):
    return connection_sizing_check()
