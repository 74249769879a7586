"""Every metric against figures worked out by hand on a small fixed data set.

Patient support, January 2027 in New York (the program's zone). Six referrals:

====  ==========================  ===========  =========  ===========  ======================
ref   received (New York)         responded    SLA        appointment  outcome
====  ==========================  ===========  =========  ===========  ======================
r1    Tue 5 Jan 10:00             30 min       on time    —            qualified
r2    Sun 31 Jan 23:30 (1 Feb Z)  2 h          late       —            unreachable
r3    Thu 31 Dec 23:30 (1 Jan Z)  10 min       on time    —            (December: not counted)
r4    Mon 11 Jan 11:00            —            overdue    —            open; lead.email missing
                                                                       for 2 h, then supplied
r5    Tue 12 Jan 09:30            1 h          on time    attended     qualified
r6    Wed 13 Jan 14:00            10 min       on time    no-show      declined
====  ==========================  ===========  =========  ===========  ======================

r2 and r3 sit on either side of a month boundary that UTC would draw elsewhere. A new program
version comes into force on 15 Jan, inside the month.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from refdesk.accounts.models import Team, User
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import MissingItem, Referral
from refdesk.reports import activity, consent, funnel, intake_quality, lifecycle, response, routing
from refdesk.reports.aggregates import bucket, bucket_of, percentile
from refdesk.reports.monthly import monthly_report
from refdesk.reports.scope import Scope, parse_month
from refdesk.scheduling.models import Appointment
from refdesk.testing import submit, support

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
REPORTED_AT = dt.datetime(2027, 2, 10, 12, 0, tzinfo=dt.UTC)


def ny(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NY)


def _received(n: int, at: dt.datetime) -> Referral:
    with time_machine.travel(at, tick=False):
        return submit("patient-support", support(n), received_at=at)


def _responded(referral: Referral, *, seconds: int, on_time: bool) -> None:
    """Set the first response as the workflow would have, with its SLA verdict fixed."""
    referral.refresh_from_db()
    due = referral.first_response_due_at
    at = due - dt.timedelta(minutes=1) if on_time else due + dt.timedelta(minutes=1)
    Referral.objects.filter(pk=referral.pk).update(
        first_responded_at=at, first_response_seconds=seconds
    )


def _closed(referral: Referral, outcome: str, reason: str = "") -> None:
    Referral.objects.filter(pk=referral.pk).update(
        stage=Stage.CLOSED, outcome=outcome, outcome_reason=reason, closed_at=REPORTED_AT
    )


def _appointment(referral: Referral, at: dt.datetime, status: str) -> None:
    member = User.objects.filter(is_active=True).first() or User.objects.create(username="m")
    Appointment.objects.create(
        referral=referral,
        team=Team.objects.get(slug="patient-services"),
        member=member,
        type_key="support_call",
        label="Patient support call",
        mode="phone",
        starts_at=at,
        ends_at=at + dt.timedelta(minutes=15),
        blocked_until=at + dt.timedelta(minutes=20),
        status=status,
        booked_via="staff",
        booked_by="user:test",
    )


@pytest.fixture
def january():
    r1 = _received(1, ny(2027, 1, 5, 10, 0))
    r3 = _received(3, ny(2026, 12, 31, 23, 30))
    r4 = _received(4, ny(2027, 1, 11, 11, 0))
    r5 = _received(5, ny(2027, 1, 12, 9, 30))
    r6 = _received(6, ny(2027, 1, 13, 14, 0))
    r2 = _received(2, ny(2027, 1, 31, 23, 30))
    _responded(r1, seconds=30 * 60, on_time=True)
    _responded(r2, seconds=2 * 3600, on_time=False)
    _responded(r3, seconds=10 * 60, on_time=True)
    _responded(r5, seconds=3600, on_time=True)
    _responded(r6, seconds=10 * 60, on_time=True)
    _closed(r1, Outcome.QUALIFIED)
    _closed(r2, Outcome.UNREACHABLE, "retries_exhausted")
    _closed(r5, Outcome.QUALIFIED)
    _closed(r6, Outcome.DECLINED, "lead_declined")
    # r4 waits past its due time, an item once missing and supplied two hours later.
    MissingItem.objects.create(
        referral=r4,
        program=r4.program,
        source=r4.source,
        field="lead.email",
        recorded_at=r4.received_at,
        resolved_at=r4.received_at + dt.timedelta(hours=2),
    )
    _appointment(r5, ny(2027, 1, 14, 10, 0), "attended")
    _appointment(r6, ny(2027, 1, 20, 10, 0), "no_show")
    return {"r1": r1, "r2": r2, "r3": r3, "r4": r4, "r5": r5, "r6": r6}


def scope(**filters) -> Scope:
    start, end = parse_month("2027-01")
    return Scope.build(program="patient-support", start=start, end=end, now=REPORTED_AT, **filters)


def test_the_month_is_counted_in_the_programs_zone(january):
    references = set(scope().referrals().values_list("reference", flat=True))
    assert references == {january[k].reference for k in ("r1", "r2", "r4", "r5", "r6")}


def test_funnel(january):
    [row] = funnel.funnel_rows(scope())
    assert {step: row[step] for step in funnel.STEPS} == {
        "received": 5,
        "routed": 5,
        "contacted": 4,  # r4 never answered
        "scheduled": 2,  # r5, r6
        "attended": 1,  # r5
        "qualified": 2,  # r1, r5
    }
    assert (row["unreachable"], row["declined"], row["open"]) == (1, 1, 1)
    table = funnel.funnel_table(scope())
    assert table.rows[0]["contacted_rate"] == pytest.approx(4 / 5)
    assert table.rows[0]["attended_rate"] == pytest.approx(1 / 2)
    # Qualified is over all received: a lead may qualify without an appointment.
    assert table.rows[0]["qualified_rate"] == pytest.approx(2 / 5)


def test_drop_off_reasons(january):
    rows = funnel.drop_off_reasons_table(scope()).rows
    assert [(r["outcome"], r["count"]) for r in rows] == [("Unreachable", 1), ("Declined", 1)]


def test_first_response_and_sla(january):
    [row] = response.response_rows(scope(), None)
    # 10, 30, 60, 120 minutes: nearest-rank median is the 2nd value, the 90th the 4th.
    assert (row["median"], row["p90"]) == (30 * 60, 120 * 60)
    assert (row["on_time"], row["late"], row["overdue"]) == (3, 1, 1)
    assert row["attainment"] == pytest.approx(3 / 5)
    assert row["breaches"] == 2


def test_an_empty_period_has_no_median_and_no_rate(january):
    empty = scope().with_period(dt.date(2027, 3, 1), dt.date(2027, 3, 31))
    [row] = response.response_rows(empty, None)
    assert (row["median"], row["attainment"], row["measured"]) == (None, None, 0)
    [steps] = funnel.funnel_rows(empty)
    assert steps["received"] == 0
    assert funnel.funnel_table(empty).rows[0]["routed_rate"] is None


def test_percentile_is_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([(300, 1)], 0.5) == 300
    assert percentile([(60, 1), (120, 1)], 0.5) == 60  # the lower of two: ceil(0.5 * 2) = 1st
    assert percentile([(60, 1), (120, 1), (180, 1)], 0.5) == 120
    assert percentile([(60, 9), (6000, 1)], 0.9) == 60
    assert percentile([(60, 9), (6000, 1)], 0.91) == 6000


@pytest.mark.parametrize(
    ("seconds", "step"),
    [(0, 0), (299, 0), (301, 300), (8 * 3600 - 1, 8 * 3600 - 300), (8 * 3600, 8 * 3600),
     (8 * 3600 + 1799, 8 * 3600), (48 * 3600 + 3599, 48 * 3600), (100 * 3600 + 5, 100 * 3600)],
)  # fmt: skip
def test_durations_are_rounded_down_to_their_step_in_python_and_in_sql(january, seconds, step):
    assert bucket_of(seconds) == step
    Referral.objects.filter(pk=january["r1"].pk).update(first_response_seconds=seconds)
    rounded = (
        Referral.objects.filter(pk=january["r1"].pk)
        .annotate(_r=bucket("first_response_seconds"))
        .values_list("_r", flat=True)
        .get()
    )
    assert rounded == step


def test_appointments_and_no_show_rate(january):
    [row] = activity.appointments_table(scope(), None).rows
    assert (row["booked"], row["attended"], row["no_show"]) == (2, 1, 1)
    assert row["no_show_rate"] == pytest.approx(1 / 2)


def test_intake_quality_and_missing_fields(january):
    [row] = intake_quality.quality_table(scope(), None).rows
    assert (row["complete"], row["incomplete"], row["received"]) == (4, 1, 5)
    [field] = intake_quality.missing_fields_table(scope()).rows
    assert (field["field"], field["missing"], field["supplied"]) == ("lead.email", 1, 1)
    assert field["median"] == 2 * 3600


def test_filters_narrow_every_figure(january):
    source = january["r1"].source.slug
    assert scope(source=source).referrals().count() == 5
    assert scope(source="no-such-source").referrals().count() == 0
    [row] = funnel.funnel_rows(scope(source="no-such-source"))
    assert row["received"] == 0


def test_lifecycle_entries_and_open_work(january):
    [entries] = lifecycle.entries_table(scope()).rows
    assert entries["total"] == 5
    stages = {row["stage"]: row["count"] for row in lifecycle.open_work_table(scope()).rows}
    # Open now in the whole program: r4 (and whatever else the program holds: none here).
    assert (
        sum(stages.values())
        == Referral.objects.filter(program__slug="patient-support", closed_at__isnull=True)
        .exclude(stage=Stage.CLOSED)
        .count()
    )


def test_a_rule_change_inside_the_month_is_marked(january):
    with time_machine.travel(ny(2027, 1, 15, 12, 0), tick=False):
        changed = _changed_program_applied()
    table, marks = routing.versions_table_and_marks(scope())
    assert [m.kind for m in marks] == ["rule_change"]
    assert "version" in marks[0].title and str(changed.number) in marks[0].title
    assert "routing rules" in marks[0].detail
    assert [row["version"] for row in table.rows] == [
        f"v{changed.number - 1}",
        f"v{changed.number}",
    ]
    report = monthly_report(program="patient-support", month="2027-01", now=REPORTED_AT)
    assert report.marks == marks


def _changed_program_applied():
    """Apply patient support with its first route's description changed (a rule change)."""
    from pathlib import Path

    import yaml

    from refdesk.governance.services import program_apply
    from refdesk.programs.loader import load_program_text
    from refdesk.programs.models import ProgramVersion

    path = Path(__file__).resolve().parents[3] / "programs" / "patient-support.yaml"
    data = yaml.safe_load(path.read_text())
    data["routes"][0]["description"] = "Changed in the middle of the month."
    loaded = load_program_text(yaml.safe_dump(data, sort_keys=False), filename=str(path))
    program_apply(programs=[loaded], actor="system:test", note="rule change")
    return ProgramVersion.objects.filter(program__slug="patient-support").latest("number")


