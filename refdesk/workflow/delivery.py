"""What happens to a message after it leaves: delivery reports, and the lead saying stop.

- ``message_delivery_record``: a provider reports a message sent, delivered, bounced or failed
  (the webhooks in ``refdesk.portal.hooks``). A message's status only moves forward — a late
  "sent" never undoes "delivered", and bounced or failed are final — enforced by a conditional
  UPDATE on the status read, not by reading and saving. Each change is audited on the message's
  referral, so it shows on the referral's timeline.
- ``channel_opt_out``: a STOP reply to a text message (or an email unsubscribe) withdraws the
  channel from the consent of every referral of that lead, found by blind index, through
  ``workflow.consent.consent_withdraw`` (withdrawing the last channel withdraws consent
  entirely and closes open work, as for any withdrawal), and cancels the lead's messages still
  waiting to go on that channel.
- ``message_unsubscribe``: the unsubscribe link of one email: the same, for that message's
  referral only.

Addresses and numbers are patient data: they are never logged or audited; events carry public
ids, channels and statuses only.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from refdesk.audit.services import Actor, audit_record
from refdesk.consent.choices import WithdrawalReason
from refdesk.consent.selectors import consent_current
from refdesk.core.crypto import email_index, phone_index
from refdesk.core.errors import ApplicationError
from refdesk.intake.models import Referral
from refdesk.outreach.choices import MessageStatus
from refdesk.outreach.models import Message
from refdesk.programs.models import Program
from refdesk.workflow.consent import consent_withdraw

logger = logging.getLogger(__name__)

DELIVERY_ACTOR = "system:delivery"
UNSUBSCRIBE_ACTOR = "system:unsubscribe-link"
COMPLAINT_ACTOR = "system:email-complaint"

S = MessageStatus
# Provider words (Twilio's MessageStatus, the email events) -> the status they report.
# None: "still on its way" (queued, accepted, sending): nothing to record.
PROVIDER_STATUSES: dict[str, MessageStatus | None] = {
    "accepted": None,
    "queued": None,
    "scheduled": None,
    "sending": None,
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "read": S.DELIVERED,
    "undelivered": S.FAILED,
    "failed": S.FAILED,
    "bounced": S.BOUNCED,
}
# The statuses each reported status may replace: forward only. Sending is included because a
# message has a provider id only once the provider took it, and its report may arrive before
# the sender has recorded "sent". Delivered, failed and bounced replace nothing final.
MOVES_FROM: dict[str, tuple[str, ...]] = {
    S.SENT: (S.SENDING,),
    S.DELIVERED: (S.SENDING, S.SENT),
    S.FAILED: (S.SENDING, S.SENT),
    S.BOUNCED: (S.SENDING, S.SENT),
}
AUDIT_ACTIONS = {
    S.SENT: "message.sent",
    S.DELIVERED: "message.delivered",
    S.FAILED: "message.failed",
    S.BOUNCED: "message.bounced",
}
# A spam complaint about an email: the lead does not want these emails (an unsubscribe).
COMPLAINT = "complained"
# Messages not yet handed to a backend: cancelled when the lead opts out of their channel.
CANCELLABLE = (S.SCHEDULED, S.CLAIMED)
OPT_OUT_NOTES = {
    "sms": "Opted out of text messages by replying STOP.",
    "email": "Opted out of emails (unsubscribe link or spam complaint).",
}


def _provider_ids(provider_id: str) -> list[str]:
    """The forms one id may be stored in: an email's Message-ID with or without its <>."""
    bare = provider_id.strip().strip("<>").strip()
    return list(dict.fromkeys([provider_id.strip(), bare, f"<{bare}>"]))


