"""The site's own 404 and 500 pages: plain words, no path, nothing that tells "not permitted"
from "not found"."""

from __future__ import annotations

import uuid

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

from refdesk.testing import coordinator, detail_url, login

pytestmark = pytest.mark.django_db


def test_a_missing_referral_gets_the_site_not_found_page_without_its_path(client):
    missing = uuid.uuid4()
    response = login(client, coordinator()).get(detail_url(missing))
    html = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in html and "nothing you may see" in html
    assert str(missing) not in html


def test_the_server_error_page_is_the_site_page():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
