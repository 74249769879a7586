"""Reads of outreach records: which approved version of a template or material is in force,
the materials a message may include, and a referral's messages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from refdesk.outreach.choices import ApprovalState, ContentKind
from refdesk.outreach.models import ContentVersion, Message


def content_in_force(
    *, program_id: int, kind: str, key: str, language: str = "", now: datetime | None = None
) -> ContentVersion | None:
    """The approved, unexpired version of a template or material, in ``language`` when one is
    approved in it, else in English; None when none may be sent."""
    now = now or timezone.now()
    rows = list(
        ContentVersion.objects.filter(
            program_id=program_id,
            kind=kind,
            key=key,
            state=ApprovalState.APPROVED,
            expires_at__gt=now,
        )
    )
    by_language = {row.language: row for row in rows}
    return by_language.get(language) or by_language.get("en")


def content_latest(*, program_id: int, kind: str, key: str) -> ContentVersion | None:
    """The newest recorded version (any state): what the file says now."""
    return (
        ContentVersion.objects.filter(program_id=program_id, kind=kind, key=key)
        .order_by("-created_at", "-id")
        .first()
    )


def materials_for(
    *,
    program_id: int,
    request_type: str,
    therapy_area: str,
    language: str = "",
    now: datetime | None = None,
) -> list[ContentVersion]:
    """The approved, unexpired materials for a request type and therapy area (a material with
    no request types or therapy areas listed answers any), one version per material."""
    now = now or timezone.now()
    rows = ContentVersion.objects.filter(
        program_id=program_id,
        kind=ContentKind.MATERIAL,
        state=ApprovalState.APPROVED,
        expires_at__gt=now,
    ).order_by("key", "language")
    chosen: dict[str, ContentVersion] = {}
    for row in rows:
        types = row.definition.get("request_types") or []
        areas = row.definition.get("therapy_areas") or []
        if types and request_type not in types:
            continue
        if areas and therapy_area not in areas:
            continue
        current = chosen.get(row.key)
        if current is None or (language and row.language == language):
            chosen[row.key] = row
    return list(chosen.values())


def content_for_program(program_id: int) -> QuerySet[ContentVersion]:
    """Every recorded version of the program's templates and materials, for the console."""
    return (
        ContentVersion.objects.filter(program_id=program_id)
        .select_related("approved_by")
        .order_by("kind", "key", "-created_at", "-id")
    )


def content_expiring(*, now: datetime | None = None, within_days: int = 0) -> QuerySet:
    """Approved versions whose approval ends within ``within_days`` (0: already ended)."""
    now = now or timezone.now()
    return ContentVersion.objects.filter(
        state=ApprovalState.APPROVED,
        expires_at__lte=now + timedelta(days=within_days),
    )


def messages_of(referral) -> list[Message]:
    """The referral's messages, newest first, with their template and materials."""
    return list(
        Message.objects.filter(referral=referral)
        .select_related("template")
        .prefetch_related("materials")
        .order_by("-created_at", "-id")
    )


def pending_messages(referral) -> QuerySet[Message]:
    return Message.objects.filter(referral=referral, next_action_at__isnull=False)
