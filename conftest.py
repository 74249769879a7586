"""Shared test setup. Personas and builders live in refdesk/testing.py."""

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# No per-example deadlines: on a shared 2-core machine the first example of a property test
# (cold caches, compiled program tables) can take 300 ms while the rest take microseconds, which
# made deadline failures flaky. Speed is measured by the benchmarks under bench/, not here.
hypothesis_settings.register_profile(
    "refdesk", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("refdesk")


@pytest.fixture(autouse=True)
def _no_request_id_leak():
    """Each test starts without a request id in context."""
    from refdesk.core.context import reset_request_id, set_request_id

    token = set_request_id(None)
    yield
    reset_request_id(token)
