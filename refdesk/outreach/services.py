"""Changes to approved content: recording a program file's templates and materials as drafts,
approving them (never by their author), retiring them, and warning owners before approvals end.

Every change is audited in the same transaction (``content.*`` events; the console's approval
history reads them back).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from refdesk.audit.services import Actor, actor_label, audit_record
from refdesk.core.errors import ApplicationError
from refdesk.outreach.choices import ApprovalState, ContentKind
from refdesk.outreach.models import ContentVersion


def content_hash(definition: dict) -> str:
    """SHA-256 of the definition's canonical JSON: the same wording, the same hash."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _blocks(definition: dict):
    for key, block in (definition.get("templates") or {}).items():
        yield ContentKind.TEMPLATE, key, block
    for key, block in (definition.get("materials") or {}).items():
        yield ContentKind.MATERIAL, key, block


@transaction.atomic
def content_sync(*, program, definition: dict, actor: Actor) -> list[ContentVersion]:
    """Record each template and material of an applied program definition whose wording is
    new as a draft (unchanged ones are left as they are). Returns the new drafts.

    Editing an approved template in the file therefore makes a new draft; the approved version
    keeps being sent until the draft is approved (which retires it).
    """
    known = set(
        ContentVersion.objects.filter(program=program).values_list("kind", "key", "content_hash")
    )
    author = actor_label(actor)
    created = []
    for kind, key, block in _blocks(definition):
        digest = content_hash(block)
        if (kind, key, digest) in known:
            continue
        row = ContentVersion.objects.create(
            program=program,
            kind=kind,
            key=key,
            version=int(block.get("version") or 1),
            language=block.get("language") or "en",
            content_hash=digest,
            definition=block,
            author=author,
            review_ref=str(block.get("review_ref") or "")[:100],
        )
        audit_record(
            actor=actor,
            action="content.drafted",
            subject=row,
            changes={
                "program": (None, program.slug),
                "kind": (None, kind),
                "key": (None, key),
                "version": (None, row.version),
                "content_hash": (None, digest),
            },
        )
        created.append(row)
    return created


def approval_valid_days(definition: dict) -> int:
    return int(((definition.get("followup") or {}).get("approvals") or {}).get("valid_days", 365))


# Who may approve content for use: the people who sign off medical and program wording.
APPROVER_ROLES = frozenset({"medical_reviewer", "program_owner"})


def _approval_error(message: str, code: str) -> ApplicationError:
    return ApplicationError(message, code=code)


@transaction.atomic
def content_approve(
    *, content: ContentVersion, approver, note: str = "", now: datetime | None = None
) -> ContentVersion:
    """Approve a draft for sending, for the program's approval period.

    1. Lock the row; it must still be a draft (a second approval is a clear error).
    2. The approver holds an approving role and is not the author of the version.
    3. The version in force for the same template/material and language is retired, then this
       one becomes approved until ``now + approvals.valid_days`` (re-approval due).
    4. Audit ``content.approved`` (and ``content.retired`` for the replaced version).
    """
    now = now or timezone.now()
    row = ContentVersion.objects.select_for_update().select_related("program").get(pk=content.pk)
    if row.state != ApprovalState.DRAFT:
        raise _approval_error(f"this version is {row.state}, not a draft", "not_a_draft")
    if getattr(approver, "role", "") not in APPROVER_ROLES:
        raise _approval_error(
            "only a medical reviewer or the program owner may approve content", "not_an_approver"
        )
    if actor_label(approver) == row.author:
        raise _approval_error(
            "the author of a version cannot approve it; ask another approver",
            "author_cannot_approve",
        )
    definition = row.program.active_version.definition if row.program.active_version else {}
    for previous in ContentVersion.objects.select_for_update().filter(
        program=row.program,
        kind=row.kind,
        key=row.key,
        language=row.language,
        state=ApprovalState.APPROVED,
    ):
        _retire(previous, actor=approver, reason="replaced by a newly approved version", now=now)
    row.state = ApprovalState.APPROVED
    row.approved_by = approver
    row.approved_at = now
    row.expires_at = now + timedelta(days=approval_valid_days(definition))
    row.expiry_warned_at = None
    row.save(
        update_fields=[
            "state",
            "approved_by",
            "approved_at",
            "expires_at",
            "expiry_warned_at",
            "updated_at",
        ]
    )
    audit_record(
        actor=approver,
        action="content.approved",
        subject=row,
        reason=note,
        changes={
            "state": (ApprovalState.DRAFT, ApprovalState.APPROVED),
            "expires_at": (None, row.expires_at.isoformat()),
            "content_hash": (None, row.content_hash),
        },
    )
    content.refresh_from_db()
    return row


def _retire(row: ContentVersion, *, actor: Actor, reason: str, now: datetime) -> None:
    old = row.state
    row.state = ApprovalState.RETIRED
    row.retired_at = now
    row.save(update_fields=["state", "retired_at", "updated_at"])
    audit_record(
        actor=actor,
        action="content.retired",
        subject=row,
        reason=reason,
        changes={"state": (old, ApprovalState.RETIRED)},
    )


@transaction.atomic
def content_retire(
    *, content: ContentVersion, actor: Actor, reason: str, now: datetime | None = None
) -> ContentVersion:
    """Withdraw a version from use (draft or approved); it is never sent again."""
    if not (reason or "").strip():
        raise _approval_error("give the reason for retiring it", "reason_required")
    row = ContentVersion.objects.select_for_update().get(pk=content.pk)
    if row.state == ApprovalState.RETIRED:
        raise _approval_error("this version is already retired", "already_retired")
    _retire(row, actor=actor, reason=reason.strip(), now=now or timezone.now())
    content.refresh_from_db()
    return row
