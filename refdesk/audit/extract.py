"""Signed extracts of the audit trail: the events an inspector asks for, as CSV, with an
HMAC-SHA256 signature by the audit key so the file can later be shown unchanged.

``audit_extract`` streams the matching events in chain order (never the whole trail in memory),
signs the exact bytes written and records the export itself in the trail (``audit.exported``:
who, the filters, how many events, the file's SHA-256) — every export is audited.
``audit_extract_check`` tells whether a file and its signature still match. The events hold
what the trail holds: codes, refdesk's own words and keyed fingerprints of patient values,
never the values themselves.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import QuerySet

from refdesk.audit.models import AuditEvent
from refdesk.audit.services import Actor, audit_record

EXTRACT_DOMAIN = "refdesk-audit-extract-v1"
COLUMNS = (
    "seq",
    "occurred_at",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "changes",
    "reason",
    "request_id",
    "prev_hash",
    "hash",
)
CHUNK = 2000


@dataclass(frozen=True)
class ExtractFilter:
    """Which events: a period (``since`` inclusive, ``until`` exclusive), an action or action
    prefix ("consent." for every consent event), an actor label, a subject id and, to tell
    subjects of different kinds apart, its type ("referral")."""

    since: datetime | None = None
    until: datetime | None = None
    action: str = ""
    actor: str = ""
    subject_id: str = ""
    subject_type: str = ""

    def described(self) -> dict:
        described = {
            "since": self.since.astimezone(UTC).isoformat() if self.since else None,
            "until": self.until.astimezone(UTC).isoformat() if self.until else None,
            "action": self.action or None,
            "actor": self.actor or None,
            "subject_id": self.subject_id or None,
        }
        if self.subject_type:
            described["subject_type"] = self.subject_type
        return described


@dataclass(frozen=True)
class Extract:
    events: int
    sha256: str
    signature: str  # "hmac-sha256:<hex>"


def events_matching(filters: ExtractFilter) -> QuerySet[AuditEvent]:
    """The events the filters select, unordered: what an extract writes and what the console's
    search of the trail lists (the same definition, so "export these events" exports them)."""
    rows = AuditEvent.objects.all()
    if filters.since:
        rows = rows.filter(occurred_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(occurred_at__lt=filters.until)
    if filters.action:
        rows = (
            rows.filter(action__startswith=filters.action)
            if filters.action.endswith(".")
            else rows.filter(action=filters.action)
        )
    if filters.actor:
        rows = rows.filter(actor=filters.actor)
    if filters.subject_id:
        rows = rows.filter(subject_id=filters.subject_id)
    if filters.subject_type:
        rows = rows.filter(subject_type=filters.subject_type)
    return rows


def _events(filters: ExtractFilter) -> Iterator[AuditEvent]:
    rows = events_matching(filters)
    last = 0
    while True:  # keyset pages in chain order: constant memory however long the trail
        page = list(rows.filter(seq__gt=last).order_by("seq")[:CHUNK])
        yield from page
        if len(page) < CHUNK:
            return
        last = page[-1].seq


def _signature(digest: hmac.HMAC) -> str:
    return f"hmac-sha256:{digest.hexdigest()}"


def _signer() -> hmac.HMAC:
    signer = hmac.new(settings.AUDIT_HMAC_KEY.encode(), digestmod=hashlib.sha256)
    signer.update(f"{EXTRACT_DOMAIN}\n".encode())
    return signer


def audit_extract(*, filters: ExtractFilter, out: io.BufferedIOBase, actor: Actor) -> Extract:
    """Write the matching events to ``out`` as CSV (UTF-8), sign the bytes written, and audit
    the export. Returns the count, the file's SHA-256 and its signature."""
    signer, sha = _signer(), hashlib.sha256()
    count = 0

    def emit(row) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(row)
        data = buffer.getvalue().encode()
        out.write(data)
        signer.update(data)
        sha.update(data)

    emit(COLUMNS)
    for event in _events(filters):
        emit(
            (
                event.seq,
                event.occurred_at.astimezone(UTC).isoformat(),
                event.actor,
                event.action,
                event.subject_type,
                event.subject_id,
                json.dumps(event.changes, sort_keys=True, ensure_ascii=False),
                event.reason,
                event.request_id,
                event.prev_hash,
                event.hash,
            )
        )
        count += 1
    extract = Extract(events=count, sha256=sha.hexdigest(), signature=_signature(signer))
    audit_record(
        actor=actor,
        action="audit.exported",
        changes={
            "filters": (None, filters.described()),
            "events": (None, count),
            "sha256": (None, extract.sha256),
        },
    )
    return extract


def audit_extract_check(data: bytes, signature: str) -> bool:
    """Do these bytes carry this signature (made by this installation's audit key)?"""
    signer = _signer()
    signer.update(data)
    return hmac.compare_digest(_signature(signer).encode(), signature.strip().encode())
