"""The staff sign-in lockout, counted exactly by refdesk's rate-limit counters.

allauth's own "login_failed" limit keeps a list of timestamps in the cache and updates it read
-then-write under a cache lock: per process with the local-memory cache, and lossy under
concurrency. It is turned off (``ACCOUNT_RATE_LIMITS``) and enforced here instead, through the
adapter and form hooks allauth already calls, with the same rules:

- ``login.address`` (default 20 a minute): attempts from one client address, the password and
  second-factor steps together (an IPv6 address counts by its /64, as allauth did);
- ``login.name`` (default 5 per 15 minutes): password attempts for one login name, known or
  not, so the lockout says nothing about which names exist;
- ``login.user`` (default 5 per 15 minutes): second-factor codes for one account.

An attempt is counted *before* the password or code is checked — that is what makes it exact:
of 8 concurrent attempts for one name, the database hands out counts 1 to 8 and exactly 5 get
a password check. A successful attempt takes its hits back (allauth's "rollback"), so signing
in does not use up the allowance; a correct second factor also clears the account's failures.
Windows are fixed (``refdesk.core.ratelimit``): a locked name stays locked until its window
ends. A successful password reset clears the name's failures, as allauth did.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from refdesk.core.ratelimit import (
    Hit,
    client_address,
    limit_from_settings,
    rate_limit_clear,
    rate_limit_hit,
)
from refdesk.settings.rate_limits import SCOPES

ADDRESS, NAME, USER = "login.address", "login.name", "login.user"


def _rule(scope: str):
    return limit_from_settings(scope, SCOPES[scope].default)


def _address(request) -> str:
    address = client_address(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False).network_address)
    return address


def _name(login: str) -> str:
    return (login or "").strip().lower()


@dataclass
class Attempt:
    """The hits of one sign-in attempt. ``rollback`` (the name allauth's adapter calls on a
    successful password) takes them back."""

    hits: list[Hit] = field(default_factory=list)
    clear_user: object = None  # the account whose failures a correct code clears

    def rollback(self) -> None:
        for hit in self.hits:
            hit.undo()
        if self.clear_user is not None:
            rate_limit_clear(rule=_rule(USER), key=str(self.clear_user.pk))


def password_attempt(request, login: str) -> Attempt:
    """Count a password attempt for ``login``; ``RateLimited`` when the address or the name
    is locked (the address first: then the name is not counted)."""
    attempt = Attempt()
    attempt.hits.append(rate_limit_hit(rule=_rule(ADDRESS), key=_address(request)))
    attempt.hits.append(rate_limit_hit(rule=_rule(NAME), key=_name(login)))
    return attempt


def second_factor_attempt(request, user) -> Attempt:
    """Count a second-factor code for ``user``; ``RateLimited`` when locked."""
    attempt = Attempt(clear_user=user)
    attempt.hits.append(rate_limit_hit(rule=_rule(ADDRESS), key=_address(request)))
    rate_limit_hit(rule=_rule(USER), key=str(user.pk))  # cleared, not undone, on success
    return attempt


def name_clear(login: str) -> None:
    """Forget the failures of a login name (its password was just reset by emailed link)."""
    rate_limit_clear(rule=_rule(NAME), key=_name(login))
