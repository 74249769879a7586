"""Desk list pages benchmark: p50/p95/max and query count of the queue page (filtered, each sort,
a second page), My work and name search, at 5,000,000 referrals, on PostgreSQL or SQLite.

    .venv/bin/python bench/desk_queue.py --database postgresql --referrals 5000000 --keep
    .venv/bin/python bench/desk_queue.py --database sqlite --referrals 5000000 --keep
    .venv/bin/python bench/desk_queue.py --database sqlite --reuse --runs 300   # measure again

1. The dataset: a PostgreSQL database ``refdesk_bench_desk`` (on 127.0.0.1:5432, user postgres;
   BENCH_PG_ADMIN changes it) or the SQLite file /work/bench-data/desk-<N>.sqlite3
   (BENCH_DATA_DIR changes the folder). ``--keep`` keeps it afterwards, ``--reuse`` measures the
   one kept last time (no fill: the 5M fill is done once per database). Migrated, demo programs
   applied, a coordinator (MFA enrolled, so the real middleware stack runs) and nine peers in
   clinical-ops, five agents in patient-services: the assignees of the filled work.
2. Bulk fill, bench-only, in SQL: one ``INSERT ... SELECT`` per chunk over a number series
   (PostgreSQL ``generate_series``; SQLite a recursive CTE) copies the columns of one template
   referral per program, with a realistic spread: 10 queues weighted like the demo routes,
   stages (half closed, the rest open), due times from 5 days ago to 5 days ahead, one in four
   open referrals unassigned. The encrypted lead is the template's Fernet token, reused (a speed
   test; every row decrypts the same way). The secondary indexes are dropped for the fill and
   built again after it (much faster than 5M random index inserts); ANALYZE afterwards.
   When name search's token table exists, every filled referral gets the template's tokens.
3. In process (Django test client, logged in as the coordinator, warm-up first): each page
   variant ``--runs`` times; prints one row per variant: p50, p95, max (ms), its queries and
   apart (+tx) the BEGIN/COMMIT of the audit write for the patient names the page shows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
PG_DB = "refdesk_bench_desk"
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", "/work/bench-data"))
QUEUE = "clinical-ops-prescreening"
CHUNK = 500_000
# BEGIN/COMMIT around the audit write of the patient names a page shows: counted apart.
TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)


def sqlite_path(referrals: int, keep: bool) -> Path:
    if keep:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        return DATA_DIR / f"desk-{referrals}.sqlite3"
    return Path(tempfile.mkdtemp(prefix="refdesk-bench-desk-")) / "bench.sqlite3"


def fresh_database(database: str, path: Path | None) -> None:
    if database == "postgresql":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DB}")
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def setup_django(database: str, path: Path | None) -> None:
    if database == "postgresql":
        os.environ["DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DB}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "refdesk.settings.test"  # fixed keys, fast hashing
    os.environ["REFDESK_MFA_REQUIRED"] = "true"  # keep the production middleware path
    os.environ["ALLOWED_HOSTS"] = "testserver"  # the in-process test client's host
    import django

    django.setup()


def seed_world():
    from django.core.management import call_command

    from refdesk.accounts.choices import Role
    from refdesk.accounts.mfa import user_totp_provision
    from refdesk.testing import apply_demo_programs, education, staff, submit, support, trial

    call_command("migrate", verbosity=0)
    apply_demo_programs()
    user = staff("bench.coordinator", Role.CLINICAL_OPS_COORDINATOR, "clinical-ops")
    user_totp_provision(user=user, secret="JBSWY3DPEHPK3PXP", actor="system:bench")
    for n in range(1, 10):
        staff(f"bench.peer{n}", Role.CLINICAL_OPS_COORDINATOR, "clinical-ops")
    for n in range(1, 6):
        staff(f"bench.agent{n}", Role.PATIENT_SERVICES_AGENT, "patient-services")
    # One real referral per program: the templates the fill copies.
    submit("trial-prescreening", trial(1))
    submit("patient-support", support(2))
    submit("provider-education", education(3))
    return user


# Per-database SQL for the filled columns; every other column is copied from the template (so a
# column added later is filled too). ``g`` is the series number.
EXPRESSIONS = {
    "postgresql": {
        "series": "generate_series(%(start)s, %(stop)s) AS series(g)",
        "public_id": "md5(g::text || 'bench')::uuid",
        "reference": "'BX-' || lpad(g::text, 8, '0')",
        "now": "now()",
        "received_at": "now() - (g %% 43200) * interval '1 minute'",
        "due": "now() + ((g::bigint * 7919) %% 14400 - 7200) * interval '1 minute'",
        "email_index": "md5(g::text)",
        "phone_index": "md5(g::text || 'p')",
        "empty_json": "'[]'::jsonb",
    },
    "sqlite": {
        "series": "series",
        "public_id": "printf('%%016x%%016x', (g * 2654435761) %% 9223372036854775783, g)",
        "reference": "'BX-' || printf('%%08d', g)",
        "now": "strftime('%%Y-%%m-%%d %%H:%%M:%%S', 'now') || '.000000'",
        "received_at": (
            "strftime('%%Y-%%m-%%d %%H:%%M:%%S', 'now', '-' || (g %% 43200) || ' minutes')"
            " || '.000000'"
        ),
        "due": (
            "strftime('%%Y-%%m-%%d %%H:%%M:%%S', 'now', ((g * 7919) %% 14400 - 7200) || "
            "' minutes') || '.000000'"
        ),
        "email_index": "printf('%%064x', g)",
        "phone_index": "printf('p%%063x', g)",
        "empty_json": "'[]'",
    },
}

HELPERS = [
    # Queues by slug, numbered: the first three get most of the work, like the demo routes.
    "CREATE TEMP TABLE bench_queues AS SELECT q.id, row_number() OVER (ORDER BY q.slug) - 1 AS n "
    "FROM routing_queue q",
    # One template referral per program.
    "CREATE TEMP TABLE bench_tpls AS SELECT t.id, row_number() OVER (ORDER BY t.program_id) - 1 "
    "AS n FROM (SELECT min(id) AS id, program_id FROM intake_referral GROUP BY program_id) t",
    # Assignees: members of the team owning the row's queue.
    "CREATE TEMP TABLE bench_members AS SELECT m.user_id, q.id AS queue_id, row_number() OVER "
    "(PARTITION BY q.id ORDER BY m.user_id) - 1 AS n FROM accounts_teammembership m "
    "JOIN routing_queue q ON q.team_id = m.team_id",
    "CREATE TEMP TABLE bench_member_counts AS SELECT queue_id, count(*) AS c FROM bench_members "
    "GROUP BY queue_id",
    "CREATE TEMP TABLE bench_stages (n integer, stage varchar(40))",
    "INSERT INTO bench_stages VALUES (0,'closed'),(1,'closed'),(2,'closed'),(3,'closed'),"
    "(4,'closed'),(5,'closed'),(6,'queued'),(7,'queued'),(8,'in_progress'),"
    "(9,'awaiting_review'),(10,'needs_info'),(11,'scheduled')",
]


def fill_sql(vendor: str, columns: list[str]) -> str:
    e = EXPRESSIONS[vendor]
    filled = {
        "public_id": e["public_id"],
        "created_at": e["now"],
        "updated_at": e["now"],
        "reference": e["reference"],
        "client_ref": "''",
        "received_at": e["received_at"],
        "email_index": e["email_index"],
        "phone_index": e["phone_index"],
        "npi_index": "''",
        "name_index": "''",
        "stage": "s.stage",
        "outcome": "CASE WHEN s.stage = 'closed' THEN 'qualified' ELSE '' END",
        "outcome_reason": "''",
        "prescreen_outcome": "''",
        "missing": e["empty_json"],
        "duplicate_of_id": "NULL",
        "queue_id": "q.id",
        "assigned_to_id": (
            "CASE WHEN (g / 12) %% 4 = 0 OR s.stage = 'received' THEN NULL ELSE "
            "(SELECT m.user_id FROM bench_members m JOIN bench_member_counts mc "
            "ON mc.queue_id = m.queue_id WHERE m.queue_id = q.id AND m.n = g %% mc.c) END"
        ),
        "flags": e["empty_json"],
        "routed_at": e["now"],
        "first_response_due_at": (
            f"CASE WHEN s.stage IN ('needs_info', 'received') THEN NULL ELSE {e['due']} END"
        ),
        "sla_paused_at": f"CASE WHEN s.stage = 'needs_info' THEN {e['now']} END",
        "sla_paused_seconds": "0",
        "closed_at": f"CASE WHEN s.stage = 'closed' THEN {e['now']} END",
    }
    select = ", ".join(filled.get(column, f"t.{column}") for column in columns)
    series = e["series"]
    prefix = ""
    if vendor == "sqlite":
        prefix = (
            "WITH RECURSIVE series(g) AS (SELECT %(start)s UNION ALL "
            "SELECT g + 1 FROM series WHERE g < %(stop)s) "
        )
    return (
        f"{prefix}INSERT INTO intake_referral ({', '.join(columns)}) "
        f"SELECT {select} FROM {series} "
        "JOIN bench_queues q ON q.n = (CASE WHEN g %% 10 < 6 THEN g %% 3 "
        "ELSE g %% (SELECT count(*) FROM bench_queues) END) "
        "JOIN bench_tpls tp ON tp.n = g %% 3 "
        "JOIN intake_referral t ON t.id = tp.id "
        "JOIN bench_stages s ON s.n = g %% 12"
    )


def secondary_indexes(cursor, vendor: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of intake_referral's indexes that back no constraint."""
    if vendor == "postgresql":
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'intake_referral' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'intake_referral'::regclass)"
        )
    else:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'intake_referral' AND sql IS NOT NULL"
        )
    return list(cursor.fetchall())


