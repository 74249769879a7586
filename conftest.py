"""Shared test setup. Personas and builders live in refdesk/testing.py.

The demo programs are applied once per test database (each xdist worker has its own), not per
test: every test runs inside a transaction that is rolled back, so they are there for each one.
A transactional test empties the database when it ends; the programs are put back after it.
"""

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


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from refdesk.testing import apply_demo_programs

    with django_db_blocker.unblock():
        apply_demo_programs(note="test session")


@pytest.fixture(autouse=True)
def _demo_programs_after_a_transactional_test(request, django_db_blocker):
    """Set up before (so torn down after) the database fixtures: after a transactional test's
    flush, the next test finds the programs again."""
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = (
        "transactional_db" in request.fixturenames
        or (marker is not None and marker.kwargs.get("transaction"))
        or getattr(request.node, "refdesk_transactional", False)  # asked for dynamically
    )
    if transactional:
        from refdesk.testing import apply_demo_programs, demo_programs_present

        with django_db_blocker.unblock():
            if not demo_programs_present():
                apply_demo_programs(note="test session")


@pytest.fixture(autouse=True)
def _no_request_id_leak():
    """Each test starts without a request id in context."""
    from refdesk.core.context import reset_request_id, set_request_id

    token = set_request_id(None)
    yield
    reset_request_id(token)


@pytest.fixture(autouse=True)
def _empty_sms_outbox():
    """Each test starts with no text messages sent (like Django's mail.outbox)."""
    from refdesk.outreach.sms import LocmemSMSBackend

    LocmemSMSBackend.outbox.clear()
    yield
    LocmemSMSBackend.outbox.clear()
