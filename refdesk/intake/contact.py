"""Staff contact work on a referral: ``contact_attempt_log`` and ``referral_request_info``.

A contact attempt is recorded only in the audit trail (it is the referral's timeline); the
note is free text a person typed, so it is kept as the event's reason and shown only to roles
that see patient data. An attempt to reach the lead asks the one consent check first: without
permission it is refused and nothing is written.
"""

from __future__ import annotations

from django.db import transaction

from refdesk.audit.services import audit_record
from refdesk.consent.selectors import lead_contact_check
from refdesk.core.errors import ApplicationError, InvalidTransition, ValidationFailed
from refdesk.intake.choices import Stage
from refdesk.intake.lifecycle import referral_move
from refdesk.intake.models import Referral

CHANNELS = ("phone", "email", "sms")
# Who the attempt tried to reach: the lead (consent applies) or the referrer (no lead data).
PARTIES = ("lead", "referrer")
OUTCOMES = ("reached", "no_answer", "left_message", "wrong_number", "declined")
# Stages in which someone may be contacted about the referral.
CONTACT_STAGES = (Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED, Stage.NEEDS_INFO)
NOTE_MAX = 2000


@transaction.atomic
def contact_attempt_log(
    *, referral: Referral, channel: str, outcome: str, note: str, actor, party: str = "lead"
) -> None:
    """Record one attempt to reach the lead (or the referrer) on ``channel`` with its outcome.

    1. Check the values and the stage (open work only).
    2. For the lead: ``lead_contact_check`` must allow the channel, else refused (its code).
    3. Audit ``referral.contact_attempted``: channel, party and outcome; the note as reason.
    """
    errors = []
    if channel not in CHANNELS:
        errors.append({"field": "channel", "code": "invalid", "message": "Choose a channel."})
    if outcome not in OUTCOMES:
        errors.append({"field": "outcome", "code": "invalid", "message": "Choose an outcome."})
    if party not in PARTIES:
        errors.append({"field": "party", "code": "invalid", "message": "Choose who was called."})
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        errors.append(
            {"field": "note", "code": "too_long", "message": f"At most {NOTE_MAX} characters."}
        )
    if errors:
        raise ValidationFailed(errors)
    if referral.stage not in CONTACT_STAGES:
        raise InvalidTransition(f"a referral in {referral.stage} is not open for contact")
    if party == "lead":
        check = lead_contact_check(referral=referral, channel=channel)
        if not check.allowed:
            raise ApplicationError(
                f"contacting the lead on {channel} is not allowed ({check.reason})",
                code=check.reason,
                field="channel",
            )
    audit_record(
        actor=actor,
        action="referral.contact_attempted",
        subject=referral,
        changes={"channel": (None, channel), "party": (None, party), "outcome": (None, outcome)},
        reason=note,
    )


def requestable_items(referral: Referral) -> list[str]:
    """Item names (``lead.email``, ``answers.ecog``) the referrer can be asked to supply."""
    from refdesk.programs.selectors import version_definition

    intake = version_definition(referral.program_version).intake
    return [f"lead.{name}" for name in intake.lead_fields] + [
        f"answers.{name}" for name in intake.answers
    ]


@transaction.atomic
def referral_request_info(*, referral: Referral, items: list[str], actor, reason: str = "") -> None:
    """Staff ask the referrer for missing information: the referral waits in ``needs_info``.

    1. The items must be the program's intake items (names only, never values); at least one.
    2. Move to ``needs_info`` (the lifecycle refuses stages that cannot), pause the SLA clock
       and store the items as the missing list, so the completion link accepts exactly those.
    3. Audit ``referral.info_request_queued``; after commit the completion link is emailed by
       ``intake.tasks.send_completion_request`` (which audits the sending).
    """
    from refdesk.routing.effects import ask_referrer_on_commit

    allowed = set(requestable_items(referral))
    wanted = sorted(set(items or ()))
    if not wanted:
        raise ValidationFailed(
            [{"field": "items", "code": "required", "message": "Choose at least one item."}]
        )
    unknown = [item for item in wanted if item not in allowed]
    if unknown:
        raise ValidationFailed(
            [{"field": "items", "code": "invalid", "message": "Choose items from the list."}]
        )
    referral_move(
        referral=referral, stage=Stage.NEEDS_INFO, actor=actor, reason="information requested"
    )
    old_missing = list(referral.missing)
    Referral.objects.filter(pk=referral.pk).update(missing=wanted, first_response_due_at=None)
    referral.missing, referral.first_response_due_at = wanted, None
    audit_record(
        actor=actor,
        action="referral.info_request_queued",
        subject=referral,
        changes={"missing": (old_missing, wanted)},
        reason=reason,
    )
    ask_referrer_on_commit(referral)
