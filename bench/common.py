"""What the benchmark scripts share: a fresh database and a throw-away environment for refdesk."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")


def bench_environment(database: str, tmp: Path, *, pg_db: str, **extra: str) -> dict[str, str]:
    """Environment for a refdesk child process: its own keys, and a fresh SQLite file in ``tmp``
    or a freshly created PostgreSQL database ``pg_db``."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        PYTHONPATH=str(ROOT),
        REFDESK_ENV="development",
        REFDESK_DATA_DIR=str(tmp),
        SECRET_KEY="bench-" + secrets.token_urlsafe(48),
        REFDESK_FIELD_KEYS=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        REFDESK_INDEX_KEY=secrets.token_urlsafe(32),
        REFDESK_AUDIT_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="127.0.0.1",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        **extra,
    )
    if database == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {pg_db}")
        env["DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_db
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    return env
