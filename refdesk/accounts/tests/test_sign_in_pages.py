"""The sign-in, second-factor and sign-out pages: refdesk's words, the public form pattern
(every field labelled and styled alike, errors summarised first with "Error:" in the title)."""

import pytest

from refdesk.accounts.mfa import user_totp_provision
from refdesk.accounts.tests.conftest import PASSWORD
from refdesk.accounts.tests.totp import SECRET, wrong_code
from refdesk.portal.tests.test_intake_pages import Page, _main_children

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
SECOND_FACTOR = "/accounts/2fa/authenticate/"


def _title(page: Page) -> str:
    return Page.text(page.find("title")[0])


def test_the_sign_in_page_is_in_refdesks_words_with_the_password_styled_like_the_others(client):
    page = Page(client.get(LOGIN).content.decode())
    assert _title(page) == "Sign in · refdesk"
    main = Page.text(page.find("main")[0])
    assert "Sign in to refdesk" in main and "authenticator app" in main
    assert "Referrers do not sign in" in main
    assert page.find("a", href="/")  # the front door, for a referrer who landed here
    for name, kind in (("login", "text"), ("password", "password")):
        field = page.find("input", name=name)[0]
        assert field["attrs"]["type"] == kind
        assert page.label_for(field["attrs"]["id"])
    # Both inputs sit in the same field pattern (the stylesheet sizes .field inputs).
    html = client.get(LOGIN).content.decode()
    assert html.count('<div class="field">') >= 2
    assert 'href="/static/refdesk/site.css"' in html
    assert "Sign Up" not in html and "signup" not in html


def test_a_wrong_password_gives_an_error_page_with_the_summary_first(client, coordinator):
    response = client.post(LOGIN, {"login": "carl", "password": "not the password"})
    html = response.content.decode()
    page = Page(html)
    assert _title(page).startswith("Error: ")
    tag, attrs = _main_children(html)[0]
    assert (tag, attrs.get("id")) == ("div", "error-summary") and "autofocus" in attrs
    assert "not correct" in Page.text(page.by_id("error-summary"))
    assert page.find("input", name="login")[0]["attrs"]["value"] == "carl"  # kept


def test_the_two_factor_page_is_in_refdesks_words(client, coordinator):
    user_totp_provision(user=coordinator, secret=SECRET, actor="system:test")
    client.post(LOGIN, {"login": "carl", "password": PASSWORD})
    page = Page(client.get(SECOND_FACTOR).content.decode())
    assert _title(page) == "Enter your sign-in code · refdesk"
    main = Page.text(page.find("main")[0])
    assert "Enter the code from your authenticator app" in main
    assert "recovery codes" in main
    assert "Two-Factor Authentication" not in main  # allauth's stock heading
    code = page.find("input", name="code")[0]["attrs"]
    assert code["autocomplete"] == "one-time-code" and code["inputmode"] == "numeric"
    assert page.label_for(code["id"]) == "Code"
    assert page.find("form", action=SECOND_FACTOR)
    assert page.find("button", type="submit", form="logout-from-stage")

    wrong = Page(client.post(SECOND_FACTOR, {"code": wrong_code()}).content.decode())
    assert _title(wrong).startswith("Error: ")
    field = wrong.find("input", name="code")[0]["attrs"]
    assert field["aria-invalid"] == "true"
    assert "id_code_error" in field["aria-describedby"].split()
    assert Page.text(wrong.by_id("id_code_error"))
    assert wrong.find("a", href="#id_code")


def test_the_sign_out_page_is_in_refdesks_words(client, coordinator):
    client.force_login(coordinator)
    user_totp_provision(user=coordinator, secret=SECRET, actor="system:test")
    page = Page(client.get("/accounts/logout/").content.decode())
    assert _title(page) == "Sign out · refdesk"
    assert "Sign out of refdesk?" in Page.text(page.find("main")[0])
    assert page.find("form", method="post", action="/accounts/logout/")
