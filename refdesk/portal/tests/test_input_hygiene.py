"""The text and country rules (docs/input-rules.md) on the web form: the same refusal as the API
and bulk import (test_bulk_import.py), naming the field, never the value."""

from __future__ import annotations

import pytest

from refdesk.intake.models import Referral
from refdesk.portal.tests.test_intake_pages import Page, trial_form_data
from refdesk.testing import make_referrer

pytestmark = pytest.mark.django_db
SECRET = "Zebulonquartz"
SPOOFED = f"{SECRET}\u202eeva"  # a right-to-left override inside a name


@pytest.fixture
def web_referrer(db):
    return make_referrer("trial-prescreening", "study-coordinator")


def _field_messages(page: Page, field_id: str) -> list[str]:
    field = page.by_id(field_id)
    assert field["attrs"]["aria-invalid"] == "true"
    return [Page.text(page.by_id(i)) for i in field["attrs"]["aria-describedby"].split()]


def test_the_web_form_refuses_a_direction_override_in_a_name(client, web_referrer):
    response = client.post(f"/r/{web_referrer.code}", trial_form_data(lead_family_name=SPOOFED))
    assert response.status_code == 200
    page = Page(response.content.decode())
    messages = _field_messages(page, "id_lead_family_name")
    error = next(m for m in messages if m.startswith("Error:"))
    assert "text-direction control character" in error and "character 14" in error
    assert SECRET not in error
    summary = Page.text(page.by_id("error-summary"))
    assert "text-direction" in summary and SECRET not in summary
    assert Referral.objects.count() == 0


def test_the_web_form_refuses_a_zero_width_space_and_a_made_up_country(client, web_referrer):
    response = client.post(
        f"/r/{web_referrer.code}",
        trial_form_data(lead_given_name="Ave\u200bry", lead_country="ZZ"),
    )
    page = Page(response.content.decode())
    assert any("invisible" in m for m in _field_messages(page, "id_lead_given_name"))
    assert any("ISO 3166-1" in m for m in _field_messages(page, "id_lead_country"))
    assert Referral.objects.count() == 0


def test_the_web_form_stores_names_normalised(client, web_referrer):
    response = client.post(
        f"/r/{web_referrer.code}", trial_form_data(lead_given_name="Zoe\u0308", lead_country="us")
    )
    assert response.status_code == 302
    referral = Referral.objects.get()
    assert referral.lead["given_name"] == "Zo\u00eb" and referral.lead["country"] == "US"
