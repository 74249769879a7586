"""The referral page: what each role sees, the consent state, routing, reviews and one timeline."""

from __future__ import annotations

import pytest

from refdesk.access.selectors import PATIENT_DATA_VIEWED
from refdesk.audit.models import AuditEvent
from refdesk.desk.timeline import referral_timeline
from refdesk.testing import (
    auditor,
    coordinator,
    detail_url,
    education,
    login,
    owner,
    reviewer,
    submit,
    timeline_url,
    trial,
)

pytestmark = pytest.mark.django_db


def test_a_coordinator_sees_the_lead_consent_checklist_routing_and_timeline(client):
    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    response = login(client, user).get(detail_url(referral))
    page = response.content.decode()
    assert response.status_code == 200
    assert referral.reference in page
    assert "Avery" in page and "patient1@example.org" in page
    assert "granted" in page and "Contact about the RDX-301 study" in page
    assert "Email, Phone call" in page  # consented channels, in words
    record = page.split('class="ref-record"')[1].split('class="ref-activity"')[0]
    assert "trial_contact" not in record  # no raw codes on the record
    assert "Eligible" in page  # prescreen outcome
    assert "Routed to Trial prescreening" in page  # the timeline names the queue
    assert "Consent recorded" in page and "Referral submitted" in page


def test_showing_the_lead_writes_a_patient_data_viewed_event(client):
    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    login(client, user).get(detail_url(referral))
    assert AuditEvent.objects.filter(
        action=PATIENT_DATA_VIEWED,
        subject_id=str(referral.public_id),
        actor="user:carl.coordinator",
    ).exists()


def test_the_auditor_sees_the_referral_with_lead_identity_masked(client):
    referral = submit("trial-prescreening", trial(1))
    response = login(client, auditor()).get(detail_url(referral))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Avery" not in page and "patient1@example.org" not in page
    assert "•••••" in page
    assert not AuditEvent.objects.filter(action=PATIENT_DATA_VIEWED).exists()


def test_the_page_title_holds_the_reference_and_never_the_lead_name(client):
    referral = submit("trial-prescreening", trial(1))
    page = login(client, coordinator()).get(detail_url(referral)).content.decode()
    title = page.split("<title>")[1].split("</title>")[0]
    assert referral.reference in title and "Avery" not in title


def test_pending_medical_review_and_its_actions_show_for_the_reviewer(client):
    referral = submit("provider-education", education(1, request_type="clinical_question"))
    page = login(client, reviewer()).get(detail_url(referral)).content.decode()
    assert "Medical review: Pending" in page
    next_step = page.split('id="next-heading"')[1].split('class="ref-grid"')[0]
    assert "/actions/approve_review" in next_step and "/actions/reject_review" in next_step


def test_a_decided_review_names_the_reviewer_not_the_audit_label(client):
    from refdesk.routing.models import Review
    from refdesk.workflow.reviews import review_approve

    referral = submit("provider-education", education(1, request_type="clinical_question"))
    rui = reviewer()
    review_approve(review=Review.objects.get(referral=referral), reviewer=rui, note="On-label.")
    page = login(client, rui).get(detail_url(referral)).content.decode()
    assert "Medical review: Approved by rui.reviewer" in page
    assert "user:rui.reviewer" not in page


def test_the_timeline_fragment_renders_alone_for_htmx(client):
    referral = submit("trial-prescreening", trial(1))
    response = login(client, coordinator()).get(timeline_url(referral), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<ol class="timeline"')
    assert "Referral submitted" in page


def test_the_timeline_leaves_out_views_and_never_shows_changed_patient_values():
    from refdesk.workflow.closing import referral_update_answers

    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    referral_update_answers(referral=referral, answers={"ecog": 2}, actor=user, reason="records")
    entries = referral_timeline(referral=referral, show_free_text=False)
    words = [entry.what for entry in entries]
    assert "Lead details changed" in words
    assert not any("viewed" in word.lower() for word in words)
    assert all("Avery" not in entry.what + entry.detail for entry in entries)
    assert "records" not in " ".join(entry.detail for entry in entries)  # free text hidden


def test_a_url_that_is_not_a_uuid_does_not_resolve(client):
    referral = submit("trial-prescreening", trial(1))
    response = login(client, coordinator()).get(f"/desk/referrals/{referral.reference}")
    assert response.status_code == 404


def test_the_page_offers_only_actions_that_fit_the_referrals_stage(client):
    from refdesk.workflow.assignment import referral_claim

    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    page = login(client, user).get(detail_url(referral)).content.decode()
    assert "/actions/claim" in page  # queued: claimable
    referral.refresh_from_db()
    referral_claim(referral=referral, user=user)
    page = client.get(detail_url(referral)).content.decode()
    assert "/actions/claim" not in page  # in progress: claiming would only be refused
    assert "/actions/qualify" in page and "/actions/approve_review" not in page


def test_roles_with_masked_answers_do_not_read_failed_markers_in_the_routing_explanation(client):
    """The engine explains a prescreen with the markers that failed ("failed markers ecog,
    active_brain_metastases"): health facts derived from the answers, which the owner and the
    auditor see masked. They keep the outcome; the marker list is for the lead's workers."""
    coordinator()
    referral = submit("trial-prescreening", trial(1, ecog=3, active_brain_metastases=True, age=54))
    supervisor = owner()
    for user in (supervisor, auditor()):
        page = login(client, user).get(detail_url(referral)).content.decode()
        assert "Not eligible" in page and "Prescreen not_eligible: 2 failed markers" in page
        assert "active_brain_metastases" not in page and "markers ecog" not in page
    page = login(client, coordinator("cleo.coordinator")).get(detail_url(referral)).content
    assert b"failed markers ecog, active_brain_metastases" in page
    eligible = submit("trial-prescreening", trial(2))
    page = login(client, supervisor).get(detail_url(eligible)).content.decode()
    assert "Prescreen eligible: all 5 markers met." in page  # no marker named: nothing masked
