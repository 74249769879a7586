"""Reads: availability, free slots, appointments, agendas and calendar feeds."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from refdesk.accounts.models import Team, User
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.schema_outreach import AppointmentType, Scheduling
from refdesk.scheduling.availability import (
    Interval,
    Slot,
    WeeklyHours,
    day_intervals,
    member_slots,
    subtract,
    working_intervals,
)
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.models import (
    Appointment,
    CalendarFeed,
    TimeOff,
    WorkingHours,
    feed_token_hash,
)

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def scheduling_rules(definition: ProgramDefinition) -> Scheduling | None:
    """The program's scheduling block, or None when it does not schedule."""
    rules = definition.scheduling
    return rules if rules is not None and rules.enabled else None


def appointment_types_for(
    definition: ProgramDefinition, request_type: str
) -> dict[str, AppointmentType]:
    """The appointment types this request type may book (in the program's order)."""
    rules = scheduling_rules(definition)
    if rules is None:
        return {}
    return {
        key: kind
        for key, kind in rules.appointment_types.items()
        if not kind.request_types or request_type in kind.request_types
    }


def bookable_members(team: Team) -> list[User]:
    """The team's active members who are not away, in a stable order."""
    return list(
        User.objects.filter(
            memberships__team=team, memberships__available=True, is_active=True
        ).order_by("username")
    )


def _rows_to_hours(rows) -> list[WeeklyHours]:
    return [WeeklyHours(r.weekday, r.starts, r.ends, ZoneInfo(r.timezone)) for r in rows]


def weekly_hours(
    *, member: User | None, team: Team, definition: ProgramDefinition
) -> list[WeeklyHours]:
    """The member's own hours, else the team's, else the program's business hours."""
    rows = WorkingHours.objects.filter(team=team)
    if member is not None:
        rows = rows | WorkingHours.objects.filter(user=member)
    return _effective_hours(list(rows), member, team, definition)


def _effective_hours(rows, member, team, definition) -> list[WeeklyHours]:
    """From the member's and the team's rows (already read): the member's own, else the
    team's, else the program's business hours."""
    own = [r for r in rows if member is not None and r.user_id == member.pk]
    if own:
        return _rows_to_hours(own)
    team_rows = [r for r in rows if r.team_id == team.pk]
    if team_rows:
        return _rows_to_hours(team_rows)
    hours = definition.business_hours
    zone = ZoneInfo(hours.timezone or team.timezone)
    starts, ends = time.fromisoformat(hours.start), time.fromisoformat(hours.end)
    return [WeeklyHours(WEEKDAYS[day], starts, ends, zone) for day in hours.days]


