"""Business-time arithmetic for SLA clocks: pure functions, no Django.

Business time runs only on working days, between opening and closing, and never on holidays.
All counting happens in the calendar's local *wall-clock* time and is converted to UTC at the
end: a first response "1 business day" after Friday 16:00 is due Monday 16:00 local, whatever
daylight-saving change happened over the weekend. Working days with a DST jump inside business
hours (only possible with unusual opening hours) count their wall-clock length.

A business day is one working day's length of business time (09:00-17:00: 8 hours), so
"1 business day" from Monday 10:00 ends Tuesday 10:00, and from an intake on Saturday it ends
Monday at closing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
UTC = dt.UTC


@dataclass(frozen=True)
class BusinessCalendar:
    """When a clock runs: working weekdays, opening hours and holidays in one time zone."""

    timezone: ZoneInfo
    weekdays: frozenset[int]  # date.weekday() numbers, Monday = 0
    opens: dt.time
    closes: dt.time
    holidays: frozenset[dt.date] = frozenset()
    # (day, n) -> the n-th business day after day; pure, so safe to share (bounded below).
    _memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    day_length: dt.timedelta = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        if not self.weekdays:
            raise ValueError("a business calendar needs at least one working day")
        if self.closes <= self.opens:
            raise ValueError("closing time must be after opening time")
        length = dt.datetime.combine(dt.date.min, self.closes) - dt.datetime.combine(
            dt.date.min, self.opens
        )
        object.__setattr__(self, "day_length", length)  # frozen: set once, derived

    @classmethod
    def build(
        cls,
        *,
        timezone: str,
        days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri"),
        start: str = "09:00",
        end: str = "17:00",
        holidays: tuple[dt.date, ...] = (),
    ) -> BusinessCalendar:
        """A calendar from the program schema's spelling (weekday names, "HH:MM" strings)."""
        return cls(
            timezone=ZoneInfo(timezone),
            weekdays=frozenset(WEEKDAYS.index(day) for day in days),
            opens=dt.time.fromisoformat(start),
            closes=dt.time.fromisoformat(end),
            holidays=frozenset(holidays),
        )

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def describe(self) -> str:
        """E.g. "mon-fri 09:00-17:00 America/New_York, 6 holidays" (for explanations)."""
        days = sorted(self.weekdays)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
            day_text = f"{WEEKDAYS[days[0]]}-{WEEKDAYS[days[-1]]}"
        else:
            day_text = ",".join(WEEKDAYS[d] for d in days)
        text = (
            f"{day_text} {self.opens:%H:%M}-{self.closes:%H:%M} {self.timezone.key}"
            if self.timezone.key
            else f"{day_text} {self.opens:%H:%M}-{self.closes:%H:%M}"
        )
        if self.holidays:
            text += f", {len(self.holidays)} holiday{'s' if len(self.holidays) != 1 else ''}"
        return text


def to_local(instant: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
    """The naive wall-clock time of ``instant`` in the calendar's zone (naive means UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(calendar.timezone).replace(tzinfo=None)


def to_utc(local: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
    """An aware UTC instant from a naive wall-clock time in the calendar's zone.

    A wall time skipped by a spring-forward change resolves with the offset before the change
    (fold=0), i.e. an hour later in the new offset; ambiguous times take their first occurrence.
    """
    return local.replace(tzinfo=calendar.timezone).astimezone(UTC)


def next_business_day(day: dt.date, calendar: BusinessCalendar) -> dt.date:
    """The first business day strictly after ``day``."""
    day += dt.timedelta(days=1)
    while not calendar.is_business_day(day):  # ends: some weekday works, holidays are finite
        day += dt.timedelta(days=1)
    return day


def nth_business_day(day: dt.date, n: int, calendar: BusinessCalendar) -> dt.date:
    """The n-th business day after ``day`` (``day`` itself for n = 0)."""
    key = (day, n)
    found = calendar._memo.get(key)
    if found is None:
        found = day
        for _ in range(n):
            found = next_business_day(found, calendar)
        if len(calendar._memo) < 20_000:
            calendar._memo[key] = found
    return found


def business_instant(local: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
    """The first wall-clock moment at or after ``local`` when the clock runs.

    Inside business hours: ``local`` itself. Before opening on a business day: that opening.
    At or after closing, or on a day off: the next business day's opening.
    """
    day = local.date()
    if calendar.is_business_day(day):
        now = local.time()
        if now < calendar.opens:
            return dt.datetime.combine(day, calendar.opens)
        if now < calendar.closes:
            return local
    return dt.datetime.combine(next_business_day(day, calendar), calendar.opens)


def add_business_local(
    local: dt.datetime, amount: dt.timedelta, calendar: BusinessCalendar
) -> dt.datetime:
    """Wall-clock arithmetic: ``amount`` of business time after naive local time ``local``.

    A deadline that falls exactly at closing stays at closing (not the next opening).
    """
    current = business_instant(local, calendar)
    remaining = amount
    if remaining <= dt.timedelta(0):
        return current
    days, rest = divmod(remaining, calendar.day_length)
    if not rest:
        return add_whole_days(current, days, calendar)
    while True:
        left_today = dt.datetime.combine(current.date(), calendar.closes) - current
        if remaining <= left_today:
            return current + remaining
        remaining -= left_today
        current = dt.datetime.combine(next_business_day(current.date(), calendar), calendar.opens)


def add_whole_days(current: dt.datetime, days: int, calendar: BusinessCalendar) -> dt.datetime:
    """``days`` (>= 1) whole business days after ``current``, a business instant (naive local).

    The usual SLA, so a shortcut: the same wall time ``days`` business days later; from the
    opening instant that is the closing of the day before (the same amount of business time).
    """
    now = current.time()
    if now == calendar.opens:
        return dt.datetime.combine(
            nth_business_day(current.date(), days - 1, calendar), calendar.closes
        )
    return dt.datetime.combine(nth_business_day(current.date(), days, calendar), now)


def add_business_time(
    start: dt.datetime,
    *,
    calendar: BusinessCalendar,
    days: int = 0,
    hours: float = 0,
    minutes: float = 0,
) -> dt.datetime:
    """The aware UTC instant ``days``/``hours``/``minutes`` of business time after ``start``.

    ``start`` is an aware instant (naive is read as UTC). An instant outside business hours
    starts counting at the next opening. A business day is one working day's length.
    """
    amount = calendar.day_length * days + dt.timedelta(hours=hours, minutes=minutes)
    return to_utc(add_business_local(to_local(start, calendar), amount, calendar), calendar)


def business_time_between(
    start: dt.datetime, end: dt.datetime, *, calendar: BusinessCalendar
) -> dt.timedelta:
    """How much business time runs from ``start`` to ``end`` (zero when end is not later).

    The inverse of ``add_business_time``: for a business-hours start,
    ``business_time_between(s, add_business_time(s, hours=h)) == h hours``.
    """
    current = business_instant(to_local(start, calendar), calendar)
    stop = business_instant(to_local(end, calendar), calendar)
    total = dt.timedelta(0)
    while current < stop:
        close = dt.datetime.combine(current.date(), calendar.closes)
        if stop <= close:
            return total + (stop - current)
        total += close - current
        current = dt.datetime.combine(next_business_day(current.date(), calendar), calendar.opens)
    return total
