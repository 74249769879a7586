"""Follow-up worker benchmark: due acknowledgements, contact attempts and escalations per second.

    .venv/bin/python bench/followup.py [--database postgresql|sqlite|all]
                                       [--items 1000,10000] [--workers 1,2] [--sweep-batch 100]

1. Fresh database per database kind and item count (SQLite file in a temp dir, or a new
   PostgreSQL database ``refdesk_bench_followup_<items>``), with its own keys, migrated, the demo
   programs applied and their content approved, a queue lead and a program owner (escalations
   notify them). Then N provider-education referrals through ``referral_submit`` (automatic
   mode: each gets the referrer's acknowledgement and its timers), one process, ~N/40 s; then
   bulk UPDATEs give each referral one due item, by its rank (id order) modulo 5:

   - 0, 1: **acknowledgement** (40%): the ``Message`` to the referrer, due; all timers later.
   - 2, 3: **attempt** (40%): the first contact attempt ``Timer``, due; firing it schedules the
     lead's email, which the worker then sends (two steps, one item).
   - 4: **escalation** (20%): the first response overdue by more than the program's
     ``after_breach_hours``; the ``sla_escalation`` timer, due: it notifies the queue lead and
     the program owner and emails them.

   Every other message is marked sent and every other timer is pushed 30 days out, so exactly N
   items are due. Leads are given a time zone where it is about 13:00 now (quiet hours hold lead
   messages from 21:00 to 08:00 in the lead's zone).
2. Each run starts from a copy of the prepared database (``CREATE DATABASE ... TEMPLATE``, a file
   copy for SQLite) and starts W ``refdesk worker --batch --sweep-batch B --interval 0``
   processes (real subprocesses, production settings as in the other benchmarks, mail to
   Django's dummy backend, text messages to the in-memory one) and waits for all to exit
   (``--batch``: once nothing is due). Measured: wall time from start to the last exit (Python
   and Django start-up included), the processing time (first to last audit event the workers
   wrote) and items/s over it, and each worker's peak RSS (``wait4``'s ``ru_maxrss``).
3. Each run is verified: every item done exactly once (acknowledgements and lead emails
   ``sent`` with one ``message.sent`` event each and none resent; one lead email per attempt;
   attempt and escalation timers ``done`` with their result; one ``referral.sla_escalated`` event
   per escalation), nothing left due, nothing left claimed. A failed check fails the benchmark.

It prints a table, then the 2-worker speed-up, the cost per item at each size (linear: about
constant) and peak RSS at each size (flat), with the load average before each run (the machine
is shared). Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

# Run as a script, the repository root is not on the path; the bench package lives there.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import PG_ADMIN_URL, ROOT, bench_environment  # noqa: E402

PYTHON = sys.executable
PG_DB = "refdesk_bench_followup"
ROLES = ("ack", "ack", "attempt", "attempt", "escalation")  # by rank modulo 5
ZONES = (
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
PREPARED_MARK = "bench:prepared"  # provider_id of messages marked sent while preparing


def daytime_zone(now: datetime | None = None) -> str:
    """The zone where it is closest to 13:00 now (well outside quiet hours for hours)."""
    now = now or datetime.now(UTC)

    def distance(name: str) -> float:
        local = now.astimezone(ZoneInfo(name))
        return abs(local.hour + local.minute / 60 - 13)

    return min(ZONES, key=distance)


# --- preparing (runs in a child process with the bench environment) ----------------------------


def prepare(items: int, zone: str) -> None:
    import django

    django.setup()
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from refdesk.accounts.models import TeamMembership
    from refdesk.intake.models import Referral
    from refdesk.outreach.choices import MessagePurpose, MessageStatus, TimerKind
    from refdesk.outreach.models import Message, Timer
    from refdesk.programs.selectors import version_definition
    from refdesk.testing import (
        apply_demo_programs,
        approve_all_content,
        education,
        owner,
        referrer_with_email,
        specialist,
        submit,
    )

    apply_demo_programs(note="benchmark")
    approve_all_content()
    referrer_with_email("provider-education")
    owner()
    lead = specialist("lena.lead")
    TeamMembership.objects.filter(user=lead).update(lead=True)
    started = time.perf_counter()
    for n in range(items):
        submission = education(n)
        submission.lead["timezone"] = zone
        submit("provider-education", submission)
    submit_seconds = time.perf_counter() - started

    now = timezone.now()
    due = now - timedelta(seconds=1)
    later = now + timedelta(days=30)
    ids = list(Referral.objects.order_by("id").values_list("id", flat=True))
    assert len(ids) == items, f"expected {items} referrals, got {len(ids)}"
    by_role = {
        role: [pk for rank, pk in enumerate(ids) if ROLES[rank % 5] == role] for role in ROLES
    }
    referral = Referral.objects.select_related("program_version").first()
    after_breach = version_definition(referral.program_version).sla.escalation.after_breach_hours
    chunk = 900  # SQLite's variable limit
    Timer.objects.update(next_action_at=later)
    Message.objects.filter(next_action_at__isnull=False).update(next_action_at=due)
    for start in range(0, items, chunk):
        attempt = by_role["attempt"][start : start + chunk]
        escalation = by_role["escalation"][start : start + chunk]
        done_ack = attempt + escalation
        Message.objects.filter(
            referral_id__in=done_ack, purpose=MessagePurpose.ACKNOWLEDGEMENT
        ).update(
            status=MessageStatus.SENT,
            next_action_at=None,
            sent_at=now,
            provider_id=PREPARED_MARK,
        )
        Timer.objects.filter(referral_id__in=attempt, kind=TimerKind.ATTEMPT, attempt=1).update(
            next_action_at=due
        )
        Referral.objects.filter(pk__in=escalation).update(
            first_response_due_at=now - timedelta(hours=after_breach + 1)
        )
        Timer.objects.filter(referral_id__in=escalation, kind=TimerKind.SLA_ESCALATION).update(
            next_action_at=due
        )
    due_messages = Message.objects.filter(next_action_at__lte=now).count()
    due_timers = Timer.objects.filter(next_action_at__lte=now).count()
    assert due_messages + due_timers == items, (due_messages, due_timers, items)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(
        json.dumps(
            {
                "items": items,
                "roles": {role: len(pks) for role, pks in by_role.items()},
                "submit_seconds": round(submit_seconds, 1),
            }
        )
    )


# --- verifying (child process) -----------------------------------------------------------------


def verify(items: int) -> None:
    """Every item done exactly once, nothing left due: prints the checks and the run's span."""
    import django

    django.setup()
    from django.db.models import Max, Min, Q
    from django.utils import timezone

    from refdesk.audit.models import AuditEvent
    from refdesk.intake.models import Referral
    from refdesk.outreach.choices import MessagePurpose, MessageStatus, TimerKind, TimerState
    from refdesk.outreach.models import Message, Timer

    now = timezone.now()
    ids = list(Referral.objects.order_by("id").values_list("id", flat=True))
    role_of = {pk: ROLES[rank % 5] for rank, pk in enumerate(ids)}
    problems: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    acks = Counter()
    ack_sent = Counter()
    for referral_id, status, provider in Message.objects.filter(
        purpose=MessagePurpose.ACKNOWLEDGEMENT
    ).values_list("referral_id", "status", "provider_id"):
        acks[referral_id] += 1
        if status == MessageStatus.SENT and provider != PREPARED_MARK:
            ack_sent[referral_id] += 1
    lead_sent = Counter()
    lead_any = Counter()
    for referral_id, status in Message.objects.filter(audience="lead").values_list(
        "referral_id", "status"
    ):
        lead_any[referral_id] += 1
        lead_sent[referral_id] += status == MessageStatus.SENT
    attempt_timers = dict(
        Timer.objects.filter(kind=TimerKind.ATTEMPT, attempt=1).values_list("referral_id", "result")
    )
    attempt_states = dict(
        Timer.objects.filter(kind=TimerKind.ATTEMPT, attempt=1).values_list("referral_id", "state")
    )
    escalations = dict(
        Timer.objects.filter(kind=TimerKind.SLA_ESCALATION).values_list("referral_id", "result")
    )
    escalation_states = dict(
        Timer.objects.filter(kind=TimerKind.SLA_ESCALATION).values_list("referral_id", "state")
    )
    run_events = AuditEvent.objects.filter(actor="system:followup")
    escalated = Counter(
        run_events.filter(action="referral.sla_escalated").values_list("subject_id", flat=True)
    )
    public = dict(Referral.objects.values_list("id", "public_id"))
    done = Counter()
    for pk, role in role_of.items():
        check(acks[pk] == 1, f"referral {pk}: {acks[pk]} acknowledgements")
        if role == "ack":
            check(ack_sent[pk] == 1, f"ack {pk}: not sent")
            check(lead_any[pk] == 0, f"ack {pk}: a lead message")
            done["ack"] += ack_sent[pk] == 1
        elif role == "attempt":
            ok = (
                attempt_states.get(pk) == TimerState.DONE
                and attempt_timers.get(pk) == "message_scheduled"
                and lead_any[pk] == 1
                and lead_sent[pk] == 1
            )
            check(ok, f"attempt {pk}: {attempt_states.get(pk)}, {lead_any[pk]} lead messages")
            done["attempt"] += ok
        else:
            ok = (
                escalation_states.get(pk) == TimerState.DONE
                and escalations.get(pk) == "escalated"
                and escalated[str(public[pk])] == 1
            )
            check(ok, f"escalation {pk}: {escalation_states.get(pk)} {escalations.get(pk)}")
            done["escalation"] += ok
    sent_events = run_events.filter(action="message.sent")
    sent_in_run = Message.objects.filter(status=MessageStatus.SENT).exclude(
        provider_id=PREPARED_MARK
    )
    check(
        sent_events.count() == sent_in_run.count(),
        f"{sent_events.count()} message.sent events for {sent_in_run.count()} sent messages",
    )
    resent = sum(
        1
        for changes in sent_events.values_list("changes", flat=True)
        if (changes.get("resent_after_interruption") or {}).get("new")
    )
    check(resent == 0, f"{resent} messages resent")
    left_due = (
        Message.objects.filter(next_action_at__lte=now).count()
        + Timer.objects.filter(next_action_at__lte=now).count()
    )
    check(left_due == 0, f"{left_due} left due")
    left_claimed = (
        Message.objects.filter(status__in=(MessageStatus.CLAIMED, MessageStatus.SENDING)).count()
        + Timer.objects.filter(state=TimerState.RUNNING).count()
    )
    check(left_claimed == 0, f"{left_claimed} left claimed")
    span = run_events.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    print(
        json.dumps(
            {
                "done": sum(done.values()),
                "by_role": dict(done),
                "problems": problems[:10],
                "problem_count": len(problems),
                "first": span["first"].timestamp() if span["first"] else None,
                "last": span["last"].timestamp() if span["last"] else None,
                "events": run_events.filter(~Q(action="message.scheduled")).count(),
            }
        )
    )


