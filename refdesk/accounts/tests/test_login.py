"""Staff login: password, then a second factor, on every path (the admin's included)."""

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib.auth import SESSION_KEY
from django.core import mail

from refdesk.accounts.mfa import user_totp_provision
from refdesk.accounts.tests.conftest import PASSWORD
from refdesk.accounts.tests.totp import SECRET, current_code, wrong_code

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
SECOND_FACTOR = "/accounts/2fa/authenticate/"


def _enrol(user, secret=SECRET):
    user_totp_provision(user=user, secret=secret, actor="system:test")


def _password_step(client, login, password=PASSWORD):
    return client.post(LOGIN, {"login": login, "password": password})


def _signed_in(client) -> bool:
    return SESSION_KEY in client.session


def _admin_sends_to_login(client) -> bool:
    """/admin/ -> /admin/login/ -> allauth's login (or its pending second-factor step)."""
    final = client.get("/admin/", follow=True)
    return final.request["PATH_INFO"] in (LOGIN, SECOND_FACTOR)


def test_a_correct_password_alone_signs_nobody_in(client, admin_user):
    _enrol(admin_user)
    response = _password_step(client, "ada")
    assert response.status_code == 302 and response["Location"] == SECOND_FACTOR
    assert not _signed_in(client)
    assert _admin_sends_to_login(client)
    assert client.get("/desk/").status_code in (302, 404)  # never the desk itself
    assert not _signed_in(client)


def test_the_admin_login_form_is_not_a_way_around_the_second_factor(client, admin_user):
    _enrol(admin_user)
    response = client.post("/admin/login/", {"username": "ada", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert not _signed_in(client)
    assert _admin_sends_to_login(client)


def test_password_then_totp_code_signs_in_and_reaches_the_admin(client, admin_user):
    _enrol(admin_user)
    _password_step(client, "ada@example.org")  # email works as the login name too
    response = client.post(SECOND_FACTOR, {"code": current_code()})
    assert response.status_code == 302
    assert _signed_in(client)
    assert client.get("/admin/").status_code == 200


def test_a_wrong_totp_code_is_refused(client, admin_user):
    _enrol(admin_user)
    _password_step(client, "ada")
    response = client.post(SECOND_FACTOR, {"code": wrong_code()})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert not _signed_in(client)
    assert _admin_sends_to_login(client)


def test_a_recovery_code_works_once(client, admin_user):
    _enrol(admin_user)
    code = RecoveryCodes.activate(admin_user).generate_codes()[0]
    _password_step(client, "ada")
    assert client.post(SECOND_FACTOR, {"code": code}).status_code == 302
    assert _signed_in(client)
    client.post("/accounts/logout/")
    assert not _signed_in(client)

    _password_step(client, "ada")
    response = client.post(SECOND_FACTOR, {"code": code})
    assert response.status_code == 200 and response.context["form"].errors["code"]
    assert not _signed_in(client)


def test_a_user_without_an_authenticator_can_only_enrol(client, coordinator):
    response = _password_step(client, "carl")
    assert _signed_in(client)  # allauth signs in users who have no second factor yet...
    for path in ("/desk/", "/admin/", "/api/v1/docs", "/accounts/password/change/"):
        response = client.get(path)
        assert response.status_code == 302, path  # ...but they can reach nothing else
        assert response["Location"] == "/accounts/2fa/totp/activate/", path

    # allauth asks for the password again before adding an authenticator (a hijacked session
    # alone cannot enrol the thief's phone).
    response = client.get("/accounts/2fa/totp/activate/")
    assert response["Location"].startswith("/accounts/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    response = client.post("/accounts/2fa/totp/activate/", {"code": current_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=coordinator, type="totp").exists()
    assert client.get("/accounts/password/change/").status_code == 200


def test_staff_cannot_remove_their_own_authenticator(client, admin_user):
    _enrol(admin_user)
    _password_step(client, "ada")
    client.post(SECOND_FACTOR, {"code": current_code()})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    client.post("/accounts/2fa/totp/deactivate/")
    assert Authenticator.objects.filter(user=admin_user, type="totp").exists()


def test_the_stored_totp_secret_is_encrypted(admin_user):
    _enrol(admin_user)
    stored = Authenticator.objects.get(user=admin_user, type="totp").data["secret"]
    assert SECRET not in stored


def test_unknown_user_and_wrong_password_get_the_same_answer(client, coordinator):
    unknown = _password_step(client, "nobody")
    wrong = _password_step(client, "carl", password="not the password")
    assert unknown.status_code == wrong.status_code == 200
    assert unknown.context["form"].errors == wrong.context["form"].errors


def test_repeated_failures_lock_the_login_name_whether_or_not_it_exists(client, coordinator):
    for _ in range(5):
        _password_step(client, "carl", password="guess")
        _password_step(client, "nobody", password="guess")
    locked_known = _password_step(client, "carl")  # the right password, too late
    locked_unknown = _password_step(client, "nobody")
    assert locked_known.status_code == locked_unknown.status_code == 200
    assert locked_known.context["form"].errors == locked_unknown.context["form"].errors
    assert "Too many failed login attempts" in str(locked_known.context["form"].errors)
    assert not _signed_in(client)


def test_password_reset_answers_the_same_for_unknown_addresses(client, coordinator):
    known = client.post("/accounts/password/reset/", {"email": "carl@example.org"})
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert [message.to for message in mail.outbox] == [["carl@example.org"]]


def test_nobody_can_sign_up(client):
    from refdesk.accounts.models import User

    client.post(
        "/accounts/signup/",
        {"username": "mallory", "email": "m@example.org", "password1": "x" * 20},
    )
    assert not User.objects.filter(username="mallory").exists()


def test_the_sign_in_page_offers_the_password_reset_link_once(client):
    html = client.get("/accounts/login/").content.decode()
    assert html.count("/accounts/password/reset/") == 1
