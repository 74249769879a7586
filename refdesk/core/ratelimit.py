"""Fixed-window rate limits, counted exactly in the database, for public endpoints and sign-in.

A limit is "at most ``limit`` hits per ``window`` seconds for one key" (a client address, a
referral code, an API key's id, a login name). Windows are fixed: they start at multiples of
the window since the Unix epoch, so a key can get up to twice its limit in a short time around
the moment one window gives way to the next — never more than ``limit`` within one window.

Each hit is ONE statement on the ``core.RateCounter`` table::

    INSERT ... VALUES (scope, digest, window, 1)
    ON CONFLICT (scope, key_digest, window_start) DO UPDATE SET hits = hits + 1 RETURNING hits

The database increments the row atomically, so every process and node shares one exact count
(PostgreSQL row lock; SQLite's single writer, queued by ``refdesk.core.sqlite3``): with a limit
of N, exactly N concurrent hits are let through. The table comes from ``migrate``; nothing else
needs setting up. Keys are stored only as keyed hashes (HMAC with ``SECRET_KEY``), so client
addresses and login names are never stored in clear, and cannot be recovered by hashing every
address. Windows that have ended are deleted by the worker's housekeeping
(``rate_counters_prune``).

**Transactions.** A hit must stay counted even when the request that made it fails: a refused
(invalid) submission is exactly what a limit is for, and most of them end in a rollback. So a
hit commits on its own: on PostgreSQL the statement runs in autocommit; on SQLite in its own
short write transaction (which takes the writer queue instead of SQLite's sleeping busy
handler). Every caller counts before it opens a transaction (a test checks each one). Inside a
transaction a hit would join it and be un-counted by its rollback; only tests do that on purpose
(each test's counters vanish with its transaction).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import connection, transaction

from refdesk.core.errors import ApplicationError
from refdesk.core.models import RateCounter
from refdesk.settings.rate_limits import SCOPES

__all__ = [
    "SCOPES",
    "Hit",
    "Limit",
    "RateLimited",
    "client_address",
    "limit_from_settings",
    "rate_counters_prune",
    "rate_limit_clear",
    "rate_limit_hit",
]

_TABLE = RateCounter._meta.db_table
# Built from model metadata only; values are parameters. Measured by nothing formal: one
# round trip, one index probe, one row write.
_HIT_SQL = (
    f"INSERT INTO {_TABLE} (scope, key_digest, window_start, window_end, hits) "
    "VALUES (%s, %s, %s, %s, 1) "
    "ON CONFLICT (scope, key_digest, window_start) "
    f"DO UPDATE SET hits = {_TABLE}.hits + 1 RETURNING hits"
)
_UNDO_SQL = (
    f"UPDATE {_TABLE} SET hits = hits - 1 "
    "WHERE scope = %s AND key_digest = %s AND window_start = %s AND hits > 0"
)


class RateLimited(ApplicationError):
    """Too many requests; ``retry_after`` is the number of seconds until the window resets."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str = "Too many requests; please wait a moment.", *, retry_after):
        super().__init__(message, extra={"retry_after": retry_after})
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    scope: str  # what is counted, e.g. "intake.address" (one of SCOPES)
    limit: int  # hits allowed per window
    window: int  # seconds


@dataclass(frozen=True)
class Hit:
    """One counted hit, which ``undo`` takes back (e.g. a sign-in attempt that succeeded)."""

    scope: str
    key_digest: str
    window_start: int
    count: int  # the key's hits in this window, this one included

    def undo(self) -> None:
        _write(_UNDO_SQL, [self.scope, self.key_digest, self.window_start])


def limit_from_settings(scope: str, default: tuple[int, int]) -> Limit:
    """``settings.REFDESK_RATE_LIMITS = {scope: (limit, window_seconds)}`` overrides a default
    (from the environment: ``REFDESK_RATE_LIMITS``, see refdesk/settings/rate_limits.py)."""
    limit, window = getattr(settings, "REFDESK_RATE_LIMITS", {}).get(scope, default)
    return Limit(scope=scope, limit=int(limit), window=int(window))


@cache
def _hash_key(secret: str) -> bytes:
    return hashlib.sha256(b"refdesk.core.ratelimit:" + secret.encode("utf-8")).digest()


def _digest(key: str) -> str:
    secret = _hash_key(settings.SECRET_KEY)
    return hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _write(sql: str, params: list):
    """Run one statement so that it commits on its own (outside a transaction); returns its
    first row, if any."""
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        # An explicit write transaction takes refdesk's writer queue (core/sqlite3).
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


def rate_limit_hit(*, rule: Limit, key: str) -> Hit:
    """Count one hit for ``key`` under ``rule``; raise ``RateLimited`` once it is over the limit.

    Hits over the limit are counted too (they change nothing: the key stays refused until the
    window ends). Returns the hit, for the rare caller that takes it back (``Hit.undo``)."""
    now = int(time.time())
    window_start = now - now % rule.window
    digest = _digest(key)
    (count,) = _write(_HIT_SQL, [rule.scope, digest, window_start, window_start + rule.window])
    if count > rule.limit:
        raise RateLimited(retry_after=max(1, window_start + rule.window - now))
    return Hit(scope=rule.scope, key_digest=digest, window_start=window_start, count=count)


def rate_limit_clear(*, rule: Limit, key: str) -> None:
    """Forget every hit of ``key`` under ``rule``'s scope (e.g. after a password reset). May
    run inside a transaction: rolled back, the clearing is undone with what it belonged to."""
    RateCounter.objects.filter(scope=rule.scope, key_digest=_digest(key)).delete()


def rate_counters_prune(*, now: float | None = None) -> int:
    """Delete the counters of windows that have ended (the worker's housekeeping)."""
    now = int(time.time() if now is None else now)
    deleted, _ = RateCounter.objects.filter(window_end__lte=now).delete()
    return deleted


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
