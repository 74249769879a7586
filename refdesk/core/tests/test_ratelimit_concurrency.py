"""16 threads in two processes hit one key with a limit of 5: exactly 5 get through, and all 16
are counted — on a shared SQLite file and on PostgreSQL. Nothing here depends on timing: the
count is exact however the hits interleave; the start signal only makes them overlap."""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from refdesk.core.models import RateCounter

ROOT = Path(__file__).resolve().parents[3]
PROCESSES, THREADS, LIMIT = 2, 8, 5


@pytest.fixture
def committed_db(transactional_db):
    """A transactional test: what it writes is committed, so other connections see it."""


def _environment(database_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "refdesk.settings.test",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def _hit_from_two_processes(database_url: str, folder: Path) -> int:
    env = _environment(database_url)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "refdesk.core.tests.ratelimit_child"]
            + [str(folder), f"p{n}", str(THREADS), str(LIMIT)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 300  # a guard against a child that died, not a result
        while not all((folder / f"p{n}.ready").exists() for n in range(PROCESSES)):
            failed = [child for child in children if child.poll() not in (None, 0)]
            assert not failed, failed[0].communicate()[1]
            assert time.monotonic() < deadline, "the children never got ready"
            time.sleep(0.01)
        (folder / "go").touch()
        outputs = [child.communicate(timeout=300) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (_, stderr) in zip(children, outputs, strict=True):
        assert child.returncode == 0, stderr
    return sum(int(stdout.strip()) for stdout, _ in outputs)


def test_on_a_shared_sqlite_file_exactly_the_limit_gets_through(tmp_path):
    database = tmp_path / "limits.sqlite3"
    url = f"sqlite:///{database}"
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "core", "--verbosity", "0"],
        env=_environment(url),
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    assert _hit_from_two_processes(url, tmp_path) == LIMIT
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT hits FROM core_ratecounter").fetchall() == [(16,)]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the PostgreSQL run of the suite covers it (DATABASE_URL=postgres://...)",
)
def test_on_postgresql_exactly_the_limit_gets_through(committed_db, tmp_path):
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    assert _hit_from_two_processes(url, tmp_path) == LIMIT
    assert list(RateCounter.objects.values_list("hits", flat=True)) == [PROCESSES * THREADS]
