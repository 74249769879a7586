"""``audit_record`` — the only writer of audit events — ``audit_batch``, ``audit_verify`` and
anchors (``audit_anchor``, ``audit_anchor_load``, ``audit_anchor_check``).

Three kinds of message are signed with the audit key (HMAC-SHA256), each in its own form so no
signature of one kind can ever pass for another: an event hash signs a JSON object (starting
``{``), the chain head signs ``refdesk.audit.head`` + seq + hash, an anchor signs
``refdesk.audit.anchor`` + a JSON object. (Patient-value fingerprints, same key, sign bare JSON
values, which never start with ``r``.)
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from django.conf import settings
from django.db import connections, models, transaction
from django.utils import timezone

from refdesk.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from refdesk.core import sql
from refdesk.core.context import current_request_id
from refdesk.core.crypto import fingerprint
from refdesk.core.errors import ApplicationError

HEAD_DOMAIN = "refdesk.audit.head"
ANCHOR_DOMAIN = "refdesk.audit.anchor"


@runtime_checkable
class AuditActor(Protocol):
    """Anything that acts and names itself for the trail: a staff user, a referrer, a partner
    key (``user:alice``, ``referrer:K7Q3M9X``, ``partner:...``)."""

    @property
    def audit_label(self) -> str: ...


# Who acts, in every service that changes something: an ``AuditActor``, or a fixed label for
# refdesk itself and its commands ("system:demo", "system:intake").
type Actor = str | AuditActor


def actor_label(actor: Actor) -> str:
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
    return _mac(payload)


def _mac(message: str) -> str:
    return hmac.new(settings.AUDIT_HMAC_KEY.encode(), message.encode(), hashlib.sha256).hexdigest()


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison that also accepts whatever text a tampered row holds."""
    return hmac.compare_digest(expected.encode(), str(given).encode())


def head_mac(seq: int, hash_: str) -> str:
    """The chain head's signature: without the audit key nobody can rewrite the head to name an
    earlier event. (Migration 0004 holds a copy of this function: change both or neither.)"""
    return _mac(f"{HEAD_DOMAIN}\n{int(seq)}\n{hash_}")


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
        genesis = AuditChainHead(pk=1, seq=0, hash=GENESIS_HASH, mac=head_mac(0, GENESIS_HASH))
        AuditChainHead.objects.bulk_create([genesis], ignore_conflicts=True)
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
    """Chain and insert events: one head lock, one insert, one head update that also re-signs
    the head (SQL built once: this runs in every write, intake's hot path included; the
    insert alone is 105 µs less than bulk_create on SQLite, 342 µs on PostgreSQL,
    bench/sql_paths.py)."""
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
            "UPDATE audit_auditchainhead SET seq = %s, hash = %s, mac = %s WHERE id = 1",
            [seq, prev_hash, head_mac(seq, prev_hash)],
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


# Told how far a walk has gone: (events checked, events to check as far as the walk knows).
type VerifyProgress = Callable[[int, int], None]


def audit_verify(*, chunk_size: int = 5000, progress: VerifyProgress | None = None) -> VerifyResult:
    """Walk the chain in order and report the first event that breaks it, then check that the
    chain head is signed with the audit key and names the last event (a deleted tail).

    Safe while writers append: events committed during the walk are walked too before the head
    is compared, so only a real break fails.

    ``progress`` (the console's verification run) is called after every ``chunk_size`` events
    and once at the end, with the events checked and the total: the head's seq read before the
    walk, raised to what was walked when writers appended meanwhile. At the end checked equals
    the total when the chain is whole, and stops short of it at a break.
    """
    checked, prev_hash = 0, GENESIS_HASH
    total = 0
    if progress is not None:
        head = _read_head()
        total = head[0] if head else 0
        progress(0, total)

    def report() -> None:
        if progress is not None:
            progress(checked, max(total, checked))

    events = AuditEvent.objects.order_by("seq")
    while True:
        walked_before = checked
        for event in events.iterator(chunk_size=chunk_size):
            problem = _event_problem(event, checked + 1, prev_hash)
            if problem:
                report()
                return VerifyResult(checked, problem, event.seq)
            checked, prev_hash = checked + 1, event.hash
            if progress is not None and checked % chunk_size == 0:
                report()
        head = _read_head()
        # The walk reads one snapshot; a head read after it may name events committed since.
        if head is None or head[0] <= checked or checked == walked_before:
            break
        total = max(total, head[0])
        events = AuditEvent.objects.filter(seq__gt=checked).order_by("seq")
    report()
    problem = _head_problem(head, checked, prev_hash)
    return VerifyResult(checked, problem, checked + 1) if problem else VerifyResult(checked)


