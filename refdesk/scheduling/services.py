"""Writes of availability and calendar feeds: working hours, time off, private feed URLs.

Each service checks its input and raises ``ValidationFailed`` with one message per field, so
a page can show every mistake at once; nothing is written when anything is refused. Each
change is audited in the same transaction. None of it is patient data: hours, labels such as
"Holiday", and feed ids (never the token, which is the feed's only credential).
"""

from __future__ import annotations

import secrets
import zoneinfo
from collections.abc import Sequence
from datetime import datetime, time

from django.db import transaction
from django.utils import timezone as django_timezone

from refdesk.accounts.models import Team, User
from refdesk.audit.services import Actor, actor_label, audit_record
from refdesk.core.errors import ValidationFailed
from refdesk.scheduling.models import CalendarFeed, TimeOff, WorkingHours, feed_token_hash

# More would be a split shift of a split shift: most likely a typing mistake.
MAX_INTERVALS_PER_DAY = 3
LABEL_MAX = TimeOff._meta.get_field("label").max_length
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

type HoursRow = tuple[int, time, time]


def _error(field: str, code: str, message: str) -> dict:
    return {"field": field, "code": code, "message": message}


def _one_owner(owner_user: User | None, owner_team: Team | None) -> User | Team:
    # A programming mistake, not a user's: the pages always name exactly one owner.
    if (owner_user is None) == (owner_team is None):
        raise ValueError("name exactly one owner: owner_user or owner_team")
    return owner_user if owner_user is not None else owner_team


def _owner_filter(owner: User | Team) -> dict:
    return {"user": owner} if isinstance(owner, User) else {"team": owner}


def _owner_changes(owner: User | Team) -> dict:
    if isinstance(owner, User):
        return {"user": (None, owner.get_username())}
    return {"team": (None, owner.slug)}


def hours_summary(rows) -> list[str]:
    """``["Mon 09:00-17:00", ...]`` for the trail and the pages, in weekday order."""
    ordered = sorted((r[0], r[1], r[2]) for r in rows)
    return [f"{WEEKDAY_NAMES[d]} {s:%H:%M}-{e:%H:%M}" for d, s, e in ordered]


def hours_errors(rows: Sequence[HoursRow], timezone: str) -> list[dict]:
    """Every problem with the rows (field ``rows.<index>.<part>``) and the zone (``timezone``)."""
    errors = []
    if timezone not in zoneinfo.available_timezones():
        errors.append(_error("timezone", "unknown_timezone", "Choose a time zone from the list."))
    per_day: dict[int, list[tuple[int, time, time]]] = {}
    for index, (weekday, starts, ends) in enumerate(rows):
        if not isinstance(weekday, int) or not 0 <= weekday <= 6:
            errors.append(
                _error(f"rows.{index}.weekday", "invalid", "The weekday is Monday to Sunday.")
            )
            continue
        if ends <= starts:
            errors.append(
                _error(f"rows.{index}.ends", "end_before_start", "The end must be after the start.")
            )
            continue
        day = per_day.setdefault(weekday, [])
        if len(day) == MAX_INTERVALS_PER_DAY:
            errors.append(
                _error(
                    f"rows.{index}.starts",
                    "too_many_intervals",
                    f"At most {MAX_INTERVALS_PER_DAY} intervals a day.",
                )
            )
            continue
        for _, other_starts, other_ends in day:
            if starts < other_ends and other_starts < ends:
                errors.append(
                    _error(
                        f"rows.{index}.starts",
                        "overlap",
                        f"It overlaps {other_starts:%H:%M}-{other_ends:%H:%M} on the same day.",
                    )
                )
                break
        else:
            day.append((index, starts, ends))
    return errors


@transaction.atomic
def working_hours_set(
    *,
    owner_user: User | None = None,
    owner_team: Team | None = None,
    rows: Sequence[HoursRow],
    timezone: str,
    actor: Actor,
) -> list[WorkingHours]:
    """Replace the member's (or the team's default) weekly hours with ``rows`` — (weekday,
    start, end) wall-clock times in ``timezone``. No rows: the member works the team's hours,
    the team its programs' business hours. Returns the rows now stored."""
    owner = _one_owner(owner_user, owner_team)
    errors = hours_errors(rows, timezone)
    if errors:
        raise ValidationFailed(errors)
    where = _owner_filter(owner)
    before = list(WorkingHours.objects.select_for_update().filter(**where))
    old = (hours_summary((r.weekday, r.starts, r.ends) for r in before), _zone_of(before))
    new = (hours_summary(rows), timezone if rows else "")
    if old == new:
        return before
    WorkingHours.objects.filter(**where).delete()
    stored = WorkingHours.objects.bulk_create(
        WorkingHours(weekday=d, starts=s, ends=e, timezone=timezone, **where)
        for d, s, e in sorted(rows)
    )
    audit_record(
        actor=actor,
        action="working_hours.set",
        subject=owner,
        changes={"hours": (old[0], new[0]), "timezone": (old[1], new[1])},
    )
    return stored


