"""Fixed-window rate limits kept in the cache, for public endpoints (intake pages, partner API).

A limit is "at most ``limit`` hits per ``window`` seconds for one key" (a client address, a
referral code, an API key prefix). Counters live in the ``default`` cache: with the local-memory
cache each server process counts on its own, so with N processes a client gets up to N times the
limit; a shared cache (Redis, database) makes the limit exact. Keys are hashed, so client
addresses never appear in cache keys or errors.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from refdesk.core.errors import ApplicationError


class RateLimited(ApplicationError):
    """Too many requests; ``retry_after`` is the number of seconds until the window resets."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str = "Too many requests; please wait a moment.", *, retry_after):
        super().__init__(message, extra={"retry_after": retry_after})
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    scope: str  # what is counted, e.g. "intake.address"
    limit: int  # hits allowed per window
    window: int  # seconds


def limit_from_settings(scope: str, default: tuple[int, int]) -> Limit:
    """``settings.REFDESK_RATE_LIMITS = {scope: (limit, window_seconds)}`` overrides a default."""
    limit, window = getattr(settings, "REFDESK_RATE_LIMITS", {}).get(scope, default)
    return Limit(scope=scope, limit=int(limit), window=int(window))


def rate_limit_hit(*, rule: Limit, key: str) -> None:
    """Count one hit for ``key`` under ``rule``; raise ``RateLimited`` once it is over the limit."""
    now = int(time.time())
    window_start = now - now % rule.window
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    cache_key = f"rl:{rule.scope}:{window_start}:{digest}"
    # add() is a no-op when the counter exists, so concurrent first hits do not reset it.
    cache.add(cache_key, 0, timeout=rule.window + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add() and incr(): this hit starts a new window
        cache.add(cache_key, 1, timeout=rule.window + 1)
        count = 1
    if count > rule.limit:
        raise RateLimited(retry_after=max(1, window_start + rule.window - now))


def client_address(request) -> str:
    """The client's address. Behind ``REFDESK_TRUSTED_PROXIES`` reverse proxies, the address
    that many hops from the right of X-Forwarded-For (a client can forge entries to the left)."""
    hops = int(getattr(settings, "REFDESK_TRUSTED_PROXIES", 0))
    if hops > 0:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "") or "unknown"
