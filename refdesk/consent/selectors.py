"""The one "may we contact?" check. Every outreach path asks ``lead_contact_check`` first."""

from __future__ import annotations

from dataclasses import dataclass

from refdesk.consent.models import ConsentRecord
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.routing.choices import ReviewState
from refdesk.routing.models import Review


@dataclass(frozen=True)
class ContactCheck:
    allowed: bool
    reason: str  # a stable code: "ok", "review_pending", "channel_not_consented", ...


def _program_consent(referral: Referral):
    from refdesk.programs.selectors import version_definition

    return version_definition(referral.program_version).consent


def lead_contact_check(
    *, referral: Referral, channel: str, purpose: str | None = None
) -> ContactCheck:
    """May refdesk send a message to this referral's lead on ``channel`` now?

    In order: the referral is open; no review is pending (the medical review gate) and none
    was rejected; and, where the program needs consent for this lead kind, the latest consent
    record is granted, not withdrawn, and covers the channel and the purpose (by default the
    program's first consent purpose). Reasons are codes, never patient data.
    """
    if referral.stage == Stage.CLOSED:
        return ContactCheck(False, "referral_closed")
    states = set(
        Review.objects.filter(referral=referral)
        .exclude(state=ReviewState.APPROVED)
        .values_list("state", flat=True)
    )
    if ReviewState.REJECTED in states:
        return ContactCheck(False, "review_rejected")
    if ReviewState.PENDING in states:
        return ContactCheck(False, "review_pending")
    rules = _program_consent(referral)
    if rules is None or referral.lead_kind not in rules.for_lead_kinds:
        return ContactCheck(True, "consent_not_required")
    record = ConsentRecord.objects.filter(referral=referral).order_by("-recorded_at", "-id").first()
    if record is None:
        return ContactCheck(False, "consent_missing")
    if record.withdrawn_at is not None:
        return ContactCheck(False, "consent_withdrawn")
    if not record.granted:
        return ContactCheck(False, "consent_not_granted")
    if channel not in record.channels:
        return ContactCheck(False, "channel_not_consented")
    purpose = purpose or next(iter(rules.purposes))
    if purpose not in record.purposes:
        return ContactCheck(False, "purpose_not_consented")
    return ContactCheck(True, "ok")
