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

from django.db.models import Count, F, IntegerField, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from refdesk.intake import choices
from refdesk.intake.models import Referral
from refdesk.workflow.models import ManualCheck

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


# --- sorts and seek pagination ---------------------------------------------------------------


@dataclass(frozen=True)
class Sort:
    """A sort the queue pages offer: one column, a direction, and the index that serves it.

    Only sorts an index serves are offered: every part of a page is one ordered range of
    ``(queue | assigned_to, stage, column)`` (``intake.Referral.Meta.indexes``), walked forwards
    or backwards, so page 2000 costs what page 1 costs."""

    key: str  # in the URL (?sort=...)
    column: str
    descending: bool
    label: str
    nullable: bool  # rows without a value (needs_info: no due time) come last in both orders


SORT_DUE = Sort("due", "first_response_due_at", False, "First response due, soonest first", True)
SORTS = {
    sort.key: sort
    for sort in (
        SORT_DUE,
        Sort("-due", "first_response_due_at", True, "First response due, latest first", True),
        Sort("-received", "received_at", True, "Received, newest first", False),
        Sort("received", "received_at", False, "Received, oldest first", False),
    )
}
DEFAULT_SORT = SORT_DUE.key


@dataclass(frozen=True)
class Cursor:
    """The sort key of the last row shown: (sort, its column's value or None, public id)."""

    due: dt.datetime | None  # the sort column's value (named for the default sort)
    public_id: uuid.UUID
    sort: str = DEFAULT_SORT

    def encode(self) -> str:
        due = self.due.astimezone(dt.UTC).isoformat() if self.due else "-"
        raw = f"{self.sort}|{due}|{self.public_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, *, sort: str = DEFAULT_SORT) -> Cursor | None:
        """None for anything malformed, or a cursor of another sort: a bad cursor shows the
        first page, never an error."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            sort_key, due_text, public_id = raw.split("|")
            if sort_key != sort or sort_key not in SORTS:
                return None
            due = None if due_text == "-" else dt.datetime.fromisoformat(due_text)
            if due is not None and due.tzinfo is None:
                return None
            return cls(due=due, public_id=uuid.UUID(public_id), sort=sort_key)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None


def _after(sort: Sort, column: str, cursor: Cursor) -> Q:
    """Rows strictly after the cursor in the sort's order, within the valued rows.

    Written as ``value >= c AND (value > c OR (public_id > p))`` rather than the plain
    ``value > c OR (value = c AND public_id > p)``: the first conjunct is an index range, so
    each part starts at the cursor. SQLite answered the plain OR with two index lookups and a
    sort of everything after the cursor (page 2 of a queue: 1.7 s at 5M, bench/desk_queue.py).
    """
    beyond = "lt" if sort.descending else "gt"
    from_here = "lte" if sort.descending else "gte"
    return Q(**{f"{column}__{from_here}": cursor.due}) & (
        Q(**{f"{column}__{beyond}": cursor.due}) | Q(**{f"public_id__{beyond}": cursor.public_id})
    )


def _parts(referrals: QuerySet[Referral], stage: str, cursor, sort: Sort, nulls: bool):
    """The ordered key ranges of one stage after the cursor: rows with a value (group 0), then
    (when ``nulls``) rows without one (group 1; needs_info: the clock is paused). Split so that
    each part has one plain ORDER BY, whatever the database's NULL ordering."""
    column = sort.column
    valued = referrals.filter(stage=stage)
    untimed = None
    if sort.nullable:
        valued = valued.filter(**{f"{column}__isnull": False})
        untimed = referrals.filter(stage=stage, **{f"{column}__isnull": True}) if nulls else None
    if cursor is not None and cursor.due is None:
        valued = None  # past every valued row already
        if untimed is not None:
            beyond = "lt" if sort.descending else "gt"
            untimed = untimed.filter(**{f"public_id__{beyond}": cursor.public_id})
    elif cursor is not None:
        valued = valued.filter(_after(sort, column, cursor))
    sign = "-" if sort.descending else ""
    if valued is not None:
        yield valued.order_by(f"{sign}{column}", f"{sign}public_id").values(
            k_id=F("id"),
            k_value=F(column),
            k_pid=F("public_id"),
            k_group=Value(0, output_field=IntegerField()),
        )
    if untimed is not None:
        # Ordering by the (all NULL) column first is no-op for the result but makes the
        # planner walk the queue index; ORDER BY public_id alone tempted PostgreSQL into
        # scanning the whole public_id index for a stage with no such rows (seconds at 1M).
        yield untimed.order_by(column, f"{sign}public_id").values(
            k_id=F("id"),
            k_value=F(column),
            k_pid=F("public_id"),
            k_group=Value(1, output_field=IntegerField()),
        )


