"""Benchmark settings: production settings plus the ceiling view's urlconf. Nothing else differs,
except that the per-key rate limit is lifted out of reach (the benchmark is one partner sending
flat out; each request is still counted, one upsert as in production: docs/rate-limits.md), and
``BENCH_SQLITE_BACKEND=django`` swaps refdesk's SQLite backend for Django's stock one (to measure
what its writer queue is worth: ``bench/intake_api.py --sqlite-backend django``)."""

import os

from refdesk.settings.base import *  # noqa: F403

if os.environ.get("BENCH_SQLITE_BACKEND") == "django" and DATABASES["default"]["ENGINE"] == (  # noqa: F405
    "refdesk.core.sqlite3"
):
    DATABASES["default"]["ENGINE"] = "django.db.backends.sqlite3"  # noqa: F405

ROOT_URLCONF = "bench.urls"
REFDESK_RATE_LIMITS = {**globals().get("REFDESK_RATE_LIMITS", {}), "api.partner_key": (10**9, 60)}