# --- the runs ----------------------------------------------------------------------------------


def pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def pg_execute(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


def child(env: dict, *args: str) -> dict:
    done = subprocess.run(
        [PYTHON, str(Path(__file__).resolve()), *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepared_database(database: str, items: int, tmp: Path, env: dict, zone: str) -> dict:
    """Create, migrate and fill the database to copy for each run; returns the fill's figures."""
    if database == "postgres":
        name = f"{PG_DB}_{items}"
        pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        pg_execute(f"CREATE DATABASE {name}")
        env = {**env, "DATABASE_URL": pg_url(name)}
    else:
        env = {**env, "DATABASE_URL": f"sqlite:///{tmp / f'prepared-{items}.sqlite3'}"}
    run = {"env": env, "cwd": ROOT, "check": True}
    subprocess.run([PYTHON, "-m", "refdesk", "migrate", "--no-input", "-v", "0"], **run)
    started = time.perf_counter()
    figures = child(env, "--prepare-child", str(items), "--zone", zone)
    figures["prepare_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def run_database(database: str, items: int, tmp: Path, env: dict) -> dict:
    """A fresh copy of the prepared database for one run; returns the env pointing at it."""
    if database == "postgres":
        name = f"{PG_DB}_run"
        pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        pg_execute(f"CREATE DATABASE {name} TEMPLATE {PG_DB}_{items}")
        return {**env, "DATABASE_URL": pg_url(name)}
    target = tmp / "run.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(tmp / f"prepared-{items}.sqlite3", target)
    return {**env, "DATABASE_URL": f"sqlite:///{target}"}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _renice(pid: int, priority: int) -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, pid, priority)
    except OSError as error:
        sys.exit(f"--priority {priority}: {error} (a negative value needs root)")


class WaitSampler(threading.Thread):
    """Samples what the run's PostgreSQL sessions are doing every 20 ms (pg_stat_activity):
    waiting on a lock, on WAL, running a statement, or idle in a transaction while the worker
    computes. Lock waits are what would keep two workers from scaling."""

    def __init__(self, database: str, priority: int | None = None):
        super().__init__(daemon=True)
        self.database = database
        self.priority = priority
        self.counts: Counter[str] = Counter()
        self.backend_cpu: dict[int, float] = {}  # the sessions' server processes: CPU seconds
        self.stopping = threading.Event()

    def run(self) -> None:
        import psycopg

        query = (
            "SELECT pid, state, wait_event_type FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()"
        )
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            while not self.stopping.wait(0.02):
                for pid, state, wait in conn.execute(query, [self.database]):
                    if pid not in self.backend_cpu and self.priority is not None:
                        _renice(pid, self.priority)
                    self.backend_cpu[pid] = max(self.backend_cpu.get(pid, 0.0), _cpu_seconds(pid))
                    if wait in ("Lock", "LWLock", "IO"):
                        self.counts[wait] += 1
                    elif state == "active":
                        self.counts["running"] += 1
                    elif state == "idle in transaction":
                        self.counts["worker computing (in a transaction)"] += 1
                    else:
                        self.counts["worker computing (idle)"] += 1

    def shares(self) -> dict[str, float]:
        total = sum(self.counts.values()) or 1
        return {kind: count / total for kind, count in self.counts.most_common()}


def run_workers(
    env: dict, workers: int, batch: int, tmp: Path, priority: int | None = None
) -> dict:
    command = [
        PYTHON,
        "-m",
        "refdesk",
        "worker",
        "--batch",
        "--sweep-batch",
        str(batch),
        "--interval",
        "0",
    ]
    logs = [open(tmp / f"worker-{i}.log", "w") for i in range(workers)]  # noqa: SIM115
    sampler = None
    if env["DATABASE_URL"].startswith("postgres"):
        sampler = WaitSampler(env["DATABASE_URL"].rsplit("/", 1)[1], priority)
        sampler.start()
    started = time.perf_counter()
    nice = None if priority is None else (lambda: os.setpriority(os.PRIO_PROCESS, 0, priority))
    processes = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log, preexec_fn=nice)
        for log in logs
    ]
    rss_kib, codes, cpu = [], [], 0.0
    for process in processes:
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        codes.append(process.returncode)
        rss_kib.append(usage.ru_maxrss)  # KiB on Linux
        cpu += usage.ru_utime + usage.ru_stime
    wall = time.perf_counter() - started
    waits, server_cpu = {}, None
    if sampler is not None:
        sampler.stopping.set()
        sampler.join()
        waits = sampler.shares()
        server_cpu = sum(sampler.backend_cpu.values())
    for log in logs:
        log.close()
    if any(codes):
        tails = [(tmp / f"worker-{i}.log").read_text()[-2000:] for i in range(workers)]
        sys.exit(f"a worker failed (exit codes {codes}):\n" + "\n".join(tails))
    return {
        "wall": wall,
        "cpu": cpu,
        "rss_mib": [kib / 1024 for kib in rss_kib],
        "waits": waits,
        "server_cpu": server_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite", "all"), default="all")
    parser.add_argument(
        "--items", default="1000,10000", help="due items on PostgreSQL, comma-separated"
    )
    parser.add_argument("--sqlite-items", default="10000", help="due items on SQLite")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--sweep-batch", type=int, default=100, help="passed to the workers")
    parser.add_argument(
        "--sqlite-workers",
        default="1",
        help="worker counts on SQLite (one writer: default 1 only)",
    )
    parser.add_argument(
        "--priority",
        type=int,
        help="run the workers and their PostgreSQL server processes at this nice value "
        "(e.g. -10, as root): on a shared machine, other work then takes less from the run",
    )
    parser.add_argument("--prepare-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--zone", help=argparse.SUPPRESS)
    parser.add_argument("--verify-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_child is not None:
        prepare(args.prepare_child, args.zone)
        return
    if args.verify_child is not None:
        verify(args.verify_child)
        return

    sizes = {
        "postgres": sorted(int(n) for n in args.items.split(",")),
        "sqlite": sorted(int(n) for n in args.sqlite_items.split(",")),
    }
    databases = ["postgres", "sqlite"] if args.database == "all" else [args.database]
    databases = ["postgres" if d == "postgresql" else d for d in databases]
    cores = len(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="refdesk-bench-followup-"))
    results = []
    try:
        for database in databases:
            env = bench_environment(
                database,
                tmp,
                pg_db=f"{PG_DB}_run",
                EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
                REFDESK_SMS_BACKEND="refdesk.outreach.sms.LocmemSMSBackend",
            )
            counts = args.workers if database == "postgres" else args.sqlite_workers
            for items in sizes[database]:
                zone = daytime_zone()
                print(f"preparing {items:,} due items on {database} (leads in {zone}) ...")
                figures = prepared_database(database, items, tmp, env, zone)
                print(
                    f"  prepared in {figures['prepare_seconds']} s "
                    f"({figures['submit_seconds']} s submitting): {figures['roles']}",
                    flush=True,
                )
                for workers in sorted(int(w) for w in counts.split(",")):
                    run_env = run_database(database, items, tmp, env)
                    load = os.getloadavg()[0]
                    measured = run_workers(run_env, workers, args.sweep_batch, tmp, args.priority)
                    checked = child(run_env, "--verify-child", str(items))
                    if checked["problem_count"] or checked["done"] != items:
                        sys.exit(f"verification failed: {json.dumps(checked, indent=1)}")
                    busy = checked["last"] - checked["first"]
                    result = {
                        "database": database,
                        "items": items,
                        "workers": workers,
                        "wall": measured["wall"],
                        "busy": busy,
                        "per_s": items / busy,
                        "ms_per_item": 1000 * busy / items,
                        "rss_mib": measured["rss_mib"],
                        "cpu_ms_per_item": 1000 * measured["cpu"] / items,
                        "waits": measured["waits"],
                        "server_cpu_ms_per_item": (
                            None
                            if measured["server_cpu"] is None
                            else 1000 * measured["server_cpu"] / items
                        ),
                        "load": load,
                    }
                    results.append(result)
                    print(
                        f"  {database:<8} {items:>6,} items  {workers} worker(s): "
                        f"{measured['wall']:6.1f} s wall, {busy:6.1f} s processing, "
                        f"{result['per_s']:6.0f} items/s, worker CPU "
                        f"{result['cpu_ms_per_item']:.1f} ms/item, peak RSS "
                        f"{', '.join(f'{m:.0f}' for m in measured['rss_mib'])} MiB "
                        f"(verified: {checked['by_role']}; load before {load:.1f} "
                        f"on {cores} cores)",
                        flush=True,
                    )
                    if measured["waits"]:
                        shares = ", ".join(
                            f"{kind} {share:.0%}" for kind, share in measured["waits"].items()
                        )
                        print(
                            f"    PostgreSQL sessions: {shares}; server CPU "
                            f"{result['server_cpu_ms_per_item']:.1f} ms/item",
                            flush=True,
                        )
        report(results, cores)
    finally:
        for database in databases:
            if database == "postgres":
                for suffix in ["run", *map(str, sizes["postgres"])]:
                    pg_execute(f"DROP DATABASE IF EXISTS {PG_DB}_{suffix} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: list[dict], cores: int) -> None:
    print()
    print(
        f"{'database':<10}{'items':>8}{'workers':>9}{'wall s':>9}{'busy s':>9}"
        f"{'items/s':>10}{'ms/item':>9}{'CPU ms/item':>13}{'peak RSS MiB':>16}{'load':>6}"
    )
    for r in results:
        rss = "/".join(f"{m:.0f}" for m in r["rss_mib"])
        print(
            f"{r['database']:<10}{r['items']:>8,}{r['workers']:>9}{r['wall']:>9.1f}"
            f"{r['busy']:>9.1f}{r['per_s']:>10.1f}{r['ms_per_item']:>9.2f}"
            f"{r['cpu_ms_per_item']:>13.1f}{rss:>16}{r['load']:>6.1f}"
        )
    find = {(r["database"], r["items"], r["workers"]): r for r in results}
    print()
    for database in ("postgres", "sqlite"):
        sizes = sorted({r["items"] for r in results if r["database"] == database})
        for items in sizes:
            one, two = find.get((database, items, 1)), find.get((database, items, 2))
            if one and two:
                print(
                    f"{database} {items:,}: 2 workers / 1 worker = "
                    f"{two['per_s'] / one['per_s']:.2f}x (target >= 1.7x; {cores} cores)"
                )
        if len(sizes) > 1:
            small, large = find.get((database, sizes[0], 1)), find.get((database, sizes[-1], 1))
            if small and large:
                print(
                    f"{database} 1 worker: {small['ms_per_item']:.2f} ms/item at "
                    f"{sizes[0]:,}, {large['ms_per_item']:.2f} at {sizes[-1]:,} "
                    f"(ratio {large['ms_per_item'] / small['ms_per_item']:.2f}; linear: ~1), "
                    f"worker CPU {small['cpu_ms_per_item']:.1f} -> "
                    f"{large['cpu_ms_per_item']:.1f} ms/item; "
                    f"peak RSS {max(small['rss_mib']):.0f} MiB -> {max(large['rss_mib']):.0f} MiB"
                )


if __name__ == "__main__":
    main()
