from django.db import models

from refdesk.core.models import BaseModel
from refdesk.routing.choices import (
    AE_TRIAGE,
    CLOSING_TRIAGE,
    DecisionKind,
    ReviewKind,
    ReviewState,
    TriageDecision,
)


class Queue(BaseModel):
    """A team's list of referrals to work (e.g. ``clinical-ops-prescreening``).

    Created or updated by ``program apply`` from the ``queues`` of a program definition; a queue
    may serve several programs.
    """

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="queues")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class RoutingDecision(BaseModel):
    """One routing decision for a referral: the engine's (initial, re-evaluation) or a person's
    re-route. Rows are never changed: the referral's routing history is the list of them.

    Created by ``referral_route`` / ``referral_reroute`` in the same transaction as the change.
    ``decision`` is the engine's explained decision (no patient values); ``facts_digest`` is a
    keyed digest of the facts it saw, so a later replay can tell whether the inputs changed.
    """

    referral = models.ForeignKey(
        "intake.Referral", on_delete=models.PROTECT, related_name="decisions"
    )
    program_version = models.ForeignKey(
        "programs.ProgramVersion", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=DecisionKind.choices)
    rule_id = models.CharField(max_length=63, blank=True)  # blank for a manual re-route
    rule_position = models.PositiveIntegerField(null=True, blank=True)
    default_route = models.BooleanField(default=False)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="decisions")
    previous_queue = models.ForeignKey(
        Queue, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    flags = models.JSONField(default=list, blank=True)
    also_notify = models.JSONField(default=list, blank=True)
    facts_digest = models.CharField(max_length=64, blank=True)
    decision = models.JSONField(default=dict, blank=True)
    decided_at = models.DateTimeField()
    decided_by = models.CharField(max_length=200)
    # Why, in refdesk's own words ("prescreen recorded"); never text a person typed.
    reason = models.TextField(blank=True)
    # What a person wrote (a re-route's required reason): encrypted with the referral.
    note = models.ForeignKey(
        "intake.ReferralNote", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["referral", "decided_at"]
        indexes = [
            # A referral's routing history, newest last.
            models.Index(fields=["referral", "decided_at"], name="decision_referral_time"),
            # Routing audit: decisions per month by kind, rule and queue.
            models.Index(fields=["decided_at", "kind"], name="decision_time_kind"),
        ]

    def __str__(self):
        return f"{self.kind} -> {self.queue_id} ({self.rule_id or 'manual'})"


class Review(BaseModel):
    """A sign-off a referral waits for in ``awaiting_review``: medical review of a clinical
    question, or extra validation of a meeting request. No message goes to the lead while one is
    pending or after one was rejected. Created by ``referral_route``; decided by a reviewer
    through ``review_approve`` / ``review_reject``."""

    referral = models.ForeignKey(
        "intake.Referral", on_delete=models.PROTECT, related_name="reviews"
    )
    kind = models.CharField(max_length=20, choices=ReviewKind.choices)
    state = models.CharField(
        max_length=20, choices=ReviewState.choices, default=ReviewState.PENDING
    )
    requested_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=200, blank=True)
    # The approval note or the rejection reason (clinical free text): encrypted with the referral.
    note = models.ForeignKey(
        "intake.ReferralNote", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["referral", "requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["referral", "kind"],
                condition=models.Q(state="pending"),
                name="review_one_pending_per_kind",
                violation_error_message="This referral already waits for this review.",
            ),
        ]
        indexes = [
            # A reviewer's work list: WHERE state='pending' ORDER BY requested_at.
            models.Index(fields=["state", "requested_at"], name="review_state_time"),
        ]

    def __str__(self):
        return f"{self.kind} {self.state}"


class QueueNotice(BaseModel):
    """A copy of a referral sent to another queue for information (e.g. ``drug-safety`` for a
    possible adverse event), keeping the referral's original time of receipt, which starts
    regulatory reporting clocks (day 0). Created by ``referral_route``; worked by that team:
    acknowledged, then triaged (``refdesk.workflow.safety``). A triage decision other than
    "needs follow-up" closes it; it is never closed without one (a check constraint says so).
    """

    referral = models.ForeignKey(
        "intake.Referral", on_delete=models.PROTECT, related_name="notices"
    )
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="notices")
    reason = models.CharField(max_length=63)  # the alert or route id that sent it
    received_at = models.DateTimeField()  # the referral's receipt time, not the notice's
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=200, blank=True)
    # The latest triage: a decision, who made it and when, the safety database's case id.
    triage_decision = models.CharField(max_length=20, choices=TriageDecision.choices, blank=True)
    triaged_at = models.DateTimeField(null=True, blank=True)
    triaged_by = models.CharField(max_length=200, blank=True)
    # Triages so far (a "needs follow-up" and then the final one): the version a triage
    # checks in its conditional UPDATE, so two officers cannot both decide silently.
    triage_count = models.PositiveSmallIntegerField(default=0)
    case_id = models.CharField(max_length=40, blank=True)  # the safety database's id
    # What the officer wrote with the triage: encrypted with the referral.
    triage_note = models.ForeignKey(
        "intake.ReferralNote", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["received_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(closed_at__isnull=True)
                | models.Q(
                    triage_decision__in=sorted(CLOSING_TRIAGE),
                    triaged_at__isnull=False,
                    acknowledged_at__isnull=False,
                ),
                name="notice_closed_only_by_triage",
                violation_error_message="A notice is closed only with a triage decision.",
            ),
            models.CheckConstraint(
                condition=~models.Q(triage_decision__in=sorted(AE_TRIAGE)) | ~models.Q(case_id=""),
                name="notice_adverse_event_has_case_id",
                violation_error_message="An adverse event needs the safety database's case id.",
            ),
            models.UniqueConstraint(
                fields=["referral", "queue", "reason"],
                name="notice_once_per_reason",
                violation_error_message="This notice was already sent.",
            ),
        ]
        indexes = [
            # A queue's open notices, oldest receipt first.
            models.Index(
                fields=["queue", "acknowledged_at", "received_at"], name="notice_queue_open"
            ),
            # The drug-safety list: a team's notices still open (WHERE closed_at IS NULL).
            models.Index(fields=["queue", "closed_at", "received_at"], name="notice_queue_closed"),
        ]

    def __str__(self):
        return f"notice to {self.queue_id} ({self.reason})"
