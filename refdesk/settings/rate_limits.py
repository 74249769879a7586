"""Every rate-limit scope refdesk counts, with its default and meaning: the one list of them.

``REFDESK_RATE_LIMITS="intake.address=30/60,api.partner_key=600/60"`` overrides defaults
(``scope=hits/window-seconds``, comma-separated); ``rate_limits_parse`` checks it at start-up
and refuses unknown scopes. The counters themselves are ``refdesk.core.ratelimit``;
docs/rate-limits.md lists the same scopes (a test keeps the two in step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

VARIABLE = "REFDESK_RATE_LIMITS"
_NUMBER = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Scope:
    default: tuple[int, int]  # (hits, window seconds)
    meaning: str


SCOPES: dict[str, Scope] = {
    "intake.address": Scope(
        (20, 60),
        "web-form submissions (and lookups of unknown referral codes) from one client address",
    ),
    "intake.code": Scope((60, 60), "web-form submissions for one referral code, from anywhere"),
    "api.partner_key": Scope(
        (1200, 60), "partner API requests with one key (counted before the body is read)"
    ),
    "recipient.address": Scope(
        (20, 60), "a lead's booking and unsubscribe submissions from one client address"
    ),
    "hooks.refused": Scope(
        (30, 60), "webhook requests with a bad signature from one client address"
    ),
    "login.address": Scope(
        (20, 60),
        "staff sign-in attempts that failed (password or second factor) from one client address",
    ),
    "login.name": Scope(
        (5, 900),
        "failed password attempts for one login name, known or not: the staff lockout",
    ),
    "login.user": Scope((5, 900), "failed second-factor codes for one staff account"),
}


def rate_limits_parse(value: str | None) -> dict[str, tuple[int, int]]:
    """``{scope: (hits, seconds)}`` from the variable's value; ``ImproperlyConfigured`` naming
    the variable and the bad entry otherwise."""
    limits: dict[str, tuple[int, int]] = {}
    for entry in (value or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        scope, sep, rate = (part.strip() for part in entry.partition("="))
        hits, slash, seconds = (part.strip() for part in rate.partition("/"))
        if not (sep and slash and _NUMBER.fullmatch(hits) and _NUMBER.fullmatch(seconds)):
            raise ImproperlyConfigured(
                f"{VARIABLE}: {entry!r} is not scope=hits/seconds (e.g. intake.address=30/60)"
            )
        if scope not in SCOPES:
            raise ImproperlyConfigured(
                f"{VARIABLE}: {entry!r} names an unknown scope; known scopes: " + ", ".join(SCOPES)
            )
        if scope in limits:
            raise ImproperlyConfigured(f"{VARIABLE}: {scope!r} is given twice")
        if int(hits) < 1 or int(seconds) < 1:
            raise ImproperlyConfigured(
                f"{VARIABLE}: {entry!r} needs at least 1 hit per at least 1 second"
            )
        limits[scope] = (int(hits), int(seconds))
    return limits
