"""A hand-built report for the renderers' tests: three sections, a cross-table of people with a
total column, a percent and a duration computed from that total, a funnel, a weekly series, a
table of rules (not people) and a rule change inside the month. Its numbers are chosen so the
suppression at 5 is worked out by hand in test_suppress.py."""

from __future__ import annotations

from datetime import UTC, date, datetime

from refdesk.reports.document import Chart, Column, Mark, Report, Section, Table

RULE_CHANGE = Mark(
    at=datetime(2026, 10, 14, 18, 0, tzinfo=UTC),
    title="Program version 4 came into force",
    detail="Qualification now asks for the diagnosis date.",
    kind="rule_change",
)
INJECTION = '=HYPERLINK("http://evil.invalid","click")'


def outcomes_table() -> Table:
    return Table(
        key="outcomes_by_source",
        title="Outcomes by source",
        columns=[
            Column("source", "Source", kind="text"),
            Column("qualified", "Qualified"),
            Column("unreachable", "Unreachable"),
            Column("declined", "Declined"),
            Column("total", "Referrals"),
            Column("qualified_rate", "Qualified rate", kind="percent", base="total"),
            Column("first_response", "Median first response", kind="duration", base="total"),
        ],
        rows=[
            {
                "source": "Patient organisation",
                "qualified": 12,
                "unreachable": 3,
                "declined": 6,
                "total": 21,
                "qualified_rate": 12 / 21,
                "first_response": 8100,  # 2 h 15 min
            },
            {
                "source": "Clinic",
                "qualified": 20,
                "unreachable": 9,
                "declined": 7,
                "total": 40,  # 4 still open: in none of the three outcomes
                "qualified_rate": 20 / 40,
                "first_response": 2700,  # 45 min
            },
            {
                "source": "Pharmacy",
                "qualified": 25,
                "unreachable": 10,
                "declined": 8,
                "total": 43,
                "qualified_rate": 25 / 43,
                "first_response": 5400,  # 1 h 30 min
            },
            {
                "source": "Hospital",
                "qualified": 2,
                "unreachable": 0,
                "declined": 1,
                "total": 3,
                "qualified_rate": 2 / 3,
                "first_response": 1200,
            },
        ],
        total_column="total",
        note="Referrals received in the month, by outcome.",
    )


def funnel_table() -> Table:
    steps = [("Received", 107), ("Routed", 103), ("Contacted", 80), ("Qualified", 59)]
    return Table(
        key="funnel",
        title="Funnel",
        columns=[Column("step", "Step", kind="text"), Column("people", "People")],
        rows=[{"step": step, "people": n} for step, n in steps],
    )


def weekly_table() -> Table:
    weeks = [("Sep 29", 20, 11), ("Oct 6", 28, 15), ("Oct 13", 31, 17), ("Oct 20", 25, 14)]
    return Table(
        key="weekly",
        title="Referrals by week",
        columns=[
            Column("week", "Week starting", kind="text"),
            Column("received", "Received"),
            Column("qualified", "Qualified"),
        ],
        rows=[{"week": w, "received": r, "qualified": q} for w, r, q in weeks],
    )


def rules_table() -> Table:
    return Table(
        key="rule_matches",
        title="Routing rules matched",
        columns=[
            Column("rule", "Rule", kind="text"),
            Column("matches", "Matches"),
            Column("reroute_time", "Median time to re-route", kind="duration"),
        ],
        rows=[
            {"rule": "urgent-callback", "matches": 2, "reroute_time": 600},
            {"rule": INJECTION, "matches": 40, "reroute_time": None},
        ],
        people=False,
        note="Decisions, not people: never suppressed.",
    )


def sample_report() -> Report:
    return Report(
        title="Monthly review",
        program="patient-support",
        program_name="Patient support help line",
        start=date(2026, 10, 1),
        end=date(2026, 10, 31),
        timezone="America/New_York",
        generated_at=datetime(2026, 11, 2, 14, 30, tzinfo=UTC),
        sections=[
            Section(
                key="intake",
                title="Where referrals come from",
                intro="Every referral received in the month.",
                tables=[outcomes_table()],
                charts=[
                    Chart(
                        key="qualified_by_source",
                        title="Qualified referrals by source",
                        kind="bar",
                        table="outcomes_by_source",
                        x="source",
                        series=("qualified",),
                    ),
                    Chart(
                        key="outcomes_stacked",
                        title="Outcomes by source",
                        kind="stacked_bar",
                        table="outcomes_by_source",
                        x="source",
                        series=("qualified", "unreachable", "declined"),
                    ),
                ],
                marks=[RULE_CHANGE],
            ),
            Section(
                key="conversion",
                title="Conversion",
                tables=[funnel_table(), weekly_table()],
                charts=[
                    Chart(
                        key="funnel",
                        title="From received to qualified",
                        kind="funnel",
                        table="funnel",
                        x="step",
                        series=("people",),
                    ),
                    Chart(
                        key="weekly",
                        title="Referrals by week",
                        kind="line",
                        table="weekly",
                        x="week",
                        series=("received", "qualified"),
                    ),
                ],
            ),
            Section(key="routing", title="Routing", tables=[rules_table()]),
        ],
        marks=[RULE_CHANGE],
    )