def test_consent_coverage(january):
    rows = {(r["kind"], r["item"]): r["count"] for r in consent.coverage_table(scope()).rows}
    # Every support() submission grants patient_support consent by email and phone.
    assert rows[("Purpose", "patient_support")] == 5
    assert rows[("Any purpose", "—")] == 5


def test_the_monthly_report_holds_every_section(january):
    report = monthly_report(program="patient-support", month="2027-01", now=REPORTED_AT)
    assert report.period_label == "January 2027"
    assert report.timezone == "America/New_York"
    [headline] = report.table("headline").rows
    assert (headline["received"], headline["qualified"], headline["open"]) == (5, 2, 1)
    assert headline["attainment"] == pytest.approx(3 / 5)
    assert headline["median"] == 30 * 60
    assert headline["no_show_rate"] == pytest.approx(1 / 2)
    assert [s.key for s in report.sections] == [
        "summary",
        "funnel",
        "response",
        "intake",
        "activity",
        "lifecycle",
        "consent",
        "routing",
    ]
    trend = {row["month"]: row["received"] for row in report.table("trend").rows}
    assert trend == {"2026-12": 1, "2027-01": 5}


def test_the_report_reads_no_rows_into_python(january, django_assert_max_num_queries):
    with django_assert_max_num_queries(45):
        monthly_report(program="patient-support", month="2027-01", now=REPORTED_AT)


