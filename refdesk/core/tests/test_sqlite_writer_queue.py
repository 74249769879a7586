"""On SQLite, writers of one process queue on a lock, not in SQLite's sleeping busy handler."""

import threading

import pytest
from django.db import connection, transaction

from refdesk.core.sqlite3.base import _write_lock

pytestmark = [
    pytest.mark.django_db(transaction=True),
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
