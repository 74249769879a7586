"""Recording events, and what someone with direct database access could do to them (tests only)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection

from refdesk.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from refdesk.audit.services import audit_record


@dataclass(frozen=True)
class Trail:
    """Where the trail stands: its newest event and how many events it holds."""

    seq: int  # of the newest event (0: none yet)
    hash: str  # of the newest event (GENESIS_HASH: none yet)
    count: int


def trail_now() -> Trail:
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    seq, hash_ = head or (0, GENESIS_HASH)
    return Trail(seq=seq, hash=hash_, count=AuditEvent.objects.count())


def record_events(n: int, **kwargs) -> list[AuditEvent]:
    return [
        audit_record(
            actor="system:test",
            action="thing.happened",
            subject=("thing", str(i)),
            changes={"count": (i, i + 1)},
            **kwargs,
        )
        for i in range(n)
    ]


@contextmanager
def triggers_disabled():
    """Simulate an attacker with direct database access: the append-only triggers dropped."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER audit_event_no_update")
            cursor.execute("DROP TRIGGER audit_event_no_delete")
        else:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_auditevent "
                "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
            )
            cursor.execute(
                "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_auditevent "
                "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
            )
        else:
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def cut_tail(*, keep: int) -> None:
    """Delete every event after #keep, past the triggers; the head row is left as it was."""
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq > %s", [keep])


def event_hash(seq: int) -> str:
    return AuditEvent.objects.values_list("hash", flat=True).get(seq=seq)


def read_head() -> tuple[int, str, str]:
    return AuditChainHead.objects.values_list("seq", "hash", "mac").get(pk=1)


def rewrite_head(seq: int, hash_: str, mac: str | None = None) -> None:
    """Point the head row at another event in plain SQL, as a database administrator could;
    ``mac=None`` leaves the old signature in place (someone without the key)."""
    with connection.cursor() as cursor:
        if mac is None:
            cursor.execute(
                "UPDATE audit_auditchainhead SET seq = %s, hash = %s WHERE id = 1", [seq, hash_]
            )
        else:
            cursor.execute(
                "UPDATE audit_auditchainhead SET seq = %s, hash = %s, mac = %s WHERE id = 1",
                [seq, hash_, mac],
            )
