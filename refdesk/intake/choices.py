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


class Outcome(models.TextChoices):
    QUALIFIED = "qualified", "Qualified"  # met the program's goal criteria
    NOT_QUALIFIED = "not_qualified", "Not qualified"  # checked and did not meet them
    UNREACHABLE = "unreachable", "Unreachable"  # retry cadence exhausted
    DECLINED = "declined", "Declined"  # the lead said no
    WITHDRAWN = "withdrawn", "Withdrawn"  # consent withdrawn
    DUPLICATE = "duplicate", "Duplicate"  # same lead already in progress
    ENTERED_IN_ERROR = "entered_in_error", "Entered in error"  # should never have existed


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
