"""``audit_record`` — the only writer of audit events — ``audit_batch`` and ``audit_verify``."""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db import connections, models, transaction
from django.utils import timezone

from refdesk.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from refdesk.core import sql
from refdesk.core.context import current_request_id
from refdesk.core.crypto import fingerprint


def actor_label(actor: Any) -> str:
    """A fixed text for the actor: a string is taken as is; a user becomes ``user:<username>``."""
    if isinstance(actor, str):
        if not actor:
            raise ValueError("audit actor must not be empty")
        return actor[:200]
    label = getattr(actor, "audit_label", None)
    if label:
        return str(label)[:200]
    username = getattr(actor, "get_username", None)
    if callable(username):
        return f"user:{username()}"[:200]
    raise TypeError(f"cannot name audit actor {type(actor).__name__}")


def _subject_parts(subject: Any) -> tuple[str, str]:
    if subject is None:
        return "", ""
    if isinstance(subject, tuple):
        return str(subject[0]), str(subject[1])
    if isinstance(subject, models.Model):
        subject_type = getattr(subject, "audit_subject_type", subject._meta.model_name)
        identifier = getattr(subject, "audit_subject_id", None) or getattr(
            subject, "public_id", None
        )
        if identifier is None:
            raise ValueError(f"{subject_type} has no public id to audit by")
        return subject_type, str(identifier)
    raise TypeError(f"cannot audit subject of type {type(subject).__name__}")


def _normalise_changes(changes: Mapping | None, sensitive: set[str]) -> dict:
    """``{field: {"old", "new"}}``; values of sensitive (patient) fields become fingerprints."""
    result: dict[str, dict] = {}
    for field, change in (changes or {}).items():
        if isinstance(change, tuple | list) and len(change) == 2:
            old, new = change
        elif isinstance(change, Mapping) and set(change) <= {"old", "new"}:
            old, new = change.get("old"), change.get("new")
        else:
            old, new = None, change
        if field in sensitive:
            old = None if old in (None, "") else fingerprint(old)
            new = None if new in (None, "") else fingerprint(new)
        result[str(field)] = {"old": old, "new": new}
    return _jsonable(result)


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def compute_hash(
    *,
    seq: int,
    prev_hash: str,
    occurred_at,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    changes: dict,
    reason: str,
    request_id: str,
) -> str:
    payload = json.dumps(
        {
            "seq": seq,
            "prev": prev_hash,
            "at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject": [subject_type, subject_id],
            "changes": changes,
            "reason": reason,
            "request": request_id,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hmac.new(settings.AUDIT_HMAC_KEY.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _event_hash(event: AuditEvent) -> str:
    return compute_hash(
        seq=event.seq,
        prev_hash=event.prev_hash,
        occurred_at=event.occurred_at,
        actor=event.actor,
        action=event.action,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        changes=event.changes,
        reason=event.reason,
        request_id=event.request_id,
    )


def _lock_head() -> AuditChainHead:
    try:
        return AuditChainHead.objects.select_for_update().get(pk=1)
    except AuditChainHead.DoesNotExist:
        # First event ever (or a flushed test database): create the head without racing.
        AuditChainHead.objects.bulk_create([AuditChainHead(pk=1)], ignore_conflicts=True)
        return AuditChainHead.objects.select_for_update().get(pk=1)


# Events recorded inside ``audit_batch()`` wait here and are written together at its end.
_pending: contextvars.ContextVar[list[AuditEvent] | None] = contextvars.ContextVar(
    "audit_pending", default=None
)


@contextmanager
def audit_batch():
    """Write the audit events recorded inside this block together, when it ends.

    Use it inside the service's transaction (``with transaction.atomic(), audit_batch():``): the
    events still commit or roll back with the change, but the chain head is locked only for the
    final write, not from the first event to commit — on PostgreSQL that lock serialises every
    writer, so holding it briefly is what lets intake scale. Nested batches join the outer one.
    """
    if _pending.get() is not None:
        yield
        return
    token = _pending.set([])
    try:
        yield
        events = _pending.get()
    finally:
        _pending.reset(token)
    if events:
        _append(events)


def _append(events: list[AuditEvent]) -> None:
    """Chain and insert events: one head lock, one insert, one head update (SQL built once:
    this runs in every write, intake's hot path included)."""
    connection = connections[AuditEvent.objects.db]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        cursor.execute(f"SELECT seq, hash FROM audit_auditchainhead WHERE id = 1{lock}", [])
        row = cursor.fetchone()
        if row is None:
            # First event ever (or a flushed test database): create the head without racing.
            head = _lock_head()
            row = (head.seq, head.hash)
        seq, prev_hash = row
        now = timezone.now()
        for event in events:
            seq += 1
            event.seq, event.prev_hash, event.occurred_at = seq, prev_hash, now
            event.hash = prev_hash = _event_hash(event)
        sql.insert_many(events)
        cursor.execute(
            "UPDATE audit_auditchainhead SET seq = %s, hash = %s WHERE id = 1", [seq, prev_hash]
        )


def audit_record(
    *,
    actor: Any,
    action: str,
    subject: Any = None,
    changes: Mapping | None = None,
    reason: str = "",
    sensitive_fields: Iterable[str] = (),
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    Outside ``audit_batch()`` it is written at once (the head lock is then held until the
    caller's transaction commits); inside, it is written when the batch ends. Patient fields
    named in ``sensitive_fields`` are stored as keyed fingerprints, never values.
    """
    if not action or "." not in action:
        raise ValueError("audit action must look like 'entity.verb'")
    subject_type, subject_id = _subject_parts(subject)
    event = AuditEvent(
        actor=actor_label(actor),
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        changes=_normalise_changes(changes, set(sensitive_fields)),
        reason=reason or "",
        request_id=(request_id or current_request_id() or "")[:64],
    )
    pending = _pending.get()
    if pending is not None:
        pending.append(event)
    else:
        _append([event])
    return event


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    problem: str | None = None
    bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def audit_verify(*, chunk_size: int = 5000) -> VerifyResult:
    """Walk the chain in order and report the first event that breaks it."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size):
        if event.seq != expected_seq:
            return VerifyResult(
                checked,
                f"event #{event.seq}: expected #{expected_seq} next "
                "(an event is missing or out of order)",
                event.seq,
            )
        if event.prev_hash != prev_hash:
            return VerifyResult(
                checked,
                f"event #{event.seq}: does not link to event "
                f"#{expected_seq - 1} (deleted, inserted or reordered)",
                event.seq,
            )
        recomputed = _event_hash(event)
        if not hmac.compare_digest(recomputed, event.hash):
            return VerifyResult(
                checked,
                f"event #{event.seq}: hash does not match its content (edited or forged)",
                event.seq,
            )
        checked += 1
        prev_hash = event.hash
        expected_seq += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) != (expected_seq - 1, prev_hash):
        return VerifyResult(
            checked,
            f"chain head names event #{head_seq} but the last event is "
            f"#{expected_seq - 1} (events deleted from the end?)",
            expected_seq,
        )
    return VerifyResult(checked)