def name_token_table() -> str | None:
    """Name search's token side table, when that feature is installed."""
    from django.db import connection

    tables = connection.introspection.table_names()
    found = [t for t in tables if t.startswith("intake_") and "token" in t]
    return found[0] if found else None


def fill(count: int) -> None:
    from django.db import connection

    from refdesk.intake.models import Referral

    vendor = connection.vendor
    columns = [f.column for f in Referral._meta.concrete_fields if f.column != "id"]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if vendor == "sqlite":
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-1000000")
        for statement in HELPERS:
            cursor.execute(statement)
        indexes = secondary_indexes(cursor, vendor)
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        sql = fill_sql(vendor, columns)
        for start in range(1, count + 1, CHUNK):
            stop = min(start + CHUNK - 1, count)
            cursor.execute(sql, {"start": start, "stop": stop})
            print(f"  {stop:,} rows, {time.perf_counter() - started:.0f} s", flush=True)
        tokens = name_token_table()
        if tokens:
            copy_name_tokens(cursor, tokens)
        if vendor == "postgresql":
            cursor.execute("SET maintenance_work_mem = '1GB'")
        for _name, create in indexes:
            cursor.execute(create)
        print(f"  indexes built, {time.perf_counter() - started:.0f} s", flush=True)
        # PostgreSQL: VACUUM sets the visibility map and hint bits now, not during the timing.
        cursor.execute("VACUUM ANALYZE" if vendor == "postgresql" else "ANALYZE")
        cursor.execute("SELECT count(*) FROM intake_referral")
        total = cursor.fetchone()[0]
    print(f"filled {total:,} referrals in {time.perf_counter() - started:.1f} s", flush=True)