def test_a_bad_month_is_a_clear_error():
    from refdesk.core.errors import ApplicationError

    for bad in ("2027-13", "27-01", "January", "", "2027-1"):
        with pytest.raises(ApplicationError, match="YYYY-MM"):
            parse_month(bad)


@pytest.mark.parametrize(("closed_after_due", "overdue"), [(False, 0), (True, 1)])
def test_closing_does_not_undo_a_breach_nor_make_one(january, closed_after_due, overdue):
    r4 = Referral.objects.get(pk=january["r4"].pk)
    offset = dt.timedelta(minutes=5 if closed_after_due else -5)
    Referral.objects.filter(pk=r4.pk).update(
        stage=Stage.CLOSED,
        outcome=Outcome.WITHDRAWN,
        outcome_reason="consent_withdrawn",
        closed_at=r4.first_response_due_at + offset,
    )
    [row] = response.response_rows(scope(), None)
    assert (row["overdue"], row["running"]) == (overdue, 0)
    assert row["measured"] == 4 + overdue


def test_open_work_shows_how_long_it_has_stood_in_its_stage(january):
    # Open now: r3 (received 1 Jan 04:30 UTC) and r4 (11 Jan 16:00 UTC), both still in the
    # stage routing put them in at receipt; the report is read on 10 Feb 12:00 UTC.
    rows = lifecycle.open_work_table(scope()).rows
    assert sum(row["count"] for row in rows) == 2
    [row] = rows  # both in one stage
    r4_minutes = (30 * 24 - 4) * 60  # 11 Jan 16:00 -> 10 Feb 12:00
    r3_minutes = (40 * 24 + 7) * 60 + 30  # 1 Jan 04:30 -> 10 Feb 12:00
    assert row["median"] == r4_minutes * 60  # nearest rank of two: the lower
    assert row["longest"] == r3_minutes * 60
    assert row["oldest"] == "2027-01-01"


def test_refused_submissions_by_error_code(january):
    from refdesk.intake.rejections import rejections_record

    referrer = january["r1"].referrer
    for at, method, errors in [
        (ny(2027, 1, 6, 10, 0), "web", [("lead.phone", "required"), ("lead.email", "invalid")]),
        (ny(2027, 1, 7, 10, 0), "web", [("lead.phone", "required")]),
        (ny(2027, 1, 8, 10, 0), "api", [("lead.phone", "required")]),
        (ny(2027, 2, 1, 10, 0), "web", [("lead.phone", "required")]),  # February: not counted
    ]:
        rejections_record(referrer=referrer, method=method, errors=errors, at=at)
    rows = intake_quality.rejections_table(scope()).rows
    assert [(r["code"], r["field"], r["web"], r["api"], r["total"]) for r in rows] == [
        ("required", "lead.phone", 2, 1, 3),
        ("invalid", "lead.email", 1, 0, 1),
    ]
    assert intake_quality.rejections_table(scope(source="no-such-source")).rows == []
    assert intake_quality.rejections_table(scope(queue="patient-services")).rows == []
