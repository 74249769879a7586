"""On SQLite, writers of one process queue on a lock, not in SQLite's sleeping busy handler."""

import threading

import pytest
from django.db import connection, transaction

from refdesk.core.sqlite3.base import _write_lock

pytestmark = [
    # Flush only tables without append-only triggers (core has none): the programs stay.
    pytest.mark.django_db(transaction=True, available_apps=["refdesk.core"]),
    pytest.mark.skipif("connection.vendor != 'sqlite'", reason="SQLite only"),
]


def test_a_write_transaction_holds_the_process_lock_until_commit():
    with transaction.atomic():
        assert _write_lock.locked()
    assert not _write_lock.locked()


def test_a_rolled_back_transaction_releases_the_lock():
    with pytest.raises(RuntimeError), transaction.atomic():
        raise RuntimeError("the change failed")
    assert not _write_lock.locked()


def test_a_second_writer_starts_as_soon_as_the_first_commits():
    order = []
    first_inside = threading.Event()
    release_first = threading.Event()

    def first():
        with transaction.atomic():
            order.append("first begins")
            first_inside.set()
            release_first.wait(5)
            order.append("first commits")
        connection.close()

    def second():
        first_inside.wait(5)
        with transaction.atomic():
            order.append("second begins")
        connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_inside.wait(5)
    release_first.set()
    for thread in threads:
        thread.join(10)
    assert order == ["first begins", "first commits", "second begins"]


# --- across processes: the flock beside the database file --------------------------------------

LOCK_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("held")
else:
    print("free")
"""


def _lock_state(path: str) -> str:
    """What another process finds: is the writer lock held?"""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", LOCK_PROBE, path], capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def _file_database(tmp_path):
    from refdesk.core.sqlite3.base import DatabaseWrapper

    settings_dict = {**connection.settings_dict, "NAME": str(tmp_path / "shared.sqlite3")}
    return DatabaseWrapper(settings_dict, alias="writer-queue-test")


def test_the_lock_file_sits_beside_a_database_file_and_memory_has_none():
    from refdesk.core.sqlite3.base import writer_lock_path

    assert writer_lock_path("/data/refdesk.sqlite3") == "/data/refdesk.sqlite3-writer.lock"
    assert writer_lock_path("file:/data/x.db?mode=rwc") == "/data/x.db-writer.lock"
    assert writer_lock_path(":memory:") is None
    assert writer_lock_path("file:memorydb_default?mode=memory&cache=shared") is None


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_other_processes_see_the_writer_lock_held_until_the_transaction_ends(tmp_path, end):
    database = _file_database(tmp_path)
    lock = str(tmp_path / "shared.sqlite3-writer.lock")
    try:
        database.ensure_connection()
        # What transaction.atomic() does first: BEGIN IMMEDIATE, which takes both locks.
        database.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
        assert _lock_state(lock) == "held"
        getattr(database, end)()
        assert _lock_state(lock) == "free"
        database.set_autocommit(True)
    finally:
        database.close()
