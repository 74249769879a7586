"""Benchmark settings: production settings plus the ceiling view's urlconf. Nothing else differs,
except that the per-key rate limit is lifted (the benchmark is one partner sending flat out)."""

from refdesk.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
REFDESK_RATE_LIMITS = {**globals().get("REFDESK_RATE_LIMITS", {}), "api.partner_key": (10**9, 60)}
