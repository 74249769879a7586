"""Signed links for referrers: the confirmation page, the completion page and the status page.

Each link carries a referral's public id, signed so it cannot be guessed or altered:
- the confirmation page ``/r/<code>/thanks/<token>`` (valid ``THANKS_DAYS``);
- the completion page ``/r/<code>/complete/<token>`` (valid ``REFDESK_COMPLETION_LINK_DAYS``,
  14 by default), sent to the referrer when a referral needs information;
- the status page ``/r/status/<token>``, which does not expire: a referrer may look weeks later.
Different salts keep one kind of token from opening another page. The salts are part of every
link already sent: never change them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from refdesk.core.errors import ApplicationError, NotFound
from refdesk.intake.models import Referral

THANKS_SALT = "refdesk.intake.thanks"
COMPLETE_SALT = "refdesk.intake.complete"
THANKS_DAYS = 30


class LinkExpired(ApplicationError):
    code = "link_expired"
    status = 410


class LinkInvalid(NotFound):
    code = "link_invalid"


def completion_link_days() -> int:
    return int(getattr(settings, "REFDESK_COMPLETION_LINK_DAYS", 14))


def _signer(salt: str) -> signing.TimestampSigner:
    # "." is not in the signer's alphabet, and keeps the token one clean path segment.
    return signing.TimestampSigner(salt=salt, sep=".")


def _read(token: str, *, salt: str, max_age: timedelta) -> uuid.UUID:
    try:
        value = _signer(salt).unsign(token, max_age=max_age)
        return uuid.UUID(hex=value)
    except signing.SignatureExpired:
        raise LinkExpired("This link has expired.") from None
    except (signing.BadSignature, ValueError):
        raise LinkInvalid("This link is not valid.") from None


def thanks_token(referral: Referral) -> str:
    return _signer(THANKS_SALT).sign(referral.public_id.hex)


def thanks_token_read(token: str) -> uuid.UUID:
    return _read(token, salt=THANKS_SALT, max_age=timedelta(days=THANKS_DAYS))


def completion_token(referral: Referral) -> str:
    return _signer(COMPLETE_SALT).sign(referral.public_id.hex)


def completion_token_read(token: str) -> uuid.UUID:
    return _read(token, salt=COMPLETE_SALT, max_age=timedelta(days=completion_link_days()))


def completion_url(referral: Referral) -> str:
    """The absolute completion link, as printed in the request to the referrer."""
    path = reverse(
        "intake:complete",
        kwargs={"code": referral.referrer.code, "token": completion_token(referral)},
    )
    return f"{settings.REFDESK_BASE_URL}{path}"


# The salt predates the move of these links to intake: links already sent must keep working.
STATUS_SALT = "refdesk.desk.status"


def _status_signer() -> signing.Signer:
    return signing.Signer(salt=STATUS_SALT, sep=".")


def status_token(referral: Referral) -> str:
    return _status_signer().sign(referral.public_id.hex)


def status_url(referral: Referral) -> str:
    """The absolute link to send to the referrer."""
    path = reverse("status:referral_status", kwargs={"token": status_token(referral)})
    return f"{settings.REFDESK_BASE_URL}{path}"


def status_token_read(token: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=_status_signer().unsign(token))
    except (signing.BadSignature, ValueError):
        return None
