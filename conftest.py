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


@pytest.fixture
def _demo_programs_kept(django_db_blocker):
    """Torn down after the test's database fixture (see ``_django_db_helper`` below): once a
    transactional test's flush has emptied the database, the next test finds the programs."""
    yield
    from refdesk.testing import apply_demo_programs, demo_programs_present

    with django_db_blocker.unblock():
        if not demo_programs_present():
            apply_demo_programs(note="test session")


@pytest.fixture
def _django_db_helper(_demo_programs_kept, _django_db_helper):
    """pytest-django's database fixture (behind ``db``, ``transactional_db`` and the
    ``django_db`` marker, however a test asks), set up after ``_demo_programs_kept`` so that it
    is torn down — flushed, for a transactional test — before the programs are checked. An
    autouse fixture of ours would be torn down before the flush of a marker-based transactional
    test, leaving the next test without programs."""
    return _django_db_helper


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
