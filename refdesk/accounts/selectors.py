"""Reads about staff users that every interface shares."""

from __future__ import annotations

import zoneinfo

from django.conf import settings

from refdesk.accounts.models import Team, User

# The zone staff see when neither they nor a team of theirs names one.
DEFAULT_STAFF_TIMEZONE = "America/New_York"


def user_timezone(user: User) -> zoneinfo.ZoneInfo:
    """The zone the console shows this user's times in: their own setting, else their first
    team's (where their SLAs run), else the staff default. Never UTC by accident."""
    name = getattr(user, "timezone", "") or ""
    if not name:
        # Loaded with the request's user by StaffAuthenticationBackend (no query).
        name = getattr(user, "_first_team_timezone", "") or ""
    if not name and getattr(user, "pk", None) and not hasattr(user, "_first_team_timezone"):
        name = (
            Team.objects.filter(memberships__user=user)
            .order_by("slug")
            .values_list("timezone", flat=True)
            .first()
            or ""
        )
    name = name or getattr(settings, "STAFF_TIME_ZONE", DEFAULT_STAFF_TIMEZONE)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(DEFAULT_STAFF_TIMEZONE)
