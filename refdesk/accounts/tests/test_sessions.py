"""Staff sessions end after inactivity and as soon as the user is deactivated."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY

from refdesk.testing import login_with_mfa

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PAGE = "/accounts/2fa/"  # any signed-in page; anonymous visitors are sent to the login page


def _signed_in(client) -> bool:
    response = client.get(PAGE)
    return response.status_code == 200 and SESSION_KEY in client.session


def test_a_session_ends_after_the_idle_time(client, coordinator, settings):
    settings.REFDESK_SESSION_IDLE_MINUTES = 15
    with time_machine.travel(START, tick=False) as clock:
        login_with_mfa(client, coordinator)
        assert _signed_in(client)
        clock.shift(timedelta(minutes=15, seconds=1))
        response = client.get(PAGE)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        assert SESSION_KEY not in client.session


def test_a_session_left_alone_right_after_signing_in_ends_in_time(client, coordinator, settings):
    """The stored session outlives the idle limit (so its end can be audited); the idle clock
    must therefore start at sign-in, not at the first request after it."""
    settings.REFDESK_SESSION_IDLE_MINUTES = 15
    with time_machine.travel(START, tick=False) as clock:
        login_with_mfa(client, coordinator)
        clock.shift(timedelta(minutes=15, seconds=1))
        assert not _signed_in(client)


def test_activity_keeps_a_session_alive(client, coordinator, settings):
    settings.REFDESK_SESSION_IDLE_MINUTES = 15
    with time_machine.travel(START, tick=False) as clock:
        login_with_mfa(client, coordinator)
        for _ in range(4):  # an hour of work, never 15 minutes idle
            assert _signed_in(client)
            clock.shift(timedelta(minutes=14))
        assert _signed_in(client)


def test_the_idle_time_is_configurable(client, coordinator, settings):
    settings.REFDESK_SESSION_IDLE_MINUTES = 5
    with time_machine.travel(START, tick=False) as clock:
        login_with_mfa(client, coordinator)
        assert _signed_in(client)
        clock.shift(timedelta(minutes=6))
        assert not _signed_in(client)


def test_deactivating_a_user_ends_their_open_session(client, coordinator):
    login_with_mfa(client, coordinator)
    assert _signed_in(client)

    coordinator.is_active = False
    coordinator.save(update_fields=["is_active"])
    assert not _signed_in(client)

    # The session is gone, not just hidden: reactivation does not bring it back.
    coordinator.is_active = True
    coordinator.save(update_fields=["is_active"])
    assert not _signed_in(client)


def test_a_deactivated_user_cannot_sign_in(client, coordinator):
    coordinator.is_active = False
    coordinator.save(update_fields=["is_active"])
    client.post("/accounts/login/", {"login": "carl", "password": "correct horse battery staple"})
    assert SESSION_KEY not in client.session


def test_the_idle_time_counts_from_the_last_request_to_the_second(client, coordinator, settings):
    """Every request restarts the idle clock: a stamp written only once a minute would keep this
    session alive up to a minute past its limit."""
    settings.REFDESK_SESSION_IDLE_MINUTES = 15
    idle = timedelta(minutes=15)
    with time_machine.travel(START, tick=False) as clock:
        login_with_mfa(client, coordinator)
        assert _signed_in(client)  # activity at t0
        clock.shift(timedelta(seconds=30))  # t0 + 30 s: under the old once-a-minute stamp,
        assert _signed_in(client)  # this request would not have moved the clock
        clock.shift(idle - timedelta(seconds=1))
        assert _signed_in(client)  # 1 s short of the limit since the last request: kept
        clock.shift(idle + timedelta(seconds=1))
        response = client.get(PAGE)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        assert SESSION_KEY not in client.session