def time_off(
    *,
    member: User | None,
    team: Team,
    definition: ProgramDefinition,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """Time off of the member and the team, and the program's holidays (in the team's zone)."""
    rows = TimeOff.objects.filter(starts_at__lt=end, ends_at__gt=start, team=team)
    if member is not None:
        rows = rows | TimeOff.objects.filter(starts_at__lt=end, ends_at__gt=start, user=member)
    return _off_intervals(list(rows), member, team, definition)


def _off_intervals(rows, member, team, definition) -> list[Interval]:
    intervals = [
        (row.starts_at, row.ends_at)
        for row in rows
        if row.team_id == team.pk or (member is not None and row.user_id == member.pk)
    ]
    zone = ZoneInfo(definition.business_hours.timezone or team.timezone)
    intervals += day_intervals(definition.business_hours.holidays, zone)
    return intervals


def busy(
    member_ids: list[int], start: datetime, end: datetime, *, exclude: Appointment | None = None
) -> dict[int, list[Interval]]:
    """Each member's held time (booked appointments, buffer included) overlapping the window."""
    rows = Appointment.objects.filter(
        member_id__in=member_ids,
        status=AppointmentStatus.BOOKED,
        starts_at__lt=end,
        blocked_until__gt=start,
    )
    if exclude is not None:
        rows = rows.exclude(pk=exclude.pk)
    held: dict[int, list[Interval]] = {pk: [] for pk in member_ids}
    for member_id, starts_at, blocked_until in rows.values_list(
        "member_id", "starts_at", "blocked_until"
    ):
        held[member_id].append((starts_at, blocked_until))
    return held


def free_slots(
    *,
    definition: ProgramDefinition,
    team: Team,
    type_key: str,
    start: datetime,
    end: datetime,
    members: list[User] | None = None,
    exclude: Appointment | None = None,
    ignore_bookings: bool = False,
) -> list[Slot]:
    """Every free slot of the appointment type between ``start`` and ``end``, for each of
    ``members`` (default: the team's bookable members), ordered by time, then by who has the
    fewest booked appointments in the window (so a lead's booking spreads the work).
    ``ignore_bookings``: working time only (was a refused time taken, or never available?)."""
    rules = scheduling_rules(definition)
    if rules is None or type_key not in rules.appointment_types or start >= end:
        return []
    kind = rules.appointment_types[type_key]
    members = bookable_members(team) if members is None else members
    if not members:
        return []
    length = timedelta(minutes=kind.duration_minutes)
    buffer = timedelta(minutes=rules.buffer_minutes)
    # Look a little wider for held time: an appointment just before the window still holds
    # its buffer into it.
    held = busy([m.pk for m in members], start - timedelta(days=1), end, exclude=exclude)
    # Two queries for every member's hours and time off, whatever the team's size.
    hour_rows = list(
        WorkingHours.objects.filter(Q(team=team) | Q(user__in=[m.pk for m in members]))
    )
    off_rows = list(
        TimeOff.objects.filter(starts_at__lt=end, ends_at__gt=start).filter(
            Q(team=team) | Q(user__in=[m.pk for m in members])
        )
    )
    slots: list[Slot] = []
    for member in members:
        hours = _effective_hours(hour_rows, member, team, definition)
        working = working_intervals(hours, start, end)
        off = _off_intervals(off_rows, member, team, definition)
        working = subtract(working, off)
        grid_zone = hours[0].zone if hours else ZoneInfo(team.timezone)
        slots += member_slots(
            member_id=member.pk,
            working=working,
            busy=[] if ignore_bookings else held[member.pk],
            length=length,
            buffer=buffer,
            step=rules.slot_step_minutes,
            grid_zone=grid_zone,
        )
    load = Counter({m.pk: len(held[m.pk]) for m in members})
    slots.sort(key=lambda s: (s.starts_at, load[s.member_id], s.member_id))
    return slots


def first_per_start(slots: list[Slot]) -> list[Slot]:
    """One slot per start time (the first member offered): what a lead chooses from."""
    seen: set[datetime] = set()
    out = []
    for slot in slots:
        if slot.starts_at not in seen:
            seen.add(slot.starts_at)
            out.append(slot)
    return out


def booked_appointment(referral) -> Appointment | None:
    """The referral's one booked appointment, if any."""
    return (
        Appointment.objects.select_related("member", "team")
        .filter(referral=referral, status=AppointmentStatus.BOOKED)
        .first()
    )


def appointments_of(referral) -> list[Appointment]:
    """Every appointment of the referral, newest first (the referral page)."""
    return list(
        Appointment.objects.select_related("member")
        .filter(referral=referral)
        .order_by("-starts_at")
    )


def agenda(
    *, start: datetime, end: datetime, members: list[User] | None = None, team: Team | None = None
) -> QuerySet[Appointment]:
    """Appointments starting in [start, end) of the members or of the team, by time."""
    rows = Appointment.objects.select_related("member", "referral", "team").filter(
        starts_at__gte=start, starts_at__lt=end
    )
    if members is not None:
        rows = rows.filter(member__in=members)
    if team is not None:
        rows = rows.filter(team=team)
    return rows.order_by("starts_at", "member__username")


def live_feed(user: User) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).first()


# What a staff member's calendar feed covers, around the time it is read.
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=90)
# Cancelled ones are left out: they hold no time, and a subscribed calendar drops an event
# that is no longer in the feed.
FEED_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW)


def feed_for_token(token: str) -> CalendarFeed | None:
    """The live feed whose URL carries ``token`` (looked up by its hash), with its user."""
    if not token:
        return None
    return (
        CalendarFeed.objects.select_related("user")
        .filter(token_hash=feed_token_hash(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def feed_appointments(user: User, *, now: datetime) -> QuerySet[Appointment]:
    """The member's appointments a feed read at ``now`` lists (booked, attended, no-show)."""
    return agenda(start=now - FEED_PAST, end=now + FEED_AHEAD, members=[user]).filter(
        status__in=FEED_STATUSES
    )


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]
