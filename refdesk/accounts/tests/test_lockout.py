"""The staff lockout counts in refdesk's exact counters (refdesk.accounts.lockout): each attempt
before its check, taken back on success, configurable, and exact under concurrency."""

import pytest
from allauth.account.adapter import get_adapter

from refdesk.accounts.tests.conftest import PASSWORD
from refdesk.accounts.tests.totp import SECRET, current_code, wrong_code
from refdesk.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
SECOND_FACTOR = "/accounts/2fa/authenticate/"
WRONG = "Tr0ub4dor&3-not-it"
LOCKED = "Too many failed login attempts"


def _events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def _try(client, login, password=WRONG):
    return client.post(LOGIN, {"login": login, "password": password})


def _locked(response) -> bool:
    form = response.context and response.context.get("form")
    return form is not None and LOCKED in str(form.errors)


def test_a_successful_sign_in_does_not_use_up_the_allowance(client, coordinator, django_user_model):
    for _ in range(4):
        _try(client, "carl")
    assert _try(client, "carl", PASSWORD).status_code == 302  # no authenticator yet: signed in
    client.logout()
    assert not _locked(_try(client, "carl"))  # the 5th failure is still checked...
    assert _events("auth.login_failed") == 5
    assert _locked(_try(client, "carl", PASSWORD))  # ...and then the name is locked
    assert _events("auth.locked_out") == 1


def test_the_lockout_follows_the_configured_limits(client, coordinator, settings):
    settings.REFDESK_RATE_LIMITS = {"login.name": (2, 900), "login.address": (4, 60)}
    _try(client, "carl")
    _try(client, "carl")
    assert _locked(_try(client, "carl", PASSWORD))
    assert not _locked(_try(client, "someone"))  # the 4th attempt from this address
    assert _locked(_try(client, "someone else"))  # the 5th: the address is locked
    assert _events("auth.login_failed") == 3


def test_a_password_reset_clears_the_names_failures(client, coordinator, rf):
    for _ in range(5):
        _try(client, "carl@example.org")
    assert _locked(_try(client, "carl@example.org", PASSWORD))
    request = rf.post("/accounts/password/reset/key/done/")
    get_adapter(request)._delete_login_attempts_cached_email(request, email="carl@example.org")
    assert _try(client, "carl@example.org", PASSWORD).status_code == 302


def test_a_correct_code_clears_the_accounts_failures(client, admin_user):
    from refdesk.accounts.mfa import user_totp_provision

    user_totp_provision(user=admin_user, secret=SECRET, actor="system:test")
    _try(client, "ada", PASSWORD)
    for _ in range(4):
        client.post(SECOND_FACTOR, {"code": wrong_code()})
    assert client.post(SECOND_FACTOR, {"code": current_code()}).status_code == 302
    client.logout()
    _try(client, "ada", PASSWORD)
    for _ in range(5):  # five more wrong codes are all checked: the four before were cleared
        client.post(SECOND_FACTOR, {"code": wrong_code()})
    assert _events("auth.mfa_failed") == 9
    assert not _events("auth.locked_out")
    client.post(SECOND_FACTOR, {"code": current_code()})  # the 6th: locked, even a right code
    assert _events("auth.locked_out") == 1
