"""The agenda: a day or a week of appointments, in the reader's time zone.

``GET /desk/agenda/?view=day|week&date=YYYY-MM-DD&member=<public id>|team=<slug>``; by default
the reader's own appointments this week. Whose agenda may be read is the policy's
(``agenda.view``, ``agenda.view_team``, ``agenda.view_member``), asked through the access
helpers: a team or member the reader may not see is the same 404 as one that does not exist.
A malformed parameter is a 400 page saying which and how to write it. Each entry shows the
time, type, status, member and the referral's reference, never the lead's name; the page
spends the same number of queries whatever the number of appointments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from refdesk.access import policy
from refdesk.access.schedule import (
    agenda_member_get_for_user,
    agenda_team_get_for_user,
    agenda_visible_to,
)
from refdesk.access.selectors import NOT_FOUND_MESSAGE
from refdesk.accounts.models import Team, User
from refdesk.accounts.selectors import user_timezone
from refdesk.scheduling.models import Appointment

VIEWS = ("week", "day")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class BadParameter(Exception):
    """A query parameter the page cannot read: answered with a 400 naming it."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass
class AgendaDay:
    day: date
    entries: list[Appointment]


def display_name(user: User) -> str:
    return user.get_full_name() or user.get_username()


def _view(value: str) -> str:
    value = value or "week"
    if value not in VIEWS:
        raise BadParameter("The view must be day or week.", "agenda-view")
    return value


def _date(value: str, zone: ZoneInfo) -> date:
    if not value:
        return timezone.localtime(timezone.now(), zone).date()
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise BadParameter(
            "The date must be a real date written like 2026-12-07.", "agenda-date"
        ) from None


def _period(view: str, day: date) -> tuple[date, date, timedelta]:
    """The first day shown, the day after the last, and the step to the next period."""
    if view == "day":
        return day, day + timedelta(days=1), timedelta(days=1)
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=7), timedelta(days=7)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _url(view: str, day: date, whose: dict[str, str]) -> str:
    return (
        reverse("desk:agenda") + "?" + urlencode({"view": view, "date": day.isoformat(), **whose})
    )


def _bad_request(request, error: BadParameter, zone: ZoneInfo):
    context = {
        "error": str(error),
        "error_href": f"#{error.field}",
        "viewer_tz": zone,
        "days": [],
        "title": "Agenda",
    }
    return TemplateResponse(request, "desk/schedule/agenda.html", context, status=400)


@login_required
@require_GET
@never_cache
def agenda(request):
    user = request.user
    if not policy.has_perm(user, "agenda.view"):
        raise Http404(NOT_FOUND_MESSAGE)
    zone = user_timezone(user)
    member_id = request.GET.get("member", "").strip()
    team_slug = request.GET.get("team", "").strip()
    try:
        view = _view(request.GET.get("view", "").strip())
        day = _date(request.GET.get("date", "").strip(), zone)
        if member_id and team_slug:
            raise BadParameter("Choose a member or a team, not both.", "agenda-team")
    except BadParameter as error:
        return _bad_request(request, error, zone)
    team: Team | None = None
    member: User | None = None
    if team_slug:
        team = agenda_team_get_for_user(user=user, slug=team_slug)
        whose = {"team": team.slug}
        title = f"Agenda of {team.name}"
    else:
        member = agenda_member_get_for_user(user=user, public_id=member_id or user.public_id)
        whose = {"member": str(member.public_id)} if member != user else {}
        title = "Your agenda" if member == user else f"Agenda of {display_name(member)}"
    first, after, step = _period(view, day)
    rows = list(
        agenda_visible_to(
            user=user,
            start=_midnight(first, zone),
            end=_midnight(after, zone),
            member=member,
            team=team,
        )
    )
    by_day: dict[date, list[Appointment]] = {}
    for row in rows:
        by_day.setdefault(timezone.localtime(row.starts_at, zone).date(), []).append(row)
    days = [
        AgendaDay(first + timedelta(days=i), by_day.get(first + timedelta(days=i), []))
        for i in range((after - first).days)
    ]
    teams = list(Team.objects.filter(pk__in=policy.team_ids(user)).order_by("name"))
    context = {
        "title": title,
        "view": view,
        "day": day,
        "first": first,
        "last": after - timedelta(days=1),
        "days": days,
        "count": len(rows),
        "team": team,
        "member": member,
        "is_own": member == user,
        "teams": teams,
        # In a team's agenda, who supervises the team may open each member's own agenda.
        "links_members": team is not None and policy.has_perm(user, "team.supervise", team),
        "viewer_tz": zone,
        "prev_url": _url(view, first - step, whose),
        "next_url": _url(view, first + step, whose),
        "today_url": _url(view, timezone.localtime(timezone.now(), zone).date(), whose),
        "day_url": _url("day", day, whose),
        "week_url": _url("week", day, whose),
    }
    return TemplateResponse(request, "desk/schedule/agenda.html", context)
