"""The timeline's words for appointments, their messages and manual checks (``timeline``
uses them): what was booked, moved, cancelled or attended, when (in the reader's zone) and
with whom; a check opened or done; a message about an appointment named by its purpose.
Built from the audit event's codes only (type key, start, staff username, status, reason)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.dateparse import parse_datetime

from refdesk.audit.models import AuditEvent
from refdesk.outreach.choices import MessagePurpose
from refdesk.scheduling.choices import RESCHEDULE_REASONS, AppointmentStatus
from refdesk.workflow.models import ManualCheck

MESSAGE_PURPOSES = dict(MessagePurpose.choices)


class _Blank(dict):
    def __missing__(self, key):
        return "—"


def local_words(value) -> str:
    """A stored ISO time in the reader's zone (activated per request), as the page writes
    times: "Tue 8 Dec, 10:00 EST"; "—" when there is none."""
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        return "—"
    return date_format(timezone.localtime(moment), "D j M, H:i T")


def _change(changes: dict, name: str, side: str = "new"):
    change = changes.get(name)
    return change.get(side) if isinstance(change, dict) else None


_ATTENDANCE_WORDS = {
    AppointmentStatus.ATTENDED: "Attendance recorded: attended",
    AppointmentStatus.NO_SHOW: "Attendance recorded: no-show",
    AppointmentStatus.CANCELLED: "Appointment cancelled",
}
_CHECK_REASONS = {code: label.lower() for code, label in ManualCheck.Reason.choices}


def appointment_words(event: AuditEvent, type_labels: dict[str, str]) -> str:
    """Appointments and manual checks in words: what, when (the reader's time), with whom.
    "" for any other event."""
    changes = event.changes or {}
    action = event.action
    key = _change(changes, "appointment_type")
    kind = type_labels.get(key, key) or "appointment"
    when = local_words(_change(changes, "starts_at"))
    if action == "referral.scheduled":
        return f"Appointment booked: {kind} on {when} with {_change(changes, 'member') or '—'}"
    if action == "referral.unscheduled":
        # Cancelled by staff or the lead, or attendance recorded: the appointment's new status.
        status = _change(changes, "appointment_status")
        return f"{_ATTENDANCE_WORDS.get(status, 'Appointment ended')} ({kind} on {when})"
    if action == "appointment.rescheduled":
        text = f"Appointment moved from {local_words(_change(changes, 'starts_at', 'old'))}"
        text += f" to {when}"
        member = _change(changes, "member")
        if member and member != _change(changes, "member", "old"):
            text += f", now with {member}"
        return text
    if action == "followup.manual_check" and _change(changes, "check") == "no_show":
        return "Missed appointment: a person follows it up (manual check opened)"
    if action == "followup.manual_check_done":
        reason = _change(changes, "check", "old")
        return f"Manual check done ({_CHECK_REASONS.get(reason, 'check')})"
    return ""


# Messages about an appointment are named by what they are to the lead ("Appointment reminder
# to the lead scheduled for ..."); reminders say when they go (the reader's time).
APPOINTMENT_MESSAGE_WORDS = {
    MessagePurpose.CONFIRMATION: "Appointment confirmation",
    MessagePurpose.REMINDER: "Appointment reminder",
    MessagePurpose.APPOINTMENT_CHANGE: "Appointment change",
    MessagePurpose.CANCELLATION: "Appointment cancellation",
    MessagePurpose.RESCHEDULE_OFFER: "Rebooking offer",
}


def message_words(event: AuditEvent, values: dict) -> str:
    """A message about an appointment scheduled or sent; "" for any other event."""
    changes = event.changes or {}
    noun = APPOINTMENT_MESSAGE_WORDS.get(_change(changes, "purpose"))
    if noun is None or event.action not in ("message.scheduled", "message.sent"):
        return ""
    words = _Blank(values)
    what = "{template} ({channel})".format_map(words)
    audience = words["audience"]
    if event.action == "message.sent":
        return f"{noun} sent to the {audience}: {what}"
    due = ""
    if _change(changes, "purpose") == MessagePurpose.REMINDER:
        due = f" for {local_words(_change(changes, 'due_at'))}"
    return f"{noun} to the {audience} scheduled{due}: {what}"


def appointment_detail(event: AuditEvent) -> str:
    """Why an appointment moved or was cancelled (refdesk's own words or a reason code)."""
    if event.action == "appointment.rescheduled":
        return RESCHEDULE_REASONS.get(event.reason, event.reason.replace("_", " "))
    if (
        event.action == "referral.unscheduled"
        and _change(event.changes or {}, "appointment_status") == AppointmentStatus.CANCELLED
    ):
        return event.reason
    return ""
