"""The rollups give exactly what the raw definitions give, on random data, for every grouping
the dashboard reads; and a refresh after a change brings them back in line."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest
import time_machine

from refdesk.accounts.models import Team, User
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import Referral
from refdesk.reports import activity, funnel, response
from refdesk.reports.models import MonthRollup
from refdesk.reports.rollups import covers, received_by_version, rolled_up, rollup_refresh
from refdesk.reports.scope import Scope
from refdesk.scheduling.models import Appointment
from refdesk.testing import education, submit, support, trial

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2027, 4, 10, 15, 0, tzinfo=dt.UTC)
BUILDERS = {
    "patient-support": support,
    "provider-education": education,
    "trial-prescreening": trial,
}
COMPARED = (
    *funnel.STEPS,
    *(o.value for o in funnel.DROP_OFFS),
    "open",
    "on_time",
    "late",
    "overdue",
    "running",
    "measured",
    "attainment",
    "breaches",
    "responded",
    "median",
    "p90",
)


def _random_history(seed: int, count: int = 36) -> list[Referral]:
    rng = random.Random(seed)
    member = User.objects.create(username=f"member{seed}")
    team = Team.objects.get(slug="patient-services")
    made = []
    for n in range(count):
        program = rng.choice(sorted(BUILDERS))
        # January to early April 2027, some right at a month's edge in New York.
        at = dt.datetime(2027, 1, 1, 5, 0, tzinfo=dt.UTC) + dt.timedelta(
            minutes=rng.randrange(0, 99 * 24 * 60)
        )
        if rng.random() < 0.15:
            at = dt.datetime(2027, rng.randint(1, 3), 1, 4, rng.randrange(0, 60), tzinfo=dt.UTC)
        with time_machine.travel(at, tick=False):
            referral = submit(program, BUILDERS[program](1000 + seed * 100 + n), received_at=at)
        referral.refresh_from_db()
        values = {}
        due = referral.first_response_due_at
        if due is not None and rng.random() < 0.7:
            values["first_responded_at"] = due + dt.timedelta(minutes=rng.randint(-600, 300))
            values["first_response_seconds"] = rng.randrange(0, 20 * 3600)
        if referral.stage != Stage.CLOSED and rng.random() < 0.5:
            outcome = rng.choice([Outcome.QUALIFIED, Outcome.UNREACHABLE, Outcome.DECLINED])
            values |= {
                "stage": Stage.CLOSED,
                "outcome": outcome,
                "outcome_reason": "" if outcome == Outcome.QUALIFIED else "lead_declined",
                "closed_at": referral.received_at + dt.timedelta(hours=rng.randint(1, 400)),
            }
        if values:
            Referral.objects.filter(pk=referral.pk).update(**values)
        if rng.random() < 0.3:
            starts = referral.received_at + dt.timedelta(days=rng.randint(1, 40))
            Appointment.objects.create(
                referral=referral,
                team=team,
                member=member,
                type_key="call",
                label="Call",
                mode="phone",
                starts_at=starts,
                ends_at=starts + dt.timedelta(minutes=15),
                blocked_until=starts + dt.timedelta(minutes=15),
                status=rng.choice(["attended", "no_show", "cancelled", "booked"]),
                booked_via="staff",
                booked_by="user:test",
            )
        made.append(referral)
    return made


def _scope(program=None, start=dt.date(2027, 1, 1), end=dt.date(2027, 4, 30), **filters):
    return Scope.build(program=program, start=start, end=end, now=NOW, **filters)


def _raw(scope: Scope, by: str | None) -> dict[str, dict]:
    rows = {row["group"]: dict(row) for row in funnel.funnel_rows(scope, by)}
    for row in response.response_rows(scope, by):
        rows[row["group"]].update(row)
    return rows


def _months(first: dt.date, last: dt.date):
    month = first
    while month <= last:
        end = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        yield month, end
        month = end + dt.timedelta(days=1)


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_equal_the_raw_definitions(seed):
    _random_history(seed)
    result = rollup_refresh(full=True, now=NOW)
    assert result.full and result.months >= 4
    [total] = rolled_up(_scope(), None)
    # The random history exercises every kind of count compared below.
    for name in ("received", "contacted", "qualified", "open", "on_time", "late", "overdue"):
        assert total[name] > 0, name
    assert total["appointments"] > 0 and total["median"] is not None
    for program in (None, "patient-support"):
        for by in (None, "program", "source", "queue"):
            for filters in ({}, {"source": "patient-org"}):
                if program is None and filters:
                    continue
                scope = _scope(program, **filters)
                assert covers(scope)
                raw = _raw(scope, by)
                rolled = {row["group"]: row for row in rolled_up(scope, by)}
                assert set(rolled) == set(raw), (program, by, filters)
                for group, row in raw.items():
                    expected = {k: row[k] for k in COMPARED}
                    got = {k: rolled[group][k] for k in COMPARED}
                    assert got == expected, (program, by, filters, group)
    # By month: each month of the rollups equals that month's raw report.
    scope = _scope("patient-support")
    by_month = {row["group"]: row for row in rolled_up(scope, "month")}
    for first, last in _months(dt.date(2027, 1, 1), dt.date(2027, 4, 30)):
        month_scope = scope.with_period(first, last)
        [raw] = funnel.funnel_rows(month_scope)
        [sla] = response.response_rows(month_scope, None)
        got = by_month.get(first.strftime("%Y-%m"))
        if raw["received"] == 0:
            assert got is None or got["received"] == 0
            continue
        assert {k: got[k] for k in funnel.STEPS} == {k: raw[k] for k in funnel.STEPS}
        assert (got["median"], got["on_time"], got["overdue"]) == (
            sla["median"],
            sla["on_time"],
            sla["overdue"],
        )
    # Referrals under each program version (the dashboard's versions table).
    from django.db.models import Count

    raw_versions = dict(
        _scope().referrals().order_by().values_list("program_version").annotate(n=Count("pk"))
    )
    assert received_by_version(_scope()) == raw_versions
    # Appointments: by their start month, as the raw table counts them.
    [appointments] = activity.appointments_table(_scope(), None).rows
    [total] = rolled_up(_scope(), None)
    assert (total["appointments"], total["appointments_no_show"]) == (
        appointments["booked"],
        appointments["no_show"],
    )
    assert total["no_show_rate"] == appointments["no_show_rate"]


def test_a_refresh_recomputes_only_the_months_that_changed():
    made = _random_history(7, count=12)
    rollup_refresh(full=True, now=NOW)
    assert rollup_refresh(now=NOW).months == 0  # nothing changed since
    # A change through a service writes its audit event: the next refresh picks it up.
    from refdesk.workflow.closing import referral_close

    target = next(r for r in made if Referral.objects.get(pk=r.pk).stage != Stage.CLOSED)
    target.refresh_from_db()
    referral_close(
        referral=target,
        outcome=Outcome.DECLINED,
        reason_code="lead_declined",
        actor="system:test",
    )
    result = rollup_refresh(now=NOW)
    assert result.months >= 1
    zone = ZoneInfo("America/New_York")
    month = target.received_at.astimezone(zone).date().replace(day=1)
    end = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    scope = _scope(target.program.slug, start=month, end=end)
    [raw] = funnel.funnel_rows(scope)
    [rolled] = rolled_up(scope, None)
    assert (rolled["declined"], rolled["open"]) == (raw["declined"], raw["open"])


def test_the_rollups_do_not_answer_for_a_part_month_or_another_filter():
    rollup_refresh(full=True, now=NOW)
    assert not covers(_scope(start=dt.date(2027, 1, 2)))
    assert not covers(_scope(referrer="ABC"))
    assert covers(_scope(queue="patient-services"))


def test_an_empty_database_rolls_up_to_nothing():
    result = rollup_refresh(full=True, now=NOW)
    assert MonthRollup.objects.count() == 0 or result.months > 0
    [row] = rolled_up(_scope(), None)
    assert (
        row["received"]
        == Referral.objects.filter(received_at__gte=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)).count()
    )
