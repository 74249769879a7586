"""Availability: one's own working hours and time off, and (for who supervises a team: its
leads, the program owners in it) the team's default hours and holidays.

``GET /desk/availability/`` (``?team=<slug>``: the team's) shows the hours per weekday, which
hours apply, and the time off to come; the forms post to ``availability/hours``,
``availability/time-off`` and ``availability/time-off/<id>/remove``, each one service call
(``scheduling.services``), then back to the page. A refused form re-renders the page (422)
with every mistake in the error summary and beside its field, keeping what was typed;
nothing is written. A team the user may not edit is the same 404 as one that does not exist.
Times typed for time off are read in the reader's time zone, which the form names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from refdesk.access import policy
from refdesk.access.schedule import (
    supervised_team_get_for_user,
    teams_supervised_by,
    time_off_get_for_user,
)
from refdesk.access.selectors import NOT_FOUND_MESSAGE
from refdesk.accounts.models import Team, User
from refdesk.accounts.selectors import user_timezone
from refdesk.core.errors import ValidationFailed
from refdesk.core.timezones import timezone_choices
from refdesk.scheduling.models import TimeOff, WorkingHours
from refdesk.scheduling.services import (
    LABEL_MAX,
    MAX_INTERVALS_PER_DAY,
    hours_errors,
    hours_summary,
    time_off_add,
    time_off_remove,
    working_hours_set,
)

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?")
LOCAL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?")
TIME_OFF_FIELDS = ("starts_at", "ends_at", "label")


@dataclass
class IntervalField:
    """One start/end pair of a weekday in the hours form."""

    name: str  # form field prefix, e.g. "d0-1"
    number: int
    starts: str = ""
    ends: str = ""
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class DayFields:
    weekday: int
    name: str
    intervals: list[IntervalField]


@dataclass
class Owner:
    """Whose availability the page shows: the reader's, or a team's they supervise."""

    user: User | None = None
    team: Team | None = None

    @property
    def filter(self) -> dict:
        return {"user": self.user} if self.team is None else {"team": self.team}

    @property
    def page_url(self) -> str:
        url = reverse("desk:availability")
        return f"{url}?team={self.team.slug}" if self.team is not None else url


def _require_schedule_user(request) -> None:
    if not policy.has_perm(request.user, "agenda.view"):
        raise Http404(NOT_FOUND_MESSAGE)


def _owner(request, slug: str) -> Owner:
    _require_schedule_user(request)
    if not slug:
        return Owner(user=request.user)
    return Owner(team=supervised_team_get_for_user(user=request.user, slug=slug))


def _day_fields(rows: list[WorkingHours]) -> list[DayFields]:
    days = []
    for weekday, name in enumerate(DAY_NAMES):
        stored = [row for row in rows if row.weekday == weekday]
        intervals = []
        for number in range(1, MAX_INTERVALS_PER_DAY + 1):
            row = stored[number - 1] if number <= len(stored) else None
            intervals.append(
                IntervalField(
                    name=f"d{weekday}-{number}",
                    number=number,
                    starts=f"{row.starts:%H:%M}" if row else "",
                    ends=f"{row.ends:%H:%M}" if row else "",
                )
            )
        days.append(DayFields(weekday, name, intervals))
    return days


def _default_zone(owner: Owner, rows: list[WorkingHours], teams: list[Team]) -> str:
    if rows:
        return rows[0].timezone
    if owner.team is not None:
        return owner.team.timezone
    if owner.user.timezone:
        return owner.user.timezone
    return teams[0].timezone if teams else user_timezone(owner.user).key


def _applies(owner: Owner, rows: list[WorkingHours], teams: list[Team]) -> list[str]:
    """In words, which hours take appointments: own rows, else each team's, else the
    programs' business hours (``scheduling.selectors.weekly_hours``)."""
    if owner.team is not None:
        if rows:
            return ["The team's default hours below apply to members without their own."]
        return [
            "The team has no default hours: members without their own work the business "
            "hours of its programs."
        ]
    if rows:
        return ["Your own hours below apply in every team you are in."]
    team_rows: dict[int, list[WorkingHours]] = {}
    for row in WorkingHours.objects.filter(team__in=teams):
        team_rows.setdefault(row.team_id, []).append(row)
    lines = []
    for team in teams:
        own = team_rows.get(team.pk)
        if own:
            summary = ", ".join(hours_summary((r.weekday, r.starts, r.ends) for r in own))
            lines.append(f"{team.name}: the team's default hours ({summary}, {own[0].timezone}).")
        else:
            lines.append(f"{team.name}: the business hours of its programs.")
    return lines or ["You are in no team yet: nobody books appointments with you."]


def _render(request, owner: Owner, *, status: int = 200, **extra):
    user = request.user
    zone = user_timezone(user)
    now = timezone.now()
    rows = list(WorkingHours.objects.filter(**owner.filter))
    teams = list(Team.objects.filter(pk__in=policy.team_ids(user)).order_by("name"))
    time_off = TimeOff.objects.filter(ends_at__gt=now, **owner.filter)
    team_holidays = []
    if owner.team is None:
        team_holidays = list(
            TimeOff.objects.select_related("team").filter(ends_at__gt=now, team__in=teams)
        )
    context = {
        "owner": owner,
        "title": f"Availability of {owner.team.name}" if owner.team else "Your availability",
        "days": extra.pop("days", None) or _day_fields(rows),
        "zone_chosen": extra.pop("zone_chosen", None) or _default_zone(owner, rows, teams),
        "zone_choices": timezone_choices(),
        "applies": _applies(owner, rows, teams),
        "time_off": list(time_off),
        "team_holidays": team_holidays,
        "supervised": teams_supervised_by(user=user),
        "viewer_tz": zone,
        "label_max": LABEL_MAX,
        "max_intervals": MAX_INTERVALS_PER_DAY,
        "typed": {"starts_at": "", "ends_at": "", "label": ""},
        "field_errors": {},
        "error_summary": [],
    }
    context.update(extra)
    return TemplateResponse(request, "desk/schedule/availability.html", context, status=status)