def _event_problem(event: AuditEvent, expected_seq: int, prev_hash: str) -> str | None:
    if event.seq != expected_seq:
        return (
            f"event #{event.seq}: expected #{expected_seq} next "
            "(an event is missing or out of order)"
        )
    if event.prev_hash != prev_hash:
        return (
            f"event #{event.seq}: does not link to event "
            f"#{expected_seq - 1} (deleted, inserted or reordered)"
        )
    if not _same(_event_hash(event), event.hash):
        return f"event #{event.seq}: hash does not match its content (edited or forged)"
    return None


def _read_head() -> tuple[int, str, str] | None:
    return AuditChainHead.objects.filter(pk=1).values_list("seq", "hash", "mac").first()


def _head_problem(head: tuple[int, str, str] | None, last_seq: int, last_hash: str) -> str | None:
    if head is None:
        if last_seq == 0:
            return None  # nothing recorded yet
        return f"the chain head is missing but the chain holds {last_seq} event(s) (deleted?)"
    seq, hash_, mac = head
    if not _same(head_mac(seq, hash_), mac):
        return "chain head is not authenticated by the audit key: rewritten?"
    if seq > last_seq:
        return (
            f"chain head names event #{seq} but the last event is "
            f"#{last_seq} (events deleted from the end?)"
        )
    if seq < last_seq:
        return (
            f"chain head names event #{seq} but the chain goes on to #{last_seq} "
            "(an older head put back?)"
        )
    if hash_ != last_hash:
        return f"chain head names another event #{seq} than the chain holds (rewritten?)"
    return None


# Anchors: a signed checkpoint of the newest event, kept away from the database. The head's
# signature stops anyone without the key; an anchor also stops someone who holds the key (or
# saved an older signed head) from cutting the chain back below it.


class AuditAnchorInvalid(ApplicationError):
    """The file is not an anchor at all (unreadable, not JSON, fields missing or malformed)."""

    code = "audit_anchor_invalid"


@dataclass(frozen=True)
class AuditAnchor:
    seq: int
    hash: str
    occurred_at: datetime  # of the event
    anchored_at: datetime  # when the anchor was taken
    mac: str

    def to_dict(self) -> dict:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "occurred_at": _iso(self.occurred_at),
            "anchored_at": _iso(self.anchored_at),
            "mac": self.mac,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


