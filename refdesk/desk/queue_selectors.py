"""Reads for the queue pages: per-queue counts, one filtered page of a queue, SLA wording.

Every function takes querysets that already went through ``refdesk.access.selectors`` (so only
visible referrals are counted or listed) and runs a fixed number of queries whatever the page
size. The page is sorted by first-response due time and paged by seek (keyset) on
(first_response_due_at, public_id): no OFFSET, so page 2000 costs what page 1 costs, and the
cursor carries no sequential id.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from refdesk.intake import choices
from refdesk.intake.models import Referral

# The lifecycle's own stage groups (intake.choices), as sorted tuples: stable SQL text.
# Work still to do (received = not yet routed, so in no queue's work list yet).
OPEN_STAGES = tuple(sorted(choices.WORK_STAGES))
# The first-response clock runs: paused in needs_info, stopped once booked or closed.
SLA_RUNNING_STAGES = tuple(sorted(choices.SLA_RUNNING_STAGES))

SLA_BREACHED, SLA_DUE_TODAY, SLA_ON_TIME = "breached", "due_today", "on_time"
SLA_STATES = ((SLA_BREACHED, "Breached"), (SLA_DUE_TODAY, "Due today"), (SLA_ON_TIME, "On time"))


def queue_counts(referrals: QuerySet[Referral], *, queue_ids: list[int], now=None) -> dict:
    """{queue id: {"open", "unassigned", "breached"}} in one grouped query."""
    now = now or timezone.now()
    rows = (
        referrals.filter(queue_id__in=queue_ids, stage__in=OPEN_STAGES)
        .order_by()
        .values("queue_id")
        .annotate(
            open=Count("id"),
            unassigned=Count("id", filter=Q(assigned_to__isnull=True)),
            breached=Count(
                "id",
                filter=Q(stage__in=SLA_RUNNING_STAGES, first_response_due_at__lt=now),
            ),
        )
    )
    empty = {"open": 0, "unassigned": 0, "breached": 0}
    counts = {queue_id: dict(empty) for queue_id in queue_ids}
    for row in rows:
        counts[row["queue_id"]] = {key: row[key] for key in empty}
    return counts


def end_of_local_day(now: dt.datetime, tz_name: str) -> dt.datetime:
    """Midnight at the end of ``now``'s day in the team's time zone, as an aware UTC time."""
    local = now.astimezone(zoneinfo.ZoneInfo(tz_name))
    tomorrow = (local + dt.timedelta(days=1)).date()
    return dt.datetime.combine(tomorrow, dt.time(), tzinfo=local.tzinfo).astimezone(dt.UTC)


def sla_filter(state: str, *, now: dt.datetime, day_end: dt.datetime) -> Q:
    """The due-time condition of an SLA state (the caller limits stages to SLA_RUNNING_STAGES)."""
    running = Q(first_response_due_at__isnull=False)
    if state == SLA_BREACHED:
        return running & Q(first_response_due_at__lt=now)
    if state == SLA_DUE_TODAY:
        return running & Q(first_response_due_at__gte=now, first_response_due_at__lt=day_end)
    return running & Q(first_response_due_at__gte=day_end)


# --- seek pagination ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """The sort key of the last row shown: (due time or None, public id)."""

    due: dt.datetime | None
    public_id: uuid.UUID

    def encode(self) -> str:
        due = self.due.astimezone(dt.UTC).isoformat() if self.due else "-"
        raw = f"{due}|{self.public_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """None for anything malformed: a bad cursor shows the first page, never an error."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            due_text, public_id = raw.split("|")
            due = None if due_text == "-" else dt.datetime.fromisoformat(due_text)
            if due is not None and due.tzinfo is None:
                return None
            return cls(due=due, public_id=uuid.UUID(public_id))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None


