"""Reads about staff users that every interface shares."""

from __future__ import annotations

import zoneinfo

from django.conf import settings

from refdesk.accounts.models import User

# The zone staff see when they have not chosen one: the demo teams' business zone.
DEFAULT_STAFF_TIMEZONE = "America/New_York"


def user_timezone(user: User) -> zoneinfo.ZoneInfo:
    """The zone the console shows this user's times in: their own setting, else the staff
    default (``REFDESK_STAFF_TIME_ZONE``). Never UTC by accident; no query."""
    name = getattr(user, "timezone", "") or getattr(
        settings, "REFDESK_STAFF_TIME_ZONE", DEFAULT_STAFF_TIMEZONE
    )
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(DEFAULT_STAFF_TIMEZONE)
