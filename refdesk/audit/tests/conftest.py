"""The audit trail as a test finds it, and a trail with nothing in it.

A test does not start from an empty trail: the demo programs are applied once per test database
(the root conftest.py) and applying them records audit events, committed before any test runs.
So the tests assert on what they add, counted from ``baseline``: the k-th event a test records
is #``baseline.seq + k``, the first one links to ``baseline.hash``, and a walk of the whole chain
checks ``baseline.count`` events more than the test added. They hold for any number of events
already there, none included.
"""

from __future__ import annotations

import pytest
from django.db import connection

from refdesk.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from refdesk.audit.tests.tampering import Trail, trail_now

AUDIT_TABLES = (AuditEvent._meta.db_table, AuditChainHead._meta.db_table)


@pytest.fixture
def baseline(db) -> Trail:
    trail = trail_now()
    # Counting from here assumes a whole chain: events #1..#seq, the head naming the newest.
    newest = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    assert (newest or (0, GENESIS_HASH)) == (trail.seq, trail.hash), "head is not the newest"
    assert trail.count == trail.seq, f"{trail.count} event(s) but the newest is #{trail.seq}"
    return trail


@pytest.fixture
def empty_trail(db) -> None:
    """A trail with no event and no head row, as on a new installation or a flushed database.

    The events already recorded are committed and append-only; removing them would mean dropping
    the triggers these tests are about. Instead both audit tables are shadowed, for this test's
    transaction only, by empty temporary tables of the same definition: an unqualified table name
    finds the temporary table first (SQLite searches ``temp`` before ``main``, PostgreSQL
    ``pg_temp`` before the search path), so the services' own, unchanged queries see a trail
    with nothing in it. The real tables and their rows are not touched, and the shadows go with
    the test's rollback (or with the connection, which ``main()`` closes on PostgreSQL).
    """
    assert connection.in_atomic_block, "the shadow tables must go with the test's rollback"
    with connection.cursor() as cursor:
        for table in AUDIT_TABLES:
            if connection.vendor == "sqlite":
                cursor.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table]
                )
                (definition,) = cursor.fetchone()
                assert definition.startswith("CREATE TABLE "), definition
                cursor.execute(definition.replace("CREATE TABLE ", "CREATE TEMP TABLE ", 1))
            else:
                quoted = connection.ops.quote_name(table)
                cursor.execute(f"CREATE TEMP TABLE {quoted} (LIKE {quoted} INCLUDING ALL)")
    # The shadows are in effect: the services' queries find neither events nor a head.
    assert not AuditEvent.objects.exists()
    assert not AuditChainHead.objects.exists()
