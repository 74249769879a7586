"""Fixtures of the workflow tests that reach outside the test process: a real SMTP server
and a database other processes can open (helpers in ``processes.py``)."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from refdesk.workflow.tests.processes import Inbox, free_port


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        inbox.resume.set()
        controller.stop()


@pytest.fixture
def shared_database(request, tmp_path, django_db_setup, django_db_blocker) -> str:
    """A DATABASE_URL that other processes can open, holding the demo programs.

    PostgreSQL: this test's database, as a transactional test (what the processes commit is
    emptied after it, like any transactional test's). SQLite: the tests' database is in this
    process's memory, and a transactional test cannot empty it (audit events refuse DELETE), so
    the processes get a file copy of it and this process never writes to either. The test
    carries ``processes.on_shared_database``.
    """
    if connection.vendor == "postgresql":
        request.getfixturevalue("transactional_db")
        db = connection.settings_dict
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    path = tmp_path / "shared.sqlite3"
    with django_db_blocker.unblock():
        connection.ensure_connection()
        # serialize(), not backup(): a backup waits forever while this connection holds the
        # test's (empty, rolled-back) write transaction.
        path.write_bytes(connection.connection.serialize())
    return f"sqlite:///{path}"
