"""The calendar invite in the lead's emails: one UID for the appointment's whole life, a higher
SEQUENCE on every change, METHOD:CANCEL when it ends — in the lead's zone — and intact after a
real SMTP round trip.

The lead (patient-support, by email) is in Denver; the team books in New York. Lead emails
wait out the lead's quiet hours (21:00-08:00 Denver), so they are delivered at 10:00 Denver.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import time_machine

from refdesk.outreach.choices import MessagePurpose, MessageStatus
from refdesk.outreach.models import Message
from refdesk.testing import agent, approve_all_content, submit, support_by_email
from refdesk.workflow.booking import (
    LEAD,
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
)
from refdesk.workflow.sending import message_id_header, messages_deliver_due

pytestmark = pytest.mark.django_db

# Monday 7 December 2026, 09:00 in New York (07:00 in Denver: quiet hours for the lead).
MONDAY = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
DENVER_MORNING = MONDAY + timedelta(hours=3)  # 10:00 in Denver: lead emails go out
TUESDAY_10 = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # 10:00 New York, 08:00 Denver
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def appointment():
    approve_all_content()
    agent()
    with time_machine.travel(MONDAY - timedelta(hours=1), tick=False):
        referral = submit("patient-support", support_by_email(1))
    with time_machine.travel(MONDAY, tick=False):
        return appointment_book(
            referral=referral, type_key="support-call", starts_at=TUESDAY_10, actor=LEAD
        )


def deliver(moment: datetime = DENVER_MORNING) -> None:
    with time_machine.travel(moment, tick=False):
        messages_deliver_due()


def sent(appointment, purpose: str) -> Message:
    message = Message.objects.get(appointment=appointment, purpose=purpose)
    assert message.status == MessageStatus.SENT, message.reason
    return message


def calendar_part(mail):
    parts = [part for part in mail.walk() if part.get_content_type() == "text/calendar"]
    assert len(parts) == 1, "one invite per email"
    return parts[0]


def invite_in(mail) -> tuple[icalendar.Calendar, dict]:
    """The email's text/calendar part, parsed, and that part's content-type parameters."""
    part = calendar_part(mail)
    calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    return calendar, dict(part.get_params()[1:])


def outbox_mail(message: Message, mailoutbox):
    (mail,) = [m for m in mailoutbox if m.extra_headers["Message-ID"] == message_id_header(message)]
    return mail.message()


def the_event(calendar: icalendar.Calendar) -> icalendar.Event:
    (event,) = calendar.walk("VEVENT")
    return event


def test_the_confirmation_invite_is_a_request_in_the_leads_zone(appointment, mailoutbox):
    deliver()
    mail = outbox_mail(sent(appointment, MessagePurpose.CONFIRMATION), mailoutbox)
    calendar, params = invite_in(mail)

    assert str(calendar["method"]) == "REQUEST" and params["method"] == "REQUEST"
    assert [str(zone["tzid"]) for zone in calendar.walk("VTIMEZONE")] == ["America/Denver"]
    event = the_event(calendar)
    assert str(event["uid"]) == appointment.uid
    assert int(event["sequence"]) == 0
    assert event["dtstart"].params["TZID"] == "America/Denver"
    assert event["dtstart"].dt.tzinfo.key == "America/Denver"
    assert event["dtstart"].dt == TUESDAY_10  # 08:00 in Denver, the same instant
    assert event["dtstart"].dt.hour == 8
    assert str(event["status"]) == "CONFIRMED"


def test_a_reschedule_sends_the_same_uid_with_a_higher_sequence_at_the_new_time(
    appointment, mailoutbox
):
    deliver()
    moved_to = TUESDAY_10 + timedelta(hours=3)
    with time_machine.travel(DENVER_MORNING, tick=False):
        appointment_reschedule(
            appointment=appointment, starts_at=moved_to, actor=LEAD, reason="lead_request"
        )
    deliver(DENVER_MORNING + timedelta(minutes=1))

    first = the_event(
        invite_in(outbox_mail(sent(appointment, MessagePurpose.CONFIRMATION), mailoutbox))[0]
    )
    calendar, params = invite_in(
        outbox_mail(sent(appointment, MessagePurpose.APPOINTMENT_CHANGE), mailoutbox)
    )
    change = the_event(calendar)
    assert str(calendar["method"]) == "REQUEST" and params["method"] == "REQUEST"
    assert str(change["uid"]) == str(first["uid"]) == appointment.uid
    assert int(change["sequence"]) > int(first["sequence"])
    assert change["dtstart"].dt == moved_to
    assert change["dtstart"].params["TZID"] == "America/Denver"


def test_a_cancellation_sends_method_cancel_and_status_cancelled_with_the_same_uid(
    appointment, mailoutbox
):
    deliver()
    with time_machine.travel(DENVER_MORNING, tick=False):
        appointment_reschedule(
            appointment=appointment,
            starts_at=TUESDAY_10 + timedelta(hours=3),
            actor=LEAD,
            reason="lead_request",
        )
    deliver(DENVER_MORNING + timedelta(minutes=1))
    with time_machine.travel(DENVER_MORNING + timedelta(minutes=2), tick=False):
        appointment_cancel(appointment=appointment, actor=LEAD, reason="lead_request")
    deliver(DENVER_MORNING + timedelta(minutes=3))

    change = the_event(
        invite_in(outbox_mail(sent(appointment, MessagePurpose.APPOINTMENT_CHANGE), mailoutbox))[0]
    )
    calendar, params = invite_in(
        outbox_mail(sent(appointment, MessagePurpose.CANCELLATION), mailoutbox)
    )
    cancelled = the_event(calendar)
    assert str(calendar["method"]) == "CANCEL" and params["method"] == "CANCEL"
    assert str(cancelled["status"]) == "CANCELLED"
    assert str(cancelled["uid"]) == appointment.uid
    assert int(cancelled["sequence"]) > int(change["sequence"])
    # No reminder is left to go: the ones not yet sent were withdrawn with each change.
    reminders = Message.objects.filter(appointment=appointment, purpose=MessagePurpose.REMINDER)
    assert set(reminders.exclude(status=MessageStatus.SENT).values_list("status", "reason")) == {
        (MessageStatus.REFUSED, "appointment_changed")
    }


def test_the_invite_survives_a_real_smtp_round_trip(appointment, smtp_server, settings):
    inbox, port = smtp_server
    settings.MAILERS = {
        "default": {"BACKEND": SMTP_BACKEND, "OPTIONS": {"host": "127.0.0.1", "port": port}}
    }
    deliver()

    confirmation = sent(appointment, MessagePurpose.CONFIRMATION)
    (mail,) = [m for m in inbox.received if m["Message-ID"] == message_id_header(confirmation)]
    calendar, params = invite_in(mail)
    assert params["method"] == "REQUEST"
    # What arrived is what was sent, line for line (the transport may only change line ends).
    received = calendar_part(mail).get_payload(decode=True).decode()
    assert received.splitlines() == confirmation.calendar.splitlines()
    assert calendar == icalendar.Calendar.from_ical(confirmation.calendar)
    event = the_event(calendar)
    assert str(event["uid"]) == appointment.uid
    assert event["dtstart"].params["TZID"] == "America/Denver"
    assert event["dtstart"].dt == TUESDAY_10
    assert [str(zone["tzid"]) for zone in calendar.walk("VTIMEZONE")] == ["America/Denver"]
    # The text beside it arrived too.
    (text,) = [part for part in mail.walk() if part.get_content_type() == "text/plain"]
    assert "booked" in text.get_content()
