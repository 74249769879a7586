"""Messages to leads and referrers: the one send check, rendering and scheduling (delivery is
``workflow.sending``).

Every message is a ``outreach.Message`` row created by ``message_schedule`` and sent by
``sending.message_deliver`` once its ``next_action_at`` is due (the worker claims due rows with a
conditional UPDATE and a lease, ``messages_claim``). Before every send ``message_check`` decides,
in order:

1. the template: an approved version is in force (not a draft, not retired, not expired), it
   has a rendition for the channel, and it is approved for the referral's request type;
2. for a lead: the referral is open, no medical review is pending (the message is *held* until
   the review is decided) or rejected, the consent in force covers the purpose and channel
   (``lead_contact_check``), clinician outreach keeps to the program's channels and content
   categories, and it is not quiet hours in the lead's time zone (the message is *held* until
   they end);
3. a contact detail for the channel exists.

A refusal is recorded with its reason (``refused``, final); only a reason that changes by itself
holds the message instead (quiet hours: due again when they end; a pending review: due again
when it is decided). Nothing is ever rescheduled blindly.

Delivery is crash-safe: the rendered message and its idempotency key are committed (``sending``)
before the backend is called; the key goes with the message (email Message-ID, SMS provider
idempotency token). A worker that dies mid-call leaves the row ``sending`` with a lapsed lease:
the next claim checks it again like any other (consent, quiet hours and the template's approval
may have changed meanwhile), then sends it again under the same key (so the receiver or provider
can drop the copy) and audits that it was a resend. A worker that dies before that commit leaves it
``claimed``: the next claim starts afresh, and nothing was sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from refdesk.audit.services import Actor, actor_label, audit_record
from refdesk.core.errors import ApplicationError, ValidationFailed
from refdesk.intake.links import status_url
from refdesk.intake.models import Referral
from refdesk.outreach import booking_links
from refdesk.outreach import links as outreach_links
from refdesk.outreach.choices import (
    Audience,
    ContentKind,
    MessagePurpose,
    MessageStatus,
)
from refdesk.outreach.models import ContentVersion, Message
from refdesk.outreach.rendering import MissingValue, quiet_until, render
from refdesk.outreach.selectors import content_in_force, materials_for
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.selectors import version_definition
from refdesk.workflow.contact import REFUSAL_WORDS, lead_contact_check
from refdesk.workflow.transitions import action_guard

logger = logging.getLogger(__name__)

SYSTEM: Actor = "system:followup"
SENDABLE_CHANNELS = ("email", "sms")  # phone is a call, mail a letter: people do those
MAX_TRIES = 5  # backend failures before a message is given up as failed
# Reasons that change by themselves: the message is held, not refused.
HELD_REASONS = frozenset({"quiet_hours", "review_pending"})

# Why a message was refused or held, in words (pages); codes from lead_contact_check too.
SEND_REFUSAL_WORDS = {
    "template_not_approved": "no approved version of the template is in force",
    "template_expired": "the template's approval has expired",
    "template_not_for_request_type": "the template is not approved for this request type",
    "no_rendition_for_channel": "the template has no wording for this channel",
    "channel_not_sendable": "this channel is worked by a person (a call or a letter)",
    "channel_not_allowed_for_clinicians": "the program does not allow this channel for clinicians",
    "content_category_not_allowed": "the program does not allow this content for clinicians",
    "quiet_hours": "it is quiet hours where the lead lives",
    "no_contact_detail": "there is no contact detail for this channel",
    "no_approved_materials": "no approved, unexpired materials are in force for this request",
    "needs_appointment": "the template needs an appointment, and none is booked",
    "appointment_changed": "the appointment changed or ended before it was sent",
    "missing_value": "a value the template needs is missing",
    "delivery_failed": "the provider could not deliver it",
}


def refusal_words(reason: str) -> str:
    """Why a message was refused or held, in words (a code from either check)."""
    return SEND_REFUSAL_WORDS.get(reason) or REFUSAL_WORDS.get(reason) or reason.replace("_", " ")


@dataclass(frozen=True)
class SendCheck:
    allowed: bool
    reason: str  # "ok" or a stable code (SEND_REFUSAL_WORDS, contact.REFUSAL_WORDS)
    retry_at: datetime | None = None  # held: when to look again (quiet hours)
    template: ContentVersion | None = None

    @property
    def held(self) -> bool:
        return self.reason in HELD_REASONS


def lead_zone(referral: Referral, definition: ProgramDefinition) -> ZoneInfo:
    """The lead's time zone (quiet hours, dates in messages); the program's when unknown."""
    for name in (referral.lead_timezone, definition.business_timezone()):
        if name:
            try:
                return ZoneInfo(name)
            except (KeyError, ValueError):
                continue
    return ZoneInfo("UTC")


def recipient_for(referral: Referral, audience: str, channel: str) -> str:
    if audience == Audience.REFERRER:
        return referral.referrer.email if channel == "email" else ""
    lead = referral.lead or {}
    key = "email" if channel == "email" else "phone"
    return str(lead.get(key) or "").strip()


def _category(template: ContentVersion, definition: ProgramDefinition, request_type: str):
    category = template.definition.get("content_category")
    if category:
        return category
    request = definition.request_types.get(request_type)
    return request.content_category if request else None


def message_check(
    *,
    referral: Referral,
    template_key: str,
    channel: str,
    audience: str,
    now: datetime | None = None,
    definition: ProgramDefinition | None = None,
    zone: ZoneInfo | None = None,
) -> SendCheck:
    """May this message go out now? The one check before every send (see the module doc).
    ``zone``: where the lead is, when the message knows better than the referral (the zone
    the lead chose when booking the appointment it is about)."""
    now = now or timezone.now()
    definition = definition or version_definition(referral.program_version)
    template = content_in_force(
        program_id=referral.program_id,
        kind=ContentKind.TEMPLATE,
        key=template_key,
        language=referral.language,
        now=now,
    )
    if template is None:
        return SendCheck(False, _why_not_in_force(referral, template_key, now))
    renditions = template.definition.get("channels") or {}
    if channel not in SENDABLE_CHANNELS:
        return SendCheck(False, "channel_not_sendable", template=template)
    if channel not in renditions:
        return SendCheck(False, "no_rendition_for_channel", template=template)
    approved_for = template.definition.get("request_types") or []
    if approved_for and referral.request_type not in approved_for:
        return SendCheck(False, "template_not_for_request_type", template=template)
    if audience == Audience.LEAD:
        contact = lead_contact_check(referral=referral, channel=channel, now=now)
        if not contact.allowed:
            return SendCheck(False, contact.reason, template=template)
        if referral.lead_kind == "clinician":
            rules = definition.followup.clinician_outreach
            if channel not in rules.channels:
                return SendCheck(False, "channel_not_allowed_for_clinicians", template=template)
            category = _category(template, definition, referral.request_type)
            if rules.content_categories is not None and category not in rules.content_categories:
                return SendCheck(False, "content_category_not_allowed", template=template)
        quiet = definition.followup.quiet_hours
        ends = quiet_until(now, zone or lead_zone(referral, definition), quiet.start, quiet.end)
        if ends is not None:
            return SendCheck(False, "quiet_hours", retry_at=ends, template=template)
    if not recipient_for(referral, audience, channel):
        return SendCheck(False, "no_contact_detail", template=template)
    return SendCheck(True, "ok", template=template)


def _why_not_in_force(referral: Referral, key: str, now: datetime) -> str:
    expired = ContentVersion.objects.filter(
        program_id=referral.program_id,
        kind=ContentKind.TEMPLATE,
        key=key,
        state="approved",
        expires_at__lte=now,
    ).exists()
    return "template_expired" if expired else "template_not_approved"


# --- rendering -------------------------------------------------------------------------------


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{local:%A %-d %B %Y, %H:%M} ({local.tzname()}, {zone.key.replace('_', ' ')})"


def _day(moment: datetime | None, zone: ZoneInfo) -> str:
    return "" if moment is None else f"{moment.astimezone(zone):%-d %B %Y}"


_MODE_WORDS = {
    "phone": "By phone: we will call you on the number you gave.",
    "video": "By video: the team sends you the joining link before the meeting.",
}


def message_values(
    message: Message,
    *,
    definition: ProgramDefinition,
    materials: list[ContentVersion],
    staff_name: str = "",
) -> dict[str, str]:
    """The placeholder values for one message (only what the template may use)."""
    referral = message.referral
    lead = referral.lead or {}
    zone = (
        lead_zone(referral, definition)
        if message.audience == Audience.LEAD
        else ZoneInfo(definition.business_timezone() or "UTC")
    )
    request = definition.request_types.get(referral.request_type)
    area = definition.therapy_areas.get(referral.therapy_area)
    team = referral.queue.team.name if referral.queue_id and referral.queue.team_id else ""
    values = {
        "lead.given_name": str(lead.get("given_name") or ""),
        "lead.family_name": str(lead.get("family_name") or ""),
        "referrer.name": referral.referrer.name,
        "referrer.organization": referral.referrer.organization or referral.referrer.name,
        "program.name": definition.name,
        "referral.reference": referral.reference,
        "referral.received_on": _day(referral.received_at, zone),
        "request_type.label": request.label if request else referral.request_type,
        "therapy_area.label": area.label if area else "",
        "team.name": team or definition.name,
        "staff.name": staff_name or team or definition.name,
        "sla.first_response_due": _when(referral.first_response_due_at, zone),
        "links.status": status_url(referral) if message.audience == Audience.REFERRER else "",
        "links.materials": outreach_links.materials_url(message) if materials else "",
        "links.reschedule": booking_links.booking_url(message.referral),
    }
    appointment = message.appointment
    if appointment is not None:
        team_zone = ZoneInfo(appointment.team.timezone)
        if message.audience == Audience.LEAD and appointment.lead_timezone:
            zone = ZoneInfo(appointment.lead_timezone)  # the zone the lead booked in
        values |= {
            "appointment.time": _when(appointment.starts_at, zone),
            "appointment.team_time": _when(appointment.starts_at, team_zone),
            "appointment.type": appointment.label,
            "appointment.location": appointment.location or _MODE_WORDS.get(appointment.mode, ""),
            "appointment.prepare": appointment.prepare or "Nothing in particular.",
        }
    answers = referral.answers or {}
    for name, answer in definition.intake.answers.items():
        if not answer.sensitive and answers.get(name) not in (None, ""):
            values[f"answers.{name}"] = str(answers[name])
    return values


def message_render(message: Message, template: ContentVersion, definition, now) -> tuple:
    """(subject, body, materials) or raise ApplicationError with a refusal code."""
    rendition = template.definition["channels"][message.channel]
    body_text = (rendition.get("subject") or "") + (rendition.get("body") or "")
    materials: list[ContentVersion] = []
    if "{links.materials}" in body_text:
        materials = materials_for(
            program_id=message.referral.program_id,
            request_type=message.referral.request_type,
            therapy_area=message.referral.therapy_area,
            language=message.referral.language,
            now=now,
        )
        if not materials:
            raise ApplicationError("no approved materials", code="no_approved_materials")
    values = message_values(message, definition=definition, materials=materials)
    try:
        rendered = render(rendition, values)
    except MissingValue as missing:
        code = "needs_appointment" if missing.name.startswith("appointment.") else "missing_value"
        raise ApplicationError(f"missing {missing.name}", code=code) from None
    return rendered.subject, rendered.body, materials


# --- scheduling ------------------------------------------------------------------------------


def message_schedule(
    *,
    referral: Referral,
    template_key: str,
    purpose: str,
    audience: str,
    channel: str,
    actor: Actor,
    due_at: datetime | None = None,
    attempt: int = 1,
    appointment=None,
) -> Message:
    """Put one message on the list to send at ``due_at`` (now by default), in the caller's
    transaction; the worker checks and sends it when due. Audited ``message.scheduled``.
    A message about an ``appointment`` remembers its sequence: if the appointment changes
    before it goes, it is not sent (``appointment_changed``)."""
    now = timezone.now()
    message = Message(
        appointment=appointment,
        appointment_sequence=appointment.sequence if appointment is not None else None,
        referral=referral,
        template_key=template_key,
        purpose=purpose,
        audience=audience,
        channel=channel,
        attempt=attempt,
        status=MessageStatus.SCHEDULED,
        next_action_at=due_at or now,
        requested_by=actor_label(actor),
    )
    message.idempotency_key = message.public_id.hex
    message.save()
    audit_record(
        actor=actor,
        action="message.scheduled",
        subject=referral,
        changes={
            "message": (None, str(message.public_id)),
            "template": (None, template_key),
            "purpose": (None, purpose),
            "audience": (None, audience),
            "channel": (None, channel),
            "attempt": (None, attempt),
            "due_at": (None, message.next_action_at.isoformat()),
        },
    )
    return message


def message_send(
    *, referral: Referral, template_key: str, channel: str, user, now: datetime | None = None
) -> Message:
    """Staff send a template to the lead now: the same check first (a refusal is an error with
    its reason, and nothing is written), then the message is scheduled for the worker, which
    checks again at the moment of sending."""
    now = now or timezone.now()
    errors = []
    if channel not in SENDABLE_CHANNELS:
        errors.append(
            {"field": "channel", "code": "invalid", "message": "Choose email or text message."}
        )
    if not template_key:
        errors.append({"field": "template", "code": "required", "message": "Choose a template."})
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        action_guard(referral, "send_message")
        check = message_check(
            referral=referral,
            template_key=template_key,
            channel=channel,
            audience=Audience.LEAD,
            now=now,
        )
        if not check.allowed and not check.held:
            words = refusal_words(check.reason)
            field = "channel" if "channel" in check.reason else "template"
            raise ApplicationError(
                f"this message cannot be sent: {words}", code=check.reason, field=field
            )
        return message_schedule(
            referral=referral,
            template_key=template_key,
            purpose=MessagePurpose.MANUAL,
            audience=Audience.LEAD,
            channel=channel,
            actor=user,
            due_at=check.retry_at or now,
        )


def messages_release_held(*, referral: Referral, actor: Actor, now: datetime | None = None) -> int:
    """Messages held for a medical review become due again (the review was decided: the next
    check sends or refuses them). In the caller's transaction."""
    now = now or timezone.now()
    return Message.objects.filter(
        referral=referral,
        status=MessageStatus.SCHEDULED,
        reason="review_pending",
        next_action_at__isnull=True,
    ).update(next_action_at=now, updated_at=now)


# --- delivery ---------------------------------------------------------------------------------


def lead_channels(referral: Referral, *, exclude: set[str] = frozenset()) -> list[str]:
    """Channels to try for the lead, best first: the preferred contact, then the others that
    can carry a message; channels that bounced or failed for this lead are left out."""
    failed = set(
        Message.objects.filter(
            referral=referral,
            audience=Audience.LEAD,
            status__in=(MessageStatus.BOUNCED, MessageStatus.FAILED),
        ).values_list("channel", flat=True)
    )
    order = [referral.preferred_contact, *SENDABLE_CHANNELS]
    seen: list[str] = []
    for channel in order:
        if channel and channel not in seen and channel not in failed and channel not in exclude:
            seen.append(channel)
    return seen
