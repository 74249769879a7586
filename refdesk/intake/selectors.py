"""Reads about referrals for people outside the team: what a referrer may see of one.

The status page never shows lead data; it shows the status only while the lead's consent is
granted and not withdrawn (the consent record has no separate "share with referrer" flag, so
active consent is the permission); otherwise it says the status is not shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from refdesk.consent.models import ConsentRecord
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral

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
