"""lead_contact_check: the one "may we contact?" answer — consent for the channel and purpose,
an open referral, and no review pending or rejected."""

from __future__ import annotations

import pytest
from django.utils import timezone

from refdesk.consent.models import ConsentRecord
from refdesk.intake.choices import Outcome
from refdesk.routing.choices import ReviewKind, ReviewState
from refdesk.routing.models import Review
from refdesk.testing import education, submit, support, trial
from refdesk.workflow.closing import referral_close
from refdesk.workflow.consent import consent_withdraw
from refdesk.workflow.contact import ContactCheck, lead_contact_check

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient():
    """A patient-support referral consented for phone contact only."""
    return submit("patient-support", support(channels=("phone",)))


def check(referral, channel: str, **kwargs) -> ContactCheck:
    return lead_contact_check(referral=referral, channel=channel, **kwargs)


def test_consent_for_the_channel_allows_contact_and_other_channels_do_not(patient):
    assert check(patient, "phone") == ContactCheck(True, "ok")
    assert check(patient, "sms") == ContactCheck(False, "channel_not_consented")
    assert check(patient, "email") == ContactCheck(False, "channel_not_consented")


def test_withdrawn_consent_stops_every_channel(patient):
    consent_withdraw(referral=patient, actor="user:agent", reason="lead_request")
    assert check(patient, "phone") == ContactCheck(False, "consent_withdrawn")


def test_consent_must_cover_the_purpose(patient):
    assert check(patient, "phone", purpose="patient_support").allowed
    assert check(patient, "phone", purpose="marketing") == ContactCheck(
        False, "purpose_not_consented"
    )


def test_refused_consent_allows_nothing(patient):
    ConsentRecord.objects.filter(referral=patient).update(granted=False)
    assert check(patient, "phone") == ContactCheck(False, "consent_not_granted")


def test_the_latest_consent_record_speaks(patient):
    first = ConsentRecord.objects.get(referral=patient)
    ConsentRecord.objects.create(
        referral=patient,
        event="given",
        granted=True,
        purposes=["patient_support"],
        channels=["phone", "sms"],
        method="verbal_recorded",
        text_version=first.text_version,
        text_hash=first.text_hash,
        recorded_at=timezone.now(),
        recorded_by="user:agent",
    )
    assert check(patient, "sms").allowed


def test_a_trial_patient_is_contacted_on_consented_channels_only():
    referral = submit("trial-prescreening", trial())
    assert check(referral, "phone").allowed and check(referral, "email").allowed
    assert not check(referral, "sms").allowed


def test_a_clinician_lead_needs_no_patient_consent():
    referral = submit("provider-education", education())
    assert check(referral, "email") == ContactCheck(True, "consent_not_required")


def test_a_pending_or_rejected_review_blocks_contact_even_with_consent(patient):
    review = Review.objects.create(
        referral=patient, kind=ReviewKind.MEDICAL_REVIEW, requested_at=timezone.now()
    )
    assert check(patient, "phone") == ContactCheck(False, "review_pending")
    Review.objects.filter(pk=review.pk).update(state=ReviewState.REJECTED)
    assert check(patient, "phone") == ContactCheck(False, "review_rejected")
    Review.objects.filter(pk=review.pk).update(state=ReviewState.APPROVED)
    assert check(patient, "phone").allowed


def test_a_closed_referral_is_never_contacted(patient):
    referral_close(referral=patient, outcome=Outcome.QUALIFIED, actor="user:agent")
    assert check(patient, "phone") == ContactCheck(False, "referral_closed")
