"""Booking, rescheduling, cancelling and attendance through the workflow services."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine

from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ApplicationError, Conflict
from refdesk.intake.choices import Stage
from refdesk.outreach.choices import MessagePurpose, MessageStatus
from refdesk.outreach.models import Message
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.models import Appointment
from refdesk.testing import agent, approve_all_content, submit, support_by_email
from refdesk.workflow.attendance import appointment_record_attendance
from refdesk.workflow.booking import (
    LEAD,
    SlotTaken,
    SlotUnavailable,
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
    next_free_slots,
)
from refdesk.workflow.models import ManualCheck
from refdesk.workflow.sending import messages_deliver_due

pytestmark = pytest.mark.django_db

# Monday 7 December 2026, 14:00 UTC = 09:00 in New York (the patient-services team's zone).
MONDAY = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
# Tuesday 8 December, 10:00 in New York.
TUESDAY_10 = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)


@pytest.fixture
def paula():
    return agent()


@pytest.fixture
def referral(paula):
    approve_all_content()
    with time_machine.travel(MONDAY - timedelta(hours=1), tick=False):
        return submit("patient-support", support_by_email(1))


def book(referral, starts_at=TUESDAY_10, actor=LEAD):
    with time_machine.travel(MONDAY, tick=False):
        return appointment_book(
            referral=referral, type_key="support-call", starts_at=starts_at, actor=actor
        )


def actions(referral):
    return list(
        AuditEvent.objects.filter(subject_id=str(referral.public_id))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_it_offers_slots_in_working_hours_on_the_grid_after_the_notice(referral):
    slots = next_free_slots(referral=referral, type_key="support-call", lead=True, now=MONDAY)
    first = slots[0].starts_at
    # two hours' notice: 11:00 New York on Monday is the first time offered
    assert first == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
    for slot in slots:
        local = slot.starts_at.astimezone(ZoneInfo("America/New_York"))
        assert local.weekday() < 5 and 9 <= local.hour < 17 and local.minute % 15 == 0
        assert slot.ends_at - slot.starts_at == timedelta(minutes=15)


def test_booking_moves_the_referral_to_scheduled_and_schedules_confirmation_and_reminders(
    referral, paula
):
    appointment = book(referral)
    referral.refresh_from_db()
    assert referral.stage == Stage.SCHEDULED
    assert referral.assigned_to == paula
    assert appointment.member == paula and appointment.status == AppointmentStatus.BOOKED
    purposes = sorted(
        Message.objects.filter(appointment=appointment).values_list("purpose", flat=True)
    )
    assert purposes == ["confirmation", "reminder", "reminder"]
    assert "referral.scheduled" in actions(referral)


def test_a_second_booking_of_the_members_time_is_refused_as_taken(referral, paula):
    book(referral)
    with time_machine.travel(MONDAY - timedelta(minutes=30), tick=False):
        other = submit("patient-support", support_by_email(2))
    with pytest.raises(SlotTaken):
        book(other)
    # ... and so is a time inside the first one's buffer
    with pytest.raises(SlotTaken):
        book(other, TUESDAY_10 + timedelta(minutes=15))
    assert book(other, TUESDAY_10 + timedelta(minutes=30)).member == paula
    assert Appointment.objects.filter(status="booked").count() == 2


def test_a_time_outside_working_hours_or_in_the_past_is_unavailable(referral):
    with pytest.raises(SlotUnavailable):
        book(referral, datetime(2026, 12, 8, 3, 0, tzinfo=UTC))  # 22:00 in New York
    with pytest.raises(SlotUnavailable):
        book(referral, MONDAY - timedelta(hours=1))
    assert not Appointment.objects.exists()
    referral.refresh_from_db()
    assert referral.stage != Stage.SCHEDULED


def test_a_referral_has_one_booked_appointment(referral):
    book(referral)
    with pytest.raises(ApplicationError):
        book(referral, TUESDAY_10 + timedelta(hours=2))
    assert Appointment.objects.count() == 1


def test_rescheduling_keeps_the_appointment_and_raises_its_sequence(referral):
    appointment = book(referral)
    with time_machine.travel(MONDAY + timedelta(minutes=5), tick=False):
        moved = appointment_reschedule(
            appointment=appointment,
            starts_at=TUESDAY_10 + timedelta(hours=3),
            actor=LEAD,
            reason="lead_request",
        )
    assert moved.pk == appointment.pk and moved.sequence == 1 and moved.reschedules == 1
    old_reminders = Message.objects.filter(
        appointment=appointment, purpose=MessagePurpose.REMINDER, appointment_sequence=0
    )
    assert {m.status for m in old_reminders} == {MessageStatus.REFUSED}
    new = Message.objects.filter(appointment=appointment, appointment_sequence=1)
    assert sorted(new.values_list("purpose", flat=True)) == [
        "appointment_change",
        "reminder",
        "reminder",
    ]
    assert "appointment.rescheduled" in actions(referral)


def test_a_lead_cannot_change_it_within_the_cutoff_but_staff_can(referral, paula):
    appointment = book(referral)
    late = TUESDAY_10 - timedelta(minutes=30)
    with time_machine.travel(late, tick=False), pytest.raises(ApplicationError) as refused:
        appointment_cancel(appointment=appointment, actor=LEAD, reason="lead_request")
    assert refused.value.code == "too_late_to_change"
    with time_machine.travel(late, tick=False):
        appointment_cancel(appointment=appointment, actor=paula, reason="staff_unavailable")
    appointment.refresh_from_db()
    referral.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED and appointment.sequence == 1
    assert referral.stage == Stage.IN_PROGRESS


def test_the_confirmation_email_carries_an_invite_with_the_leads_zone(referral, mailoutbox):
    appointment = book(referral)
    # 10:00 in Denver (at 07:00 the lead's quiet hours hold it)
    with time_machine.travel(MONDAY + timedelta(hours=3), tick=False):
        messages_deliver_due()
    confirmation = next(m for m in mailoutbox if "booked" in m.body)
    assert "(MST, America/Denver)" in confirmation.body
    assert "EST, America/New York" in confirmation.body  # the team's time beside it
    part = confirmation.message().get_payload()[-1]
    assert part.get_content_type() == "text/calendar"
    calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    event = next(iter(calendar.walk("VEVENT")))
    assert str(event["uid"]) == appointment.uid
    assert event["dtstart"].dt.tzinfo.key == "America/Denver"
    assert calendar.walk("VTIMEZONE")[0]["tzid"] == "America/Denver"
    assert str(calendar["method"]) == "REQUEST"


def test_a_no_show_sends_the_reschedule_offer_and_opens_the_manual_check(referral, paula):
    appointment = book(referral)
    early = TUESDAY_10 - timedelta(minutes=5)
    with pytest.raises(ApplicationError), time_machine.travel(early, tick=False):
        appointment_record_attendance(appointment=appointment, outcome="no_show", actor=paula)
    with time_machine.travel(TUESDAY_10 + timedelta(minutes=20), tick=False):
        appointment_record_attendance(appointment=appointment, outcome="no_show", actor=paula)
    referral.refresh_from_db()
    assert referral.stage == Stage.IN_PROGRESS
    assert Message.objects.filter(
        referral=referral, purpose=MessagePurpose.RESCHEDULE_OFFER
    ).exists()
    check = ManualCheck.objects.get(referral=referral)
    assert check.reason == "no_show" and check.resolved_at is None
    with pytest.raises(Conflict):
        appointment_record_attendance(appointment=appointment, outcome="attended", actor=paula)


def test_a_staff_booking_is_the_first_response_and_a_lead_booking_is_not(referral, paula):
    book(referral)
    referral.refresh_from_db()
    assert referral.first_responded_at is None  # the lead booked: no person has responded
    with time_machine.travel(MONDAY - timedelta(minutes=30), tick=False):
        other = submit("patient-support", support_by_email(2))
    book(other, TUESDAY_10 + timedelta(hours=2), actor=paula)
    other.refresh_from_db()
    assert other.first_responded_at == MONDAY


def test_appointment_messages_do_not_count_as_contact_attempts(referral):
    book(referral)
    with time_machine.travel(MONDAY + timedelta(hours=3), tick=False):
        messages_deliver_due()
    assert Message.objects.get(purpose=MessagePurpose.CONFIRMATION).status == MessageStatus.SENT
    referral.refresh_from_db()
    assert referral.lead_attempts == 0


def test_quiet_hours_follow_the_zone_the_lead_booked_in(referral):
    """The lead lives in Denver on file but booked from London: the 1 h reminder (14:00 in
    London, 07:00 in Denver) goes, because London is where they said they are."""
    with time_machine.travel(MONDAY, tick=False):
        appointment = appointment_book(
            referral=referral,
            type_key="support-call",
            starts_at=TUESDAY_10,
            actor=LEAD,
            lead_timezone="Europe/London",
        )
    reminder = Message.objects.get(
        appointment=appointment,
        purpose=MessagePurpose.REMINDER,
        next_action_at=TUESDAY_10 - timedelta(hours=1),
    )
    with time_machine.travel(reminder.next_action_at, tick=False):
        messages_deliver_due()
    reminder.refresh_from_db()
    assert reminder.status == MessageStatus.SENT
