"""Delivering scheduled messages, crash-safe: claim due rows with a lease, check and render
each (``messages.message_check``), record it ``sending`` with its idempotency key, call the
backend, record the result. See ``messages`` for the check and the module doc there for why a
message interrupted mid-call is checked again and resent under the same key.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from refdesk.audit.services import audit_record
from refdesk.core.errors import ApplicationError
from refdesk.intake.models import Referral
from refdesk.outreach import links as outreach_links
from refdesk.outreach.choices import Audience, MessagePurpose, MessageStatus
from refdesk.outreach.models import Message
from refdesk.outreach.sms import SmsError, get_sms_backend
from refdesk.programs.selectors import version_definition
from refdesk.workflow.appointment_messages import (
    appointment_current,
    appointment_invite,
    appointment_zone,
    invite_attachment,
)
from refdesk.workflow.claims import claim_due
from refdesk.workflow.messages import (
    MAX_TRIES,
    SYSTEM,
    SendCheck,
    message_check,
    message_render,
    recipient_for,
)
from refdesk.workflow.sla import first_response

logger = logging.getLogger(__name__)

# Lead messages that are attempts to reach the lead (the retry cadence counts them).
CONTACT_ATTEMPTS = frozenset(
    {
        MessagePurpose.FIRST_OUTREACH,
        MessagePurpose.RETRY,
        MessagePurpose.MANUAL,
        MessagePurpose.RESCHEDULE_OFFER,
    }
)


def messages_claim(*, now: datetime, limit: int = 50) -> list[tuple[int, datetime]]:
    """Claim up to ``limit`` due messages for this worker (``claims.claim_due``).

    Due means ``next_action_at <= now`` and either scheduled, or claimed/sending with a lapsed
    lease (its worker died). Scheduled rows become ``claimed``; a lapsed ``sending`` row keeps
    its status, so the sender knows it was interrupted mid-call. On PostgreSQL ``SKIP LOCKED``
    lets workers claim disjoint batches without waiting on each other (SQLite has one writer:
    the claim's transaction is the lock). Returns (id, lease).
    """
    due = Q(status=MessageStatus.SCHEDULED) | Q(
        status__in=(MessageStatus.CLAIMED, MessageStatus.SENDING), lease_until__lt=now
    )

    def mark(ids: list[int], lease: datetime) -> None:
        Message.objects.filter(pk__in=ids, status=MessageStatus.SCHEDULED).update(
            status=MessageStatus.CLAIMED
        )
        Message.objects.filter(pk__in=ids).update(lease_until=lease)

    return claim_due(Message, due=due, now=now, limit=limit, mark=mark)


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
        zone=appointment_zone(message.appointment, definition) if message.appointment else None,
    )
    if check.allowed and not appointment_current(message, now):
        check = SendCheck(False, "appointment_changed", template=check.template)
    if check.allowed:
        try:
            subject, body, materials = message_render(message, check.template, definition, now)
        except ApplicationError as error:
            check = SendCheck(False, error.code, template=check.template)
    if not check.allowed:
        return _hold_or_refuse(message, check, now)
    message.template = check.template
    message.recipient = recipient_for(referral, message.audience, message.channel)
    message.subject, message.body = subject, body
    message.calendar = appointment_invite(message, now) if message.channel == "email" else ""
    message.status = MessageStatus.SENDING
    message.reason = ""
    message.tries += 1
    message.save(
        update_fields=[
            "template",
            "recipient",
            "subject",
            "body",
            "calendar",
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
        if message.calendar:
            email.attach(invite_attachment(message.calendar))
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
        if message.audience == Audience.LEAD and message.purpose in CONTACT_ATTEMPTS:
            # Every contact attempt counts toward the retry cadence (an appointment's
            # confirmation or reminder is not one); only a person's message ends the SLA clock
            # (it promises a person responds, not an automatic message).
            Referral.objects.filter(pk=referral.pk).update(lead_attempts=F("lead_attempts") + 1)
            if message.purpose == MessagePurpose.MANUAL:
                Referral.objects.filter(pk=referral.pk, first_responded_at__isnull=True).update(
                    **first_response(referral, now)
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
