"""`refdesk demo` users can sign in: password plus a code from the printed TOTP secret."""

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command

from refdesk.accounts.tests.totp import current_code
from refdesk.demo.builder import DEMO_USERS, demo_password, demo_totp_secret

pytestmark = pytest.mark.django_db


def test_every_demo_user_gets_a_printed_totp_secret_that_makes_valid_codes(capsys):
    call_command("demo", "--referrals", "0")
    out = capsys.readouterr().out
    for username, *_ in DEMO_USERS:
        secret = demo_totp_secret(username)
        line = next(line for line in out.splitlines() if line.split()[:1] == [username])
        assert demo_password(username) in line and secret in line
        authenticator = Authenticator.objects.get(user__username=username, type="totp")
        assert TOTP(authenticator).validate_code(current_code(secret))


def test_the_demo_secret_is_stable_across_runs():
    call_command("demo", "--referrals", "0")
    first = Authenticator.objects.get(user__username="agent", type="totp").data
    call_command("demo", "--referrals", "0")
    assert Authenticator.objects.get(user__username="agent", type="totp").data == first
    assert Authenticator.objects.filter(user__username="agent").count() == 1


def test_a_demo_user_signs_in_with_the_printed_password_and_secret(client):
    call_command("demo", "--referrals", "0")
    client.post(
        "/accounts/login/", {"login": "coordinator", "password": demo_password("coordinator")}
    )
    assert SESSION_KEY not in client.session
    client.post(
        "/accounts/2fa/authenticate/", {"code": current_code(demo_totp_secret("coordinator"))}
    )
    assert SESSION_KEY in client.session