_ANCHOR_FIELDS = ("seq", "hash", "occurred_at", "anchored_at", "mac")
_ANCHOR_MAX_BYTES = 64 * 1024


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _anchor_mac(seq: int, hash_: str, occurred_at: datetime, anchored_at: datetime) -> str:
    payload = json.dumps(
        {
            "seq": seq,
            "hash": hash_,
            "occurred_at": _iso(occurred_at),
            "anchored_at": _iso(anchored_at),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return _mac(f"{ANCHOR_DOMAIN}\n{payload}")


def audit_anchor() -> AuditAnchor:
    """Sign a checkpoint of the newest event (the one the chain head names).

    Refuses (``ApplicationError``) on an empty trail, or when the head is not signed or does not
    match its event: an anchor must not vouch for a chain already broken at its end.
    """
    head = _read_head()
    if head is None or head[0] == 0:
        raise ApplicationError(
            "the audit trail is empty: nothing to anchor yet", code="audit_empty"
        )
    seq, hash_, mac = head
    if not _same(head_mac(seq, hash_), mac):
        raise ApplicationError(
            "chain head is not authenticated by the audit key: rewritten? "
            "(run `refdesk audit verify`)",
            code="audit_chain_broken",
        )
    event = AuditEvent.objects.filter(seq=seq).first()
    if event is None or event.hash != hash_ or not _same(_event_hash(event), event.hash):
        raise ApplicationError(
            f"the chain head names event #{seq}, which is missing or does not match its hash "
            "(run `refdesk audit verify`)",
            code="audit_chain_broken",
        )
    anchored_at = timezone.now()
    return AuditAnchor(
        seq=seq,
        hash=hash_,
        occurred_at=event.occurred_at,
        anchored_at=anchored_at,
        mac=_anchor_mac(seq, hash_, event.occurred_at, anchored_at),
    )


def audit_anchor_load(path: str | Path) -> AuditAnchor:
    """Read an anchor file; ``AuditAnchorInvalid`` (one line, naming the file) if it is not one."""
    try:
        with open(path, "rb") as file:
            data = file.read(_ANCHOR_MAX_BYTES + 1)
    except OSError as error:
        raise AuditAnchorInvalid(f"{path}: cannot read it ({error.strerror})") from None
    if len(data) > _ANCHOR_MAX_BYTES:
        raise AuditAnchorInvalid(f"{path}: not an audit anchor (far too large)")
    try:
        return audit_anchor_parse(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise AuditAnchorInvalid(f"{path}: not an audit anchor (not UTF-8 text)") from None
    except AuditAnchorInvalid as error:
        raise AuditAnchorInvalid(f"{path}: {error.message}") from None


def audit_anchor_parse(text: str) -> AuditAnchor:
    """An anchor from the JSON ``audit anchor`` prints. Checks the form, not the signature."""

    def invalid(why: str) -> AuditAnchorInvalid:
        return AuditAnchorInvalid(f"not an audit anchor ({why})")

    try:
        data = json.loads(text)
    except ValueError as error:
        lineno, colno = getattr(error, "lineno", "?"), getattr(error, "colno", "?")
        raise invalid(f"not JSON: line {lineno}, column {colno}") from None
    if not isinstance(data, dict):
        raise invalid("not a JSON object")
    missing = [name for name in _ANCHOR_FIELDS if name not in data]
    if missing:
        raise invalid(f"missing {', '.join(missing)}")
    unexpected = sorted(set(data) - set(_ANCHOR_FIELDS))
    if unexpected:
        # Only the known fields are signed: refuse text that could pass for signed content.
        raise invalid(f"unexpected {', '.join(unexpected)}")
    seq = data["seq"]
    if type(seq) is not int or seq < 1:
        raise invalid("seq must be a whole number from 1")
    for name in ("hash", "mac"):
        value = data[name]
        if not (isinstance(value, str) and len(value) == 64 and _is_hex(value)):
            raise invalid(f"{name} must be 64 lowercase hex digits")
    moments = {}
    for name in ("occurred_at", "anchored_at"):
        try:
            moment = datetime.fromisoformat(data[name])
        except (TypeError, ValueError):
            moment = None
        if moment is None or moment.tzinfo is None:
            raise invalid(f"{name} must be an ISO 8601 time with a UTC offset")
        moments[name] = moment
    return AuditAnchor(seq=seq, hash=data["hash"], mac=data["mac"], **moments)


def _is_hex(value: str) -> bool:
    return all(c in "0123456789abcdef" for c in value)


def audit_anchor_check(anchor: AuditAnchor) -> str | None:
    """What is wrong with the chain against this anchor, or None. Run ``audit_verify`` too: the
    anchor pins event #seq; the walk proves every event up to it still links to that one."""
    expected = _anchor_mac(anchor.seq, anchor.hash, anchor.occurred_at, anchor.anchored_at)
    if not _same(expected, anchor.mac):
        return "anchor is not signed by this installation's audit key (edited, or another key)"
    stored = AuditEvent.objects.filter(seq=anchor.seq).values_list("hash", flat=True).first()
    if stored is None or not _same(anchor.hash, stored):
        return f"events up to #{anchor.seq} were removed or rewritten after the anchor was taken"
    return None
