"""The lifecycle vocabulary, one for the API, pages and reports (PRODUCT.md "Lifecycle").

FHIR mapping kept in mind for export: stage ~ Task.status, outcome ~ Task.statusReason.
"""

from django.db import models


class Stage(models.TextChoices):
    RECEIVED = "received", "Received"  # stored, not yet routed
    NEEDS_INFO = "needs_info", "Needs information"  # waiting on the referrer; SLA clock paused
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"  # medical review or extra validation
    QUEUED = "queued", "Queued"  # routed to a queue, nobody working it yet
    IN_PROGRESS = "in_progress", "In progress"  # claimed, contact under way
    SCHEDULED = "scheduled", "Scheduled"  # a call, meeting or visit is booked
    CLOSED = "closed", "Closed"  # an outcome is set


# Groups of stages, named once (the workflow's action table says which actions each allows).
# Not closed: work remains (received is transient: routing runs in the submission's transaction).
OPEN_STAGES = frozenset(
    {
        Stage.RECEIVED,
        Stage.NEEDS_INFO,
        Stage.AWAITING_REVIEW,
        Stage.QUEUED,
        Stage.IN_PROGRESS,
        Stage.SCHEDULED,
    }
)
# In a queue's work list: open and routed.
WORK_STAGES = OPEN_STAGES - {Stage.RECEIVED}
# The first-response clock runs: paused in needs_info (the referrer owes us), stopped once
# something is booked or the referral is closed.
SLA_RUNNING_STAGES = frozenset({Stage.AWAITING_REVIEW, Stage.QUEUED, Stage.IN_PROGRESS})
# Somebody works it: a re-evaluation suggests a new queue instead of moving it.
CLAIMED_STAGES = frozenset({Stage.IN_PROGRESS, Stage.SCHEDULED})
# An assigned referral still takes its owner's time (automatic assignment balances these).
LOAD_STAGES = frozenset({Stage.AWAITING_REVIEW, Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED})


class Outcome(models.TextChoices):
    QUALIFIED = "qualified", "Qualified"  # met the program's goal criteria
    NOT_QUALIFIED = "not_qualified", "Not qualified"  # checked and did not meet them
    UNREACHABLE = "unreachable", "Unreachable"  # retry cadence exhausted
    DECLINED = "declined", "Declined"  # the lead said no
    WITHDRAWN = "withdrawn", "Withdrawn"  # consent withdrawn
    DUPLICATE = "duplicate", "Duplicate"  # same lead already in progress
    ENTERED_IN_ERROR = "entered_in_error", "Entered in error"  # should never have existed


# Reason codes a person may choose for each outcome ("every outcome but qualified carries a
# reason code"). Codes, not free text: reports group by them and they never hold patient data.
OUTCOME_REASONS: dict[str, tuple[str, ...]] = {
    Outcome.NOT_QUALIFIED: (
        "criteria_not_met",
        "specialty_not_targeted",
        "request_out_of_scope",
        "out_of_region",
    ),
    Outcome.UNREACHABLE: ("retries_exhausted", "contact_details_invalid"),
    Outcome.DECLINED: ("lead_declined", "referrer_cancelled"),
    Outcome.WITHDRAWN: ("consent_withdrawn",),
    Outcome.DUPLICATE: ("duplicate_referral",),
    Outcome.ENTERED_IN_ERROR: ("entered_in_error",),
}
# Every reason code in words (pages, exports); the code stays the stored value.
OUTCOME_REASON_LABELS: dict[str, str] = {
    "criteria_not_met": "Does not meet the program's criteria",
    "specialty_not_targeted": "Specialty not in the program's target list",
    "request_out_of_scope": "Request outside the program's scope",
    "out_of_region": "Outside the program's region",
    "retries_exhausted": "No answer after every contact attempt",
    "contact_details_invalid": "Contact details do not work",
    "lead_declined": "The person declined",
    "referrer_cancelled": "The referrer cancelled the referral",
    "consent_withdrawn": "Consent withdrawn",
    "duplicate_referral": "Duplicate of another referral",
    "entered_in_error": "Entered in error",
    "review_rejected": "Rejected in medical review",
    "same_lead_in_window": "Same person referred recently",
}


def reason_label(code: str) -> str:
    return OUTCOME_REASON_LABELS.get(code, code.replace("_", " ").capitalize())


# Codes only refdesk itself sets, with the event that sets them.
SYSTEM_OUTCOME_REASONS: dict[str, tuple[str, ...]] = {
    Outcome.NOT_QUALIFIED: ("review_rejected",),  # a reviewer rejected the request
    Outcome.DUPLICATE: ("same_lead_in_window",),  # intake matched a recent referral
    Outcome.WITHDRAWN: ("consent_withdrawn",),  # every consented purpose was withdrawn
}

# Outcomes that judge the lead or report contact: not while a review is pending.
REVIEW_GATED_OUTCOMES = frozenset({Outcome.QUALIFIED, Outcome.NOT_QUALIFIED, Outcome.UNREACHABLE})


class PrescreenOutcome(models.TextChoices):
    """Trial programs only."""

    ELIGIBLE = "eligible", "Eligible"  # every marker met
    NOT_ELIGIBLE = "not_eligible", "Not eligible"  # a marker failed
    PENDING = "pending", "Pending"  # waiting on medical records
    INCOMPLETE = "incomplete", "Incomplete"  # a marker is unknown


class LeadKind(models.TextChoices):
    PATIENT = "patient", "Patient"
    CLINICIAN = "clinician", "Clinician"
    ORGANIZATION = "organization", "Organization"  # a partner introduction


class SubmissionMethod(models.TextChoices):
    WEB = "web", "Web intake form"
    API = "api", "Partner API"
    BULK = "bulk", "Bulk import"