def _parts(referrals: QuerySet[Referral], stage: str, cursor: Cursor | None, nulls: bool):
    """The ordered key ranges of one stage after the cursor: rows with a due time, then (when
    ``nulls``) rows without one (needs_info: the clock is paused). Split so that each part has
    one plain ORDER BY, whatever the database's NULL ordering."""
    timed = referrals.filter(stage=stage, first_response_due_at__isnull=False)
    untimed = referrals.filter(stage=stage, first_response_due_at__isnull=True)
    if cursor is not None and cursor.due is None:
        timed = None  # past every timed row already
        untimed = untimed.filter(public_id__gt=cursor.public_id)
    elif cursor is not None:
        timed = timed.filter(
            Q(first_response_due_at__gt=cursor.due)
            | Q(first_response_due_at=cursor.due, public_id__gt=cursor.public_id)
        )
    fields = ("pk", "first_response_due_at", "public_id")
    if timed is not None:
        yield timed.order_by("first_response_due_at", "public_id").values_list(*fields)
    if nulls:
        # Ordering by the (all NULL) due time first is no-op for the result but makes the
        # planner walk the queue index; ORDER BY public_id alone tempted PostgreSQL into
        # scanning the whole public_id index for a stage with no such rows (seconds at 1M).
        yield untimed.order_by("first_response_due_at", "public_id").values_list(*fields)


def _sort_key(key):
    return (key[1] is None, key[1] or dt.datetime.min.replace(tzinfo=dt.UTC), key[2])


def queue_page(
    referrals: QuerySet[Referral],
    *,
    stages: tuple[str, ...],
    cursor: Cursor | None,
    size: int,
    untimed: bool = True,
) -> tuple[list[Referral], Cursor | None]:
    """One page of rows in ``stages`` (program, source, assignee loaded along) and the next
    page's cursor. Two queries whatever the page size (on SQLite, which cannot limit the parts
    of a UNION, one per part plus one).

    1. Keys: for each stage, its first ``size + 1`` keys after the cursor, every stage in one
       UNION ALL. Each part is one ordered range of the (queue, stage, first_response_due_at)
       index, so no part sorts the queue's whole backlog (one ORDER BY over several stages
       would: the index is ordered by due time only within a stage). ``untimed`` False (an SLA
       filter) leaves out the rows without a due time.
    2. Merge by (due, public id) with rows without a due time last, keep ``size + 1`` (one
       more tells whether a next page exists) and load those rows. ``answers`` is never
       loaded; ``lead`` is decrypted in memory and the caller decides what shows.
    """
    parts = [
        part[: size + 1] for stage in stages for part in _parts(referrals, stage, cursor, untimed)
    ]
    if not parts:
        return [], None
    if len(parts) == 1:
        keys = list(parts[0])
    elif connection.features.supports_slicing_ordering_in_compound:
        # The outer query needs no ORDER BY: the parts are merged below.
        keys = list(parts[0].union(*parts[1:], all=True).order_by())
    else:  # SQLite: one small query per part (still bounded by the stages, not the page)
        keys = [key for part in parts for key in part]
    keys = sorted(keys, key=_sort_key)[: size + 1]
    loaded = (
        Referral.objects.filter(pk__in=[key[0] for key in keys])
        .select_related("program", "source", "assigned_to")
        .defer("answers")
        .in_bulk()
    )
    rows = [loaded[key[0]] for key in keys if key[0] in loaded]
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    last = rows[-1]
    return rows, Cursor(due=last.first_response_due_at, public_id=last.public_id)


# --- SLA wording -----------------------------------------------------------------------------


def _span(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60:02d} min" if hours < 10 else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def sla_state(referral: Referral, *, now: dt.datetime, day_end: dt.datetime) -> str | None:
    """breached / due_today / on_time while the clock runs; None when it does not."""
    due = referral.first_response_due_at
    if due is None or referral.stage not in SLA_RUNNING_STAGES:
        return None
    if due < now:
        return SLA_BREACHED
    return SLA_DUE_TODAY if due < day_end else SLA_ON_TIME


def sla_text(referral: Referral, *, now: dt.datetime) -> str:
    """ "due in 3 h 05 min", "breached 2 d 4 h ago", "paused (needs information)", ..."""
    due = referral.first_response_due_at
    if referral.sla_paused_at is not None:
        return "paused (needs information)"
    if due is None or referral.stage not in SLA_RUNNING_STAGES:
        return "—"
    if due < now:
        return f"breached {_span(now - due)} ago"
    return f"due in {_span(due - now)}"
