"""referral_submit: one transaction for referral, consent and audit; encrypted lead data."""

import pytest
from django.db import connection

from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify
from refdesk.consent.models import ConsentRecord
from refdesk.core.errors import PermissionDenied, ValidationFailed
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import Referral
from refdesk.referrers.services import referrer_deactivate
from refdesk.testing import make_referrer, trial_submission
from refdesk.workflow.submission import referral_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def coordinator():
    return make_referrer("trial-prescreening", "study-coordinator")


def _submit(referrer, submission=None, **kwargs):
    return referral_submit(
        referrer=referrer,
        submission=submission or trial_submission(),
        method="api",
        actor=referrer,
        **kwargs,
    )


def test_it_stores_the_referral_consent_and_audit_events_together(coordinator):
    referral = _submit(coordinator).referral
    assert referral.reference.startswith("RF-")
    assert referral.program_version.number == 1
    # Complete, so routed in the same transaction (nobody in the team yet: unassigned).
    assert referral.stage == Stage.QUEUED and referral.queue.slug == "clinical-ops-prescreening"
    consent = ConsentRecord.objects.get(referral=referral)
    assert consent.granted and consent.purposes == ["trial_contact"]
    assert len(consent.text_hash) == 64
    actions = list(
        AuditEvent.objects.filter(subject_id=str(referral.public_id)).values_list(
            "action", flat=True
        )
    )
    assert actions == ["referral.submitted", "consent.recorded", "referral.routed"]
    assert audit_verify().ok


def test_patient_values_are_not_in_the_raw_row_or_the_audit_trail(coordinator):
    referral = _submit(coordinator).referral
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM intake_referral WHERE id = %s", [referral.pk])
        raw_referral = " ".join(str(value) for value in cursor.fetchone())
        cursor.execute("SELECT changes FROM audit_auditevent")
        raw_audit = " ".join(str(row[0]) for row in cursor.fetchall())
    # Distinctive values only: short digit runs like "555" turn up in hashes and UUIDs by chance.
    for secret in ("Avery", "Quill", "example.org", "6175550142", "birth_year", "RDX-301"):
        assert secret not in raw_referral
        assert secret not in raw_audit
    # ... yet the application reads them back.
    stored = Referral.objects.get(pk=referral.pk)
    assert stored.lead["family_name"] == "Quill"
    assert stored.answers["age"] == 54


def test_a_missing_required_item_makes_it_needs_info_with_the_list(coordinator):
    submission = trial_submission(answers={"study_id": None})
    referral = _submit(coordinator, submission).referral
    assert referral.stage == Stage.NEEDS_INFO
    assert "answers.study_id" in referral.missing


@pytest.mark.parametrize(
    ("method", "lead", "field", "words"),
    [
        ("email", {"email": None}, "lead.email", "prefers email: give their email address"),
        ("phone", {"phone": None}, "lead.phone", "prefers phone calls: give their phone number"),
        ("sms", {"phone": None}, "lead.phone", "prefers text messages: give their mobile number"),
    ],
)
def test_the_preferred_channels_contact_detail_is_required_and_refused_on_the_spot(
    coordinator, method, lead, field, words
):
    # Not accepted as incomplete and then chased: the referrer can fix it now.
    submission = trial_submission(lead={"preferred_contact": method, **lead})
    with pytest.raises(ValidationFailed) as failed:
        _submit(coordinator, submission)
    assert [(e["field"], e["code"]) for e in failed.value.errors] == [
        (field, "contact_detail_required")
    ]
    assert words in failed.value.errors[0]["message"]
    assert Referral.objects.count() == 0


def test_an_invalid_contact_detail_is_reported_once_not_also_as_missing(coordinator):
    submission = trial_submission(lead={"preferred_contact": "email", "email": "nope"})
    with pytest.raises(ValidationFailed) as failed:
        _submit(coordinator, submission)
    assert [e["code"] for e in failed.value.errors] == ["invalid_email"]


def test_a_phone_contact_whose_time_zone_cannot_be_worked_out_is_refused(coordinator):
    # A toll-free number and a country with many zones: nothing to work the zone out from.
    submission = trial_submission(lead={"timezone": None, "phone": "+1 800 555 0199"})
    with pytest.raises(ValidationFailed) as failed:
        _submit(coordinator, submission)
    assert [(e["field"], e["code"]) for e in failed.value.errors] == [
        ("lead.timezone", "timezone_required")
    ]
    assert "time zone" in failed.value.errors[0]["message"]


