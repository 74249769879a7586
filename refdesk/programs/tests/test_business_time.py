"""Business-time arithmetic for SLA clocks: weekends, holidays, nights and daylight-saving changes.

The demo calendar: Monday-Friday 09:00-17:00 America/New_York with the 2026 holidays of the demo
programs. Expected instants are exact UTC times: EST is UTC-5, EDT (from 2026-03-08 to
2026-11-01) is UTC-4.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refdesk.programs.engine import BusinessCalendar, add_business_time, business_time_between

UTC = dt.UTC
NEW_YORK = BusinessCalendar.build(
    timezone="America/New_York",
    holidays=(
        dt.date(2026, 1, 1),
        dt.date(2026, 5, 25),
        dt.date(2026, 7, 3),
        dt.date(2026, 9, 7),
        dt.date(2026, 11, 26),
        dt.date(2026, 12, 25),
    ),
)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("received", "amount", "due"),
    [
        # Friday 15:00 EST + 1 business day -> Monday 15:00 EST: the weekend does not count.
        (utc(2026, 1, 16, 20, 0), {"days": 1}, utc(2026, 1, 19, 20, 0)),
        # Friday 15:00 EST + 4 business hours -> Monday 11:00 EST.
        (utc(2026, 1, 16, 20, 0), {"hours": 4}, utc(2026, 1, 19, 16, 0)),
        # Wednesday before Thanksgiving 10:00 EST + 1 day -> Friday 10:00 (Thursday is a holiday).
        (utc(2026, 11, 25, 15, 0), {"days": 1}, utc(2026, 11, 27, 15, 0)),
        # Thursday 2 July 14:00 EDT + 1 day: Friday 3 July is a holiday -> Monday 14:00 EDT.
        (utc(2026, 7, 2, 18, 0), {"days": 1}, utc(2026, 7, 6, 18, 0)),
        # Tuesday 22:00 EDT (night) + 1 day: counting starts Wednesday 09:00 -> Wednesday 17:00.
        (utc(2026, 3, 11, 2, 0), {"days": 1}, utc(2026, 3, 11, 21, 0)),
        # Same night intake + 2 business hours -> Wednesday 11:00 EDT.
        (utc(2026, 3, 11, 2, 0), {"hours": 2}, utc(2026, 3, 11, 15, 0)),
        # Early morning 07:30 EST counts from 09:00 the same day.
        (utc(2026, 1, 14, 12, 30), {"hours": 1}, utc(2026, 1, 14, 15, 0)),
        # Spring forward (Sunday 2026-03-08): Friday 16:00 EST -> Monday 16:00 EDT.
        (utc(2026, 3, 6, 21, 0), {"days": 1}, utc(2026, 3, 9, 20, 0)),
        # Spring forward, hours: Friday 16:30 EST + 1 hour -> Monday 09:30 EDT.
        (utc(2026, 3, 6, 21, 30), {"hours": 1}, utc(2026, 3, 9, 13, 30)),
        # Intake on the Saturday of the change (12:00 EST) -> Monday 17:00 EDT.
        (utc(2026, 3, 7, 17, 0), {"days": 1}, utc(2026, 3, 9, 21, 0)),
        # Fall back (Sunday 2026-11-01): Friday 16:00 EDT -> Monday 16:00 EST.
        (utc(2026, 10, 30, 20, 0), {"days": 1}, utc(2026, 11, 2, 21, 0)),
        # Fall back, in the repeated hour itself (01:30 EDT Sunday) -> Monday 17:00 EST.
        (utc(2026, 11, 1, 5, 30), {"days": 1}, utc(2026, 11, 2, 22, 0)),
        # Two business days from a Friday afternoon before the spring change -> Tuesday 16:00 EDT.
        (utc(2026, 3, 6, 21, 0), {"days": 2}, utc(2026, 3, 10, 20, 0)),
    ],
)
def test_add_business_time_counts_only_business_hours(received, amount, due):
    assert add_business_time(received, calendar=NEW_YORK, **amount) == due


def test_an_intake_at_closing_time_starts_counting_at_the_next_opening():
    friday_close = utc(2026, 1, 16, 22, 0)  # 17:00 EST
    assert add_business_time(friday_close, hours=1, calendar=NEW_YORK) == utc(2026, 1, 19, 15, 0)


def test_a_deadline_that_ends_with_the_working_day_stays_at_closing():
    monday_open = utc(2026, 1, 19, 14, 0)  # 09:00 EST
    assert add_business_time(monday_open, days=1, calendar=NEW_YORK) == utc(2026, 1, 19, 22, 0)
    assert add_business_time(monday_open, hours=8, calendar=NEW_YORK) == utc(2026, 1, 19, 22, 0)


def test_one_business_day_is_one_working_day_of_business_hours():
    monday = utc(2026, 1, 19, 15, 0)
    assert add_business_time(monday, days=1, calendar=NEW_YORK) == add_business_time(
        monday, hours=8, calendar=NEW_YORK
    )


def test_the_result_is_aware_utc_and_a_naive_start_reads_as_utc():
    naive = dt.datetime(2026, 1, 16, 20, 0)  # noqa: DTZ001 - naive on purpose: read as UTC
    due = add_business_time(naive, days=1, calendar=NEW_YORK)
    assert due.tzinfo is UTC
    assert due == utc(2026, 1, 19, 20, 0)


def test_a_start_in_another_time_zone_is_the_same_instant():
    tokyo = dt.datetime(2026, 1, 17, 5, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert add_business_time(tokyo, days=1, calendar=NEW_YORK) == utc(2026, 1, 19, 20, 0)


def test_zero_business_time_is_the_next_business_instant():
    saturday = utc(2026, 1, 17, 15, 0)
    assert add_business_time(saturday, calendar=NEW_YORK) == utc(2026, 1, 19, 14, 0)


def test_a_calendar_with_other_days_and_hours():
    weekend_desk = BusinessCalendar.build(
        timezone="Europe/Berlin", days=("sat", "sun"), start="10:00", end="14:00"
    )
    friday_noon = utc(2026, 1, 16, 11, 0)  # 12:00 CET
    # Counting starts Saturday 10:00 CET; 4 hours fill Saturday; 1 more -> Sunday 11:00 CET.
    assert add_business_time(friday_noon, hours=5, calendar=weekend_desk) == utc(2026, 1, 18, 10, 0)


def test_a_calendar_needs_a_working_day_and_an_end_after_the_start():
    with pytest.raises(ValueError):
        BusinessCalendar.build(timezone="UTC", days=())
    with pytest.raises(ValueError):
        BusinessCalendar.build(timezone="UTC", start="17:00", end="09:00")


def test_business_time_between_skips_nights_weekends_and_holidays():
    wednesday = utc(2026, 11, 25, 20, 0)  # 15:00 EST, the day before Thanksgiving
    monday = utc(2026, 11, 30, 15, 0)  # 10:00 EST
    # Wednesday 2h + Friday 8h + Monday 1h.
    assert business_time_between(wednesday, monday, calendar=NEW_YORK) == dt.timedelta(hours=11)
    assert business_time_between(monday, wednesday, calendar=NEW_YORK) == dt.timedelta(0)


def test_describe_names_days_hours_zone_and_holidays():
    assert NEW_YORK.describe() == "mon-fri 09:00-17:00 America/New_York, 6 holidays"


@given(
    # hypothesis draws naive datetimes between naive bounds; each is made aware right away
    start=st.datetimes(min_value=dt.datetime(2025, 12, 1), max_value=dt.datetime(2027, 1, 31)).map(  # noqa: DTZ001, E501
        lambda d: d.replace(tzinfo=UTC)
    ),
    minutes=st.integers(min_value=0, max_value=60 * 8 * 30),
)
def test_business_time_between_inverts_add_business_time(start, minutes):
    due = add_business_time(start, minutes=minutes, calendar=NEW_YORK)
    assert due.tzinfo is UTC
    assert due >= start
    assert business_time_between(start, due, calendar=NEW_YORK) == dt.timedelta(minutes=minutes)


@given(
    # hypothesis draws naive datetimes between naive bounds; each is made aware right away
    start=st.datetimes(min_value=dt.datetime(2025, 12, 1), max_value=dt.datetime(2027, 1, 31)).map(  # noqa: DTZ001, E501
        lambda d: d.replace(tzinfo=UTC)
    ),
    days=st.integers(min_value=1, max_value=15),
    split=st.floats(min_value=0.01, max_value=0.99),
)
def test_whole_days_agree_with_counting_in_two_steps(start, days, split):
    # add(days) takes a shortcut for whole days; two steps of minutes walk hour by hour.
    total = 8 * 60 * days
    first = max(1, min(total - 1, int(total * split)))
    in_two_steps = add_business_time(
        add_business_time(start, minutes=first, calendar=NEW_YORK),
        minutes=total - first,
        calendar=NEW_YORK,
    )
    assert add_business_time(start, days=days, calendar=NEW_YORK) == in_two_steps
