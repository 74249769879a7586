"""What an appointment says to the lead: the confirmation with its calendar invite, the updated
or cancelled invite, and the reminders at the program's offsets.

Every one of these is an ordinary ``outreach.Message`` (``messages.message_schedule``): the
worker sends it through the one send check (approved template, consent for the purpose and
channel, quiet hours), so an appointment never bypasses consent. Each remembers the
appointment's ``sequence`` when it was scheduled; by the time it goes, a message for a time
that has since moved or ended is refused as ``appointment_changed`` (``appointment_current``).

Reminder times (``reminder_times``): an offset of whole days (24, 48 hours) keeps the
appointment's wall-clock time in the lead's time zone — a 10:00 call on the Sunday the clocks
change (in New York at 02:00) is reminded at 10:00 on the Saturday, 23 or 25 real hours before
— and other offsets count real hours. A reminder that would fall in the lead's quiet hours goes
``QUIET_MARGIN`` before they begin (the last allowed time before), never during them; one
already past when the appointment is booked is not scheduled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import MIMEPart
from zoneinfo import ZoneInfo

from django.conf import settings

from refdesk.audit.services import Actor
from refdesk.intake.models import Referral
from refdesk.outreach import booking_links
from refdesk.outreach.choices import Audience, MessagePurpose, MessageStatus
from refdesk.outreach.models import Message
from refdesk.outreach.rendering import quiet_began
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.selectors import version_definition
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.invites import invite_ics
from refdesk.scheduling.models import Appointment
from refdesk.workflow.messages import lead_channels, lead_zone, message_schedule

# A reminder moved out of quiet hours goes this long before they begin.
QUIET_MARGIN = timedelta(minutes=15)
INVITE_PURPOSES = frozenset(
    {
        MessagePurpose.CONFIRMATION,
        MessagePurpose.APPOINTMENT_CHANGE,
        MessagePurpose.CANCELLATION,
    }
)


def appointment_zone(appointment: Appointment, definition: ProgramDefinition) -> ZoneInfo:
    """The lead's zone as booked (the page's choice), else the referral's, else the program's."""
    if appointment.lead_timezone:
        return ZoneInfo(appointment.lead_timezone)
    return lead_zone(appointment.referral, definition)


def reminder_times(
    *,
    starts_at: datetime,
    hours_before: tuple[int, ...],
    zone: ZoneInfo,
    quiet_start: str,
    quiet_end: str,
    now: datetime,
) -> list[tuple[int, datetime]]:
    """(offset, when) for each reminder still in the future, earliest first (module doc)."""
    out = []
    for hours in hours_before:
        if hours % 24 == 0:
            local = starts_at.astimezone(zone).replace(tzinfo=None) - timedelta(days=hours // 24)
            due = local.replace(tzinfo=zone).astimezone(starts_at.tzinfo)
        else:
            due = starts_at - timedelta(hours=hours)
        began = quiet_began(due, zone, quiet_start, quiet_end)
        if began is not None:
            due = began - QUIET_MARGIN
        if now < due < starts_at:
            out.append((hours, due))
    return sorted(out, key=lambda item: item[1])


def _channel(referral: Referral) -> str | None:
    channels = lead_channels(referral)
    return channels[0] if channels else None


def appointment_message(
    *,
    appointment: Appointment,
    purpose: str,
    template_key: str | None,
    actor: Actor,
    due_at: datetime | None = None,
) -> Message | None:
    """Schedule one message about the appointment to the lead on their best channel; None when
    the program names no template for it or the lead has no channel a message can use."""
    channel = _channel(appointment.referral)
    if not template_key or channel is None:
        return None
    return message_schedule(
        referral=appointment.referral,
        template_key=template_key,
        purpose=purpose,
        audience=Audience.LEAD,
        channel=channel,
        actor=actor,
        due_at=due_at,
        appointment=appointment,
    )


def reminders_schedule(
    *, appointment: Appointment, definition: ProgramDefinition, actor: Actor, now: datetime
) -> list[Message]:
    """The appointment's reminders (the program's offsets, see ``reminder_times``)."""
    rules = definition.scheduling
    if rules is None or not rules.reminder_template:
        return []
    quiet = definition.followup.quiet_hours
    messages = []
    for _hours, due in reminder_times(
        starts_at=appointment.starts_at,
        hours_before=rules.reminders_hours_before,
        zone=appointment_zone(appointment, definition),
        quiet_start=quiet.start,
        quiet_end=quiet.end,
        now=now,
    ):
        message = appointment_message(
            appointment=appointment,
            purpose=MessagePurpose.REMINDER,
            template_key=rules.reminder_template,
            actor=actor,
            due_at=due,
        )
        if message is not None:
            messages.append(message)
    return messages


def appointment_messages_withdraw(*, appointment: Appointment, now: datetime) -> int:
    """Unsent messages about the appointment's old state (reminders, an unsent confirmation)
    are refused as ``appointment_changed``, in the caller's transaction."""
    return Message.objects.filter(
        appointment=appointment,
        status__in=(MessageStatus.SCHEDULED, MessageStatus.CLAIMED),
    ).update(
        status=MessageStatus.REFUSED,
        reason="appointment_changed",
        next_action_at=None,
        lease_until=None,
        updated_at=now,
    )


def appointment_current(message: Message, now: datetime) -> bool:
    """Is the message still about the appointment as it stands (same sequence; a reminder:
    still booked and not yet started)? Messages without an appointment always are."""
    appointment = message.appointment
    if appointment is None:
        return True
    if message.appointment_sequence != appointment.sequence:
        return False
    if message.purpose == MessagePurpose.REMINDER:
        return appointment.status == AppointmentStatus.BOOKED and appointment.starts_at > now
    return True


def appointment_invite(message: Message, now: datetime) -> str:
    """The iCalendar invite for a confirmation, change or cancellation email; "" otherwise."""
    appointment = message.appointment
    if appointment is None or message.purpose not in INVITE_PURPOSES:
        return ""
    referral = message.referral
    definition = version_definition(referral.program_version)
    description = "\n".join(
        part
        for part in (
            f"Reference {referral.reference}.",
            appointment.prepare and f"To prepare: {appointment.prepare}",
            f"To change or cancel: {booking_links.booking_url(referral)}",
        )
        if part
    )
    return invite_ics(
        appointment,
        zone=appointment_zone(appointment, definition),
        summary=f"{appointment.label} ({definition.name})",
        description=description,
        organizer=(appointment.team.name, settings.DEFAULT_FROM_EMAIL),
        attendee=message.recipient,
        now=now,
    )


def invite_attachment(calendar: str) -> MIMEPart:
    """The invite as a text/calendar part (method named, as calendar programs expect)."""
    method = "CANCEL" if "METHOD:CANCEL" in calendar else "REQUEST"
    part = MIMEPart()
    part.set_content(
        calendar,
        subtype="calendar",
        params={"method": method},
        disposition="attachment",
        filename="invite.ics",
    )
    return part