@pytest.mark.parametrize(
    ("submission", "field", "code"),
    [
        (lambda: trial_submission(lead={"email": "not-an-email"}), "lead.email", "invalid_email"),
        (lambda: trial_submission(lead={"phone": "12"}), "lead.phone", "invalid_phone"),
        (
            lambda: trial_submission(lead={"timezone": "Mars/Olympus"}),
            "lead.timezone",
            "unknown_timezone",
        ),
        (lambda: trial_submission(with_consent=False), "consent", "consent_required"),
        (
            lambda: trial_submission(consent={"granted": False}),
            "consent.granted",
            "consent_required",
        ),
        (
            lambda: trial_submission(consent={"text_version": "1999-01"}),
            "consent.text_version",
            "unknown_consent_text",
        ),
        (lambda: trial_submission(answers={"age": "old"}), "answers.age", "invalid_integer"),
        (lambda: trial_submission(answers={"shoe_size": 9}), "answers.shoe_size", "unknown_answer"),
    ],
)
def test_invalid_input_is_rejected_with_a_field_error_and_nothing_stored(
    coordinator, submission, field, code
):
    events_before = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as failure:
        _submit(coordinator, submission())
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in failure.value.errors
    ]
    assert Referral.objects.count() == 0
    assert ConsentRecord.objects.count() == 0
    assert AuditEvent.objects.count() == events_before


def test_an_error_message_never_echoes_the_submitted_value(coordinator):
    with pytest.raises(ValidationFailed) as failure:
        _submit(coordinator, trial_submission(lead={"email": "secret-person@@example"}))
    assert "secret-person" not in str(failure.value)


def test_a_request_type_the_source_may_not_send_is_refused(coordinator):
    submission = trial_submission()
    submission.request_type = "helpline_callback"
    with pytest.raises(ValidationFailed) as failure:
        _submit(coordinator, submission)
    assert failure.value.errors[0]["code"] == "unknown_request_type"


def test_an_inactive_referrer_is_refused(coordinator):
    referrer_deactivate(referrer=coordinator, actor="system:test")
    with pytest.raises(PermissionDenied):
        _submit(coordinator)


def test_the_same_client_ref_twice_creates_one_referral(coordinator):
    first = _submit(coordinator, client_ref="row-1")
    second = _submit(coordinator, client_ref="row-1")
    assert (first.created, second.created) == (True, False)
    assert second.referral.pk == first.referral.pk
    assert Referral.objects.count() == 1


def test_the_same_lead_again_is_a_duplicate_of_the_first(coordinator):
    first = _submit(coordinator).referral
    other = make_referrer("trial-prescreening", "site-investigator", name="Dr. Other")
    # Same email typed differently, different phone: the blind index still matches.
    again = trial_submission(
        lead={"email": "  avery.QUILL@example.ORG ", "phone": "+1 312 555 0101"}
    )
    second = _submit(other, again).referral
    assert second.duplicate_of_id == first.pk
    assert (second.stage, second.outcome) == (Stage.CLOSED, Outcome.DUPLICATE)
    timeline = AuditEvent.objects.filter(subject_id=str(first.public_id))
    assert timeline.filter(action="referral.duplicate_received").exists()


def test_a_submission_method_the_source_does_not_use_is_refused(coordinator):
    # Trial sources submit by web form and API only (programs/trial-prescreening.yaml).
    with pytest.raises(PermissionDenied) as refusal:
        referral_submit(
            referrer=coordinator, submission=trial_submission(), method="bulk", actor=coordinator
        )
    assert refusal.value.code == "submission_method_not_accepted"
    assert Referral.objects.count() == 0


def test_the_time_zone_defaults_from_the_phone_number(coordinator):
    # A Chicago (312) number: the program says the zone may be worked out from location.
    submission = trial_submission(lead={"timezone": None, "phone": "+1 312 555 0101"})
    referral = _submit(coordinator, submission).referral
    assert referral.lead_timezone == "America/Chicago"
    assert "lead.timezone" not in referral.missing


def test_the_time_zone_defaults_from_a_single_zone_country(coordinator):
    submission = trial_submission(
        lead={"timezone": None, "phone": None, "preferred_contact": "email", "country": "GB"}
    )
    assert _submit(coordinator, submission).referral.lead_timezone == "Europe/London"


def test_a_time_zone_that_cannot_be_worked_out_is_a_missing_item(coordinator):
    # The US has many zones and there is no phone number to go by.
    submission = trial_submission(
        lead={"timezone": None, "phone": None, "preferred_contact": "email"}
    )
    referral = _submit(coordinator, submission).referral
    assert "lead.timezone" in referral.missing


def test_a_reference_already_taken_is_never_reused(coordinator, monkeypatch):
    first = _submit(coordinator).referral
    draws = iter([first.reference, "RF-0000-0000", "RF-7K3Q-9M2X"])
    monkeypatch.setattr("refdesk.intake.submissions.new_referral_reference", lambda: next(draws))
    second = _submit(
        coordinator, trial_submission(lead={"email": "other@example.org", "phone": "+12125550123"})
    ).referral
    assert second.reference == "RF-0000-0000" != first.reference
