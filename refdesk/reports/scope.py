"""What a report covers: one program or all, a period of whole days in each program's own time
zone, optional filters (source, referrer, request type, therapy area, queue), and the moment it
is read ("as of": open work and overdue clocks are judged then).

Every metric module starts from a ``Scope``: ``referrals()`` is the cohort (referrals received in
the period), ``window(field)`` the same period for any other timestamp (a message's ``sent_at``,
an appointment's ``starts_at``). Periods are local: a program in New York counts the month from
midnight New York time, so "November" means the same thing to its team and to its report.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field, replace
from functools import cached_property
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from refdesk.core.errors import ApplicationError, NotFound
from refdesk.intake.models import Referral
from refdesk.programs.models import Program
from refdesk.programs.selectors import version_definition

# The dimensions a report may be broken down by or filtered on: name -> the referral's column.
DIMENSIONS: dict[str, str] = {
    "program": "program__slug",
    "source": "source__slug",
    "referrer": "referrer__code",
    "request_type": "request_type",
    "therapy_area": "therapy_area",
    "queue": "queue__slug",
    "method": "submission_method",
}
DIMENSION_LABELS = {
    "program": "Program",
    "source": "Source",
    "referrer": "Referrer",
    "request_type": "Request type",
    "therapy_area": "Therapy area",
    "queue": "Queue",
    "method": "Submission method",
}


def parse_month(text: str) -> tuple[dt.date, dt.date]:
    """``2026-11`` -> (1 Nov 2026, 30 Nov 2026); anything else is a clear error."""
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        if len(text) != 7:
            raise ValueError(text)
        first = dt.date(year, month, 1)
    except ValueError:
        raise ApplicationError(
            f"month must be YYYY-MM, e.g. 2026-11 (got {text!r})", code="invalid_month"
        ) from None
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def month_before(day: dt.date) -> str:
    """The month before ``day``'s, as YYYY-MM (the month a review meeting looks back on)."""
    last = day.replace(day=1) - dt.timedelta(days=1)
    return last.strftime("%Y-%m")


def program_timezone(program: Program) -> str:
    if program.active_version_id is None:
        return "UTC"
    return version_definition(program.active_version).business_timezone()


@dataclass(frozen=True)
class Scope:
    programs: tuple[Program, ...]
    start: dt.date
    end: dt.date  # inclusive
    now: dt.datetime
    filters: tuple[tuple[str, str], ...] = field(default=())
    # Figures already counted for this scope (``remember``): a pack reads the funnel of the
    # same cohort in several tables; the database counts it once.
    memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def build(
        cls,
        *,
        program: str | None,
        start: dt.date,
        end: dt.date,
        now: dt.datetime | None = None,
        **filters: str | None,
    ) -> Scope:
        """A scope for the program with that slug (or every program), checked."""
        if end < start:
            raise ApplicationError("the period ends before it starts", code="invalid_period")
        unknown = set(filters) - set(DIMENSIONS)
        if unknown:
            raise ApplicationError(
                f"unknown filter {sorted(unknown)[0]!r}", code="invalid_filter", field="filter"
            )
        programs = Program.objects.select_related("active_version").order_by("slug")
        if program:
            programs = programs.filter(slug=program)
            if not programs:
                raise NotFound(f"no program {program!r}")
        return cls(
            programs=tuple(programs),
            start=start,
            end=end,
            now=now or timezone.now(),
            filters=tuple(sorted((k, v) for k, v in filters.items() if v)),
        )

    def with_period(self, start: dt.date, end: dt.date) -> Scope:
        return replace(self, start=start, end=end, memo={})

    def remember(self, key, compute):
        """``compute()``, counted once per scope and ``key``."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    @property
    def program(self) -> Program | None:
        return self.programs[0] if len(self.programs) == 1 else None

    @cached_property
    def zones(self) -> dict[int, str]:
        return {program.pk: program_timezone(program) for program in self.programs}

    def bounds(self, program: Program) -> tuple[dt.datetime, dt.datetime]:
        """The period of ``program`` as UTC instants [start, end)."""
        zone = ZoneInfo(self.zones[program.pk])
        start = dt.datetime.combine(self.start, dt.time(), zone)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)

    def window(self, stamp: str, *, program_path: str = "program") -> Q:
        """``stamp`` inside the period, each program in its own zone (``program_path`` leads
        from the queried model to its program: ``referral__program`` for a message)."""
        condition = Q(pk__in=[])
        for program in self.programs:
            start, end = self.bounds(program)
            condition |= Q(**{program_path: program, f"{stamp}__gte": start, f"{stamp}__lt": end})
        return condition

    def filter_q(self, prefix: str = "") -> Q:
        return Q(**{f"{prefix}{DIMENSIONS[name]}": value for name, value in self.filters})

    def referrals(self) -> QuerySet[Referral]:
        """The cohort: referrals received in the period that match the filters."""
        return Referral.objects.filter(self.window("received_at"), self.filter_q())

    def related(self, queryset: QuerySet, stamp: str, *, via: str = "referral__") -> QuerySet:
        """Rows of another model (messages, appointments) in the period by ``stamp``, whose
        referral matches the filters."""
        return queryset.filter(self.window(stamp, program_path=f"{via}program"), self.filter_q(via))

    @property
    def label(self) -> str:
        name = self.program.name if self.program else "All programs"
        return name
