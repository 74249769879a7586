"""Small-number suppression for aggregate exports: a count that could identify a person (more
than zero, fewer than the threshold, default 5) is hidden, and so are enough other cells that a
hidden one cannot be worked out again from the totals printed beside it.

A table is counts by row and column with its row totals, column totals and grand total — a
grid in which every row and every column (totals included) is a line whose cells add up to its
total. One hidden cell alone in a line is recovered by subtraction, so:

1. **Primary**: every cell and total with 0 < count < threshold is hidden.
2. **Complementary**: while some line holds exactly one hidden entry, hide the smallest shown
   non-zero entry of that line besides it (a zero hides nothing; when only zeros are left, the
   line's total goes). Each round hides one more entry, so it ends.

The result has no line with exactly one hidden entry: the subtraction attack of each line
(repeated while it finds anything — ``recoverable``) recovers nothing. This is the rule
statistics offices apply to published tables; it does not claim more (a determined solver
over many tables may bound a hidden cell), which is why the threshold is configurable.
Pure: no Django, no database.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

DEFAULT_THRESHOLD = 5
TOTAL = "__total__"  # the key of the totals row and column


@dataclass
class Suppressed:
    """A table after suppression: ``cells[row][col]`` is the count or None when hidden, with
    the totals under ``TOTAL`` (``cells[row][TOTAL]``, ``cells[TOTAL][col]``,
    ``cells[TOTAL][TOTAL]``). ``primary`` and ``complementary`` name what was hidden and why."""

    cells: dict[Hashable, dict[Hashable, int | None]]
    primary: set[tuple[Hashable, Hashable]] = field(default_factory=set)
    complementary: set[tuple[Hashable, Hashable]] = field(default_factory=set)

    @property
    def hidden(self) -> set[tuple[Hashable, Hashable]]:
        return self.primary | self.complementary


def _grid(table: Mapping[Hashable, Mapping[Hashable, int]]) -> dict:
    rows = list(table)
    cols: list[Hashable] = []
    for values in table.values():
        cols += [col for col in values if col not in cols]
    grid = {row: {col: int(table[row].get(col, 0)) for col in cols} for row in rows}
    for row in rows:
        grid[row][TOTAL] = sum(grid[row][col] for col in cols)
    grid[TOTAL] = {col: sum(grid[row][col] for row in rows) for col in [*cols, TOTAL]}
    return grid


def _lines(grid: dict) -> list[list[tuple[Hashable, Hashable]]]:
    rows = list(grid)
    cols = list(grid[rows[0]]) if rows else []
    return [[(row, col) for col in cols] for row in rows] + [
        [(row, col) for row in rows] for col in cols
    ]


def suppress(
    table: Mapping[Hashable, Mapping[Hashable, int]], *, threshold: int = DEFAULT_THRESHOLD
) -> Suppressed:
    """Hide the small counts of ``table`` ({row: {col: count}}) and their complements."""
    if threshold < 1:
        raise ValueError("the threshold is a count of at least 1")
    grid = _grid(table)
    primary = {
        (row, col)
        for row, values in grid.items()
        for col, value in values.items()
        if 0 < value < threshold
    }
    hidden = set(primary)
    complementary: set[tuple[Hashable, Hashable]] = set()
    lines = _lines(grid)
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(1 for cell in line if cell in hidden) != 1:
                continue
            shown = [cell for cell in line if cell not in hidden]
            nonzero = [cell for cell in shown if grid[cell[0]][cell[1]] > 0]
            # The line's total is its last entry; prefer hiding an inner cell to the total.
            inner = [cell for cell in nonzero if TOTAL not in cell] or nonzero
            if not inner:
                continue  # everything else is a shown zero: the total is hidden already
            pick = min(inner, key=lambda cell: (grid[cell[0]][cell[1]], str(cell)))
            hidden.add(pick)
            complementary.add(pick)
            changed = True
    cells = {
        row: {col: (None if (row, col) in hidden else value) for col, value in values.items()}
        for row, values in grid.items()
    }
    return Suppressed(cells=cells, primary=primary, complementary=complementary)


def recoverable(cells: Mapping[Hashable, Mapping[Hashable, int | None]]) -> dict:
    """The subtraction attack: fill every hidden entry that is alone in a line (its line's
    other entries known), again and again. Returns what it recovered ({(row, col): count});
    used by the tests to show suppression leaves it nothing."""
    known = {row: dict(values) for row, values in cells.items()}
    recovered = {}
    changed = True
    while changed:
        changed = False
        for line in _lines(known):
            unknown = [cell for cell in line if known[cell[0]][cell[1]] is None]
            if len(unknown) != 1:
                continue
            (row, col) = unknown[0]
            others = [known[r][c] for r, c in line if (r, c) != (row, col)]
            total_cell = line[-1]
            if (row, col) == total_cell:
                value = sum(others)
            else:
                inner = [known[r][c] for r, c in line[:-1] if (r, c) != (row, col)]
                value = known[total_cell[0]][total_cell[1]] - sum(inner)
            known[row][col] = value
            recovered[(row, col)] = value
            changed = True
    return recovered
