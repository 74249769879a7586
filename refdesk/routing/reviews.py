"""The review gate: a flagged referral waits in ``awaiting_review`` until a person signs it off.

``review_approve`` (with a note) lets it into its queue once no other review is pending;
``review_reject`` (with a reason) closes it as ``not_qualified`` with reason code
``review_rejected``: a rejected clinical question or meeting request gets no outreach on that
basis, and a new request is a new referral. ``consent.selectors.lead_contact_check`` refuses
every message while a review is pending or after one was rejected.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from refdesk.accounts.choices import Role
from refdesk.accounts.models import TeamMembership, User
from refdesk.audit.services import audit_batch, audit_record
from refdesk.core.errors import ApplicationError, InvalidTransition, PermissionDenied
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.lifecycle import referral_close, referral_move
from refdesk.intake.models import Referral
from refdesk.routing.assignment import referral_assign
from refdesk.routing.choices import ReviewKind, ReviewState
from refdesk.routing.models import Review
from refdesk.routing.selectors import review_pending

REJECTED_REASON_CODE = "review_rejected"


def _check_reviewer(review: Review, reviewer: User) -> None:
    """Medical review needs a medical reviewer; extra validation a medical reviewer or a
    member of the team that owns the referral's queue."""
    if not reviewer.is_active:
        raise PermissionDenied("an inactive user cannot decide reviews", code="user_inactive")
    if reviewer.role == Role.MEDICAL_REVIEWER:
        return
    if review.kind == ReviewKind.EXTRA_VALIDATION:
        queue = review.referral.queue
        if (
            queue is not None
            and TeamMembership.objects.filter(team_id=queue.team_id, user=reviewer).exists()
        ):
            return
    raise PermissionDenied(
        "only a medical reviewer may decide this review", code="not_a_medical_reviewer"
    )


def _decide(*, review: Review, reviewer: User, state: str, note: str, action: str) -> Review:
    _check_reviewer(review, reviewer)
    now = timezone.now()
    updated = Review.objects.filter(pk=review.pk, state=ReviewState.PENDING).update(
        state=state, decided_at=now, decided_by=reviewer.audit_label, note=note, updated_at=now
    )
    if updated != 1:
        raise InvalidTransition("this review was already decided", code="review_decided")
    review.state, review.decided_at, review.decided_by, review.note = (
        state,
        now,
        reviewer.audit_label,
        note,
    )
    audit_record(
        actor=reviewer,
        action=action,
        subject=review.referral,
        # The note is clinical free text: the trail keeps its fingerprint, the review row keeps it.
        sensitive_fields={"note"},
        changes={
            "review": (None, str(review.public_id)),
            "kind": (None, review.kind),
            "state": (ReviewState.PENDING, state),
            "note": (None, note),
        },
    )
    return review


def _load(review: Review) -> Review:
    return Review.objects.select_related("referral__queue").get(pk=review.pk)


def review_approve(*, review: Review, reviewer: User, note: str) -> Review:
    """Approve with a note; when no other review is pending the referral enters its queue
    (``awaiting_review`` -> ``queued``) and is assigned."""
    note = (note or "").strip()
    if not note:
        raise ApplicationError("an approval needs a note", code="note_required", field="note")
    with transaction.atomic(), audit_batch():
        review = _decide(
            review=_load(review),
            reviewer=reviewer,
            state=ReviewState.APPROVED,
            note=note,
            action="review.approved",
        )
        referral: Referral = review.referral
        if referral.stage == Stage.AWAITING_REVIEW and not review_pending(referral):
            referral_move(
                referral=referral, stage=Stage.QUEUED, actor=reviewer, reason="review approved"
            )
            referral_assign(referral=referral, actor=reviewer)
    return review


def review_reject(*, review: Review, reviewer: User, reason: str) -> Review:
    """Reject with a reason; the referral is closed ``not_qualified`` / ``review_rejected``
    (if still open), so nothing is ever sent to the lead on this request."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("a rejection needs a reason", code="reason_required", field="reason")
    with transaction.atomic(), audit_batch():
        review = _decide(
            review=_load(review),
            reviewer=reviewer,
            state=ReviewState.REJECTED,
            note=reason,
            action="review.rejected",
        )
        referral: Referral = review.referral
        if referral.stage != Stage.CLOSED:
            referral_close(
                referral=referral,
                outcome=Outcome.NOT_QUALIFIED,
                actor=reviewer,
                reason_code=REJECTED_REASON_CODE,
            )
    return review
