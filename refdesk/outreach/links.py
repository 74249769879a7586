"""Signed links printed in messages to leads: their materials page and the unsubscribe page.

Each link carries only a message's public id, signed with a timestamp so it cannot be guessed,
altered or used forever (the pattern of ``refdesk.intake.links``):
- materials ``/m/<token>``: the materials recorded on that message, valid ``MATERIALS_DAYS``;
- unsubscribe ``/unsubscribe/<token>``: stop emails about that referral, valid
  ``UNSUBSCRIBE_DAYS``.
Different salts keep one kind of token from opening the other page. The salts are part of every
link already sent: never change them. Links are absolute, from ``REFDESK_BASE_URL``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

MATERIALS_SALT = "refdesk.outreach.materials"
UNSUBSCRIBE_SALT = "refdesk.outreach.unsubscribe"
MATERIALS_DAYS = 180
UNSUBSCRIBE_DAYS = 365


def _signer(salt: str) -> signing.TimestampSigner:
    # "." is not in the signer's alphabet, and keeps the token one clean path segment.
    return signing.TimestampSigner(salt=salt, sep=".")


def _public_id(message_or_id) -> str:
    value = getattr(message_or_id, "public_id", message_or_id)
    return uuid.UUID(str(value)).hex


def _read(token: str, *, salt: str, days: int) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=_signer(salt).unsign(token, max_age=timedelta(days=days)))
    except (signing.BadSignature, ValueError):  # SignatureExpired is a BadSignature
        return None


def materials_token(message_public_id) -> str:
    """The signed token of a message's materials page (a message or its public id)."""
    return _signer(MATERIALS_SALT).sign(_public_id(message_public_id))


def read_materials_token(token: str) -> uuid.UUID | None:
    """The message's public id, or None when the token is invalid or older than 180 days."""
    return _read(token, salt=MATERIALS_SALT, days=MATERIALS_DAYS)


def materials_url(message) -> str:
    """The absolute link to the materials sent with ``message`` ({links.materials})."""
    path = reverse("recipient:materials", kwargs={"token": materials_token(message)})
    return f"{settings.REFDESK_BASE_URL}{path}"


def unsubscribe_token(message_public_id) -> str:
    return _signer(UNSUBSCRIBE_SALT).sign(_public_id(message_public_id))


def read_unsubscribe_token(token: str) -> uuid.UUID | None:
    """The message's public id, or None when the token is invalid or older than 365 days."""
    return _read(token, salt=UNSUBSCRIBE_SALT, days=UNSUBSCRIBE_DAYS)


def unsubscribe_url(message) -> str:
    """The absolute unsubscribe link of an email (its footer and List-Unsubscribe header)."""
    path = reverse("recipient:unsubscribe", kwargs={"token": unsubscribe_token(message)})
    return f"{settings.REFDESK_BASE_URL}{path}"


def sms_status_callback_url() -> str:
    """Where the SMS provider reports delivery (pass it as ``status_callback``)."""
    return f"{settings.REFDESK_BASE_URL}{reverse('hooks:sms_status')}"
