"""The recipient's pages: the materials sent with a message (``/m/<token>``) and unsubscribing
from emails (``/unsubscribe/<token>``), reached only through signed, expiring links that carry
no patient data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from refdesk.audit.models import AuditEvent
from refdesk.consent.selectors import consent_current
from refdesk.outreach.choices import ContentKind
from refdesk.outreach.links import (
    materials_token,
    materials_url,
    read_materials_token,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_url,
)
from refdesk.outreach.models import ContentVersion
from refdesk.portal.tests.recipients import consented_lead, lead_email, message

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_limits(settings):
    settings.REFDESK_BASE_URL = "https://refdesk.example"
    settings.REFDESK_RATE_LIMITS = {}
    cache.clear()


def material(key: str) -> ContentVersion:
    return ContentVersion.objects.get(
        program__slug="provider-education", kind=ContentKind.MATERIAL, key=key
    )


def path_of(url: str) -> str:
    return url.removeprefix("https://refdesk.example")


@pytest.fixture
def emailed():
    """An email sent to a consenting lead."""
    referral = consented_lead(40)
    return message(referral, channel="email", provider_id="<m40@refdesk.example>")


# --- links ----------------------------------------------------------------------------------


def test_links_are_absolute_and_carry_only_a_signed_message_id(emailed):
    materials = materials_url(emailed)
    unsubscribe = unsubscribe_url(emailed)
    assert materials.startswith("https://refdesk.example/m/")
    assert unsubscribe.startswith("https://refdesk.example/unsubscribe/")
    assert read_materials_token(materials.rsplit("/", 1)[1]) == emailed.public_id
    assert read_unsubscribe_token(unsubscribe.rsplit("/", 1)[1]) == emailed.public_id
    assert "alex" not in materials.lower() + unsubscribe.lower()


def test_a_materials_token_does_not_open_the_unsubscribe_page_nor_the_reverse(emailed):
    assert read_unsubscribe_token(materials_token(emailed.public_id)) is None
    assert read_materials_token(unsubscribe_token(emailed.public_id)) is None


def test_an_altered_token_is_not_read(emailed):
    token = materials_token(emailed)
    assert read_materials_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert read_materials_token("not-a-token") is None


def test_materials_links_last_180_days_and_unsubscribe_links_365():
    public_id = "6f1c1a52-8d8c-4c1e-9d0e-2b8f0a0f6f11"
    with time_machine.travel(NOW, tick=False):
        materials, unsubscribe = materials_token(public_id), unsubscribe_token(public_id)
    with time_machine.travel(NOW + timedelta(days=179), tick=False):
        assert read_materials_token(materials) is not None
    with time_machine.travel(NOW + timedelta(days=181), tick=False):
        assert read_materials_token(materials) is None
        assert read_unsubscribe_token(unsubscribe) is not None
    with time_machine.travel(NOW + timedelta(days=366), tick=False):
        assert read_unsubscribe_token(unsubscribe) is None


# --- materials page -------------------------------------------------------------------------


def test_the_materials_page_lists_exactly_the_materials_recorded_on_the_message(client, emailed):
    sent = [material("nsclc-treatment-overview"), material("guideline-digest")]
    emailed.materials.set(sent)
    response = client.get(path_of(materials_url(emailed)))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Materials for you" in page
    for row in sent:
        assert row.definition["title"] in page
        assert row.definition["url"] in page
        assert f"version {row.version}" in page
    assert "Web page" in page and "Document (PDF)" in page
    assert material("immunology-treatment-overview").definition["title"] not in page


def test_the_materials_page_shows_no_patient_data_and_is_never_cached(client, emailed):
    emailed.materials.set([material("guideline-digest")])
    response = client.get(path_of(materials_url(emailed)))
    page = response.content.decode()
    assert "Alex" not in page and "Moreno" not in page and lead_email(40) not in page
    assert emailed.referral.reference not in page
    assert response["Referrer-Policy"] == "same-origin"  # never sent on to another site
    assert "no-store" in response["Cache-Control"]


def test_a_message_without_materials_says_so(client, emailed):
    response = client.get(path_of(materials_url(emailed)))
    assert "No materials were sent with this message." in response.content.decode()


def test_an_expired_materials_link_is_a_friendly_404(client, emailed):
    with time_machine.travel(NOW, tick=False):
        url = materials_url(emailed)
    with time_machine.travel(NOW + timedelta(days=181), tick=False):
        response = client.get(path_of(url))
    assert response.status_code == 404
    assert "This link has expired or is not valid" in response.content.decode()


def test_an_invalid_materials_link_is_a_friendly_404(client):
    response = client.get("/m/not-a-token")
    assert response.status_code == 404
    assert "This link has expired or is not valid" in response.content.decode()


# --- unsubscribe ----------------------------------------------------------------------------


def test_the_unsubscribe_page_asks_to_confirm_and_changes_nothing_yet(client, emailed):
    response = client.get(path_of(unsubscribe_url(emailed)))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Stop emails about this referral" in page
    assert '<button type="submit">Stop emails about this referral</button>' in page
    assert "Alex" not in page and lead_email(40) not in page
    assert "email" in consent_current(emailed.referral).channels


def test_confirming_withdraws_email_consent_for_the_referral_only(client, emailed):
    other = consented_lead(41)
    waiting = message(emailed.referral, channel="email", status="scheduled")
    response = client.post(path_of(unsubscribe_url(emailed)))
    assert response.status_code == 200
    assert "You will receive no more emails" in response.content.decode()
    current = consent_current(emailed.referral)
    assert current.granted and current.channels == ("phone", "sms")
    assert "email" in consent_current(other).channels
    waiting.refresh_from_db()
    assert (waiting.status, waiting.reason) == ("refused", "consent_withdrawn")
    event = AuditEvent.objects.get(
        action="consent.withdrawn", subject_id=str(emailed.referral.public_id)
    )
    assert event.actor == "system:unsubscribe-link"


def test_unsubscribing_twice_says_the_same_and_changes_nothing_more(client, emailed):
    url = path_of(unsubscribe_url(emailed))
    client.post(url)
    again = client.post(url)
    assert again.status_code == 200
    assert "You will receive no more emails" in again.content.decode()
    assert (
        AuditEvent.objects.filter(
            action="consent.withdrawn", subject_id=str(emailed.referral.public_id)
        ).count()
        == 1
    )


def test_one_click_unsubscribe_works_without_a_csrf_token(emailed):
    """Mail clients post List-Unsubscribe=One-Click straight to the link (RFC 8058)."""
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(path_of(unsubscribe_url(emailed)), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "email" not in consent_current(emailed.referral).channels


def test_an_expired_unsubscribe_link_is_a_friendly_404_and_changes_nothing(client, emailed):
    with time_machine.travel(NOW, tick=False):
        url = unsubscribe_url(emailed)
    with time_machine.travel(NOW + timedelta(days=366), tick=False):
        response = client.post(path_of(url))
    assert response.status_code == 404
    assert "This link has expired or is not valid" in response.content.decode()
    assert "email" in consent_current(emailed.referral).channels


def test_a_materials_token_does_not_unsubscribe(client, emailed):
    response = client.post(f"/unsubscribe/{materials_token(emailed)}")
    assert response.status_code == 404
    assert "email" in consent_current(emailed.referral).channels


def test_unsubscribing_is_rate_limited_per_address(client, emailed, settings):
    settings.REFDESK_RATE_LIMITS = {"recipient.address": (1, 60)}
    url = path_of(unsubscribe_url(emailed))
    assert client.post(url).status_code == 200
    busy = client.post(url)
    assert busy.status_code == 429
    assert busy["Retry-After"]
