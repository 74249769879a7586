"""Stored XSS: lead fields and free text holding script and attribute-breaking payloads render
as inert text on the referral page, its timeline, search results and the status page."""

from __future__ import annotations

import pytest
from django.urls import include, path, reverse

from refdesk.intake.links import status_token
from refdesk.testing import (
    ATTR_XSS,
    XSS,
    action_url,
    agent,
    coordinator,
    detail_url,
    education,
    login,
    reviewer,
    submit,
    support,
    timeline_url,
    trial,
)

urlpatterns = [
    path("desk/", include("refdesk.desk.urls")),
    path("r/status/", include("refdesk.portal.urls_status")),
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
PAYLOADS = (XSS, ATTR_XSS)


def assert_inert(content: bytes) -> None:
    page = content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "<img src=x onerror" not in page
    assert 'onerror=alert(1)>"' not in page


def assert_escaped_somewhere(content: bytes) -> None:
    page = content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def hostile_trial():
    return submit(
        "trial-prescreening",
        trial_with_lead(given_name=XSS, family_name=ATTR_XSS),
    )


def trial_with_lead(**lead):
    submission = trial(1)
    submission.lead.update(lead)
    return submission


def test_lead_names_render_inert_on_the_page_and_in_search_results(client):
    user = coordinator()
    referral = hostile_trial()
    login(client, user)
    page = client.get(detail_url(referral))
    assert page.status_code == 200
    assert_inert(page.content)
    assert_escaped_somewhere(page.content)
    results = client.post(reverse("desk:search"), {"q": referral.reference})
    assert f"/desk/referrals/{referral.public_id}" in results.content.decode()
    assert_inert(results.content)
    assert_escaped_somewhere(results.content)


def test_a_reason_for_contact_and_contact_notes_render_inert_on_page_and_timeline(client):
    user = agent()
    referral = submit("patient-support", support(1, reason=f"{XSS} {ATTR_XSS}"))
    login(client, user)
    for payload in PAYLOADS:
        response = client.post(
            action_url(referral, "log_contact"),
            {"party": "lead", "channel": "phone", "outcome": "no_answer", "note": payload},
        )
        assert response.status_code == 302
    page = client.get(detail_url(referral))
    assert_inert(page.content)
    assert_escaped_somewhere(page.content)
    fragment = client.get(timeline_url(referral), HTTP_HX_REQUEST="true")
    assert_inert(fragment.content)
    assert_escaped_somewhere(fragment.content)  # the notes, shown to the agent


def test_a_clinical_question_and_a_reroute_reason_render_inert(client):
    user = reviewer()
    referral = submit(
        "provider-education",
        education(1, request_type="clinical_question", question=f"{XSS} {ATTR_XSS}"),
    )
    login(client, user)
    page = client.get(detail_url(referral))
    assert_inert(page.content)
    assert_escaped_somewhere(page.content)
    response = client.post(
        action_url(referral, "reroute"),
        {"queue": "medical-info-triage", "reason": f"{XSS} {ATTR_XSS}"},
    )
    assert response.status_code == 302  # still a medical-affairs queue
    fragment = client.get(timeline_url(referral), HTTP_HX_REQUEST="true")
    assert "Re-routed to Medical information - triage" in fragment.content.decode()
    assert_inert(fragment.content)
    assert_escaped_somewhere(fragment.content)


def test_an_error_message_echoing_input_renders_inert(client):
    user = coordinator()
    referral = hostile_trial()
    login(client, user)
    response = client.post(action_url(referral, "reroute"), {"queue": XSS, "reason": ATTR_XSS})
    assert response.status_code == 422
    assert_inert(response.content)


def test_the_status_page_renders_inert_and_holds_no_lead_value(client):
    referral = hostile_trial()
    response = client.get(f"/r/status/{status_token(referral)}")
    assert response.status_code == 200
    assert_inert(response.content)
    assert "alert(1)" not in response.content.decode()
