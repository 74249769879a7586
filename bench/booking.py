"""Booking benchmark: leads booking through the link's service at once, everyone after the same
earliest times — the worst case for double booking — on PostgreSQL and SQLite.

    .venv/bin/python bench/booking.py [--database postgresql|sqlite|all]
                                      [--referrals 400] [--members 4] [--processes 1,4]

1. A fresh database per kind (a SQLite file in a temp dir, or a new PostgreSQL database
   ``refdesk_bench_booking``), with its own keys, migrated, the demo programs applied and their
   content approved; ``--members`` patient-services agents, and N patient-support referrals
   (email, consented) through ``referral_submit``, unassigned so any member may take them.
2. P processes start together; each takes every P-th referral and books it as the lead does on
   the page: read the free slots (``next_free_slots(lead=True)``), post the earliest one
   (``appointment_book``); on "that time was just taken" read fresh slots and post again.
   Measured per booking: the time from the first read to the booked answer (retries
   included), and how many times were taken from under it.
3. Verified after each run: every referral has exactly one booked appointment, and no member
   holds two overlapping ones (a self-join on [start, blocked_until)). A failed check fails the
   benchmark.

Prints bookings/s, p50/p95/max latency and the taken-and-retried count per run. Stdlib only
besides refdesk itself (and psycopg for PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, bench_environment  # noqa: E402

PYTHON = sys.executable
PG_DB = "refdesk_bench_booking"


def prepare(referrals: int, members: int) -> None:
    import django

    django.setup()
    from refdesk.intake.models import Referral
    from refdesk.testing import (
        agent,
        apply_demo_programs,
        approve_all_content,
        submit,
        support_by_email,
    )

    apply_demo_programs(note="benchmark")
    approve_all_content()
    for n in range(members):
        agent(f"agent{n}")

    for n in range(referrals):
        submit("patient-support", support_by_email(n, timezone="America/New_York"))
    # Unassigned: the lead books with whoever is free (the assignee would pin one member).
    Referral.objects.update(assigned_to=None)
    print(json.dumps({"referrals": Referral.objects.count()}))


def book(index: int, processes: int, start_at: float) -> None:
    import django

    django.setup()
    from django.db import connection

    from refdesk.core.errors import ApplicationError
    from refdesk.intake.models import Referral
    from refdesk.workflow.booking import LEAD, SlotTaken, appointment_book, next_free_slots

    ids = list(Referral.objects.order_by("id").values_list("id", flat=True))[index::processes]
    connection.close()
    while time.time() < start_at:
        time.sleep(0.005)
    latencies, taken, failed = [], 0, 0
    began = time.perf_counter()
    for pk in ids:
        referral = Referral.objects.select_related("queue__team", "program_version").get(pk=pk)
        t0 = time.perf_counter()
        for _ in range(50):
            slot = next_free_slots(referral=referral, type_key="support-call", lead=True, limit=1)
            try:
                appointment_book(
                    referral=referral,
                    type_key="support-call",
                    starts_at=slot[0].starts_at,
                    actor=LEAD,
                )
                break
            except SlotTaken:
                taken += 1
            except ApplicationError:
                failed += 1
                break
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - began
    print(json.dumps({"latencies": latencies, "taken": taken, "failed": failed, "s": elapsed}))


def verify() -> None:
    import django

    django.setup()
    from django.db import connection

    from refdesk.intake.models import Referral
    from refdesk.scheduling.models import Appointment

    booked = Appointment.objects.filter(status="booked")
    per_referral = set(booked.values_list("referral_id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM scheduling_appointment a JOIN scheduling_appointment b "
            "ON a.member_id = b.member_id AND a.id < b.id AND a.status = 'booked' "
            "AND b.status = 'booked' AND a.starts_at < b.blocked_until "
            "AND b.starts_at < a.blocked_until"
        )
        overlaps = cursor.fetchone()[0]
    print(
        json.dumps(
            {
                "referrals": Referral.objects.count(),
                "booked": booked.count(),
                "referrals_booked": len(per_referral),
                "overlaps": overlaps,
                "members": booked.values("member_id").distinct().count(),
            }
        )
    )


def child(env: dict, *args: str) -> dict:
    done = subprocess.run(
        [PYTHON, __file__, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(database: str, referrals: int, members: int, processes: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = bench_environment(
            "postgres" if database == "postgresql" else "sqlite",
            Path(tmp),
            pg_db=PG_DB,
        )
        subprocess.run(
            [PYTHON, "-m", "refdesk", "migrate", "--no-input", "-v", "0"],
            env=env,
            cwd=ROOT,
            check=True,
        )
        child(env, "--prepare-child", str(referrals), str(members))
        start_at = time.time() + 3 + processes  # every process imported and connected
        workers = [
            subprocess.Popen(
                [PYTHON, __file__, "--book-child", str(i), str(processes), str(start_at)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(processes)
        ]
        results = []
        for worker in workers:
            out, _ = worker.communicate(timeout=1800)
            if worker.returncode != 0:
                raise RuntimeError(f"a booking process failed ({worker.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
        wall = max(r["s"] for r in results)
        checked = child(env, "--verify-child")
    latencies = sorted(x for r in results for x in r["latencies"])
    ok = (
        checked["booked"] == referrals
        and checked["referrals_booked"] == referrals
        and checked["overlaps"] == 0
        and not sum(r["failed"] for r in results)
    )
    return {
        "database": database,
        "processes": processes,
        "members": members,
        "referrals": referrals,
        "bookings_per_s": round(referrals / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
        "taken_and_retried": sum(r["taken"] for r in results),
        "verified": ok,
        **{k: checked[k] for k in ("booked", "overlaps", "members")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite", "all"), default="all")
    parser.add_argument("--referrals", type=int, default=400)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--processes", default="1,4")
    args = parser.parse_args()
    kinds = ("postgresql", "sqlite") if args.database == "all" else (args.database,)
    rows = [
        run(kind, args.referrals, args.members, int(p))
        for kind in kinds
        for p in args.processes.split(",")
    ]
    header = list(rows[0])
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[k]) for k in header))
    if not all(row["verified"] for row in rows):
        sys.exit("verification FAILED: a referral without its one appointment, or an overlap")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--prepare-child":
        prepare(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--book-child":
        book(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--verify-child":
        verify()
    else:
        main()
