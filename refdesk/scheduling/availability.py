"""Free slots: working hours minus time off, holidays and booked time, on the program's grid.

Pure arithmetic on aware datetimes (no database): ``selectors.free_slots`` gathers the rows and
calls ``member_slots`` per member. Working hours are wall-clock intervals in their own time zone,
so a member's 09:00 stays 09:00 across daylight-saving changes. A slot [s, s + length) fits when
it lies inside working time and its held range [s, s + length + buffer) overlaps no booked
appointment's held range — the very condition the database enforces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class WeeklyHours:
    """One weekly working interval: weekday 0 = Monday, wall-clock times in ``zone``."""

    weekday: int
    starts: time
    ends: time
    zone: ZoneInfo


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime
    member_id: int


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    # A wall-clock time skipped by a spring-forward change resolves forward (fold 0 on a gap
    # gives the standard-time reading, which converts to the later instant).
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def working_intervals(
    hours: Iterable[WeeklyHours], start: datetime, end: datetime
) -> list[Interval]:
    """The weekly hours laid out as UTC intervals between ``start`` and ``end``, clipped."""
    out: list[Interval] = []
    for row in hours:
        first = start.astimezone(row.zone).date() - timedelta(days=1)
        last = end.astimezone(row.zone).date() + timedelta(days=1)
        day = first
        while day <= last:
            if day.weekday() == row.weekday:
                a, b = _local(day, row.starts, row.zone), _local(day, row.ends, row.zone)
                a, b = max(a, start), min(b, end)
                if a < b:
                    out.append((a, b))
            day += timedelta(days=1)
    return merge(out)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def subtract(intervals: Sequence[Interval], holes: Iterable[Interval]) -> list[Interval]:
    """``intervals`` with every part covered by ``holes`` removed."""
    result = list(intervals)
    for h0, h1 in merge(holes):
        next_result = []
        for a, b in result:
            if h1 <= a or h0 >= b:
                next_result.append((a, b))
                continue
            if a < h0:
                next_result.append((a, h0))
            if h1 < b:
                next_result.append((h1, b))
        result = next_result
    return result


def day_intervals(days: Iterable[date], zone: ZoneInfo) -> list[Interval]:
    """Whole local days (holidays) as UTC intervals."""
    return [
        (_local(day, time(0), zone), _local(day + timedelta(days=1), time(0), zone)) for day in days
    ]


def _first_on_grid(moment: datetime, zone: ZoneInfo, step: int) -> datetime:
    """The first moment at or after ``moment`` whose local minute of the day is on the grid."""
    local = moment.astimezone(zone)
    minutes = local.hour * 60 + local.minute
    extra = (-minutes) % step
    if extra == 0 and local.second == 0 and local.microsecond == 0:
        return moment
    if extra == 0:
        extra = step
    base = local.replace(second=0, microsecond=0)
    return (base + timedelta(minutes=extra)).astimezone(UTC)


def member_slots(
    *,
    member_id: int,
    working: Sequence[Interval],
    busy: Sequence[Interval],
    length: timedelta,
    buffer: timedelta,
    step: int,
    grid_zone: ZoneInfo,
) -> list[Slot]:
    """Every slot of ``length`` on the ``step``-minute grid (in ``grid_zone``) inside
    ``working`` whose held range [s, s + length + buffer) overlaps nothing in ``busy``."""
    busy = merge(busy)
    slots: list[Slot] = []
    for a, b in working:
        s = _first_on_grid(a, grid_zone, step)
        while s + length <= b:
            held_end = s + length + buffer
            clash = next((e for (bs, e) in busy if bs < held_end and s < e), None)
            if clash is None:
                slots.append(Slot(s, s + length, member_id))
                s += timedelta(minutes=step)
            else:
                # Jump past the clash, back onto the grid.
                s = _first_on_grid(max(clash, s + timedelta(minutes=step)), grid_zone, step)
    return slots


def fits(slot_start: datetime, slots: Iterable[Slot]) -> Slot | None:
    return next((slot for slot in slots if slot.starts_at == slot_start), None)