def copy_name_tokens(cursor, table: str) -> None:
    """Give every filled referral its template's name tokens, with its own receipt time (one
    INSERT ... SELECT, the lookup index dropped meanwhile and built again after)."""
    from django.db import connection

    vendor = connection.vendor
    columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
    if "referral_id" not in columns:
        print(f"  {table}: no referral_id column, not filled")
        return
    own = {"referral_id": "r.id", "received_at": "r.received_at"}
    copied = ", ".join(own.get(column, f"tok.{column}") for column in columns)
    if vendor == "postgresql":
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname "
            "NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
    else:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
            "AND sql IS NOT NULL",
            [table],
        )
    indexes = list(cursor.fetchall())
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {copied} FROM intake_referral r "
        "JOIN intake_referral t ON t.program_id = r.program_id "
        "AND t.id IN (SELECT min(id) FROM intake_referral GROUP BY program_id) "
        f"JOIN {table} tok ON tok.referral_id = t.id WHERE r.reference LIKE 'BX-%%'"
    )
    print(f"  {table}: {cursor.rowcount:,} tokens copied", flush=True)
    for _, create in indexes:
        cursor.execute(create)


def timed(client, method: str, path: str, data: dict, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call = client.get if method == "GET" else client.post

    def once():
        response = call(path, data)
        assert response.status_code == 200, (path, response.status_code, response.get("Location"))
        return response

    for _ in range(10):
        once()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        once()
    timings.sort()
    statements = [q["sql"] for q in queries.captured_queries]
    control = [sql for sql in statements if TRANSACTION_CONTROL.match(sql)]
    return {
        "p50": statistics.median(timings),
        "p95": timings[max(0, int(len(timings) * 0.95) - 1)],
        "max": timings[-1],
        "queries": len(statements) - len(control),
        "tx": len(control),
    }


def next_page_query(client, path: str, data: dict) -> dict:
    html = client.get(path, data).content.decode()
    found = re.search(r'href="\?([^"]*after=[^"]*)" rel="next"', html)
    assert found, "no second page"
    pairs = found.group(1).replace("&amp;", "&").split("&")
    return dict(pair.split("=", 1) for pair in pairs)


def variants(client) -> list[tuple[str, str, str, dict]]:
    queue = f"/desk/queues/{QUEUE}"
    pages = [
        ("queue, SLA breached (due soonest)", "GET", queue, {"sla": "breached", "size": "25"}),
        ("queue, unassigned + queued", "GET", queue, {"assignee": "unassigned", "stage": "queued"}),
        ("queue, all open, due soonest", "GET", queue, {}),
        ("queue, due latest first", "GET", queue, {"sort": "-due"}),
        ("queue, received newest first", "GET", queue, {"sort": "-received"}),
        ("queue, received oldest first", "GET", queue, {"sort": "received"}),
        ("queue, page 2 (due soonest)", "GET", queue, next_page_query(client, queue, {})),
        ("my work, assigned to me", "GET", "/desk/work", {}),
        ("my work, due latest first", "GET", "/desk/work", {"sort": "-due"}),
        ("my work, unassigned", "GET", "/desk/work", {"assignee": "unassigned"}),
    ]
    search = name_search_variant(client)
    if search:
        pages.append(search)
    return pages


def name_search_variant(client):
    """Name search (the ``search`` feature), when installed: a partial name of the template."""
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse("desk:search")
    except NoReverseMatch:
        return None
    if name_token_table() is None:
        print("name search: no name token table on this branch; not measured")
        return None
    response = client.post(url, {"q": "aver"})
    if response.status_code != 200:
        print(f"name search: POST {url} answered {response.status_code}; not measured")
        return None
    return ("name search, 'aver'", "POST", url, {"q": "aver"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--referrals", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the dataset for --reuse")
    parser.add_argument("--reuse", action="store_true", help="measure the kept dataset")
    args = parser.parse_args()
    path = None
    if args.database == "sqlite":
        path = sqlite_path(args.referrals, keep=args.keep or args.reuse)
        if args.reuse and not path.exists():
            sys.exit(f"no kept dataset at {path}: run once with --keep")
    if not args.reuse:
        fresh_database(args.database, path)
    setup_django(args.database, path)
    from django.test import Client

    from refdesk.accounts.models import User

    if args.reuse:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)  # indexes added since the fill
        user = User.objects.get(username="bench.coordinator")
    else:
        user = seed_world()
        fill(args.referrals)
    client = Client()
    client.force_login(user)
    client.get("/desk/work")  # the session's first write
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM intake_referral")
        total = cursor.fetchone()[0]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{args.database}, {total:,} referrals, {args.runs} runs per page, {stamp}")
    print(f"{'page':<40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8} {'+tx':>4}")
    for label, method, url, data in variants(client):
        result = timed(client, method, url, data, args.runs)
        print(
            f"{label:<40} {result['p50']:>8.1f} {result['p95']:>8.1f} {result['max']:>8.1f} "
            f"{result['queries']:>8} {result['tx']:>4}",
            flush=True,
        )
    if not (args.keep or args.reuse):
        connection.close()
        if args.database == "postgresql":
            fresh_database_drop()
        elif path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


def fresh_database_drop() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
