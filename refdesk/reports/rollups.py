"""Rollups of whole months, kept incrementally, so all-time figures over millions of referrals
read a few thousand rows instead of every referral.

**What is stored** (``MonthRollup``, ``ResponseRollup``): for each program, month of its zone,
source and queue, the counts of the raw definitions — ``funnel.funnel_measures``, the settled
part of ``response.sla_measures`` (on time, late, missed), ``activity.appointment_measures`` —
and the first-response histogram. ``rollup_month`` computes them by running exactly those
definitions over the month grouped by source and queue, so a rollup cannot drift from what a
raw report says; a test compares both on random data.

**What is read live**: the clocks still running (open, no response yet: overdue or not) depend
on the moment of reading, so they are counted from the referrals at read time, which only
touches open work (``referral_awaiting_response`` index).

**Keeping them fresh**: every change to a referral writes an audit event with the referral as
subject, in the same transaction, and the audit sequence only grows in commit order. A refresh
reads the events after the last one it included (``RollupState.audit_seq``), recomputes the
months those referrals belong to (their receipt, and their appointments' starts), and moves the
mark. The worker runs it every few minutes (``refdesk worker``), ``refdesk report rollup`` on
demand, ``--full`` rebuilds everything. Each month is replaced in its own short transaction.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from refdesk.audit.models import AuditChainHead, AuditEvent
from refdesk.intake.models import Referral
from refdesk.programs.models import Program
from refdesk.reports import activity, funnel, response
from refdesk.reports.aggregates import bucket, group_rows, merge_histograms, percentile
from refdesk.reports.models import MonthRollup, ResponseRollup, RollupState
from refdesk.reports.scope import Scope, program_timezone
from refdesk.scheduling.models import Appointment

# The columns of MonthRollup, by where their definition lives.
FUNNEL_COLUMNS = (*funnel.STEPS, *(o.value for o in funnel.DROP_OFFS), "open")
SLA_COLUMNS = ("on_time", "late", "missed")
APPOINTMENT_COLUMNS = {"booked": "appointments", "attended": "appointments_attended",
                       "no_show": "appointments_no_show"}  # fmt: skip
GROUP = ("source__slug", "queue__slug")
VERSIONED = (*GROUP, "program_version")
CHUNK = 500


@dataclass
class RefreshResult:
    months: int
    seconds: float
    full: bool
    audit_seq: int

    def __str__(self) -> str:
        kind = "rebuilt" if self.full else "refreshed"
        took = f"{self.months} month(s) in {self.seconds:.2f} s"
        return f"rollups {kind}: {took} (up to audit event #{self.audit_seq})"


def month_start(moment: dt.datetime, zone: str) -> dt.date:
    return moment.astimezone(ZoneInfo(zone)).date().replace(day=1)


def _month_end(first: dt.date) -> dt.date:
    return (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def rollup_month(program: Program, month: dt.date, *, now: dt.datetime) -> int:
    """Replace the rollup rows of ``program``'s ``month`` with the raw definitions' counts
    grouped by source and queue. Returns how many rows it wrote."""
    scope = Scope(programs=(program,), start=month, end=_month_end(month), now=now)
    cohort = scope.referrals().order_by()
    sla = response.sla_measures(now)
    measures = funnel.funnel_measures() | {key: sla[key] for key in SLA_COLUMNS}
    groups: dict[tuple[str, str, int], dict] = {}
    for row in cohort.values(*VERSIONED).annotate(**measures):
        key = (row["source__slug"], row["queue__slug"] or "", row["program_version"])
        groups[key] = {name: row[name] for name in measures}
    booked = activity.appointments(scope).order_by()
    appointment = activity.appointment_measures()
    wanted = {name: appointment[name] for name in APPOINTMENT_COLUMNS}
    for row in booked.values(
        "referral__source__slug", "referral__queue__slug", "referral__program_version"
    ).annotate(**wanted):
        key = (
            row["referral__source__slug"],
            row["referral__queue__slug"] or "",
            row["referral__program_version"],
        )
        into = groups.setdefault(key, {})
        for name, column in APPOINTMENT_COLUMNS.items():
            into[column] = row[name] or 0
    steps = (
        cohort.filter(first_response_seconds__isnull=False)
        .annotate(_m=bucket("first_response_seconds"))
        .values(*GROUP, "_m")
        .annotate(_n=Count("pk"))
    )
    histogram = [
        ResponseRollup(
            program=program,
            month=month,
            source=row["source__slug"],
            queue=row["queue__slug"] or "",
            step=row["_m"],
            count=row["_n"],
        )
        for row in steps
    ]
    with transaction.atomic():
        # Refreshes (several workers) take turns: one month is rewritten by one at a time.
        RollupState.objects.select_for_update().get_or_create(pk=1)
        MonthRollup.objects.filter(program=program, month=month).delete()
        ResponseRollup.objects.filter(program=program, month=month).delete()
        MonthRollup.objects.bulk_create(
            MonthRollup(
                program=program,
                month=month,
                source=source,
                queue=queue,
                program_version_id=version,
                **counts,
            )
            for (source, queue, version), counts in groups.items()
        )
        ResponseRollup.objects.bulk_create(histogram, batch_size=1000)
    return len(groups)


def _all_months(programs: Iterable[Program]) -> set[tuple[Program, dt.date]]:
    months: set[tuple[Program, dt.date]] = set()
    for program in programs:
        zone = ZoneInfo(program_timezone(program))
        for model, stamp, path in (
            (Referral, "received_at", "program"),
            (Appointment, "starts_at", "referral__program"),
        ):
            found = (
                model.objects.filter(**{path: program})
                .annotate(_month=TruncMonth(stamp, tzinfo=zone))
                .order_by()
                .values_list("_month", flat=True)
                .distinct()
            )
            months |= {(program, m.date() if isinstance(m, dt.datetime) else m) for m in found}
    return months


def _changed_months(
    programs: dict[int, Program], since: int, upto: int
) -> set[tuple[Program, dt.date]]:
    """The months holding the referrals changed by audit events ``since < seq <= upto``."""
    changed = (
        AuditEvent.objects.filter(seq__gt=since, seq__lte=upto, subject_type="referral")
        .order_by()
        .values_list("subject_id", flat=True)
        .distinct()
    )
    zones = {pk: program_timezone(program) for pk, program in programs.items()}
    months: set[tuple[Program, dt.date]] = set()
    ids = list(changed)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for program_id, received_at in Referral.objects.filter(public_id__in=chunk).values_list(
            "program_id", "received_at"
        ):
            months.add((programs[program_id], month_start(received_at, zones[program_id])))
        for program_id, starts_at in Appointment.objects.filter(
            referral__public_id__in=chunk
        ).values_list("referral__program_id", "starts_at"):
            months.add((programs[program_id], month_start(starts_at, zones[program_id])))
    return months


def rollup_refresh(*, full: bool = False, now: dt.datetime | None = None) -> RefreshResult:
    """Bring the rollups up to date (see the module's docstring); ``full`` rebuilds them."""
    began = time.perf_counter()
    now = now or timezone.now()
    state, _ = RollupState.objects.get_or_create(pk=1)
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    programs = {p.pk: p for p in Program.objects.select_related("active_version")}
    full = full or state.refreshed_at is None
    if full:
        months = _all_months(programs.values())
        with transaction.atomic():
            MonthRollup.objects.all().delete()
            ResponseRollup.objects.all().delete()
    else:
        months = _changed_months(programs, state.audit_seq, head)
    for program, month in sorted(months, key=lambda pm: (pm[0].pk, pm[1])):
        rollup_month(program, month, now=now)
    RollupState.objects.filter(pk=1).update(audit_seq=head, refreshed_at=now)
    return RefreshResult(
        months=len(months), seconds=time.perf_counter() - began, full=full, audit_seq=head
    )


def rollup_state() -> RollupState | None:
    return RollupState.objects.filter(pk=1).first()


# Reading -----------------------------------------------------------------------------------


def covers(scope: Scope) -> bool:
    """Can the rollups answer for ``scope``: whole months, filtered at most by source and
    queue, and refreshed?"""
    whole = scope.start.day == 1 and scope.end == _month_end(scope.end.replace(day=1))
    filters = {name for name, _ in scope.filters} <= {"source", "queue"}
    return whole and filters and rollup_state() is not None


def _rows(scope: Scope):
    rows = MonthRollup.objects.filter(
        program__in=scope.programs, month__gte=scope.start.replace(day=1), month__lte=scope.end
    )
    for name, value in scope.filters:
        rows = rows.filter(**{name: value})
    return rows


def _histogram_rows(scope: Scope):
    rows = ResponseRollup.objects.filter(
        program__in=scope.programs, month__gte=scope.start.replace(day=1), month__lte=scope.end
    )
    for name, value in scope.filters:
        rows = rows.filter(**{name: value})
    return rows


ROLLUP_DIMENSIONS = {"program": "program__slug", "source": "source", "queue": "queue",
                     "month": "month"}  # fmt: skip


def rolled_up(scope: Scope, by: str | None = None) -> list[dict]:
    """Per group of ``by`` (program, source, queue, month or None): the stored counts summed,
    the live clocks counted, the first-response median and 90th percentile, and the figures
    derived from them — the same keys ``funnel.funnel_rows`` and ``response.response_rows``
    give for the same scope."""
    columns = [*FUNNEL_COLUMNS, *SLA_COLUMNS, *APPOINTMENT_COLUMNS.values()]
    sums = {name: Sum(name) for name in columns}
    key = ROLLUP_DIMENSIONS[by] if by else None
    stored = (
        _rows(scope).order_by().values(key).annotate(**sums)
        if key
        else [_rows(scope).aggregate(**sums)]
    )
    live = _live_clocks(scope, by)
    hist: dict = {}
    hist_rows = _histogram_rows(scope).order_by()
    for row in hist_rows.values(*([key] if key else []), "step").annotate(n=Sum("count")):
        group = _group_of(row.get(key) if key else "all")
        hist.setdefault(group, []).append((row["step"], row["n"]))
    result = []
    for row in stored:
        group = _group_of(row.get(key) if key else "all")
        out = {"group": group, **{name: row[name] or 0 for name in columns}}
        out.update(live.get(group, {"overdue_open": 0, "running": 0}))
        response.sla_figures(out)
        times = merge_histograms(hist.get(group, []))
        out["responded"] = sum(n for _, n in times)
        out["median"] = percentile(times, 0.5)
        out["p90"] = percentile(times, 0.9)
        out["kept_or_missed"] = out["appointments_attended"] + out["appointments_no_show"]
        out["no_show_rate"] = activity.no_show_rate(
            {"no_show": out["appointments_no_show"], "attended": out["appointments_attended"]}
        )
        result.append(out)
    return sorted(result, key=lambda r: str(r["group"]))


def received_by_version(scope: Scope) -> dict[int, int]:
    """{program version id: referrals received under it} in the scope, from the rollups."""
    return {
        row["program_version"]: row["n"]
        for row in _rows(scope).order_by().values("program_version").annotate(n=Sum("received"))
    }


def _group_of(value) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m")
    return value if value is not None else ""


def _live_clocks(scope: Scope, by: str | None) -> dict[str, dict]:
    """Open referrals of the scope still waiting for a first response: overdue or running,
    as of the scope's ``now``."""
    # Driven from the few referrals still waiting (the partial index referral_awaiting_response),
    # never from the period's: over all time the planner would otherwise walk every referral
    # of the program by receipt (SQLite did: 0.8-1.4 s a query at 1M).
    awaiting = Referral.objects.filter(
        first_responded_at__isnull=True,
        closed_at__isnull=True,
        first_response_due_at__isnull=False,
    ).values("pk")
    waiting = scope.referrals().filter(
        pk__in=awaiting,
        first_responded_at__isnull=True,
        first_response_due_at__isnull=False,
        closed_at__isnull=True,
    )
    measures = response.open_sla_measures(scope.now)
    if by == "month":
        counted: dict[str, dict] = {}
        for program in scope.programs:
            zone = ZoneInfo(scope.zones[program.pk])
            rows = (
                waiting.filter(program=program)
                .annotate(_month=TruncMonth("received_at", tzinfo=zone))
                .order_by()
                .values("_month")
                .annotate(**measures)
            )
            for row in rows:
                into = counted.setdefault(
                    _group_of(row["_month"].date()), {"overdue_open": 0, "running": 0}
                )
                into["overdue_open"] += row["overdue_open"]
                into["running"] += row["running"]
        return counted
    return {row.pop("group"): row for row in group_rows(waiting, by, measures)}
