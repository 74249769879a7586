"""Deciding a review, and what that does to the referral.

``review_approve`` (with a note) lets the referral into its queue once no other review is
pending; ``review_reject`` (with a reason) closes it as ``not_qualified`` with reason code
``review_rejected``: a rejected clinical question or meeting request gets no outreach on that
basis, and a new request is a new referral. Notes and reasons are stored encrypted with the
referral (``ReferralNote``); the trail keeps their fingerprints.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from refdesk.accounts.models import User
from refdesk.audit.services import audit_batch
from refdesk.core.errors import ApplicationError
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import NoteKind
from refdesk.intake.notes import note_write
from refdesk.routing.choices import ReviewState
from refdesk.routing.models import Review
from refdesk.routing.reviews import REJECTED_REASON_CODE, review_decide, review_load
from refdesk.routing.selectors import review_pending
from refdesk.workflow.assignment import referral_assign
from refdesk.workflow.closing import referral_close
from refdesk.workflow.pending import followup_release
from refdesk.workflow.transitions import action_guard, referral_transition


def review_approve(*, review: Review, reviewer: User, note: str) -> Review:
    """Approve with a note; when no other review is pending a referral awaiting review enters
    its queue (``awaiting_review`` -> ``queued``) and is assigned."""
    if not (note or "").strip():
        raise ApplicationError("an approval needs a note", code="note_required", field="note")
    with transaction.atomic(), audit_batch():
        review = review_load(review)
        referral = review.referral
        action_guard(referral, "approve_review")
        written = note_write(referral=referral, kind=NoteKind.REVIEW, text=note, actor=reviewer)
        review = review_decide(
            review=review,
            reviewer=reviewer,
            state=ReviewState.APPROVED,
            note=written,
            action="review.approved",
        )
        if referral.stage == Stage.AWAITING_REVIEW and not review_pending(referral):
            referral_transition(
                referral,
                action="review_cleared",
                actor=reviewer,
                to=Stage.QUEUED,
                values={"assigned_to": None},
                reason="review approved",
            )
            referral_assign(referral=referral, actor=reviewer)
        if not review_pending(referral):
            # Messages and attempts held for the review go ahead (each is checked again).
            followup_release(referral_id=referral.pk, reason="review_pending", now=timezone.now())
    return review


def review_reject(*, review: Review, reviewer: User, reason: str) -> Review:
    """Reject with a reason; the referral is closed ``not_qualified`` / ``review_rejected``
    (if still open), so nothing is ever sent to the lead on this request."""
    if not (reason or "").strip():
        raise ApplicationError("a rejection needs a reason", code="reason_required", field="reason")
    with transaction.atomic(), audit_batch():
        review = review_load(review)
        referral = review.referral
        action_guard(referral, "reject_review", to=Stage.CLOSED)
        written = note_write(referral=referral, kind=NoteKind.REVIEW, text=reason, actor=reviewer)
        review = review_decide(
            review=review,
            reviewer=reviewer,
            state=ReviewState.REJECTED,
            note=written,
            action="review.rejected",
        )
        referral_close(
            referral=referral,
            outcome=Outcome.NOT_QUALIFIED,
            actor=reviewer,
            reason_code=REJECTED_REASON_CODE,
            action="reject_review",
        )
    return review
