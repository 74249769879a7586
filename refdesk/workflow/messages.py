"""Messages to leads and referrers: the one send check, scheduling, and delivery.

Every message is a ``outreach.Message`` row created by ``message_schedule`` and sent by
``message_deliver`` once its ``next_action_at`` is due (the worker claims due rows with a
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
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
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
from refdesk.outreach.sms import SmsError, get_sms_backend
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


def _recipient(referral: Referral, audience: str, channel: str) -> str:
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
) -> SendCheck:
    """May this message go out now? The one check before every send (see the module doc)."""
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
        ends = quiet_until(now, lead_zone(referral, definition), quiet.start, quiet.end)
        if ends is not None:
            return SendCheck(False, "quiet_hours", retry_at=ends, template=template)
    if not _recipient(referral, audience, channel):
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
    answers = referral.answers or {}
    for name, answer in definition.intake.answers.items():
        if not answer.sensitive and answers.get(name) not in (None, ""):
            values[f"answers.{name}"] = str(answers[name])
    return values


def _render(message: Message, template: ContentVersion, definition, now) -> tuple:
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
) -> Message:
    """Put one message on the list to send at ``due_at`` (now by default), in the caller's
    transaction; the worker checks and sends it when due. Audited ``message.scheduled``."""
    now = timezone.now()
    message = Message(
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


def followup_lease() -> timedelta:
    """How long a worker's claim on a message or timer lasts: after it, another worker retakes
    the row (its worker died). ``REFDESK_FOLLOWUP_LEASE_SECONDS``, 5 minutes by default: longer
    than any one item takes; tests shorten it to restart a killed worker quickly."""
    return timedelta(seconds=getattr(settings, "REFDESK_FOLLOWUP_LEASE_SECONDS", 300))


def messages_claim(*, now: datetime, limit: int = 50) -> list[tuple[int, datetime]]:
    """Claim up to ``limit`` due messages for this worker: one conditional UPDATE.

    Due means ``next_action_at <= now`` and either scheduled, or claimed/sending with a lapsed
    lease (its worker died). Scheduled rows become ``claimed``; a lapsed ``sending`` row keeps
    its status, so the sender knows it was interrupted mid-call. On PostgreSQL ``SKIP LOCKED``
    lets workers claim disjoint batches without waiting on each other (SQLite has one writer:
    the claim's transaction is the lock). Returns (id, lease).
    """
    lease = now + followup_lease()
    due = Q(status=MessageStatus.SCHEDULED) | Q(
        status__in=(MessageStatus.CLAIMED, MessageStatus.SENDING), lease_until__lt=now
    )
    if not Message.objects.filter(next_action_at__lte=now).exists():
        return []  # a plain read first: an idle worker never takes SQLite's write lock
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(due, next_action_at__lte=now)
            .order_by("next_action_at")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Message.objects.filter(pk__in=ids, status=MessageStatus.SCHEDULED).update(
                status=MessageStatus.CLAIMED
            )
            Message.objects.filter(pk__in=ids).update(lease_until=lease)
    return [(pk, lease) for pk in ids]


def message_deliver(message_id: int, *, lease: datetime, now: datetime | None = None) -> str:
    """Check, render and send one claimed message; returns its status afterwards.

    1. In a transaction: re-read the row (still ours: same lease); a fresh claim runs
       ``message_check`` — a held reason reschedules it, another refuses it for good — then
       renders it and records ``sending`` with the text, recipient, template version and
       materials (the idempotency record). A lapsed ``sending`` row is checked and rendered
       again the same way, keeping its idempotency key.
    2. Call the backend with the message's idempotency key.
    3. In a transaction: ``sent`` (audited with exactly which template version and materials
       went to whom), or a retry later / ``failed`` when the backend failed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related(
                "referral",
                "referral__referrer",
                "referral__program_version",
                "referral__queue__team",
            )
            .filter(pk=message_id, lease_until=lease)
            .first()
        )
        if message is None or message.status not in (MessageStatus.CLAIMED, MessageStatus.SENDING):
            return "lost"  # another worker retook it, or it was stopped meanwhile
        resend = message.status == MessageStatus.SENDING
        # A resend is checked again too: what was allowed before the interruption may not be
        # now (a refusal or a hold then stands, whether or not the first call got through).
        outcome = _prepare(message, now)
        if outcome is not None:
            return outcome
    try:
        provider_id = _call_backend(message)
    except _SendFailed as failure:
        return _record_failure(message, failure, now=timezone.now())
    return _record_sent(message, provider_id, resend=resend, now=timezone.now())