def _safe_detail(detail: str) -> str:
    """A provider's error code, e.g. Twilio's 30003; never free text (it may quote a number)."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "", detail or "")[:40]


def message_find(provider_id: str) -> Message | None:
    """The message the provider knows by ``provider_id`` (None when refdesk sent no such)."""
    if not (provider_id or "").strip():
        return None
    return (
        Message.objects.select_related("referral")
        .filter(provider_id__in=_provider_ids(provider_id))
        .order_by("id")
        .first()
    )


@transaction.atomic
def message_delivery_record(
    *,
    provider_id: str,
    status: str,
    at: datetime | None = None,
    detail: str = "",
    actor: Actor = DELIVERY_ACTOR,
) -> Message | None:
    """Record what a provider reports about a message; returns the message (None: unknown id).

    1. Find the message by its provider id (an SMS's sid; an email's Message-ID).
    2. "complained" (an email marked as spam) unsubscribes the lead from email for the
       message's referral (``message_unsubscribe``); the status is left as it is.
    3. Map the provider's word to a status; words that only mean "on its way", and words
       refdesk does not know, change nothing.
    4. Move forward only: ``UPDATE ... WHERE status = <read>`` for an allowed current status
       (at most a few tries if another report changed it meanwhile); set ``delivered_at`` or
       ``failed_at``; audit ``message.<status>`` on the referral (message id, channel, status
       and, for a failure, the provider's error code as its reason; never the address).
    """
    at = at or timezone.now()
    message = message_find(provider_id)
    if message is None:
        logger.warning("delivery report for an unknown provider id %s", provider_id[:100])
        return None
    word = (status or "").strip().lower()
    if word == COMPLAINT:
        if message.channel == "email":
            message_unsubscribe(message=message, at=at, actor=COMPLAINT_ACTOR)
        return message
    if word not in PROVIDER_STATUSES:
        logger.warning(
            "delivery report with an unknown status %r (message %s)", word[:30], message.public_id
        )
        return message
    new = PROVIDER_STATUSES[word]
    if new is None:
        return message
    code = _safe_detail(detail)
    for _attempt in range(3):
        old = Message.objects.filter(pk=message.pk).values_list("status", flat=True).get()
        if old not in MOVES_FROM[new]:
            break  # already as far or further along (or final): a late report changes nothing
        fields = {
            "status": new,
            "next_action_at": None,
            "lease_until": None,
            "updated_at": timezone.now(),
        }
        if new == S.DELIVERED:
            fields["delivered_at"] = at
        elif new in (S.FAILED, S.BOUNCED):
            fields["failed_at"] = at
            fields["reason"] = code or word
        elif new == S.SENT:
            fields["sent_at"] = at
        if Message.objects.filter(pk=message.pk, status=old).update(**fields) != 1:
            continue  # another report moved it meanwhile: read it again
        changes = {
            "message": (None, str(message.public_id)),
            "channel": (None, message.channel),
            "status": (old, str(new)),
        }
        if new in (S.FAILED, S.BOUNCED):
            changes["reason"] = (None, fields["reason"])  # the provider's error code
        audit_record(
            actor=actor, action=AUDIT_ACTIONS[new], subject=message.referral, changes=changes
        )
        break
    message.refresh_from_db()
    return message


def _messages_cancel(*, referral_ids: list[int], channel: str, actor: Actor) -> int:
    """Refuse the messages of these referrals still waiting to go on ``channel``."""
    cancelled = 0
    waiting = Message.objects.filter(
        referral_id__in=referral_ids, channel=channel, status__in=CANCELLABLE
    ).select_related("referral")
    for message in waiting:
        updated = Message.objects.filter(pk=message.pk, status=message.status).update(
            status=S.REFUSED,
            reason="consent_withdrawn",
            next_action_at=None,
            lease_until=None,
            updated_at=timezone.now(),
        )
        if updated != 1:
            continue  # a worker took it meanwhile; the consent check before sending stops it
        audit_record(
            actor=actor,
            action="message.cancelled",
            subject=message.referral,
            reason="consent_withdrawn",
            changes={
                "message": (None, str(message.public_id)),
                "channel": (None, channel),
                "status": (message.status, S.REFUSED),
                "reason": (None, "consent_withdrawn"),
            },
        )
        cancelled += 1
    return cancelled


def _withdraw_channel(referrals, *, channel: str, actor: Actor) -> int:
    """Withdraw ``channel`` from each referral whose consent in force covers it; how many."""
    changed = 0
    for referral in referrals:
        current = consent_current(referral)
        if not current.granted or channel not in current.channels:
            continue
        try:
            with transaction.atomic():
                consent_withdraw(
                    referral=referral,
                    actor=actor,
                    reason=WithdrawalReason.LEAD_REQUEST,
                    channels=[channel],
                    note=OPT_OUT_NOTES.get(channel, "Opted out of this channel."),
                )
        except ApplicationError as problem:  # changed meanwhile (e.g. withdrawn by staff)
            logger.warning(
                "opt-out not recorded for referral %s: %s", referral.public_id, problem.code
            )
            continue
        changed += 1
    return changed


def _lead_index(channel: str, address: str) -> tuple[str, str]:
    if channel == "sms":
        return "phone_index", phone_index(address)
    if channel == "email":
        return "email_index", email_index(address)
    raise ApplicationError(f"no opt-out by {channel}", code="unknown_channel", field="channel")


@transaction.atomic
def channel_opt_out(*, channel: str, address: str, actor: Actor, at: datetime | None = None) -> int:
    """The lead at ``address`` (a phone number for "sms", an email address for "email") asks for
    no more messages on ``channel``. Returns how many referrals' consent changed.

    1. Find every referral of that lead, open or closed, in any program, by the blind index of
       the address (never by decrypting).
    2. For each whose consent in force is granted and covers the channel, withdraw the channel
       (``consent_withdraw``, reason lead_request); the last channel withdraws consent entirely
       and closes open work as withdrawn. A referral changed meanwhile is skipped and logged.
    3. Refuse the messages of those referrals still waiting to go on that channel
       (``message.cancelled``, reason consent_withdrawn), consent or not: the lead said stop.
    """
    at = at or timezone.now()
    column, index = _lead_index(channel, address)
    if not index:
        logger.warning("opt-out by %s from an address that cannot be read; nothing found", channel)
        return 0
    # Each program's (program, <key>_index, received_at) index answers its part.
    programs = list(Program.objects.values_list("id", flat=True))
    referrals = list(
        Referral.objects.filter(program_id__in=programs, **{column: index})
        .select_related("program_version")
        .order_by("id")
    )
    changed = _withdraw_channel(referrals, channel=channel, actor=actor)
    _messages_cancel(
        referral_ids=[referral.id for referral in referrals], channel=channel, actor=actor
    )
    if referrals:
        logger.info(
            "opt-out by %s at %s: %d referral(s) of the lead, consent changed on %d",
            channel,
            at.isoformat(),
            len(referrals),
            changed,
        )
    return changed


@transaction.atomic
def message_unsubscribe(
    *, message: Message, at: datetime | None = None, actor: Actor = UNSUBSCRIBE_ACTOR
) -> int:
    """The unsubscribe link of an email: withdraw email from the consent of that message's
    referral only, and cancel its emails still waiting. Returns 1 when consent changed, 0 when
    email was already out of it (so a second click changes nothing)."""
    at = at or timezone.now()
    referral = Referral.objects.select_related("program_version").get(pk=message.referral_id)
    changed = _withdraw_channel([referral], channel="email", actor=actor)
    _messages_cancel(referral_ids=[referral.id], channel="email", actor=actor)
    logger.info("unsubscribe link used (message %s, at %s)", message.public_id, at.isoformat())
    return changed
