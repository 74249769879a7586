"""The access helpers: the only way desk views (and the API) get protected objects.

Each helper asks ``refdesk.access.policy`` and answers "not found" for anything the user may
not see, so a refused object is indistinguishable from a missing one (same exception, same
message, same page). Lead data leaves the encrypted fields only through ``lead_view``, which
masks what the role may not see and audits every display of patient data.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Exists, F, OuterRef, QuerySet
from django.http import Http404

from refdesk.access import policy
from refdesk.audit.services import audit_batch, audit_record
from refdesk.core.crypto import name_token_digest
from refdesk.intake.models import NameToken, Referral
from refdesk.programs.models import Program
from refdesk.routing.models import Queue, QueueNotice

# One message for "missing" and "not yours": the difference must not leak.
NOT_FOUND_MESSAGE = "Not found."
PATIENT_DATA_VIEWED = "referral.patient_data_viewed"


def referral_list_visible_to(*, user) -> QuerySet[Referral]:
    """Every referral the user may see (``policy.referral_visibility``); empty when none."""
    visible = policy.referral_visibility(user)
    if visible is None:
        return Referral.objects.none()
    return Referral.objects.filter(visible)


def referral_get_for_user(*, user, public_id: uuid.UUID | str) -> Referral:
    """The referral with this public id if the user may see it, else ``Http404``.

    Raises the same ``Http404(NOT_FOUND_MESSAGE)`` for a malformed id, an unknown id and a
    referral of another team: a caller cannot tell them apart. The queue (and its team) is
    loaded along, because the policy needs it.
    """
    try:
        key = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404(NOT_FOUND_MESSAGE) from None
    referral = (
        referral_list_visible_to(user=user)
        .select_related("queue", "queue__team", "program", "source", "referrer", "assigned_to")
        .filter(public_id=key)
        .first()
    )
    if referral is None:
        raise Http404(NOT_FOUND_MESSAGE)
    return referral


def referral_name_matches(*, user, words: list[str], limit: int) -> list[Referral]:
    """Referrals whose lead identity the user sees (``policy.lead_identity_visibility``) with
    every one of ``words`` (from ``crypto.name_query_words``) as a prefix of a word of the
    lead's name; newest first, at most ``limit``. Nothing is decrypted to search.

    The longest word drives: an index range on ``name_token_lookup`` (digest, newest first),
    each token joined to its referral and checked for visibility and for the other words (one
    seek each on the (referral, digest) unique index), stopping at ``limit`` rows. A user who
    may not see a lead gets what an unmatched name gets: nothing.
    """
    visible = policy.lead_identity_visibility(user)
    if visible is None or not words:
        return []
    digests = [name_token_digest(word) for word in sorted(words, key=len, reverse=True)]
    matches = Referral.objects.filter(visible).filter(name_tokens__digest=digests[0])
    for digest in digests[1:]:
        matches = matches.filter(
            Exists(NameToken.objects.filter(referral_id=OuterRef("pk"), digest=digest))
        )
    return list(
        matches.alias(
            token_at=F("name_tokens__received_at"), token_referral=F("name_tokens__referral_id")
        )
        .select_related("program", "queue")
        .order_by("-token_at", "-token_referral")[:limit]
    )


def queue_list_visible_to(*, user) -> QuerySet[Queue]:
    """The queues the user may see, by slug; empty when none."""
    visible = policy.queue_visibility(user)
    if visible is None:
        return Queue.objects.none()
    return Queue.objects.filter(visible).select_related("team").order_by("slug")


def queue_get_for_user(*, user, slug: str) -> Queue:
    """The queue with this slug if the user may see it, else the same ``Http404`` as unknown."""
    queue = queue_list_visible_to(user=user).filter(slug=slug).first()
    if queue is None:
        raise Http404(NOT_FOUND_MESSAGE)
    return queue


def program_list_content_visible_to(*, user) -> QuerySet[Program]:
    """The programs whose templates and materials the user may read (``content.view``), by
    name; empty when none."""
    visible = policy.program_content_visibility(user)
    if visible is None:
        return Program.objects.none()
    return Program.objects.filter(visible).order_by("name", "slug")


def notice_list_visible_to(*, user) -> QuerySet[QueueNotice]:
    """The queue notices the user may work (``policy.notice_visibility``); empty when none."""
    visible = policy.notice_visibility(user)
    if visible is None:
        return QueueNotice.objects.none()
    return QueueNotice.objects.filter(visible)


def notice_open_count(*, user) -> int | None:
    """How many notices the user may work are still open; None (and no query) when they may
    work none. One query: the teams are joined, not read first (the navigation shows it on
    every desk page)."""
    if not policy.is_staff_user(user) or user.role not in policy.NOTICE_ROLES:
        return None
    return QueueNotice.objects.filter(
        queue__team__memberships__user_id=user.pk, closed_at__isnull=True
    ).count()


def notice_get_for_user(*, user, public_id: uuid.UUID | str) -> QueueNotice:
    """The notice with this public id if the user may work it, else the same ``Http404`` as
    an unknown or malformed id. Its queue, referral and the referral's program version are
    loaded along (the page and the clocks need them)."""
    try:
        key = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        raise Http404(NOT_FOUND_MESSAGE) from None
    notice = (
        notice_list_visible_to(user=user)
        .select_related(
            "queue",
            "queue__team",
            "referral",
            "referral__queue",
            "referral__program",
            "referral__program_version",
            "referral__referrer",
            "referral__source",
        )
        .filter(public_id=key)
        .first()
    )
    if notice is None or not policy.has_perm(user, "notice.view", notice):
        raise Http404(NOT_FOUND_MESSAGE)
    return notice


# --- lead data ---------------------------------------------------------------------------------


def mask_lead(lead: dict | None) -> dict[str, Any]:
    """The lead with every identifying value replaced by ``policy.MASK``."""
    return {
        key: (value if key in policy.NON_IDENTIFYING_LEAD_FIELDS else policy.MASK)
        for key, value in (lead or {}).items()
    }


def lead_display_name(lead: dict | None) -> str:
    lead = lead or {}
    name = " ".join(str(lead[key]) for key in ("given_name", "family_name") if lead.get(key))
    return name or str(lead.get("name") or lead.get("organization") or "")


def lead_view(*, user, referral: Referral, purpose: str = "detail") -> dict | None:
    """The lead as this user may see it, or None when they may not see the referral at all.

    Returns ``{"fields": {...}, "answers": {...}, "name": str, "masked": bool}``: identifying
    values and answers are replaced by ``policy.MASK`` unless ``referral.view_lead`` allows
    them. Showing a patient lead unmasked writes ``referral.patient_data_viewed`` (the field
    names, never the values; ``purpose`` says which page showed them).
    """
    if not policy.has_perm(user, "referral.view", referral):
        return None
    if policy.has_perm(user, "referral.view_lead", referral):
        if referral.lead_kind == "patient":
            _audit_patient_data_viewed(user=user, referrals=[referral], purpose=purpose)
        lead = dict(referral.lead or {})
        return {
            "fields": lead,
            "answers": dict(referral.answers or {}),
            "name": lead_display_name(lead),
            "masked": False,
        }
    return {
        "fields": mask_lead(referral.lead),
        "answers": {key: policy.MASK for key in (referral.answers or {})},
        "name": policy.MASK,
        "masked": True,
    }


def lead_names_for_rows(*, user, queue: Queue, referrals: list[Referral]) -> dict[int, str]:
    """{referral pk: lead name or mask} for a queue page's rows, auditing patient names shown.

    The rows must come from ``referral_list_visible_to`` filtered to ``queue`` (so the
    per-row policy check reduces to one check on the queue). One audit batch for the page:
    a bounded number of queries whatever its size.
    """
    if not policy.sees_lead_in_queue(user, queue):
        return {referral.pk: policy.MASK for referral in referrals}
    names = {referral.pk: lead_display_name(referral.lead) for referral in referrals}
    patients = [referral for referral in referrals if referral.lead_kind == "patient"]
    _audit_patient_data_viewed(user=user, referrals=patients, purpose="queue")
    return names


def lead_names_for_visible(*, user, referrals: list[Referral], purpose: str) -> dict[int, str]:
    """{referral pk: lead name or mask} for rows from ``referral_list_visible_to`` (a search
    page's results, across queues), auditing the patient names shown in one batch: a bounded
    number of queries whatever the number of rows."""
    if not policy.sees_lead_of_visible_referrals(user):
        return {referral.pk: policy.MASK for referral in referrals}
    names = {referral.pk: lead_display_name(referral.lead) for referral in referrals}
    patients = [referral for referral in referrals if referral.lead_kind == "patient"]
    _audit_patient_data_viewed(user=user, referrals=patients, purpose=purpose)
    return names


def _audit_patient_data_viewed(*, user, referrals: list[Referral], purpose: str) -> None:
    if not referrals:
        return
    with audit_batch():
        for referral in referrals:
            audit_record(
                actor=user,
                action=PATIENT_DATA_VIEWED,
                subject=referral,
                changes={"purpose": (None, purpose)},
            )
