"""The signed link a lead follows to book, move or cancel their call or meeting
({links.reschedule}; the page is ``refdesk.portal.views_booking``; a program that does not
schedule asks for a call back there instead).

The token names only the referral's public id, signed, and keeps working for ``BOOKING_DAYS``.
The salt is part of every link already sent: never change it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core import signing

BOOKING_SALT = "refdesk.outreach.booking"
BOOKING_DAYS = 60


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=BOOKING_SALT, sep=".")


def booking_token(referral) -> str:
    return _signer().sign(referral.public_id.hex)


def booking_url(referral) -> str:
    return f"{settings.REFDESK_BASE_URL}/book/{booking_token(referral)}"


def read_booking_token(token: str) -> uuid.UUID | None:
    """The referral's public id, or None for a forged, altered or expired token."""
    try:
        return uuid.UUID(hex=_signer().unsign(token, max_age=timedelta(days=BOOKING_DAYS)))
    except (signing.BadSignature, ValueError):
        return None
