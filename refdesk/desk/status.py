"""Referrer status feedback: a signed link per referral showing its status and next step only.

The token signs the referral's public id (its own salt, so a thanks or completion token cannot
open it) and does not expire: a referrer may look weeks later. The page never shows lead data;
it shows the status only while the lead's consent is granted and not withdrawn (the consent
record has no separate "share with referrer" flag, so active consent is the permission);
otherwise it says the status is not shared. A bad token and an unknown referral look the same.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from refdesk.consent.models import ConsentRecord
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral

STATUS_SALT = "refdesk.desk.status"

# stage -> (status, next step), in words a referrer understands; nothing about the lead.
STAGE_WORDS: dict[str, tuple[str, str]] = {
    Stage.RECEIVED: ("Received", "The team will review the referral."),
    Stage.NEEDS_INFO: (
        "Information needed",
        "Please use the completion link we emailed you to add the missing items.",
    ),
    Stage.AWAITING_REVIEW: ("Under review", "The team is reviewing the request before responding."),
    Stage.QUEUED: ("Waiting for the team", "A team member will contact the person referred."),
    Stage.IN_PROGRESS: ("In progress", "The team is in contact with the person referred."),
    Stage.SCHEDULED: ("Contact scheduled", "A call or meeting is booked."),
    # The outcome itself can reveal health information (e.g. not eligible): it stays out.
    Stage.CLOSED: ("Closed", "The team has finished working this referral. Thank you."),
}


def _signer() -> signing.Signer:
    return signing.Signer(salt=STATUS_SALT, sep=".")


def status_token(referral: Referral) -> str:
    return _signer().sign(referral.public_id.hex)


def status_url(referral: Referral) -> str:
    """The absolute link to send to the referrer."""
    path = reverse("status:referral_status", kwargs={"token": status_token(referral)})
    return f"{settings.REFDESK_BASE_URL}{path}"


def status_token_read(token: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=_signer().unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def status_shared(referral: Referral) -> bool:
    """Active consent (latest record granted, not withdrawn) is the permission to share."""
    record = ConsentRecord.objects.filter(referral=referral).order_by("-recorded_at", "-id").first()
    return record is not None and record.is_active


@dataclass(frozen=True)
class ReferrerStatus:
    reference: str
    program: str
    shared: bool
    status: str
    next_step: str


def referrer_status(referral: Referral) -> ReferrerStatus:
    shared = status_shared(referral)
    status, next_step = STAGE_WORDS.get(referral.stage, ("", "")) if shared else ("", "")
    return ReferrerStatus(
        reference=referral.reference,
        program=referral.program.name,
        shared=shared,
        status=status,
        next_step=next_step,
    )


@require_GET
def referral_status(request, token: str):
    public_id = status_token_read(token)
    referral = (
        Referral.objects.select_related("program").filter(public_id=public_id).first()
        if public_id
        else None
    )
    if referral is None:
        raise Http404("not found")
    response = render(request, "desk/status.html", {"status": referrer_status(referral)})
    # The token is a capability: keep it out of other sites' logs and out of shared caches.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response
