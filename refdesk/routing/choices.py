from django.db import models


class DecisionKind(models.TextChoices):
    """Why a routing decision was made."""

    INITIAL = "initial", "Initial routing"  # the engine, when the referral became complete
    RE_EVALUATION = "re_evaluation", "Re-evaluation"  # the engine again, after new information
    REROUTE = "reroute", "Manual re-route"  # staff moved it, with a reason


class ReviewKind(models.TextChoices):
    MEDICAL_REVIEW = "medical_review", "Medical review"  # before any response to a clinical q.
    EXTRA_VALIDATION = "extra_validation", "Extra validation"  # e.g. meeting requests


class ReviewState(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for a reviewer; no message to the lead
    APPROVED = "approved", "Approved"  # with a note; outreach may go ahead
    REJECTED = "rejected", "Rejected"  # with a reason; no outreach on this basis
