"""``refdesk serve``: the WSGI server (granian) plus, unless ``--no-worker``, one task worker.

On SQLite one process serves with threads (one writer is what SQLite wants, PERFORMANCE.md);
on PostgreSQL run as many ``serve --no-worker`` nodes and ``worker`` processes as needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from refdesk.core.checks import connection_sizing_check, node_size, serve_blockers


class Command(BaseCommand):
    help = "Serve refdesk over HTTP (WSGI, granian), with an embedded task worker by default."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("REFDESK_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="server processes (default: REFDESK_WEB_PROCESSES, else 1 on SQLite and the "
            "CPU count on PostgreSQL)",
        )
        parser.add_argument(
            "--threads", type=int, default=None, help="threads per process (REFDESK_WEB_THREADS, 8)"
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="do not start the embedded task worker"
        )

    def handle(self, *args, host, port, workers, threads, no_worker, **options):
        from granian import Granian
        from granian.constants import Interfaces

        # A missed deployment step (static files, migrations, cache table) would be a 500 on
        # every page: refuse to start instead, naming the command that fixes it.
        blockers = serve_blockers()
        if blockers:
            raise CommandError(
                "not serving:\n"
                + "\n".join(f"  {error.msg}: {error.hint} [{error.id}]" for error in blockers)
            )
        size = node_size(workers, threads, embedded_worker=not no_worker)
        workers, threads = size.processes, size.threads
        for warning in connection_sizing_check(size):
            self.stderr.write(f"warning: {warning.msg}; {warning.hint} [{warning.id}]")
        # --- metrics: the server's processes share request metrics through this directory,
        # emptied at start and set before any of them starts (refdesk.core.metrics).
        metrics_dir = Path(settings.DATA_DIR) / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        # --- end of metrics
        worker_process = None
        if not no_worker:
            worker_process = subprocess.Popen([sys.executable, "-m", "refdesk", "worker"])
        self.stdout.write(
            f"refdesk serving on http://{host}:{port}/ "
            f"({workers} process(es) x {threads} threads"
            f"{', embedded task worker' if worker_process else ''})"
        )
        try:
            Granian(
                target="refdesk.wsgi:application",
                address=host,
                port=port,
                interface=Interfaces.WSGI,
                workers=workers,
                blocking_threads=threads,
                log_access=False,  # access logs would carry paths; keep them off by default
            ).serve()
        finally:
            if worker_process is not None:
                worker_process.terminate()
                try:
                    worker_process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    worker_process.kill()
