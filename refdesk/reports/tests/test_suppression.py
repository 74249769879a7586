"""Small-number suppression: small counts hidden, and nothing hidden can be worked out again
from the totals printed beside it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refdesk.reports.suppression import TOTAL, recoverable, suppress


def test_a_small_count_and_its_complements_are_hidden_and_the_rest_shown():
    # referrals by source (rows) and outcome (columns)
    table = {
        "patient-org": {"qualified": 12, "unreachable": 3},
        "hcp-office": {"qualified": 20, "unreachable": 9},
    }
    result = suppress(table)
    cells = result.cells
    assert result.primary == {("patient-org", "unreachable")}
    # Alone in its row and its column it could be recomputed: the smallest other cell of the
    # row (12) goes, then that column needs a second hidden cell (20), then that row (9).
    assert cells["patient-org"]["unreachable"] is None
    assert cells["patient-org"]["qualified"] is None
    assert cells["hcp-office"]["qualified"] is None
    assert cells["hcp-office"]["unreachable"] is None
    # The totals stay: each line now has two unknowns.
    assert cells["patient-org"][TOTAL] == 15 and cells[TOTAL][TOTAL] == 44
    assert cells[TOTAL]["unreachable"] == 12
    assert recoverable(cells) == {}


def test_without_complements_the_subtraction_attack_recovers_the_small_count():
    table = {"a": {"x": 12, "y": 3}, "b": {"x": 20, "y": 9}}
    naive = _grid_values(table)
    naive["a"]["y"] = None  # only the small count hidden
    assert recoverable(naive) == {("a", "y"): 3}


def _grid_values(table):
    cols = ["x", "y"]
    grid = {row: {**values, TOTAL: sum(values.values())} for row, values in table.items()}
    grid[TOTAL] = {col: sum(table[row][col] for row in table) for col in cols}
    grid[TOTAL][TOTAL] = sum(grid[TOTAL][col] for col in cols)
    return grid


def test_zeros_are_not_small_numbers_and_large_counts_stay():
    result = suppress({"a": {"x": 0, "y": 40}, "b": {"x": 7, "y": 30}})
    assert result.hidden == set()
    assert result.cells["a"]["x"] == 0


def test_a_single_column_hides_a_second_row():
    result = suppress({"a": {"n": 2}, "b": {"n": 30}, "c": {"n": 8}})
    # each row's total is its one cell: the row total is hidden with it (primary), and the
    # column needs a second hidden cell: the smallest, 8
    assert result.cells["a"]["n"] is None and result.cells["a"][TOTAL] is None
    assert result.cells["c"]["n"] is None
    assert result.cells["b"]["n"] == 30 and result.cells[TOTAL]["n"] == 40
    assert recoverable(result.cells) == {}


def test_the_threshold_is_configurable():
    table = {"a": {"x": 6, "y": 40}, "b": {"x": 50, "y": 30}}
    assert suppress(table).hidden == set()
    assert ("a", "x") in suppress(table, threshold=10).primary
    with pytest.raises(ValueError):
        suppress(table, threshold=0)


counts = st.integers(min_value=0, max_value=40)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=5).flatmap(
        lambda n_cols: st.lists(
            st.lists(counts, min_size=n_cols, max_size=n_cols), min_size=1, max_size=6
        )
    ),
    st.integers(min_value=1, max_value=10),
)
def test_nothing_hidden_can_be_recovered_and_everything_shown_is_true(rows, threshold):
    table = {f"r{i}": {f"c{j}": value for j, value in enumerate(row)} for i, row in enumerate(rows)}
    result = suppress(table, threshold=threshold)
    cells = result.cells
    for row, values in table.items():
        for col, value in values.items():
            if 0 < value < threshold:
                assert cells[row][col] is None  # every small count is hidden
            elif cells[row][col] is not None:
                assert cells[row][col] == value  # what is shown is the true count
    # no line holds a lone unknown, so subtraction recovers nothing
    assert recoverable(cells) == {}
