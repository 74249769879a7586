"""Intake benchmark: partner API submissions/s and p50/p99 latency, next to a ceiling.

    .venv/bin/python bench/intake_api.py [--database sqlite|postgres] [--load wrk|python]
                                         [--seconds 20] [--clients 16]

1. Fresh database (SQLite file in a temp dir, or a new PostgreSQL database), migrate, apply the
   demo programs, make a partner key for a trial-prescreening study coordinator.
2. Start ``refdesk serve --no-worker`` (granian WSGI, production settings: 1 process x 8 threads
   on SQLite, one process per CPU on PostgreSQL) on 127.0.0.1 and a free port.
3. Ceiling: the same clients POST to a bare Django view that inserts one row (bench/urls.py).
4. Intake: the same clients POST distinct valid referrals (distinct email and phone, so no
   duplicates) with an Idempotency-Key, for the same time.
5. Print requests/s, p50/p99 and the ratio, and how many referrals were stored as duplicates
   (should be 0).
Load: ``wrk`` (default when installed; bench/wrk_intake.lua, bench/wrk_ceiling.lua) or Python
(``--load python``: separate processes of http.client threads, because of the GIL). Both run on
the server's machine and take CPU from it; wrk takes far less. Stdlib only (plus wrk). Stops by
itself; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# Run as a script, the repository root is not on the path; the bench package lives there.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, bench_environment  # noqa: E402

PYTHON = sys.executable
PG_DB = "refdesk_bench_intake"
BENCH = Path(__file__).resolve().parent
# Distinct phones: "+1 312 XXX YYYY", XXX in 200..899, YYYY in 0000..9999 -> 7,000,000 numbers,
# shared out between the runs (warm-up, measured) and their clients (python) or threads (wrk).
PHONES = 7_000_000
RUNS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(database: str, tmp: Path) -> dict[str, str]:
    return bench_environment(database, tmp, pg_db=PG_DB, REFDESK_BENCH_CEILING="1")


def setup_data() -> None:
    """Runs in a child process with the bench environment: programs, key, ceiling table."""
    import django

    django.setup()
    from django.db import connection

    from refdesk.referrers.services import partner_key_create
    from refdesk.testing import apply_demo_programs, latest_consent_version, make_referrer

    apply_demo_programs(note="benchmark")
    referrer = make_referrer("trial-prescreening", "study-coordinator", name="Bench Partner")
    _record, key = partner_key_create(referrer=referrer, actor="system:bench")
    serial = "BIGSERIAL" if connection.vendor == "postgresql" else "INTEGER"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE bench_ceiling (id {serial} PRIMARY KEY, "
            "created_at TIMESTAMP NOT NULL, payload TEXT NOT NULL)"
        )
    print(json.dumps({"key": key, "text_version": latest_consent_version("trial-prescreening")}))


def count_referrals() -> None:
    """Runs in a child process after the load: referrals stored, and how many as duplicates."""
    import django

    django.setup()
    from refdesk.intake.models import Referral

    print(
        json.dumps(
            {
                "referrals": Referral.objects.count(),
                "duplicates": Referral.objects.filter(duplicate_of__isnull=False).count(),
            }
        )
    )


def phone(u: int) -> str:
    """The u-th distinct valid US number, 0 <= u < PHONES."""
    return f"+1 312 {200 + (u // 10000) % 700:03d} {u % 10000:04d}"


def referral_body(n: int, text_version: str, unique: int | None = None) -> dict:
    """A valid referral; ``unique`` (default n) picks the phone, so keep it below PHONES."""
    return {
        "program": "trial-prescreening",
        "source": "study-coordinator",
        "request_type": "trial_prescreen",
        "therapy_area": "oncology",
        "lead": {
            "kind": "patient",
            "given_name": "Bench",
            "family_name": f"Lead{n}",
            "email": f"lead{n}@example.org",
            "phone": phone(n if unique is None else unique),
            "preferred_contact": "phone",
            "timezone": "America/Chicago",
            "country": "US",
            "birth_year": 1970,
        },
        "consent": {
            "granted": True,
            "purposes": ["trial_contact"],
            "channels": ["phone", "email"],
            "method": "attested_by_referrer",
            "text_version": text_version,
        },
        "answers": {
            "study_id": "RDX-301",
            "age": 54,
            "diagnosis_confirmed": True,
            "ecog": 1,
            "prior_therapy_lines": 1,
            "active_brain_metastases": False,
        },
    }


def load_process(args: tuple) -> tuple[list[float], dict[int, int]]:
    """One load process: ``threads`` clients, each with a keep-alive connection, until deadline."""
    port, kind, key, text_version, threads, first_n, first_slot, span, deadline = args
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = first_n + index * 10_000_000
        unique = (first_slot + index) * span  # this client's own block of phone numbers
        mine, codes = [], {}
        while time.monotonic() < deadline:
            n += 1
            unique += 1
            if kind == "ceiling":
                path, body, headers = "/bench/ceiling", {"n": n}, {}
            else:
                if unique >= (first_slot + index + 1) * span:
                    raise SystemExit(f"client ran out of distinct phone numbers (span {span})")
                path, body = "/api/v1/referrals", referral_body(n, text_version, unique)
                headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"bench-{n}"}
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            start = time.perf_counter()
            try:
                conn.request("POST", path, body=data, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            mine.append(time.perf_counter() - start)
            codes[status] = codes.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, statuses


def drive(port, kind, key, text_version, clients, seconds, processes, offset, run) -> dict:
    """Python load: ``processes`` processes sharing ``clients`` keep-alive client threads."""
    deadline = time.monotonic() + seconds
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    span = PHONES // (RUNS * clients)
    jobs = [
        (
            port,
            kind,
            key,
            text_version,
            threads,
            offset + i * 1_000_000_000,
            run * clients + sum(per[:i]),
            span,
            deadline,
        )
        for i, threads in enumerate(per)
    ]
    started = time.monotonic()
    latencies, statuses = [], {}
    with ProcessPoolExecutor(processes) as pool:
        for lat, codes in pool.map(load_process, jobs):
            latencies += lat
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count
    elapsed = time.monotonic() - started
    ok = statuses.get(201, 0)
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return {
        "rate": ok / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "statuses": dict(sorted(statuses.items())),
    }


def drive_wrk(port, kind, key, text_version, clients, seconds, threads, run) -> dict:
    """wrk load: ``threads`` event-loop threads sharing ``clients`` keep-alive connections."""
    threads = max(1, min(threads, clients))
    path, script = {
        "ceiling": ("/bench/ceiling", BENCH / "wrk_ceiling.lua"),
        "intake": ("/api/v1/referrals", BENCH / "wrk_intake.lua"),
    }[kind]
    env = dict(
        os.environ,
        BENCH_KEY=key,
        BENCH_TEXT_VERSION_JSON=json.dumps(text_version),
        BENCH_ID_BASE=str(run * threads),
        BENCH_SPAN=str(PHONES // (RUNS * threads)),
    )
    command = [
        "wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s",
        "--latency", "-s", str(script), f"http://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=seconds + 60
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(f"wrk did not finish within {seconds + 60:g} s") from None
    result = re.search(r"^RESULT (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not result:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    fields = {name: int(value) for name, value in re.findall(r"(\w+)=(\d+)", result.group(1))}
    if not fields["requests"] and kind == "intake" and seconds >= 5:
        raise SystemExit(f"wrk got no response in {seconds:g} s:\n{done.stdout}\n{done.stderr}")
    statuses = {
        int(code): int(count)
        for code, count in re.findall(r"^STATUS (\d+) (\d+)$", done.stdout, re.MULTILINE)
    }
    # Requests that got no response (connect/read/write errors, timeouts) as status 0, as in
    # the Python load.
    failed = sum(fields[f"errors_{name}"] for name in ("connect", "read", "write", "timeout"))
    if failed:
        statuses[0] = failed
    return {
        "rate": statuses.get(201, 0) / (fields["duration_us"] / 1e6),
        "p50_ms": fields["p50_us"] / 1000,
        "p99_ms": fields["p99_us"] / 1000,
        "statuses": dict(sorted(statuses.items())),
        "non2xx": sum(c for code, c in statuses.items() if not 200 <= code < 300),
        "wrk_errors_status": fields["errors_status"],
        "stderr": done.stderr.strip(),
    }


def wait_until_up(port: int, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--load",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator (default: wrk when installed, else python)",
    )
    parser.add_argument(
        "--load-processes", type=int, default=4, help="python load: client processes"
    )
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk load: threads")
    parser.add_argument(
        "--server",
        choices=("granian", "gunicorn"),
        default="granian",
        help="granian: `refdesk serve` (production); gunicorn (gthread) to compare, if installed",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=None,
        help="server processes (default: what `refdesk serve` chooses)",
    )
    parser.add_argument(
        "--server-threads",
        type=int,
        default=None,
        help="threads per server process (default: what `refdesk serve` chooses)",
    )
    parser.add_argument(
        "--sqlite-backend",
        choices=("refdesk", "django"),
        default="refdesk",
        help="refdesk: writers queue on a lock (production); django: the stock backend, whose "
        "writers wait in SQLite's busy handler, to measure what the queue is worth",
    )
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.setup:
        return setup_data()
    if options.count:
        return count_referrals()
    if options.server == "gunicorn" and importlib.util.find_spec("gunicorn") is None:
        raise SystemExit("gunicorn is not installed (.venv/bin/pip install gunicorn)")
    if options.load == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk); or use --load python")

    with tempfile.TemporaryDirectory(prefix="refdesk-bench-") as tmp:
        env = environment(options.database, Path(tmp))
        if options.sqlite_backend == "django":
            env["BENCH_SQLITE_BACKEND"] = "django"
        run = {"env": env, "cwd": ROOT, "check": True}
        subprocess.run([PYTHON, "-m", "refdesk", "migrate", "--no-input", "-v", "0"], **run)
        out = subprocess.run(
            [PYTHON, __file__, "--setup"], capture_output=True, text=True, **run
        ).stdout
        setup = json.loads(out.strip().splitlines()[-1])
        port = free_port()
        if options.server == "gunicorn":
            # The same WSGI application and process/thread counts `refdesk serve` would use.
            sqlite = env["DATABASE_URL"].startswith("sqlite")
            workers = options.server_workers or (1 if sqlite else (os.cpu_count() or 1))
            threads = options.server_threads or 8
            command = [PYTHON, "-m", "gunicorn", "refdesk.wsgi:application"]
            command += ["--bind", f"127.0.0.1:{port}", "--worker-class", "gthread"]
            command += ["--workers", str(workers), "--threads", str(threads)]
            banner = f"gunicorn gthread ({workers} process(es) x {threads} threads)"
        else:
            command = [PYTHON, "-m", "refdesk", "serve", "--no-worker", "--host", "127.0.0.1"]
            command += ["--port", str(port)]
            command += ["--workers", str(options.server_workers)] if options.server_workers else []
            command += ["--threads", str(options.server_threads)] if options.server_threads else []
            banner = None
        server_log = open(Path(tmp) / "server.log", "w+")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: stopped as one at the end
        )
        try:
            wait_until_up(port, server)
            if banner is None:  # refdesk serve's own first line names its processes
                server_log.seek(0)
                banner = server_log.readline().strip()
            args = (port, setup["key"], setup["text_version"], options.clients)
            if options.load == "wrk":
                threads = options.wrk_threads

                def load(kind, seconds, run_index, _offset):
                    return drive_wrk(*args[:1], kind, *args[1:], seconds, threads, run_index)

                how = f"wrk {max(1, min(threads, options.clients))} threads"
            else:
                procs = options.load_processes

                def load(kind, seconds, run_index, offset):
                    return drive(*args[:1], kind, *args[1:], seconds, procs, offset, run_index)

                how = f"python, {procs} processes of http.client threads"
            load("ceiling", 2, 0, 0)  # warm-up
            load("intake", 2, 0, 5 * 10**11)
            ceiling = load("ceiling", options.seconds, 1, 10**11)
            intake = load("intake", options.seconds, 1, 2 * 10**11)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
            server_log.close()
        out = subprocess.run(
            [PYTHON, __file__, "--count"], capture_output=True, text=True, **run
        ).stdout
        stored = json.loads(out.strip().splitlines()[-1])

    print(f"database: {options.database}; server: {banner}")
    print(f"{options.clients} clients, {options.seconds:g} s each; load generator: {how}")
    for name, result in (("ceiling (bare view, 1 insert)", ceiling), ("intake API", intake)):
        non2xx = sum(c for code, c in result["statuses"].items() if not 200 <= code < 300)
        print(
            f"{name:32} {result['rate']:8.1f} /s   p50 {result['p50_ms']:6.1f} ms   "
            f"p99 {result['p99_ms']:6.1f} ms   statuses {result['statuses']} (non-2xx {non2xx})"
        )
    ratio = intake["rate"] / ceiling["rate"] if ceiling["rate"] else 0
    print(f"intake / ceiling: {ratio:.0%} (target >= 50%); p99 target < 100 ms")
    print(
        f"referrals stored (warm-up included): {stored['referrals']}, "
        f"of them duplicates: {stored['duplicates']} (expected 0)"
    )


if __name__ == "__main__":
    main()