def row_key(sort: Sort):
    """The Python sort key of rows in ``sort``'s order (rows without a value last)."""
    column = sort.column
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    sign = -1 if sort.descending else 1

    def key(referral: Referral):
        value = getattr(referral, column)
        if value is None:
            return (1, 0, sign * referral.public_id.int)
        stamp = (value - floor).total_seconds()
        return (0, sign * stamp, sign * referral.public_id.int)

    return key


_STAGE_SLOT = "\x00stage"  # stands for the stage while a part's SQL is compiled


def _keys_sql(arms: list[tuple[str, list]], sort: Sort, limit: int) -> tuple[str, list]:
    """The first ``limit`` keys of all parts, in the sort's order, as one SQL statement:
    each part is a LIMITed subquery (one bounded index range), joined by UNION ALL; the outer
    ORDER BY merges at most ``len(parts) * limit`` keys. Written by hand because SQLite cannot
    LIMIT the arms of a compound SELECT through the ORM (it needs them wrapped in subqueries),
    and one statement instead of one per part keeps every page within its query budget."""
    selects, params = [], []
    for sql, arm_params in arms:
        selects.append(f"SELECT * FROM ({sql}) AS arm{len(selects)}")
        params.extend(arm_params)
    direction = "DESC" if sort.descending else "ASC"
    union = " UNION ALL ".join(selects)
    sql = (
        f"SELECT keys.k_id FROM ({union}) AS keys "
        f"ORDER BY keys.k_group ASC, keys.k_value {direction}, keys.k_pid {direction} "
        f"LIMIT {int(limit)}"
    )
    return sql, params


def queue_page(
    referrals: QuerySet[Referral],
    *,
    stages: tuple[str, ...],
    cursor: Cursor | None,
    size: int,
    untimed: bool = True,
    sort: Sort = SORT_DUE,
    related: tuple[str, ...] = (),
    splits: list[dict] | None = None,
) -> tuple[list[Referral], Cursor | None]:
    """One page of rows in ``stages`` (program, source, assignee and ``related`` loaded along)
    and the next page's cursor, in ``sort``'s order. One query whatever the page size.
    ``splits`` (filters, e.g. one per queue) split each stage's range further, so that each
    part is one range of an index (My work's unassigned tab: one per queue of the user's).

    1. Keys: for each stage, its first ``size + 1`` keys after the cursor (one ordered range of
       an index each, so no part sorts a whole backlog: one ORDER BY over several stages would,
       the index being ordered by the column only within a stage), merged in SQL and cut to
       ``size + 1`` (one more tells whether a next page exists). ``untimed`` False (an SLA
       filter) leaves out the rows without a due time.
    2. The rows of those keys, in the same statement (``pk IN (keys)``), sorted here.
       ``answers`` is never loaded; ``lead`` is decrypted in memory and the caller decides
       what shows.
    """
    if cursor is not None and cursor.sort != sort.key:
        cursor = None
    arms = []
    for split in splits or [{}]:
        # Every stage's parts have the same SQL but for the stage: compiled once per shape
        # (the ORM's compilation cost more than the database's work: ~4 ms a part).
        shapes = [
            part[: size + 1].query.sql_with_params()
            for part in _parts(referrals.filter(**split), _STAGE_SLOT, cursor, sort, untimed)
        ]
        arms += [
            (sql, [stage if param == _STAGE_SLOT else param for param in params])
            for stage in stages
            for sql, params in shapes
        ]
    if not arms:
        return [], None
    keys_sql, params = _keys_sql(arms, sort, size + 1)
    rows = sorted(
        Referral.objects.filter(pk__in=RawSQL(keys_sql, params))
        .select_related("program", "source", "assigned_to", *related)
        .defer("answers")
        .order_by(),
        key=row_key(sort),
    )
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    last = rows[-1]
    return rows, Cursor(due=getattr(last, sort.column), public_id=last.public_id, sort=sort.key)


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


# --- manual checks -----------------------------------------------------------------------------


CHECKS_SHOWN = 50


def queue_open_checks(referrals: QuerySet[Referral], *, queue) -> list[ManualCheck]:
    """The queue's open manual checks on referrals in ``referrals`` (visible to the reader),
    oldest first, with their referral: one query (the ``check_queue_open`` index), at most
    ``CHECKS_SHOWN``."""
    return list(
        ManualCheck.objects.filter(queue=queue, resolved_at__isnull=True, referral__in=referrals)
        .select_related("referral")
        .order_by("opened_at", "id")[:CHECKS_SHOWN]
    )