def _zone_of(rows: list[WorkingHours]) -> str:
    return rows[0].timezone if rows else ""


def time_off_errors(
    *, starts_at: datetime | None, ends_at: datetime | None, label: str, now: datetime
) -> list[dict]:
    errors = []
    if starts_at is None or django_timezone.is_naive(starts_at):
        errors.append(_error("starts_at", "invalid", "Enter when it starts."))
    if ends_at is None or django_timezone.is_naive(ends_at):
        errors.append(_error("ends_at", "invalid", "Enter when it ends."))
    elif starts_at is not None and ends_at <= starts_at:
        errors.append(_error("ends_at", "end_before_start", "The end must be after the start."))
    elif ends_at <= now:
        errors.append(_error("ends_at", "in_the_past", "It has already ended: enter a later end."))
    if not label:
        errors.append(_error("label", "required", "Enter a short label, such as Holiday."))
    elif len(label) > LABEL_MAX:
        errors.append(_error("label", "too_long", f"At most {LABEL_MAX} characters."))
    return errors


@transaction.atomic
def time_off_add(
    *,
    owner_user: User | None = None,
    owner_team: Team | None = None,
    starts_at: datetime,
    ends_at: datetime,
    label: str,
    actor: Actor,
) -> TimeOff:
    """Record a period in which the member (or the whole team: a holiday) takes no
    appointments. Appointments already booked in it stay: the page lists them to move."""
    owner = _one_owner(owner_user, owner_team)
    label = " ".join((label or "").split())
    errors = time_off_errors(
        starts_at=starts_at, ends_at=ends_at, label=label, now=django_timezone.now()
    )
    if errors:
        raise ValidationFailed(errors)
    row = TimeOff.objects.create(
        starts_at=starts_at,
        ends_at=ends_at,
        label=label,
        created_by=actor_label(actor),
        **_owner_filter(owner),
    )
    audit_record(
        actor=actor,
        action="time_off.added",
        subject=row,
        changes={
            **_owner_changes(owner),
            "starts_at": (None, starts_at),
            "ends_at": (None, ends_at),
            "label": (None, label),
        },
    )
    return row


@transaction.atomic
def time_off_remove(*, time_off: TimeOff, actor: Actor) -> None:
    """Remove a period of time off (the member or team is available in it again)."""
    owner = time_off.user if time_off.user_id else time_off.team
    audit_record(
        actor=actor,
        action="time_off.removed",
        subject=time_off,
        changes={
            **_owner_changes(owner),
            "starts_at": (time_off.starts_at, None),
            "ends_at": (time_off.ends_at, None),
            "label": (time_off.label, None),
        },
    )
    TimeOff.objects.filter(pk=time_off.pk).delete()


def _lock_user(user: User) -> None:
    # Two "create" clicks at once each revoke, then insert: taking the user's row first
    # makes the second wait and revoke the first's feed instead of hitting the one-live-feed
    # constraint.
    User.objects.select_for_update().filter(pk=user.pk).exists()


def _revoke_live(user: User, now: datetime) -> CalendarFeed | None:
    live = CalendarFeed.objects.filter(user=user, revoked_at__isnull=True).first()
    if live is not None:
        CalendarFeed.objects.filter(pk=live.pk, revoked_at__isnull=True).update(revoked_at=now)
    return live


@transaction.atomic
def calendar_feed_create(*, user: User, actor: Actor) -> str:
    """A new private calendar feed for the user; returns its token (the URL's secret), which
    is not stored and cannot be shown again. The user's live feed, if any, is revoked."""
    _lock_user(user)
    now = django_timezone.now()
    replaced = _revoke_live(user, now)
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(user=user, token_hash=feed_token_hash(token), created_at=now)
    audit_record(
        actor=actor,
        action="calendar_feed.created",
        subject=feed,
        changes={
            "user": (None, user.get_username()),
            "replaced": (str(replaced.public_id) if replaced else None, None),
        },
    )
    return token


@transaction.atomic
def calendar_feed_revoke(*, user: User, actor: Actor) -> bool:
    """Revoke the user's live feed: its URL answers 404 from now on. Whether there was one."""
    _lock_user(user)
    revoked = _revoke_live(user, django_timezone.now())
    if revoked is None:
        return False
    audit_record(
        actor=actor,
        action="calendar_feed.revoked",
        subject=revoked,
        changes={"user": (user.get_username(), None)},
    )
    return True


def calendar_feed_mark_read(*, feed: CalendarFeed, at: datetime) -> None:
    """Note when a calendar program last fetched the feed (shown to its owner).

    Not audited: calendar programs poll every few minutes, the feed holds no patient data,
    and a trail event per poll would bury the events that matter."""
    CalendarFeed.objects.filter(pk=feed.pk, revoked_at__isnull=True).update(last_read_at=at)
