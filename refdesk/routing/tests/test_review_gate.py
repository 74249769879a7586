"""The medical review gate: no message to the lead until a rui approves; rejection closes."""

from __future__ import annotations

import pytest

from refdesk.accounts.choices import Role
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify
from refdesk.core.errors import ApplicationError, InvalidTransition, PermissionDenied
from refdesk.intake.choices import Outcome, Stage
from refdesk.routing.choices import ReviewKind, ReviewState
from refdesk.routing.models import Review
from refdesk.testing import education, reviewer, specialist, staff, submit
from refdesk.workflow.contact import lead_contact_check
from refdesk.workflow.reviews import review_approve, review_reject

pytestmark = pytest.mark.django_db


@pytest.fixture
def question():
    return submit("provider-education", education(request_type="clinical_question"))


def _review(referral) -> Review:
    return Review.objects.get(referral=referral)


def test_no_outreach_is_possible_before_approval_and_it_is_after(question):
    rui, mira = reviewer(), specialist()
    assert question.stage == Stage.AWAITING_REVIEW
    assert lead_contact_check(referral=question, channel="email").allowed is False
    assert lead_contact_check(referral=question, channel="email").reason == "review_pending"
    review_approve(review=_review(question), reviewer=rui, note="Answer is on-label.")
    question.refresh_from_db()
    assert lead_contact_check(referral=question, channel="email").allowed is True
    assert question.stage == Stage.QUEUED and question.assigned_to in (rui, mira)
    review = _review(question)
    assert review.state == ReviewState.APPROVED and review.note.text == "Answer is on-label."
    assert review.decided_by == "user:rui.reviewer"
    event = AuditEvent.objects.get(action="review.approved")
    assert "on-label" not in str(event.changes)  # the note's fingerprint only
    assert audit_verify().ok


def test_after_rejection_no_outreach_and_the_referral_is_closed(question):
    review_reject(review=_review(question), reviewer=reviewer(), reason="Off-label request.")
    question.refresh_from_db()
    assert (question.stage, question.outcome, question.outcome_reason) == (
        Stage.CLOSED,
        Outcome.NOT_QUALIFIED,
        "review_rejected",
    )
    check = lead_contact_check(referral=question, channel="email")
    assert check.allowed is False
    assert AuditEvent.objects.filter(action__in=["review.rejected", "referral.closed"]).count() == 2


def test_only_a_medical_reviewer_decides_a_medical_review(question):
    for user in (specialist(), staff("olga", Role.PROGRAM_OWNER, "medical-affairs")):
        with pytest.raises(PermissionDenied):
            review_approve(review=_review(question), reviewer=user, note="Looks fine.")
        with pytest.raises(PermissionDenied):
            review_reject(review=_review(question), reviewer=user, reason="No.")
    assert _review(question).state == ReviewState.PENDING


def test_an_approval_needs_a_note_and_a_rejection_a_reason(question):
    rui = reviewer()
    with pytest.raises(ApplicationError) as error:
        review_approve(review=_review(question), reviewer=rui, note="  ")
    assert error.value.code == "note_required"
    with pytest.raises(ApplicationError) as error:
        review_reject(review=_review(question), reviewer=rui, reason="")
    assert error.value.code == "reason_required"
    assert _review(question).state == ReviewState.PENDING


def test_a_review_is_decided_once(question):
    rui = reviewer()
    review = _review(question)
    review_approve(review=review, reviewer=rui, note="Fine.")
    with pytest.raises(InvalidTransition):
        review_reject(review=_review(question), reviewer=rui, reason="Changed my mind.")
    assert _review(question).state == ReviewState.APPROVED


def test_a_valid_meeting_request_passes_extra_validation_signed_off_by_its_team():
    meeting = submit(
        "provider-education", education(request_type="meeting_request", npi="1234567893")
    )
    review = _review(meeting)
    assert review.kind == ReviewKind.EXTRA_VALIDATION
    assert lead_contact_check(referral=meeting, channel="email").reason == "review_pending"
    rep = staff("cody", Role.COMMERCIAL_REP, "commercial")
    with pytest.raises(PermissionDenied):  # not in the team that owns msl-field-team
        review_approve(review=review, reviewer=rep, note="ok")
    review_approve(review=review, reviewer=specialist(), note="Specialty and NPI confirmed.")
    meeting.refresh_from_db()
    assert meeting.stage == Stage.QUEUED and meeting.queue.slug == "msl-field-team"
    assert lead_contact_check(referral=meeting, channel="email").allowed is True


def test_a_meeting_request_with_an_off_target_specialty_goes_to_needs_info_not_review():
    meeting = submit(
        "provider-education",
        education(request_type="meeting_request", specialty="cardiology", npi="1234567893"),
    )
    meeting.refresh_from_db()
    assert meeting.stage == Stage.NEEDS_INFO and meeting.missing == ["lead.specialty"]
    assert not Review.objects.filter(referral=meeting).exists()


@pytest.mark.parametrize(
    "outcome", [Outcome.QUALIFIED, Outcome.NOT_QUALIFIED, Outcome.UNREACHABLE], ids=str
)
def test_nobody_judges_a_referral_before_its_review_is_decided(question, outcome):
    from refdesk.workflow.closing import referral_close

    mira = specialist()
    code = {Outcome.NOT_QUALIFIED: "criteria_not_met", Outcome.UNREACHABLE: "retries_exhausted"}
    with pytest.raises(InvalidTransition, match="awaits its review") as refused:
        referral_close(
            referral=question, outcome=outcome, actor=mira, reason_code=code.get(outcome, "")
        )
    assert refused.value.code == "awaiting_review"
    question.refresh_from_db()
    assert question.stage == Stage.AWAITING_REVIEW and question.outcome == ""
    review_approve(review=_review(question), reviewer=reviewer(), note="On-label.")
    question.refresh_from_db()
    referral_close(
        referral=question, outcome=outcome, actor=mira, reason_code=code.get(outcome, "")
    )
    assert question.outcome == outcome


def test_a_referral_awaiting_review_may_still_be_closed_as_entered_in_error(question):
    from refdesk.workflow.closing import referral_close

    referral_close(
        referral=question,
        outcome=Outcome.ENTERED_IN_ERROR,
        actor=specialist(),
        reason_code="entered_in_error",
    )
    question.refresh_from_db()
    assert (question.stage, question.outcome) == (Stage.CLOSED, Outcome.ENTERED_IN_ERROR)
