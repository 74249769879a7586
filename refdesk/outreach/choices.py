"""The vocabularies of outreach: approval states, message purposes and statuses, timer kinds."""

from django.db import models


class ContentKind(models.TextChoices):
    TEMPLATE = "template", "Message template"
    MATERIAL = "material", "Education material"


class ApprovalState(models.TextChoices):
    DRAFT = "draft", "Draft"  # read from a program file; not sendable until approved
    APPROVED = "approved", "Approved"  # sendable until its approval expires
    RETIRED = "retired", "Retired"  # replaced or withdrawn; never sent again


class Audience(models.TextChoices):
    LEAD = "lead", "Lead"
    REFERRER = "referrer", "Referrer"


class MessagePurpose(models.TextChoices):
    ACKNOWLEDGEMENT = "acknowledgement", "Acknowledgement"  # to the referrer, after intake
    FIRST_OUTREACH = "first_outreach", "First message"  # to the lead, matched to the request
    RETRY = "retry", "Follow-up attempt"  # a later attempt of the retry cadence
    MANUAL = "manual", "Sent by staff"
    CONFIRMATION = "confirmation", "Appointment confirmation"  # with the calendar invite
    REMINDER = "reminder", "Appointment reminder"  # at the program's offsets before the start
    APPOINTMENT_CHANGE = "appointment_change", "Appointment moved"  # the updated invite
    CANCELLATION = "cancellation", "Appointment cancelled"  # the cancelled invite
    RESCHEDULE_OFFER = "reschedule_offer", "Reschedule offer"  # after a no-show


class MessageStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"  # waits for next_action_at (e.g. after quiet hours)
    CLAIMED = "claimed", "Being prepared"  # a worker holds it (lease_until); not sent yet
    SENDING = "sending", "Sending"  # idempotency key recorded, the backend call under way
    SENT = "sent", "Sent"  # the backend accepted it
    DELIVERED = "delivered", "Delivered"  # the provider reported delivery
    FAILED = "failed", "Failed"  # the backend or provider gave up
    BOUNCED = "bounced", "Bounced"  # the address or number does not take messages
    REFUSED = "refused", "Refused"  # the consent check said no; final, with its reason


# Statuses a worker may still act on (next_action_at is set only for these).
PENDING_STATUSES = (MessageStatus.SCHEDULED, MessageStatus.CLAIMED, MessageStatus.SENDING)
# Statuses after which a channel should not be tried again for this lead.
UNDELIVERABLE_STATUSES = (MessageStatus.FAILED, MessageStatus.BOUNCED)


class TimerKind(models.TextChoices):
    ATTEMPT = "attempt", "Contact attempt due"  # the retry cadence: attempt N is due
    CLOSE_UNREACHABLE = "close_unreachable", "Close as unreachable"  # the window is over
    SLA_WARNING = "sla_warning", "SLA warning"  # the first response is due soon
    SLA_BREACH = "sla_breach", "SLA breached"  # the first response is overdue
    SLA_ESCALATION = "sla_escalation", "SLA escalation"  # still overdue: tell the leads


class TimerState(models.TextChoices):
    PENDING = "pending", "Pending"  # waits for next_action_at
    RUNNING = "running", "Running"  # a worker holds it until lease_until
    DONE = "done", "Done"  # acted on (result says how)
    CANCELLED = "cancelled", "Cancelled"  # no longer applies (result says why)
