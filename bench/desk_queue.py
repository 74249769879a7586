"""Queue page benchmark: p50/p95 of a filtered /desk/queues/<slug> page with 1,000,000 referrals.

    .venv/bin/python bench/desk_queue.py [--referrals 1000000] [--runs 200] [--keep]

1. A fresh PostgreSQL database (``refdesk_bench_desk`` on 127.0.0.1:5432, user postgres; set
   BENCH_PG_ADMIN to change), migrated, with the demo programs and a coordinator (MFA enrolled,
   so the real middleware stack runs).
2. Bulk fill, bench-only, in SQL: ``INSERT ... SELECT generate_series`` copies the columns of
   one template referral per program with a realistic spread: 10 queues weighted like the demo
   routes, stages (mostly closed, the rest open), due times from 5 days ago to 5 days ahead,
   one in four open referrals unassigned. The encrypted lead is the template's Fernet token,
   reused (a speed test; every row decrypts the same way). ANALYZE afterwards.
3. In process (Django test client, logged in as the coordinator): the filtered queue page
   (clinical-ops-prescreening, SLA breached, 25 rows) and the unfiltered first page, each
   ``--runs`` times after a warm-up; prints p50/p95/max in ms and the page's query count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
PG_DB = "refdesk_bench_desk"
QUEUE = "clinical-ops-prescreening"


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")


def setup_django() -> None:
    os.environ["DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DB}"
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
    # One real referral per program: the templates the fill copies.
    submit("trial-prescreening", trial(1))
    submit("patient-support", support(2))
    submit("provider-education", education(3))
    return user


FILL_SQL = """
WITH queues AS (
    SELECT q.id, row_number() OVER (ORDER BY q.slug) - 1 AS n FROM routing_queue q
), tpl AS (
    SELECT DISTINCT ON (program_id) * FROM intake_referral ORDER BY program_id, id
), tpls AS (
    SELECT tpl.*, row_number() OVER (ORDER BY program_id) - 1 AS n FROM tpl
), members AS (
    SELECT array_agg(m.user_id) AS ids FROM accounts_teammembership m
)
INSERT INTO intake_referral (
    public_id, created_at, updated_at, reference, program_id, program_version_id, source_id,
    referrer_id, submission_method, client_ref, received_at, request_type, therapy_area,
    lead_kind, lead, answers, preferred_contact, lead_timezone, language, country, email_index,
    phone_index, stage, outcome, outcome_reason, prescreen_outcome, missing, queue_id,
    assigned_to_id, flags, routed_at, first_response_due_at, closed_at,
    utm_source, utm_medium, utm_campaign, utm_content, utm_term
)
SELECT
    md5(g::text || 'bench')::uuid, now(), now(), 'BX-' || lpad(g::text, 8, '0'),
    t.program_id, t.program_version_id, t.source_id, t.referrer_id, t.submission_method, '',
    now() - (g %% 43200) * interval '1 minute', t.request_type, t.therapy_area, t.lead_kind,
    t.lead, t.answers, t.preferred_contact, t.lead_timezone, t.language, t.country,
    md5(g::text), md5(g::text || 'p'),
    s.stage, CASE WHEN s.stage = 'closed' THEN 'qualified' ELSE '' END, '', '', '[]'::jsonb,
    q.id,
    CASE WHEN (g / 12) %% 4 = 0 OR s.stage = 'received' THEN NULL
         ELSE (SELECT ids[1 + g %% array_length(ids, 1)] FROM members) END,
    '[]'::jsonb, now(),
    CASE WHEN s.stage IN ('needs_info', 'received') THEN NULL
         ELSE now() + ((g::bigint * 7919) %% 14400 - 7200) * interval '1 minute' END,
    CASE WHEN s.stage = 'closed' THEN now() END,
    '', '', '', '', ''
FROM generate_series(%(start)s, %(stop)s) AS g
-- Queues: the first three (by slug) get most of the work, like the demo routes.
JOIN queues q
  ON q.n = (CASE WHEN g %% 10 < 6 THEN g %% 3 ELSE g %% (SELECT count(*) FROM queues) END)
JOIN tpls t ON t.n = g %% 3
CROSS JOIN LATERAL (SELECT (ARRAY['closed','closed','closed','closed','closed','closed',
    'queued','queued','in_progress','awaiting_review','needs_info','scheduled'])[1 + g %% 12]
    AS stage) s
"""


def fill(count: int) -> None:
    from django.db import connection

    started = time.perf_counter()
    chunk = 200_000
    with connection.cursor() as cursor:
        for start in range(1, count + 1, chunk):
            stop = min(start + chunk - 1, count)
            cursor.execute(FILL_SQL, {"start": start, "stop": stop})
        cursor.execute("ANALYZE intake_referral")
        cursor.execute("SELECT count(*) FROM intake_referral")
        total = cursor.fetchone()[0]
    print(f"filled {total:,} referrals in {time.perf_counter() - started:.1f} s")


def measure(client, path: str, query: dict, runs: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(10):
        response = client.get(path, query)
        assert response.status_code == 200, (response.status_code, response.get("Location"))
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, query)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(path, query)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}: "
        f"p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms, "
        f"{len(queries.captured_queries)} queries, {runs} runs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="measure the last run's database")
    args = parser.parse_args()
    if not args.reuse:
        fresh_database()
    setup_django()
    from django.test import Client

    if args.reuse:
        from refdesk.accounts.models import User

        user = User.objects.get(username="bench.coordinator")
    else:
        user = seed_world()
        fill(args.referrals)
    client = Client()
    client.force_login(user)
    path = f"/desk/queues/{QUEUE}"
    measure(client, path, {"sla": "breached", "size": "25"}, args.runs)
    measure(client, path, {"assignee": "unassigned", "stage": "queued"}, args.runs)
    measure(client, path, {}, args.runs)


if __name__ == "__main__":
    main()
