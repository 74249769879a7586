"""A missed appointment and the program's no-show policy; consent and closing still rule every
message about an appointment.

provider-education offers a reschedule to every lead who misses a meeting and asks a person to
follow up only for target specialties (``manual_check_when: {target_specialty: true}``) — and
so for its high-value leads (a meeting request from a target specialty). patient-support asks
a person to follow up every no-show (``manual_check: true``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from refdesk.audit.models import AuditEvent
from refdesk.intake.choices import Stage
from refdesk.outreach.choices import MessagePurpose, MessageStatus
from refdesk.outreach.models import Message
from refdesk.programs.selectors import version_definition
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.testing import (
    agent,
    approve_all_content,
    education,
    reviewer,
    specialist,
    submit,
    support_by_email,
    valid_npi,
)
from refdesk.workflow.attendance import appointment_record_attendance
from refdesk.workflow.booking import LEAD, appointment_book
from refdesk.workflow.closing import referral_close
from refdesk.workflow.consent import consent_withdraw
from refdesk.workflow.followup import is_high_value
from refdesk.workflow.models import ManualCheck, Notification, NotificationKind
from refdesk.workflow.reviews import review_approve
from refdesk.workflow.sending import message_id_header, messages_deliver_due

pytestmark = pytest.mark.django_db

# Monday 7 December 2026, 09:00 in New York (both programs' teams work there).
MONDAY = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
# Wednesday 9 December, 10:00 in New York: more than provider-education's 24 hours' notice.
WEDNESDAY_10 = datetime(2026, 12, 9, 15, 0, tzinfo=UTC)
MISSED = WEDNESDAY_10 + timedelta(minutes=20)  # the lead has not come


def book(program: str, submission, type_key: str):
    """The lead books ``type_key`` on Wednesday at 10:00 New York through the link (a review
    the referral waits for — a meeting request's extra validation — cleared first)."""
    approve_all_content()
    with time_machine.travel(MONDAY - timedelta(hours=1), tick=False):
        referral = submit(program, submission)
        pending = referral.reviews.filter(state="pending")
        if pending:
            rhea = reviewer("rhea.reviewer")
            for review in pending:
                review_approve(review=review, reviewer=rhea, note="valid")
    with time_machine.travel(MONDAY, tick=False):
        return appointment_book(
            referral=referral, type_key=type_key, starts_at=WEDNESDAY_10, actor=LEAD
        )


def deliver(moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        messages_deliver_due()


def no_show(appointment, actor):
    with time_machine.travel(MISSED, tick=False):
        return appointment_record_attendance(
            appointment=appointment, outcome="no_show", actor=actor
        )


def offer(referral) -> Message:
    return Message.objects.get(referral=referral, purpose=MessagePurpose.RESCHEDULE_OFFER)


def mailed(message: Message, mailoutbox) -> bool:
    return any(m.extra_headers.get("Message-ID") == message_id_header(message) for m in mailoutbox)


def high_value(referral) -> bool:
    return is_high_value(referral, version_definition(referral.program_version))


def high_value_meeting(n: int):
    """A meeting request from an oncologist (a target specialty) with an NPI: high value."""
    return book(
        "provider-education",
        education(n, request_type="meeting_request", specialty="oncology", npi=valid_npi(n)),
        "msl-meeting",
    )


# --- the policy ------------------------------------------------------------------------------


def test_an_ordinary_leads_no_show_gets_the_reschedule_offer_and_no_manual_check(mailoutbox):
    mira = specialist()
    appointment = book(
        "provider-education",
        education(1, request_type="treatment_education", specialty="cardiology"),
        "medical-info-call",
    )
    referral = appointment.referral
    assert not high_value(referral)

    no_show(appointment, mira)
    deliver(MISSED)

    referral.refresh_from_db()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.NO_SHOW
    assert referral.stage == Stage.IN_PROGRESS
    offered = offer(referral)
    assert offered.status == MessageStatus.SENT and mailed(offered, mailoutbox)
    assert not ManualCheck.objects.filter(referral=referral).exists()
    assert not Notification.objects.filter(kind=NotificationKind.MANUAL_CHECK).exists()


def test_a_high_value_leads_no_show_opens_a_manual_check_on_its_queue_for_its_assignee(
    mailoutbox,
):
    mira = specialist()
    appointment = high_value_meeting(2)
    referral = appointment.referral
    assert high_value(referral)

    no_show(appointment, mira)
    deliver(MISSED)

    referral.refresh_from_db()
    check = ManualCheck.objects.get(referral=referral)
    assert check.reason == ManualCheck.Reason.NO_SHOW and check.resolved_at is None
    assert check.subject == "High-value lead: missed appointment"
    assert check.queue == referral.queue and check.queue.slug == "msl-field-team"
    assert referral.assigned_to is not None
    notified = Notification.objects.get(kind=NotificationKind.MANUAL_CHECK, referral=referral)
    assert notified.user == referral.assigned_to
    assert AuditEvent.objects.filter(
        action="followup.manual_check", subject_id=str(referral.public_id)
    ).exists()
    # ... and the lead is offered another time as well.
    assert offer(referral).status == MessageStatus.SENT


def test_a_lead_matching_manual_check_when_gets_a_check_without_being_high_value():
    mira = specialist()
    appointment = book(
        "provider-education",
        education(3, request_type="treatment_education", specialty="oncology"),
        "medical-info-call",
    )

    no_show(appointment, mira)

    assert not high_value(appointment.referral)
    check = ManualCheck.objects.get(referral=appointment.referral)
    assert check.subject == "missed appointment"


def test_patient_support_asks_a_person_to_follow_up_every_no_show(mailoutbox):
    paula = agent()
    appointment = book("patient-support", support_by_email(4), "support-call")
    referral = appointment.referral

    no_show(appointment, paula)
    deliver(MISSED)

    check = ManualCheck.objects.get(referral=referral)
    assert check.subject == "missed appointment" and check.queue == referral.queue
    # paula recorded it herself, and she is the assignee: she gets the task on her list.
    assert Notification.objects.filter(
        user=paula, kind=NotificationKind.MANUAL_CHECK, referral=referral
    ).exists()
    assert offer(referral).status == MessageStatus.SENT


def test_every_lead_who_can_book_can_be_offered_another_time_after_a_no_show(mailoutbox):
    mira = specialist()
    appointment = book(
        "provider-education",
        education(5, request_type="treatment_education", specialty="cardiology"),
        "medical-info-call",
    )
    no_show(appointment, mira)
    deliver(MISSED)
    offered = offer(appointment.referral)
    assert (offered.status, offered.reason) == (MessageStatus.SENT, "")


# --- consent and closing still rule -------------------------------------------------------


def test_a_reminder_after_the_lead_withdrew_consent_to_email_is_refused_by_the_send_check(
    mailoutbox,
):
    paula = agent()
    appointment = book("patient-support", support_by_email(6), "support-call")
    referral = appointment.referral
    reminders = Message.objects.filter(appointment=appointment, purpose=MessagePurpose.REMINDER)
    assert reminders.count() == 2

    with time_machine.travel(MONDAY + timedelta(hours=4), tick=False):
        consent_withdraw(referral=referral, actor=paula, reason="lead_request", channels=["email"])
    referral.refresh_from_db()
    assert referral.stage == Stage.SCHEDULED  # phone is still allowed: the work goes on
    for reminder in reminders.order_by("next_action_at"):
        deliver(reminder.next_action_at)

    assert {(m.status, m.reason) for m in reminders} == {
        (MessageStatus.REFUSED, "channel_not_consented")
    }
    assert not any(mailed(m, mailoutbox) for m in reminders)
    for reminder in reminders:
        assert AuditEvent.objects.filter(
            action="message.refused", changes__message__new=str(reminder.public_id)
        ).exists()


def test_a_no_shows_reschedule_offer_after_consent_was_withdrawn_is_refused(mailoutbox):
    paula = agent()
    appointment = book("patient-support", support_by_email(7), "support-call")
    referral = appointment.referral
    no_show(appointment, paula)
    assert offer(referral).status == MessageStatus.SCHEDULED

    with time_machine.travel(MISSED + timedelta(minutes=1), tick=False):
        consent_withdraw(referral=referral, actor=paula, reason="lead_request", channels=["email"])
    deliver(MISSED + timedelta(minutes=2))

    offered = offer(referral)
    assert (offered.status, offered.reason) == (MessageStatus.REFUSED, "channel_not_consented")
    assert not mailed(offered, mailoutbox)


@pytest.mark.parametrize("how", ["closed by staff", "consent withdrawn entirely"])
def test_closing_the_referral_cancels_its_appointment_and_its_reminders_never_go(how, mailoutbox):
    paula = agent()
    appointment = book("patient-support", support_by_email(8), "support-call")
    referral = appointment.referral
    deliver(MONDAY + timedelta(hours=3))  # the confirmation (10:00 for the Denver lead)
    reminders = Message.objects.filter(appointment=appointment, purpose=MessagePurpose.REMINDER)
    dues = sorted(reminders.values_list("next_action_at", flat=True))
    closing_time = MONDAY + timedelta(hours=4)
    assert closing_time < dues[0]

    with time_machine.travel(closing_time, tick=False):
        if how == "closed by staff":
            referral_close(
                referral=referral, outcome="declined", actor=paula, reason_code="lead_declined"
            )
        else:
            consent_withdraw(referral=referral, actor=paula, reason="lead_request")
    for due in dues:
        deliver(due)
    deliver(WEDNESDAY_10)

    referral.refresh_from_db()
    appointment.refresh_from_db()
    assert referral.stage == Stage.CLOSED
    assert (appointment.status, appointment.reason) == (
        AppointmentStatus.CANCELLED,
        "referral_closed",
    )
    assert appointment.ended_at == closing_time
    assert {(m.status, m.reason) for m in reminders} == {(MessageStatus.REFUSED, "referral_closed")}
    assert not any(mailed(m, mailoutbox) for m in reminders)
    # The member's time is free again.
    assert not type(appointment).objects.filter(status=AppointmentStatus.BOOKED).exists()