def _prepare(message: Message, now: datetime) -> str | None:
    """Check and render a freshly claimed message; None when it is ready to send."""
    referral = message.referral
    definition = version_definition(referral.program_version)
    check = message_check(
        referral=referral,
        template_key=message.template_key,
        channel=message.channel,
        audience=message.audience,
        now=now,
        definition=definition,
    )
    if check.allowed:
        try:
            subject, body, materials = _render(message, check.template, definition, now)
        except ApplicationError as error:
            check = SendCheck(False, error.code, template=check.template)
    if not check.allowed:
        return _hold_or_refuse(message, check, now)
    message.template = check.template
    message.recipient = _recipient(referral, message.audience, message.channel)
    message.subject, message.body = subject, body
    message.status = MessageStatus.SENDING
    message.reason = ""
    message.tries += 1
    message.save(
        update_fields=[
            "template",
            "recipient",
            "subject",
            "body",
            "status",
            "reason",
            "tries",
            "updated_at",
        ]
    )
    if materials:
        message.materials.set(materials)
    return None


def _hold_or_refuse(message: Message, check: SendCheck, now: datetime) -> str:
    held = check.held
    message.status = MessageStatus.SCHEDULED if held else MessageStatus.REFUSED
    message.reason = check.reason
    message.next_action_at = check.retry_at if held else None
    message.lease_until = None
    message.template = check.template
    message.save(
        update_fields=[
            "status",
            "reason",
            "next_action_at",
            "lease_until",
            "template",
            "updated_at",
        ]
    )
    changes = {
        "message": (None, str(message.public_id)),
        "template": (None, message.template_key),
        "channel": (None, message.channel),
        "audience": (None, message.audience),
        "reason": (None, check.reason),
    }
    if held and check.retry_at is not None:
        changes["due_at"] = (None, check.retry_at.isoformat())
    audit_record(
        actor=SYSTEM,
        action="message.held" if held else "message.refused",
        subject=message.referral,
        changes=changes,
    )
    return message.status


class _SendFailed(Exception):
    def __init__(self, reason: str, retryable: bool):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def message_id_header(message: Message) -> str:
    """The email Message-ID: fixed by the idempotency key, so a resend carries the same one."""
    domain = getattr(settings, "REFDESK_MESSAGE_ID_DOMAIN", "refdesk.invalid")
    return f"<{message.idempotency_key}@{domain}>"


def _call_backend(message: Message) -> str:
    """Send through the channel's backend; returns the provider's id for the message."""
    if message.channel == "email":
        headers = {"Message-ID": message_id_header(message)}
        if message.audience == Audience.LEAD:
            unsubscribe = outreach_links.unsubscribe_url(message)
            headers["List-Unsubscribe"] = f"<{unsubscribe}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
            body = f"{message.body}\nTo stop emails about this: {unsubscribe}\n"
        else:
            body = message.body
        email = EmailMessage(
            subject=message.subject,
            body=body,
            to=[message.recipient],
            headers=headers,
        )
        try:
            email.send()
        except smtplib.SMTPRecipientsRefused:
            raise _SendFailed("recipient_refused", retryable=False) from None
        except (smtplib.SMTPException, OSError):
            raise _SendFailed("backend_unavailable", retryable=True) from None
        return headers["Message-ID"]
    try:
        result = get_sms_backend().send(
            to=message.recipient,
            body=message.body,
            idempotency_key=message.idempotency_key,
            status_callback=outreach_links.sms_status_callback_url(),
        )
    except SmsError as error:
        raise _SendFailed("backend_error", retryable=error.retryable) from None
    return result.provider_id


