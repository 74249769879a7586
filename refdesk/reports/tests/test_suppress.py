"""A report as an aggregate export shows it: small counts of people hidden with their
complements, derived figures hidden with their base, other tables untouched."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refdesk.reports.document import Column, Report, Section, Table
from refdesk.reports.suppress import REST, suppress_table, suppressed_report
from refdesk.reports.suppression import TOTAL, recoverable
from refdesk.reports.tests.sample import INJECTION, sample_report


def test_the_sample_month_is_suppressed_as_worked_out_by_hand():
    report = suppressed_report(sample_report(), 5)
    rows = {row["source"]: row for row in report.table("outcomes_by_source").rows}
    # Primary: unreachable 3 (patient organisation), the clinic's 4 open referrals (total 40
    # less its three outcomes), the hospital's 2, 1 and its total 3, and the 4 open overall.
    # Complementary, line by line: declined 6 (the patient organisation's row), declined 7
    # (the clinic's), declined 22 overall (the totals row), qualified 12 (the qualified
    # column), unreachable 9 (the unreachable column) and the total 21 (the totals column).
    assert rows["Patient organisation"] == {
        "source": "Patient organisation",
        "qualified": None,
        "unreachable": None,
        "declined": None,
        "total": None,
        "qualified_rate": None,  # its base (21) is hidden
        "first_response": None,
    }
    assert rows["Clinic"] == {
        "source": "Clinic",
        "qualified": 20,
        "unreachable": None,
        "declined": None,
        "total": 40,
        "qualified_rate": 0.5,
        "first_response": 2700,
    }
    assert rows["Pharmacy"]["unreachable"] == 10 and rows["Pharmacy"]["total"] == 43
    assert rows["Pharmacy"]["qualified_rate"] == 25 / 43
    assert rows["Hospital"] == {
        "source": "Hospital",
        "qualified": None,
        "unreachable": 0,  # a zero identifies nobody
        "declined": None,
        "total": None,
        "qualified_rate": None,  # its base (3) is below the threshold
        "first_response": None,
    }
    assert report.suppression_threshold == 5


def test_the_original_report_is_left_as_it_was():
    original = sample_report()
    suppressed_report(original, 5)
    assert original.table("outcomes_by_source").rows[0]["unreachable"] == 3
    assert original.suppression_threshold is None


def test_tables_that_do_not_count_people_are_untouched():
    report = suppressed_report(sample_report(), 5)
    rules = report.table("rule_matches").rows
    assert rules == [
        {"rule": "urgent-callback", "matches": 2, "reroute_time": 600},
        {"rule": INJECTION, "matches": 40, "reroute_time": None},
    ]
    assert report.table("funnel").rows[0] == {"step": "Received", "people": 107}


def test_what_a_total_holds_beyond_its_categories_cannot_be_worked_out():
    # 2 referrals of the clinic are in none of the outcomes (still open): 30 - 20 - 8. Shown
    # with every outcome, the 2 is one subtraction away, so an outcome must go with it.
    table = Table(
        key="t",
        title="t",
        columns=[
            Column("source", "Source", kind="text"),
            Column("qualified", "Qualified"),
            Column("declined", "Declined"),
            Column("total", "Total"),
        ],
        rows=[
            {"source": "Clinic", "qualified": 20, "declined": 8, "total": 30},
            {"source": "Pharmacy", "qualified": 25, "declined": 10, "total": 35},
        ],
        total_column="total",
    )
    shown, grid = suppress_table(table, 5)
    assert grid.primary == {(0, REST), (TOTAL, REST)}
    clinic = shown.rows[0]
    assert clinic["total"] == 30
    # The row's smallest other entry goes (declined 8); the totals row, where the 2 open is
    # alone too, loses its smallest (declined 18), which also covers the declined column.
    assert grid.complementary == {(0, "declined"), (TOTAL, "declined")}
    assert clinic["declined"] is None
    assert clinic["qualified"] == 20 and shown.rows[1]["declined"] == 10
    assert recoverable(grid.cells) == {}


def test_overlapping_categories_count_the_total_as_one_more_category():
    # People may miss several fields: the categories add up to more than the total.
    table = Table(
        key="missing",
        title="Fields missing",
        columns=[
            Column("source", "Source", kind="text"),
            Column("phone", "Phone"),
            Column("email", "Email"),
            Column("total", "Referrals missing something"),
        ],
        rows=[
            {"source": "Clinic", "phone": 9, "email": 8, "total": 12},
            {"source": "Pharmacy", "phone": 30, "email": 2, "total": 31},
        ],
        total_column="total",
    )
    shown, grid = suppress_table(table, 5)
    assert (1, "email") in grid.primary
    assert (1, REST) not in grid.cells[1]  # no residual: the total is not a sum here
    assert shown.rows[1]["email"] is None
    assert recoverable(grid.cells) == {}


def test_a_report_is_suppressed_once():
    report = suppressed_report(sample_report(), 5)
    assert suppressed_report(report, 5) is report
    with pytest.raises(ValueError):
        suppressed_report(report, 10)
    with pytest.raises(ValueError):
        suppressed_report(sample_report(), 0)


def test_an_empty_table_stays_empty():
    table = Table(key="e", title="e", columns=[Column("n", "N")], rows=[])
    shown, grid = suppress_table(table, 5)
    assert shown.rows == [] and grid is None


counts = st.integers(min_value=0, max_value=30)


@st.composite
def people_tables(draw):
    n_cols = draw(st.integers(min_value=1, max_value=4))
    n_rows = draw(st.integers(min_value=1, max_value=5))
    with_total = draw(st.booleans())
    rows = []
    for i in range(n_rows):
        row = {"group": f"g{i}"}
        for j in range(n_cols):
            row[f"c{j}"] = draw(counts)
        if with_total:
            # sometimes people in none of the categories (open referrals)
            row["total"] = sum(row[f"c{j}"] for j in range(n_cols)) + draw(
                st.sampled_from([0, 0, 1, 2, 3, 7])
            )
        row["rate"] = row["c0"] / row["total"] if with_total and row["total"] else None
        rows.append(row)
    columns = [Column("group", "Group", kind="text")]
    columns += [Column(f"c{j}", f"C{j}") for j in range(n_cols)]
    if with_total:
        columns += [Column("total", "Total"), Column("rate", "Rate", "percent", base="total")]
    else:
        columns += [Column("rate", "Rate", "percent", base="c0")]
    return Table(
        key="t",
        title="t",
        columns=columns,
        rows=rows,
        total_column="total" if with_total else None,
    )


@settings(max_examples=300, deadline=None)
@given(people_tables(), st.integers(min_value=1, max_value=8))
def test_no_hidden_count_can_be_recovered_from_what_the_report_shows(table, threshold):
    report = Report(
        title="t",
        program="p",
        program_name="P",
        start=date(2026, 1, 1),
        end=date(2026, 1, 31),
        timezone="UTC",
        generated_at=datetime(2026, 2, 1, tzinfo=UTC),
        sections=[Section("s", "S", tables=[table])],
    )
    shown = suppressed_report(report, threshold).table("t")
    _, grid = suppress_table(table, threshold)
    count_keys = [c.key for c in table.count_columns if c.key != table.total_column]
    # What a reader sees: each row's shown counts and total, and the column totals (as if
    # printed: suppression decided which). The part of a total in no category is known to the
    # reader exactly when it can be computed, which is when suppression left it shown.
    seen = {}
    for index, row in enumerate(shown.rows):
        seen[index] = {key: row[key] for key in count_keys}
        if table.total_column:
            if REST in grid.cells[index]:
                seen[index][REST] = grid.cells[index][REST]
            seen[index][TOTAL] = row[table.total_column]
        else:
            seen[index][TOTAL] = None  # never printed
    seen[TOTAL] = dict(grid.cells[TOTAL])
    if not table.total_column:
        seen[TOTAL][TOTAL] = None
    # (an unprinted total may be added up again; that is no hidden count)
    assert set(recoverable(seen)) & grid.hidden == set()
    for original, row in zip(table.rows, shown.rows, strict=True):
        for key in count_keys:
            value = original[key]
            if 0 < value < threshold:
                assert row[key] is None  # every small count is hidden
            elif row[key] is not None:
                assert row[key] == value  # and what is shown is true
        base = table.total_column or "c0"
        if row[base] is None or original[base] < threshold:
            assert row["rate"] is None  # a rate never outlives its base
