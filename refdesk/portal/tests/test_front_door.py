"""``/``: the front door. Staff find the sign-in; referrers learn how to get a referral link
(no list of links is public) and may type the code they were given."""

import pytest

from refdesk.portal.tests.test_intake_pages import Page
from refdesk.testing import login_with_mfa, make_referrer, staff

pytestmark = pytest.mark.django_db


def test_the_front_door_answers_an_anonymous_visitor(client):
    response = client.get("/")
    assert response.status_code == 200
    page = Page(response.content.decode())
    main = Page.text(page.find("main")[0])
    assert page.find("a", href="/accounts/login/")
    assert "Sign in" in main
    assert "The program team sends it to you" in main and "not listed publicly" in main
    assert page.find("form", method="get", action="/r/")
    assert page.label_for("id_code") == "Your referral code or link"
    assert not [a for a in page.find("a") if a["attrs"].get("href", "").startswith("/r/")]


def test_the_front_door_names_no_program_referrer_or_code(client):
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    html = client.get("/").content.decode()
    assert referrer.code not in html and "Trial prescreening" not in html


def test_the_front_door_sends_a_signed_in_user_to_the_desk(client):
    login_with_mfa(client, staff("dora", "patient_services_agent", "patient-services"))
    response = client.get("/")
    assert response.status_code == 200
    page = Page(response.content.decode())
    assert page.find("a", href="/desk/")
    assert not page.find("a", href="/accounts/login/")


@pytest.mark.parametrize("typed", ["{code}", " {lower} ", "https://refdesk.example/r/{code}"])
def test_a_typed_code_or_pasted_link_opens_the_referral_form(client, typed):
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    text = typed.format(code=referrer.code, lower=referrer.code.lower())
    response = client.get("/r/", {"code": text})
    assert response.status_code == 302 and response["Location"] == f"/r/{referrer.code}"
    assert client.get(response["Location"]).status_code == 200


def test_a_code_that_cannot_be_one_is_explained_next_to_the_box(client):
    response = client.get("/r/", {"code": "hello"})
    assert response.status_code == 200
    page = Page(response.content.decode())
    assert Page.text(page.find("title")[0]).startswith("Error: ")
    assert page.by_id("id_code")["attrs"]["aria-invalid"] == "true"
    assert "such as K7Q3M9X" in Page.text(page.by_id("id_code_error"))
    assert page.find("a", href="#id_code")
    assert page.by_id("id_code")["attrs"]["value"] == "hello"  # kept


def test_the_public_pages_load_no_inline_script(client):
    # The CSP refuses inline scripts: the error summary's focus comes from a static file.
    for path, data in (("/", None), ("/r/", {"code": "x"}), ("/accounts/login/", None)):
        html = client.get(path, data).content.decode()
        page = Page(html)
        assert all(s["attrs"].get("src") for s in page.find("script")), path
