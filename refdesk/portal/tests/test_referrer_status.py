"""Referrer status feedback: a signed link showing status and next step, never patient data,
and only while the lead's consent is active."""

from __future__ import annotations

import pytest
from django.urls import include, path

from refdesk.intake.links import status_token, status_url
from refdesk.testing import education, submit, trial, without_ids
from refdesk.workflow.consent import consent_withdraw

# The project mounts urls_status at /r/status/; this module mounts it the same way so the test
# does not depend on the order of the project's URL list.
urlpatterns = [path("r/status/", include("refdesk.portal.urls_status"))]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def page(client, referral):
    return client.get(f"/r/status/{status_token(referral)}")


def test_the_referrer_sees_status_and_next_step_without_logging_in(client):
    referral = submit("trial-prescreening", trial(1))
    response = page(client, referral)
    text = response.content.decode()
    assert response.status_code == 200
    assert referral.reference in text
    assert "Waiting for the team" in text and "A team member will contact" in text


def test_the_page_shows_no_patient_data(client):
    referral = submit("trial-prescreening", trial(1))
    text = without_ids(page(client, referral).content.decode())  # ids hold digits by chance
    for value in ("Avery", "Quill", "patient1@example.org", "555", "1970", "RDX-301", "Eligible"):
        assert value not in text


def test_the_status_is_hidden_when_consent_was_withdrawn(client):
    referral = submit("trial-prescreening", trial(1))
    consent_withdraw(referral=referral, actor="user:coordinator", reason="lead_request")
    text = page(client, referral).content.decode()
    assert "not shared" in text and "Waiting for the team" not in text


def test_the_status_is_hidden_without_a_consent_record(client):
    referral = submit("provider-education", education(1))  # clinician leads: no consent record
    text = page(client, referral).content.decode()
    assert "not shared" in text


def test_a_tampered_or_foreign_token_is_not_found(client):
    referral = submit("trial-prescreening", trial(1))
    token = status_token(referral)
    assert client.get(f"/r/status/{token[:-1]}x").status_code == 404
    assert client.get(f"/r/status/{referral.public_id.hex}").status_code == 404
    from refdesk.intake.links import thanks_token

    assert client.get(f"/r/status/{thanks_token(referral)}").status_code == 404


def test_the_link_is_absolute_and_keeps_the_token_out_of_referers(client, settings):
    settings.REFDESK_BASE_URL = "https://refdesk.example"
    referral = submit("trial-prescreening", trial(1))
    assert status_url(referral) == f"https://refdesk.example/r/status/{status_token(referral)}"
    response = page(client, referral)
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_a_duplicates_status_follows_the_referral_it_was_added_to(client):
    """The confirmation says "already in progress, added to that one"; the status link must not
    then say "Closed — the team has finished"."""
    first = submit("trial-prescreening", trial(1))
    again = submit("trial-prescreening", trial(1))  # the same lead again
    assert again.outcome == "duplicate" and again.duplicate_of == first
    text = page(client, again).content.decode()
    assert again.reference in text
    assert "Waiting for the team" in text and "Closed" not in text
