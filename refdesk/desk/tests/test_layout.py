"""The desk layout as a browser runs it: htmx under the Content Security Policy."""

from __future__ import annotations

import json
import re

import pytest

from refdesk.testing import action_url, coordinator, detail_url, login, submit, trial

pytestmark = pytest.mark.django_db


def test_htmx_is_told_not_to_inject_the_inline_style_the_csp_refuses(client):
    """htmx adds a ``<style>`` element for its indicators unless configured not to; the CSP
    (style-src 'self' + nonce) blocks it and the browser logs an error on every desk page."""
    response = login(client, coordinator()).get("/desk/")
    page = response.content.decode()
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert htmx_config(page)["includeIndicatorStyles"] is False
    assert page.index('name="htmx-config"') < page.index("htmx-2.min")


def htmx_config(page: str) -> dict:
    match = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", page)
    assert match, "no htmx-config meta tag on the desk page"
    return json.loads(match.group(1))


def swaps(config: dict, status: int) -> bool:
    """What htmx does with a response of this status (its rule: the first matching code)."""
    default = [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "[45]..", "swap": False, "error": True},
    ]
    for rule in config.get("responseHandling", default):
        if re.search(rule["code"], str(status)):
            return rule["swap"]
    return False


def test_a_refused_action_through_htmx_shows_its_error_summary_in_the_page(client):
    """A disqualify without a reason code answers 422 with the page body and the error; htmx
    must swap it in, or the click seems to do nothing (htmx drops 4xx bodies by default)."""
    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    login(client, user)
    page = client.get(detail_url(referral)).content.decode()
    response = client.post(action_url(referral, "disqualify"), HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert response.content.decode().lstrip().startswith('<div id="referral"')
    assert "Choose a reason code" in response.content.decode()
    config = htmx_config(page)
    assert swaps(config, 422) and swaps(config, 409) and swaps(config, 400)
    assert not swaps(config, 403) and not swaps(config, 404) and not swaps(config, 500)
    assert swaps(config, 200) and not swaps(config, 204)
