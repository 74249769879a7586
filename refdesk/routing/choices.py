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


class TriageDecision(models.TextChoices):
    """A drug-safety officer's triage of a possible adverse event (a ``QueueNotice``)."""

    NOT_AE = "not_ae", "Not an adverse event"  # closes the notice
    AE_NON_SERIOUS = "ae_non_serious", "Adverse event, non-serious"  # closes; safety case id
    AE_SERIOUS = "ae_serious", "Adverse event, serious"  # closes; expedited report clock runs
    NEEDS_FOLLOW_UP = "needs_follow_up", "Needs follow-up"  # stays open for another triage


# Decisions that close a notice; every other (needs follow-up) keeps it open.
CLOSING_TRIAGE = frozenset(
    {TriageDecision.NOT_AE, TriageDecision.AE_NON_SERIOUS, TriageDecision.AE_SERIOUS}
)
# Decisions that are adverse events: the safety database's case id is required with them.
AE_TRIAGE = frozenset({TriageDecision.AE_NON_SERIOUS, TriageDecision.AE_SERIOUS})
