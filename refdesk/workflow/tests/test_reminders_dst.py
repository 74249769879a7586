"""Appointment reminders keep the lead's wall-clock time across daylight-saving changes and
never go out in the lead's quiet hours.

The program (patient-support) reminds 24 hours and 1 hour before. A whole-day offset keeps the
appointment's local time (a 10:00 call is reminded at 10:00 the day before, however many real
hours lie between); the 1-hour one counts real time. A reminder that would fall in quiet hours
(21:00-08:00 lead-local) goes ``QUIET_MARGIN`` before they begin. Sent means sent: the worker
(``messages_deliver_due``) runs at the due instant and the mail is in the outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from refdesk.outreach.choices import MessagePurpose, MessageStatus
from refdesk.outreach.models import Message
from refdesk.outreach.rendering import quiet_until
from refdesk.scheduling.models import WorkingHours
from refdesk.testing import agent, approve_all_content, submit, support_by_email
from refdesk.workflow.appointment_messages import QUIET_MARGIN, reminder_times
from refdesk.workflow.booking import LEAD, appointment_book
from refdesk.workflow.sending import message_id_header, messages_deliver_due

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def booked(*, lead_zone: str, booked_at: datetime, starts_at: datetime, n: int = 1):
    """A patient-support lead in ``lead_zone`` (email) who booked ``starts_at`` through the
    link at ``booked_at``; the confirmation is delivered then."""
    with time_machine.travel(booked_at - timedelta(hours=1), tick=False):
        approve_all_content()  # in force from before the referral, whenever "now" is
        referral = submit("patient-support", support_by_email(n, timezone=lead_zone))
    with time_machine.travel(booked_at, tick=False):
        appointment = appointment_book(
            referral=referral, type_key="support-call", starts_at=starts_at, actor=LEAD
        )
        messages_deliver_due()
    return appointment


def reminders(appointment) -> list[Message]:
    return list(
        Message.objects.filter(appointment=appointment, purpose=MessagePurpose.REMINDER).order_by(
            "next_action_at"
        )
    )


def deliver_at(moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        messages_deliver_due()


def in_outbox(message: Message, mailoutbox) -> bool:
    return any(m.extra_headers.get("Message-ID") == message_id_header(message) for m in mailoutbox)


def check_sent_exactly_at(reminder: Message, due: datetime, mailoutbox) -> None:
    """Not a minute early; at the due instant, sent (mail in the outbox, ``sent_at`` then)."""
    assert reminder.next_action_at == due
    deliver_at(due - timedelta(minutes=1))
    reminder.refresh_from_db()
    assert reminder.status == MessageStatus.SCHEDULED and reminder.sent_at is None
    assert not in_outbox(reminder, mailoutbox)
    deliver_at(due)
    reminder.refresh_from_db()
    assert reminder.status == MessageStatus.SENT, reminder.reason
    assert reminder.sent_at == due
    assert in_outbox(reminder, mailoutbox)


@pytest.fixture
def paula(db):
    return agent()  # the one member of patient-services (Mon-Fri 09:00-17:00 New York)


@pytest.mark.parametrize(
    ("booked_at", "starts_at"),
    [
        # Monday 9 March 2026, the day after the clocks went forward (Sunday 8 March).
        (at(NEW_YORK, 2026, 3, 5, 10), at(NEW_YORK, 2026, 3, 9, 10)),
        # Monday 2 November 2026, the day after they went back (Sunday 1 November).
        (at(NEW_YORK, 2026, 10, 28, 10), at(NEW_YORK, 2026, 11, 2, 10)),
    ],
    ids=["after-spring-forward", "after-fall-back"],
)
def test_the_reminders_go_at_ten_the_day_before_and_nine_on_the_day_after_a_clock_change(
    paula, mailoutbox, booked_at, starts_at
):
    appointment = booked(lead_zone="America/New_York", booked_at=booked_at, starts_at=starts_at)
    day_before, hour_before = reminders(appointment)

    expected_day_before = datetime.combine(starts_at.date() - timedelta(days=1), time(10), NEW_YORK)
    check_sent_exactly_at(day_before, expected_day_before, mailoutbox)
    check_sent_exactly_at(hour_before, starts_at.replace(hour=9), mailoutbox)
    assert day_before.sent_at.astimezone(NEW_YORK).time() == time(10)
    assert hour_before.sent_at.astimezone(NEW_YORK).time() == time(9)


@pytest.mark.parametrize(
    ("booked_at", "starts_at", "real_hours"),
    [
        # Sunday 8 March 10:00 EDT: Saturday 10:00 was EST, an hour "longer" ago on the clock.
        (at(NEW_YORK, 2026, 3, 4, 10), at(NEW_YORK, 2026, 3, 8, 10), 23),
        # Sunday 1 November 10:00 EST: Saturday 10:00 was EDT.
        (at(NEW_YORK, 2026, 10, 28, 10), at(NEW_YORK, 2026, 11, 1, 10), 25),
    ],
    ids=["spring-forward-day", "fall-back-day"],
)
def test_a_day_before_reminder_across_the_change_keeps_the_wall_clock_not_24_real_hours(
    paula, mailoutbox, booked_at, starts_at, real_hours
):
    # Paula takes calls on Sundays too (her own hours), so the change falls between the
    # reminder and the call.
    WorkingHours.objects.create(
        user=paula, weekday=6, starts=time(9), ends=time(17), timezone="America/New_York"
    )
    appointment = booked(lead_zone="America/New_York", booked_at=booked_at, starts_at=starts_at)
    day_before, hour_before = reminders(appointment)

    saturday_ten = datetime.combine(starts_at.date() - timedelta(days=1), time(10), NEW_YORK)
    # (in UTC: Python subtracts two times of one zone on the wall clock)
    assert starts_at.astimezone(UTC) - saturday_ten.astimezone(UTC) == timedelta(hours=real_hours)
    check_sent_exactly_at(day_before, saturday_ten, mailoutbox)
    check_sent_exactly_at(hour_before, starts_at - timedelta(hours=1), mailoutbox)


def test_a_reminder_due_in_quiet_hours_goes_the_evening_before_and_never_in_them(paula, mailoutbox):
    # 09:30 in New York is 08:30 for a lead in Chicago: the hour-before reminder (07:30) would
    # fall in their quiet hours (21:00-08:00), so it goes at 20:45 the evening before.
    starts_at = at(NEW_YORK, 2026, 12, 8, 9, 30)
    appointment = booked(
        lead_zone="America/Chicago",
        booked_at=at(NEW_YORK, 2026, 12, 7, 9),
        starts_at=starts_at,
    )
    day_before, hour_before = reminders(appointment)

    check_sent_exactly_at(day_before, at(CHICAGO, 2026, 12, 7, 8, 30), mailoutbox)
    evening = at(CHICAGO, 2026, 12, 7, 20, 45)
    assert evening == at(CHICAGO, 2026, 12, 7, 21) - QUIET_MARGIN
    check_sent_exactly_at(hour_before, evening, mailoutbox)
    for reminder in (day_before, hour_before):
        assert quiet_until(reminder.sent_at, CHICAGO, "21:00", "08:00") is None


# --- reminder_times, for any zone, start and moment of booking ------------------------------

ZONES = (
    "America/New_York",  # DST, changes at 02:00
    "Europe/London",  # DST, changes at 01:00
    "Australia/Adelaide",  # a :30 offset, southern DST
    "Asia/Kolkata",  # a :30 offset, no DST
    "Australia/Lord_Howe",  # a half-hour DST shift
    "America/St_Johns",  # a :30 offset with DST
    "Pacific/Chatham",  # a :45 offset with DST
    "UTC",
)
QUIET_HOURS = (("21:00", "08:00"), ("22:00", "07:00"), ("20:00", "09:30"), ("12:00", "14:00"))


@given(
    zone=st.sampled_from(ZONES),
    quiet=st.sampled_from(QUIET_HOURS),
    # Any minute in two years, 2026 and 2027.
    starts_at=st.integers(min_value=0, max_value=2 * 366 * 24 * 60).map(
        lambda minutes: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    ),
    notice=st.timedeltas(min_value=timedelta(minutes=-60), max_value=timedelta(days=30)),
    hours_before=st.lists(
        st.sampled_from((1, 2, 3, 12, 24, 48, 72)), min_size=1, max_size=3, unique=True
    ).map(tuple),
)
def test_every_reminder_time_is_after_now_before_the_start_and_outside_quiet_hours(
    zone, quiet, starts_at, notice, hours_before
):
    now = starts_at - notice
    times = reminder_times(
        starts_at=starts_at,
        hours_before=hours_before,
        zone=ZoneInfo(zone),
        quiet_start=quiet[0],
        quiet_end=quiet[1],
        now=now,
    )
    dues = [due for _, due in times]
    assert dues == sorted(dues)
    assert {hours for hours, _ in times} <= set(hours_before)
    for due in dues:
        assert now < due < starts_at
        assert quiet_until(due, ZoneInfo(zone), *quiet) is None, due.astimezone(ZoneInfo(zone))
