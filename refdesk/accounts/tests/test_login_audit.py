"""Sign-in and sign-out leave audit events an inspector can use — and never a password, a code
or a login name as typed."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.core.management import call_command

from refdesk.accounts.auth_audit import login_fingerprint
from refdesk.accounts.mfa import user_totp_provision
from refdesk.accounts.tests.conftest import PASSWORD
from refdesk.accounts.tests.totp import SECRET, current_code, wrong_code
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify
from refdesk.testing import login_with_mfa

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
SECOND_FACTOR = "/accounts/2fa/authenticate/"
PAGE = "/accounts/2fa/"  # any signed-in page
WRONG_PASSWORD = "Tr0ub4dor&3-not-it"


def auth_events(action: str | None = None) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action__startswith="auth.")
    return list(events.filter(action=action) if action else events)


def trail_text(events=None) -> str:
    """Everything the audit trail (or these events) holds, as one text to search."""
    return "\n".join(
        f"{e.actor} {e.action} {e.subject_type}:{e.subject_id} {e.changes} {e.reason}"
        for e in (AuditEvent.objects.all() if events is None else events)
    )


def sign_in(client, login: str, code: str) -> None:
    client.post(LOGIN, {"login": login, "password": PASSWORD})
    client.post(SECOND_FACTOR, {"code": code})


@pytest.fixture
def enrolled(admin_user):
    user_totp_provision(user=admin_user, secret=SECRET, actor="system:test")
    return admin_user


def test_a_login_is_audited_once_both_factors_are_passed(client, enrolled):
    client.post(LOGIN, {"login": "ada", "password": PASSWORD})
    assert not auth_events("auth.login_succeeded")  # the password alone signs nobody in
    client.post(SECOND_FACTOR, {"code": current_code()})
    assert SESSION_KEY in client.session
    (event,) = auth_events("auth.login_succeeded")
    assert (event.actor, event.subject_type) == ("user:ada", "user")
    assert event.subject_id == str(enrolled.public_id)
    assert event.changes["factors"]["new"] == ["password", "totp"]
    assert event.changes["client"]["new"].startswith("hmac:")  # the address, keyed
    assert "127.0.0.1" not in trail_text()
    assert audit_verify().ok


def test_a_login_with_a_recovery_code_says_so(client, enrolled):
    code = RecoveryCodes.activate(enrolled).generate_codes()[0]
    sign_in(client, "ada", code)
    (event,) = auth_events("auth.login_succeeded")
    assert event.changes["factors"]["new"] == ["password", "recovery_codes"]
    assert code not in trail_text()


def test_a_login_without_an_authenticator_is_recorded_as_confined_to_enrolment(client, coordinator):
    client.post(LOGIN, {"login": "carl", "password": PASSWORD})
    (event,) = auth_events("auth.login_succeeded")
    assert event.changes["factors"]["new"] == ["password"]
    assert event.changes["confined_to_mfa_enrolment"]["new"] is True


def test_a_failed_password_is_audited_by_fingerprint_never_by_name_or_password(client, coordinator):
    client.post(LOGIN, {"login": "carl", "password": WRONG_PASSWORD})
    client.post(LOGIN, {"login": "Carl@Example.org ", "password": WRONG_PASSWORD})
    known, by_email = auth_events("auth.login_failed")
    assert (known.actor, known.subject_type) == ("anonymous", "login")
    assert known.subject_id == login_fingerprint("carl")
    assert by_email.subject_id == login_fingerprint("carl@example.org")  # case, space ignored
    assert known.changes["step"]["new"] == "login"
    assert WRONG_PASSWORD not in trail_text() and "*****" not in trail_text()
    assert "carl" not in trail_text(auth_events()).lower()


def test_an_unknown_name_fails_exactly_like_a_known_one_in_the_trail(client, coordinator):
    """No enumeration through the trail either: nothing says whether the account exists."""
    client.post(LOGIN, {"login": "carl", "password": WRONG_PASSWORD})
    client.post(LOGIN, {"login": "nobody", "password": WRONG_PASSWORD})
    known, unknown = auth_events("auth.login_failed")
    assert unknown.subject_id == login_fingerprint("nobody") != known.subject_id
    assert (known.actor, known.subject_type, set(known.changes)) == (
        unknown.actor,
        unknown.subject_type,
        set(unknown.changes),
    )
    assert "nobody" not in trail_text()


def test_a_wrong_second_factor_is_audited_against_the_account_without_the_code(client, enrolled):
    code = wrong_code()
    client.post(LOGIN, {"login": "ada", "password": PASSWORD})
    client.post(SECOND_FACTOR, {"code": code})
    (event,) = auth_events("auth.mfa_failed")
    assert (event.actor, event.subject_id) == ("anonymous", str(enrolled.public_id))
    assert event.changes["step"]["new"] == "login"
    assert not auth_events("auth.login_succeeded")
    assert code not in trail_text() and PASSWORD not in trail_text()


def test_a_locked_login_name_is_audited_once_per_window(client, coordinator):
    for _ in range(5):
        client.post(LOGIN, {"login": "carl", "password": WRONG_PASSWORD})
    assert not auth_events("auth.locked_out")
    for _ in range(3):  # refused without a password check, even the right one
        response = client.post(LOGIN, {"login": "carl", "password": PASSWORD})
        assert "Too many failed login attempts" in str(response.context["form"].errors)
    (event,) = auth_events("auth.locked_out")
    assert event.subject_id == login_fingerprint("carl")
    assert event.changes["step"]["new"] == "password"
    assert len(auth_events("auth.login_failed")) == 5
    assert PASSWORD not in trail_text()


def test_a_second_factor_lockout_is_audited_against_the_account(client, enrolled):
    client.post(LOGIN, {"login": "ada", "password": PASSWORD})
    for _ in range(8):
        client.post(SECOND_FACTOR, {"code": wrong_code()})
    (event,) = auth_events("auth.locked_out")
    assert (event.subject_type, event.subject_id) == ("user", str(enrolled.public_id))
    assert event.changes["step"]["new"] == "second_factor"
    assert SESSION_KEY not in client.session


def test_a_failed_reauthentication_is_audited_as_the_signed_in_user(client, coordinator):
    login_with_mfa(client, coordinator)
    client.post("/accounts/reauthenticate/", {"password": WRONG_PASSWORD})
    (event,) = auth_events("auth.login_failed")
    assert event.actor == "user:carl"
    assert event.changes["step"]["new"] == "reauthentication"
    assert WRONG_PASSWORD not in trail_text()


def test_signing_out_is_audited(client, enrolled):
    sign_in(client, "ada", current_code())
    client.post("/accounts/logout/")
    assert SESSION_KEY not in client.session
    (event,) = auth_events("auth.logged_out")
    assert (event.actor, event.subject_id) == ("user:ada", str(enrolled.public_id))


START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_session_ended_by_inactivity_is_audited(client, coordinator, settings):
    settings.REFDESK_SESSION_IDLE_MINUTES = 15
    with time_machine.travel(START, tick=False) as clock:
        login_with_mfa(client, coordinator)
        client.get(PAGE)
        clock.shift(timedelta(minutes=16))
        client.get(PAGE)
    (event,) = auth_events("auth.session_expired")
    assert (event.actor, event.subject_id) == ("user:carl", str(coordinator.public_id))
    assert event.changes["idle_minutes"]["new"] == 15
    assert not auth_events("auth.logged_out")


def test_a_session_ended_by_deactivation_is_audited(client, coordinator):
    login_with_mfa(client, coordinator)
    client.get(PAGE)
    coordinator.is_active = False
    coordinator.save(update_fields=["is_active"])
    client.get(PAGE)
    (event,) = auth_events("auth.session_revoked")
    assert (event.actor, event.subject_id) == ("system:session-guard", str(coordinator.public_id))
    assert event.changes["reason"]["new"] == "deactivated"


def test_a_password_change_is_audited_without_the_password(client, coordinator):
    login_with_mfa(client, coordinator)
    new_password = "a brand new passphrase 42"
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": new_password, "password2": new_password},
    )
    assert response.status_code == 302
    (event,) = auth_events("auth.password_changed")
    assert (event.actor, event.subject_id) == ("user:carl", str(coordinator.public_id))
    assert event.changes["how"]["new"] == "changed"
    assert new_password not in trail_text() and PASSWORD not in trail_text()
    # allauth signs the user out after a password change (ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE).
    assert auth_events("auth.logged_out")


def test_a_password_reset_by_emailed_link_is_audited(client, coordinator):
    client.post("/accounts/password/reset/", {"email": "carl@example.org"})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    form_url = client.get(link.group(1), follow=True).request["PATH_INFO"]
    new_password = "reset passphrase 42 long"
    client.post(form_url, {"password1": new_password, "password2": new_password})
    (event,) = auth_events("auth.password_changed")
    assert (event.actor, event.subject_id) == ("anonymous", str(coordinator.public_id))
    assert event.changes["how"]["new"] == "reset"
    assert new_password not in trail_text()


def test_an_inspector_finds_the_failures_for_a_name_they_know(client, coordinator, capsys):
    client.post(LOGIN, {"login": "carl", "password": WRONG_PASSWORD})
    client.post(LOGIN, {"login": "someone-else", "password": WRONG_PASSWORD})
    call_command("login_failures", " CARL")
    out = capsys.readouterr().out
    assert f"fingerprint: {login_fingerprint('carl')}" in out
    assert out.count("auth.login_failed") == 1
