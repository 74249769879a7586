"""The free-slot arithmetic (pure: no database)."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from refdesk.scheduling.availability import (
    WeeklyHours,
    day_intervals,
    member_slots,
    subtract,
    working_intervals,
)

NEW_YORK = ZoneInfo("America/New_York")
MINUTES = timedelta(minutes=1)


def slots(working, busy=(), length=15, buffer=10, step=15, zone=NEW_YORK):
    return member_slots(
        member_id=1,
        working=working,
        busy=list(busy),
        length=length * MINUTES,
        buffer=buffer * MINUTES,
        step=step,
        grid_zone=zone,
    )


def test_working_hours_keep_their_wall_clock_time_across_daylight_saving():
    hours = [WeeklyHours(d, time(9), time(17), NEW_YORK) for d in range(7)]
    # Saturday 7 March to Monday 9 March 2026: the clocks go forward on Sunday 8 March.
    days = working_intervals(
        hours, datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
    )
    starts = [start.astimezone(NEW_YORK).time() for start, _ in days]
    assert starts == [time(9)] * 3
    assert [start.hour for start, _ in days] == [14, 13, 13]  # UTC: EST, then EDT


def test_a_slot_keeps_the_buffer_clear_on_both_sides_of_a_booking():
    day = datetime(2026, 12, 8, 14, tzinfo=UTC)  # 09:00 New York
    booked = (day + 60 * MINUTES, day + 85 * MINUTES)  # 10:00-10:15, held to 10:25
    free = [
        s.starts_at.astimezone(NEW_YORK).strftime("%H:%M")
        for s in slots([(day, day + 180 * MINUTES)], busy=[booked])
    ]
    # 09:45 would hold until 10:10, into the booking: refused; after it, the grid resumes at
    # 10:30 (10:25 is off the 15-minute grid).
    assert free == ["09:00", "09:15", "09:30", "10:30", "10:45", "11:00", "11:15", "11:30", "11:45"]


def test_slots_lie_on_the_grid_of_the_members_own_zone():
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    start = datetime(2026, 12, 8, 3, 40, tzinfo=UTC)  # 09:10 in Kolkata
    free = slots([(start, start + 60 * MINUTES)], zone=kolkata, buffer=0)
    assert [s.starts_at.astimezone(kolkata).strftime("%H:%M") for s in free] == [
        "09:15",
        "09:30",
        "09:45",
    ]


def test_time_off_and_holidays_are_left_out():
    day = datetime(2026, 12, 24, 14, tzinfo=UTC)
    working = [
        (day, day + 8 * 60 * MINUTES),
        (day + timedelta(days=1), day + timedelta(days=1, hours=8)),
    ]
    holiday = day_intervals([date(2026, 12, 25)], NEW_YORK)
    left = subtract(working, holiday)
    assert left == [working[0]]
    lunch = (day + 3 * 60 * MINUTES, day + 4 * 60 * MINUTES)
    assert subtract(left, [lunch]) == [(day, lunch[0]), (lunch[1], day + 8 * 60 * MINUTES)]
