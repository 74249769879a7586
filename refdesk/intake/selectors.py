"""Reads about referrals for people outside the team: what a referrer may see of one.

The status page never shows lead data; it shows the status only while the lead's consent is in
force (``consent_current``: granted, not withdrawn, not expired — there is no separate "share
with referrer" flag, so consent is the permission); otherwise it says the status is not shared.
A duplicate follows the referral it was added to, as its confirmation said: the referrer is told
what is happening to the lead, not that their copy was closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from refdesk.consent.selectors import consent_current
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
    """Consent in force is the permission to share; without a consent record (clinician leads)
    nothing the lead agreed to covers it, so the status is not shared."""
    return consent_current(referral).granted


def followed(referral: Referral) -> Referral:
    """The referral a referrer's view follows: the original for a duplicate."""
    if referral.duplicate_of_id is None:
        return referral
    return Referral.objects.select_related("program", "program_version").get(
        pk=referral.duplicate_of_id
    )


@dataclass(frozen=True)
class ReferrerStatus:
    reference: str
    program: str
    shared: bool
    status: str
    next_step: str


def referrer_status(referral: Referral) -> ReferrerStatus:
    """What the referrer's status page says: the reference they were given, and the stage of
    the referral it follows (the original, for a duplicate) while consent allows sharing."""
    source = followed(referral)
    shared = status_shared(source)
    status, next_step = STAGE_WORDS.get(source.stage, ("", "")) if shared else ("", "")
    return ReferrerStatus(
        reference=referral.reference,
        program=referral.program.name,
        shared=shared,
        status=status,
        next_step=next_step,
    )