def _record_sent(message: Message, provider_id: str, *, resend: bool, now: datetime) -> str:
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=message.pk, status=MessageStatus.SENDING, lease_until=message.lease_until
        ).update(
            status=MessageStatus.SENT,
            provider_id=provider_id[:100],
            sent_at=now,
            next_action_at=None,
            lease_until=None,
            updated_at=now,
        )
        if not updated:
            return "lost"
        referral = message.referral
        if message.audience == Audience.LEAD:
            # Every lead message counts toward the retry cadence; only a person's message ends
            # the SLA clock (it promises a person responds, not an automatic message).
            Referral.objects.filter(pk=referral.pk).update(lead_attempts=F("lead_attempts") + 1)
            if message.purpose == MessagePurpose.MANUAL:
                Referral.objects.filter(pk=referral.pk, first_responded_at__isnull=True).update(
                    first_responded_at=now
                )
        template = message.template
        audit_record(
            actor=SYSTEM,
            action="message.sent",
            subject=referral,
            changes={
                "message": (None, str(message.public_id)),
                "template": (
                    None,
                    f"{message.template_key} v{template.version if template else '?'}",
                ),
                "template_version": (None, str(template.public_id) if template else None),
                "materials": (
                    None,
                    [f"{m.key} v{m.version}" for m in message.materials.all()] or None,
                ),
                "purpose": (None, message.purpose),
                "audience": (None, message.audience),
                "channel": (None, message.channel),
                "attempt": (None, message.attempt),
                **({"resent_after_interruption": (None, True)} if resend else {}),
            },
        )
    return MessageStatus.SENT


def _record_failure(message: Message, failure: _SendFailed, *, now: datetime) -> str:
    retry = failure.retryable and message.tries < MAX_TRIES
    with transaction.atomic():
        values = {"lease_until": None, "updated_at": now}
        if retry:
            # Back off 1, 2, 4, 8 minutes: a provider outage is waited out, not hammered.
            values |= {
                "status": MessageStatus.SCHEDULED,
                "next_action_at": now + timedelta(minutes=2 ** max(message.tries - 1, 0)),
                "reason": failure.reason,
            }
        else:
            values |= {
                "status": MessageStatus.FAILED,
                "next_action_at": None,
                "reason": failure.reason,
                "failed_at": now,
            }
        updated = Message.objects.filter(
            pk=message.pk, status=MessageStatus.SENDING, lease_until=message.lease_until
        ).update(**values)
        if not updated:
            return "lost"
        audit_record(
            actor=SYSTEM,
            action="message.retry_scheduled" if retry else "message.failed",
            subject=message.referral,
            changes={
                "message": (None, str(message.public_id)),
                "channel": (None, message.channel),
                "reason": (None, failure.reason),
                "tries": (None, message.tries),
            },
        )
    logger.warning(
        "message %s %s: %s", message.public_id, "retry" if retry else "failed", failure.reason
    )
    return values["status"]


def messages_deliver_due(*, now: datetime | None = None, limit: int = 50) -> int:
    """Claim and deliver one batch of due messages; returns how many were claimed. ``now``
    (default: the clock) is the moment the checks judge (quiet hours, expiries)."""
    claimed = messages_claim(now=now or timezone.now(), limit=limit)
    for pk, lease in claimed:
        try:
            message_deliver(pk, lease=lease, now=now)
        except Exception:
            # One message's failure must not stop the batch; its lease lapses and it is retried.
            logger.exception("message %s failed; retried when its lease lapses", pk)
    return len(claimed)


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
