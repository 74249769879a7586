"""The review gate's own rows: deciding a pending ``Review`` (who may, and the record of it).

A flagged referral waits in ``awaiting_review`` until a person signs it off; what the decision
does to the referral (into its queue, or closed ``not_qualified`` / ``review_rejected``) is the
workflow's (``refdesk.workflow.reviews``). No message goes to the lead while a review is pending
or after one was rejected (``workflow.contact.lead_contact_check``).
"""

from __future__ import annotations

from django.utils import timezone

from refdesk.accounts.choices import Role
from refdesk.accounts.models import TeamMembership, User
from refdesk.audit.services import audit_record
from refdesk.core.errors import InvalidTransition, PermissionDenied
from refdesk.intake.models import ReferralNote
from refdesk.intake.notes import note_changes
from refdesk.routing.choices import ReviewKind, ReviewState
from refdesk.routing.models import Review

REJECTED_REASON_CODE = "review_rejected"


def reviewer_check(review: Review, reviewer: User) -> None:
    """Medical review needs a medical reviewer; extra validation a medical reviewer or a
    member of the team that owns the referral's queue. Else ``PermissionDenied``."""
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


def review_decide(
    *, review: Review, reviewer: User, state: str, note: ReferralNote | None, action: str
) -> Review:
    """Record the decision on a pending review (conditional UPDATE: a review decided meanwhile
    is a 409) and audit it; the note's text stays in the encrypted note."""
    reviewer_check(review, reviewer)
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
        changes={
            "review": (None, str(review.public_id)),
            "kind": (None, review.kind),
            "state": (ReviewState.PENDING, state),
            **note_changes(note),
        },
    )
    return review


def review_load(review: Review) -> Review:
    return Review.objects.select_related("referral__queue").get(pk=review.pk)
