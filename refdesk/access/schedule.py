"""The access helpers of the schedule pages: teams, members and time off as the user may
reach them, and the agenda rows they may read.

Like ``refdesk.access.selectors``, each helper raises the same ``Http404(NOT_FOUND_MESSAGE)``
for a malformed name, an unknown one and one the user may not reach (``policy``:
``agenda.*``, ``team.supervise``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404

from refdesk.access import policy
from refdesk.access.selectors import NOT_FOUND_MESSAGE
from refdesk.accounts.models import Team, User
from refdesk.accounts.roles import PATIENT_LEADS_HIDDEN_FROM
from refdesk.scheduling.models import Appointment, TimeOff
from refdesk.scheduling.selectors import agenda


def _uuid(value) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise Http404(NOT_FOUND_MESSAGE) from None


def _team(slug: str) -> Team | None:
    return Team.objects.filter(slug=slug).first() if slug else None


def agenda_team_get_for_user(*, user, slug: str) -> Team:
    """The team whose agenda the user may read (a member of it)."""
    team = _team(slug)
    if team is None or not policy.has_perm(user, "agenda.view_team", team):
        raise Http404(NOT_FOUND_MESSAGE)
    return team


def supervised_team_get_for_user(*, user, slug: str) -> Team:
    """The team whose default hours and holidays the user may edit (its lead, a program
    owner in it)."""
    team = _team(slug)
    if team is None or not policy.has_perm(user, "team.supervise", team):
        raise Http404(NOT_FOUND_MESSAGE)
    return team


def teams_supervised_by(*, user) -> list[Team]:
    if not policy.has_perm(user, "agenda.view"):
        return []
    return list(Team.objects.filter(pk__in=policy.supervised_team_ids(user)).order_by("slug"))


def agenda_member_get_for_user(*, user, public_id) -> User:
    """The member whose agenda the user may read: themselves, or someone in a team the user
    supervises."""
    key = _uuid(public_id)
    if user.public_id == key:
        return user
    member = User.objects.filter(public_id=key, is_active=True).first()
    if member is None or not policy.has_perm(user, "agenda.view_member", member):
        raise Http404(NOT_FOUND_MESSAGE)
    return member


def time_off_get_for_user(*, user, public_id) -> TimeOff:
    """The user's own time off, or a holiday of a team they supervise."""
    row = TimeOff.objects.select_related("team").filter(public_id=_uuid(public_id)).first()
    if row is None or not policy.has_perm(user, "agenda.view"):
        raise Http404(NOT_FOUND_MESSAGE)
    if row.user_id == user.pk:
        return row
    if row.team_id is not None and policy.has_perm(user, "team.supervise", row.team):
        return row
    raise Http404(NOT_FOUND_MESSAGE)


def agenda_visible_to(
    *,
    user,
    start: datetime,
    end: datetime,
    member: User | None = None,
    team: Team | None = None,
) -> QuerySet[Appointment]:
    """The agenda rows (``scheduling.selectors.agenda``) of a member or team the caller got
    through the helpers above; without patient leads for roles that never see one."""
    rows = agenda(start=start, end=end, members=[member] if member else None, team=team)
    if user.role in PATIENT_LEADS_HIDDEN_FROM:
        rows = rows.exclude(referral__lead_kind="patient")
    return rows
