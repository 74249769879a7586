"""Contact with the lead and the referrer: the one "may we contact?" check, logging an attempt,
asking the referrer for missing information.

``lead_contact_check`` gates every message and call to a lead: the referral is open, no review
is pending (the medical review gate) and none was rejected, and the consent in force
(``consent_current``) covers the channel and purpose. A contact attempt is recorded in the audit
trail (the referral's timeline); the note a person types is stored encrypted with the referral.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from refdesk.audit.services import Actor, audit_record
from refdesk.consent.selectors import consent_current, consent_permits, consent_rules
from refdesk.core.errors import ApplicationError, ValidationFailed
from refdesk.intake.choices import Stage
from refdesk.intake.models import NoteKind, Referral
from refdesk.intake.notes import NOTE_MAX, note_changes, note_write
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import ReviewState
from refdesk.routing.models import Review
from refdesk.workflow.effects import ask_referrer_on_commit
from refdesk.workflow.sla import first_response, sla_pause
from refdesk.workflow.transitions import action_guard, referral_transition

CHANNELS = ("phone", "email", "sms")
# Who the attempt tried to reach: the lead (consent applies) or the referrer (no lead data).
PARTIES = ("lead", "referrer")
OUTCOMES = ("reached", "no_answer", "left_message", "wrong_number", "declined")
CHANNEL_WORDS = {"phone": "phone", "email": "email", "sms": "text message"}
PARTY_LABELS = {"lead": "The lead", "referrer": "The referrer"}
OUTCOME_LABELS = {
    "reached": "Reached",
    "no_answer": "No answer",
    "left_message": "Left a message",
    "wrong_number": "Wrong number or address",
    "declined": "Declined to talk",
}


# Why contacting the lead is refused, in words (the code stays in the error for the API).
REFUSAL_WORDS = {
    "referral_closed": "the referral is closed",
    "review_rejected": "its medical review was rejected",
    "review_pending": "its medical review is still pending",
    "consent_missing": "the lead's consent is not on record",
    "consent_not_granted": "the lead did not give consent",
    "consent_withdrawn": "the lead withdrew consent",
    "consent_expired": "the lead's consent has expired",
    "channel_not_consented": "the lead did not consent to this channel",
    "purpose_not_consented": "the lead did not consent to this purpose",
}


@dataclass(frozen=True)
class ContactCheck:
    allowed: bool
    reason: str  # a stable code: "ok", "review_pending", "channel_not_consented", ...


def lead_contact_check(
    *, referral: Referral, channel: str, purpose: str | None = None, now=None
) -> ContactCheck:
    """May refdesk contact this referral's lead on ``channel`` now?

    In order: the referral is open; no review is pending (the medical review gate) and none
    was rejected; and, where the program needs consent for this lead kind, the consent in force
    is granted (not withdrawn, not expired) and covers the channel and the purpose (by default
    the program's first consent purpose). Reasons are codes, never patient data.
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
    check = consent_permits(
        consent_current(referral, now=now),
        channel=channel,
        purpose=purpose,
        rules=consent_rules(referral),
    )
    return ContactCheck(check.allowed, check.reason)


@transaction.atomic
def contact_attempt_log(
    *,
    referral: Referral,
    channel: str,
    outcome: str,
    note: str,
    actor: Actor,
    party: str = "lead",
) -> None:
    """Record one attempt to reach the lead (or the referrer) on ``channel`` with its outcome.

    1. Check the values, and the stage against the action table (open work only).
    2. For the lead: ``lead_contact_check`` must allow the channel, else refused (its code).
    3. Audit ``referral.contact_attempted``: channel, party and outcome, and the note's id and
       fingerprint (the note itself is stored encrypted with the referral).
    """
    errors = []
    if channel not in CHANNELS:
        errors.append({"field": "channel", "code": "invalid", "message": "Choose a channel."})
    if outcome not in OUTCOMES:
        errors.append({"field": "outcome", "code": "invalid", "message": "Choose an outcome."})
    if party not in PARTIES:
        errors.append({"field": "party", "code": "invalid", "message": "Choose who was called."})
    if len((note or "").strip()) > NOTE_MAX:
        errors.append(
            {"field": "note", "code": "too_long", "message": f"At most {NOTE_MAX} characters."}
        )
    if errors:
        raise ValidationFailed(errors)
    action_guard(referral, "log_contact")
    if party == "lead":
        check = lead_contact_check(referral=referral, channel=channel)
        if not check.allowed:
            why = REFUSAL_WORDS.get(check.reason, check.reason.replace("_", " "))
            raise ApplicationError(
                f"you may not contact the lead by {CHANNEL_WORDS.get(channel, channel)}: {why}",
                code=check.reason,
                field="channel",
            )
    written = note_write(referral=referral, kind=NoteKind.CONTACT, text=note, actor=actor)
    if party == "lead":
        # An attempt is a response (the SLA's end) and counts toward the retry cadence; a lead
        # reached (or who declined in person) stops the automatic attempts.
        now = timezone.now()
        Referral.objects.filter(pk=referral.pk, first_responded_at__isnull=True).update(
            **first_response(referral, now)
        )
        reached = {"lead_reached_at": now} if outcome in ("reached", "declined") else {}
        Referral.objects.filter(pk=referral.pk).update(
            lead_attempts=F("lead_attempts") + 1, **reached
        )
    audit_record(
        actor=actor,
        action="referral.contact_attempted",
        subject=referral,
        changes={
            "channel": (None, channel),
            "party": (None, party),
            "outcome": (None, outcome),
            **note_changes(written),
        },
    )


def requestable_items(referral: Referral) -> list[str]:
    """Item names (``lead.email``, ``answers.ecog``) the referrer can be asked to supply."""
    intake = version_definition(referral.program_version).intake
    return [f"lead.{name}" for name in intake.lead_fields] + [
        f"answers.{name}" for name in intake.answers
    ]


def referral_request_info(
    *, referral: Referral, items: list[str], actor: Actor, reason: str = ""
) -> Referral:
    """Staff ask the referrer for missing information: the referral waits in ``needs_info``.

    1. The items must be the program's intake items (names only, never values); at least one.
    2. Move to ``needs_info`` (the action table refuses stages that cannot), stop the
       first-response clock and store the items as the missing list, so the completion link
       accepts exactly those.
    3. Audit ``referral.info_request_queued``; after commit the completion link is emailed by
       ``intake.tasks.send_completion_request`` (which audits the sending).
    """
    allowed = set(requestable_items(referral))
    wanted = sorted(set(items or ()))
    if not wanted:
        raise ValidationFailed(
            [{"field": "items", "code": "required", "message": "Choose at least one item."}]
        )
    if any(item not in allowed for item in wanted):
        raise ValidationFailed(
            [{"field": "items", "code": "invalid", "message": "Choose items from the list."}]
        )
    with transaction.atomic():
        now = timezone.now()
        action_guard(referral, "request_info", to=Stage.NEEDS_INFO)
        note = note_write(
            referral=referral, kind=NoteKind.REQUEST_INFO, text=reason, actor=actor, at=now
        )
        referral_transition(
            referral,
            action="request_info",
            actor=actor,
            to=Stage.NEEDS_INFO,
            values={"missing": wanted, **sla_pause(now)},
            note=note,
            now=now,
        )
        ask_referrer_on_commit(referral)
    return referral