@login_required
@require_GET
@never_cache
def availability(request):
    owner = _owner(request, request.GET.get("team", "").strip())
    return _render(request, owner)


# --- working hours -------------------------------------------------------------------------------


def _parse_clock(value: str) -> time | None:
    return time.fromisoformat(value) if CLOCK.fullmatch(value) else None


def _hours_form(post) -> tuple[list[DayFields], list[tuple[int, time, time]], list[IntervalField]]:
    """The days as typed, the complete rows, and the interval (by row index) of each row."""
    days = _day_fields([])
    rows: list[tuple[int, time, time]] = []
    sources: list[IntervalField] = []
    for day in days:
        for interval in day.intervals:
            interval.starts = post.get(f"{interval.name}-starts", "").strip()
            interval.ends = post.get(f"{interval.name}-ends", "").strip()
            if not interval.starts and not interval.ends:
                continue
            starts, ends = _parse_clock(interval.starts), _parse_clock(interval.ends)
            if starts is None:
                interval.errors["starts"] = "Enter a start time like 09:00."
            if ends is None:
                interval.errors["ends"] = "Enter an end time like 17:00."
            if starts is not None and ends is not None:
                rows.append((day.weekday, starts, ends))
                sources.append(interval)
    return days, rows, sources


def _hours_summary_items(days: list[DayFields], zone_error: str) -> list[dict]:
    items = []
    if zone_error:
        items.append({"href": "#f-timezone", "message": zone_error})
    for day in days:
        for interval in day.intervals:
            for part in ("starts", "ends"):
                if part in interval.errors:
                    items.append(
                        {
                            "href": f"#f-{interval.name}-{part}",
                            "message": f"{day.name}, interval {interval.number}: "
                            f"{interval.errors[part]}",
                        }
                    )
    return items


def _place_hours_errors(errors: list[dict], sources: list[IntervalField]) -> str:
    """Put the service's errors beside their fields; returns the time zone's error, if any."""
    zone_error = ""
    for error in errors:
        name = error["field"]
        if name == "timezone":
            zone_error = error["message"]
            continue
        _, index, part = name.split(".")
        part = "ends" if part == "ends" else "starts"
        sources[int(index)].errors.setdefault(part, error["message"])
    return zone_error


@login_required
@require_POST
@never_cache
def availability_hours(request):
    owner = _owner(request, request.POST.get("team", "").strip())
    zone = request.POST.get("timezone", "").strip()
    days, rows, sources = _hours_form(request.POST)
    typed_wrong = any(interval.errors for day in days for interval in day.intervals)
    zone_error = ""
    try:
        if typed_wrong:
            # Say everything at once: the zone and the overlaps of the rows that did parse.
            raise ValidationFailed(hours_errors(rows, zone))
        working_hours_set(
            owner_user=owner.user,
            owner_team=owner.team,
            rows=rows,
            timezone=zone,
            actor=request.user,
        )
    except ValidationFailed as failure:
        zone_error = _place_hours_errors(failure.errors, sources)
        return _render(
            request,
            owner,
            status=422,
            days=days,
            zone_chosen=zone,
            zone_error=zone_error,
            error_summary=_hours_summary_items(days, zone_error),
        )
    if rows:
        messages.success(request, "Working hours saved.")
    elif owner.team is not None:
        messages.success(request, "The team now works its programs' business hours.")
    else:
        messages.success(request, "You now work your team's hours.")
    return redirect(owner.page_url)


# --- time off ------------------------------------------------------------------------------------


def _parse_local(value: str, zone) -> datetime | None:
    if not LOCAL_DATETIME.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=zone)
    except ValueError:  # e.g. 2026-02-30
        return None


@login_required
@require_POST
@never_cache
def time_off_create(request):
    owner = _owner(request, request.POST.get("team", "").strip())
    zone = user_timezone(request.user)
    typed = {name: request.POST.get(name, "").strip() for name in TIME_OFF_FIELDS}
    starts_at = _parse_local(typed["starts_at"], zone)
    ends_at = _parse_local(typed["ends_at"], zone)
    errors = []
    if starts_at is None:
        errors.append({"field": "starts_at", "message": "Enter the start as a date and time."})
    if ends_at is None:
        errors.append({"field": "ends_at", "message": "Enter the end as a date and time."})
    try:
        if errors:
            raise ValidationFailed(errors)
        time_off_add(
            owner_user=owner.user,
            owner_team=owner.team,
            starts_at=starts_at,
            ends_at=ends_at,
            label=typed["label"],
            actor=request.user,
        )
    except ValidationFailed as failure:
        field_errors: dict[str, str] = {}
        for error in failure.errors:
            field_errors.setdefault(error["field"], error["message"])
        summary = [
            {"href": f"#f-{name}", "message": message} for name, message in field_errors.items()
        ]
        return _render(
            request,
            owner,
            status=422,
            typed=typed,
            field_errors=field_errors,
            error_summary=summary,
        )
    messages.success(request, "Time off added." if owner.team is None else "Team holiday added.")
    return redirect(owner.page_url)


@login_required
@require_POST
@never_cache
def time_off_delete(request, public_id):
    _require_schedule_user(request)
    row = time_off_get_for_user(user=request.user, public_id=public_id)
    owner = Owner(user=request.user) if row.user_id else Owner(team=row.team)
    time_off_remove(time_off=row, actor=request.user)
    messages.success(request, f"{row.label} removed.")
    return redirect(owner.page_url)
