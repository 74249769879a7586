"""The reports benchmark: the monthly pack and the all-time dashboard over 100k to 5M referrals.

    .venv/bin/python bench/reports.py --database sqlite --referrals 1000000
    .venv/bin/python bench/reports.py --database postgres --referrals 100000,1000000,5000000

For each size it takes the kept data set of ``bench/reports_data.py`` (generated first when
missing) and runs each step in a fresh child process, printing wall time and the child's peak
RSS (``ru_maxrss``; the interpreter with Django, matplotlib and WeasyPrint imported is part of
it), so no step warms another's caches but the database's own:

- ``prepare``: migrate the data set and fill ``first_response_seconds`` where an older
  generator left it empty (an approximation, said in the figures' note);
- ``rollup``: ``rollup_refresh(full=True)`` — the rollups rebuilt from nothing;
- ``refresh``: an incremental refresh with nothing changed (what the worker does every 10 min);
- ``pack_data``: ``monthly_report`` of one program for the last whole month (the metrics);
- ``pack``: the same and its files: HTML, PDF, CSV and XLSX, suppressed (``report_export``);
- ``dashboard``: the all-time dashboard of all programs, from the rollups (``dashboard()``);
- ``dashboard_raw``: the same period straight from the referrals (no rollups), for comparison.

Targets (issue 13): pack < 2 s at 1M; all-time dashboard < 1 s at 5M; peak RSS < 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STEPS = ("prepare", "rollup", "refresh", "pack_data", "pack", "dashboard", "dashboard_raw")
PROGRAM = "provider-education"


def _step(name: str, database_url: str) -> dict:
    from bench.reports_data import setup_django

    setup_django(database_url)
    import datetime as dt

    from django.utils import timezone

    from refdesk.reports import dashboard as board
    from refdesk.reports.monthly import monthly_report
    from refdesk.reports.rollups import rollup_refresh
    from refdesk.reports.scope import Scope, month_before

    today = timezone.localdate()
    month = month_before(today)
    if name == "pack":
        # Loaded before the clock starts, as in a serving process (the dashboard's button):
        # importing WeasyPrint and matplotlib costs ~1 s once per process, reported apart.
        loading = time.perf_counter()
        from refdesk.reports import exports  # noqa: F401 - matplotlib, openpyxl
        from refdesk.reports.pdf import _weasyprint

        _weasyprint()
        loaded = time.perf_counter() - loading
    began = time.perf_counter()
    detail = ""
    if name == "prepare":
        detail = _prepare()
    elif name == "rollup":
        detail = str(rollup_refresh(full=True))
    elif name == "refresh":
        detail = str(rollup_refresh())
    elif name == "pack_data":
        report = monthly_report(program=PROGRAM, month=month)
        detail = f"{len(report.tables())} tables"
    elif name == "pack":
        from refdesk.reports.exports import report_export

        with tempfile.TemporaryDirectory() as out:
            report = monthly_report(program=PROGRAM, month=month)
            files = report_export(
                report, out_dir=Path(out), formats=["html", "pdf", "csv", "xlsx"],
                actor="system:bench",
            )  # fmt: skip
            detail = ", ".join(f"{p.name} {p.stat().st_size // 1024} KB" for p in files)
            detail += f"; libraries loaded first in {loaded:.2f} s"
    elif name in ("dashboard", "dashboard_raw"):
        from refdesk.programs.models import Program

        programs = list(Program.objects.all())
        start, end = board.period_bounds("all", today, programs)
        if name == "dashboard_raw":
            start += dt.timedelta(days=1)  # not a whole month: the rollups do not answer
        result = board.dashboard(Scope.build(program=None, start=start, end=end))
        [headline] = result.report.table("headline").rows
        detail = (
            f"rollups={result.from_rollups} received={headline['received']:,} "
            f"median first response={headline['median']} s"
        )
    seconds = time.perf_counter() - began
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"step": name, "seconds": round(seconds, 3), "rss_mb": round(rss_mb), "detail": detail}


def _prepare() -> str:
    """Migrate a data set made by an older generator, and give first responses made before
    ``first_response_seconds`` existed a business time (an approximation for the benchmark:
    the wall-clock time scaled by the share of a week that is business hours, 40 / 168)."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE intake_referral SET first_response_seconds = CAST("
            + (
                "EXTRACT(EPOCH FROM (first_responded_at - received_at))"
                if connection.vendor == "postgresql"
                else "(julianday(first_responded_at) - julianday(received_at)) * 86400"
            )
            + " * 40 / 168 AS integer) "
            "WHERE first_responded_at IS NOT NULL AND first_response_seconds IS NULL"
        )
        filled = cursor.rowcount
    if filled and connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # outside a transaction: autocommit
            cursor.execute("VACUUM ANALYZE intake_referral")
    return f"migrated; {filled:,} first responses given a business time"


def _run_child(name: str, database_url: str, timeout: int) -> dict:
    command = [sys.executable, __file__, "--child", name, "--url", database_url]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"step": name, "seconds": None, "rss_mb": None, "detail": f"over {timeout} s"}
    if done.returncode != 0:
        return {"step": name, "seconds": None, "rss_mb": None, "detail": done.stderr[-400:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--referrals", default="100000", help="sizes, comma-separated")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--timeout", type=int, default=900, help="seconds per step")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_step(args.child, args.url)))
        return
    from bench.reports_data import dataset

    steps = [s for s in args.steps.split(",") if s]
    for size in (int(s) for s in args.referrals.split(",")):
        url = dataset(args.database, size)
        print(f"\n{args.database}, {size:,} referrals ({url})", flush=True)
        print(f"{'step':<15}{'seconds':>10}{'peak RSS MB':>14}  detail", flush=True)
        for name in steps:
            row = _run_child(name, url, args.timeout)
            seconds = "—" if row["seconds"] is None else f"{row['seconds']:.3f}"
            rss = "—" if row["rss_mb"] is None else str(row["rss_mb"])
            print(f"{name:<15}{seconds:>10}{rss:>14}  {row['detail']}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
