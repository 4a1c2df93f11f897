"""Disclosure control: no published count below the threshold, and none that can be worked out.

The reader knows the rule: a visible cell is its value, "<5" is 1 to 4, "x" is at least 1.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.reporting.domain import (
    WITHHELD,
    Cell,
    protect_grid,
    protect_line,
    small_mark,
)

T = 5
Grid = tuple[tuple[int, ...], ...]
SMALL = small_mark(T)


def _domain(published: Cell, cap: int) -> range:
    """What a reader who knows the rule can say of one published cell."""
    if published == SMALL:
        return range(1, T)
    if published == WITHHELD:
        return range(1, cap + 1)
    assert isinstance(published, int)
    return range(published, published + 1)


def _fits(value: int, published: Cell) -> bool:
    if published == SMALL:
        return 0 < value < T
    if published == WITHHELD:
        return value >= 1
    return value == published


def line_solutions(cells: Mapping[str, Cell], total: Cell, cap: int) -> Iterator[dict[str, int]]:
    """Every assignment of the cells consistent with what a breakdown publishes."""
    keys = sorted(cells)
    for combo in itertools.product(*(_domain(cells[k], cap) for k in keys)):
        if _fits(sum(combo), total):
            yield dict(zip(keys, combo, strict=True))


def grid_solutions(
    published: Sequence[Sequence[Cell]],
    row_totals: Sequence[Cell],
    column_totals: Sequence[Cell],
    total: Cell,
    cap: int,
) -> Iterator[tuple[tuple[int, ...], ...]]:
    """Every table consistent with a published grid and its margins (row by row, pruned)."""
    rows = [
        list(_row_solutions(row, row_total, cap))
        for row, row_total in zip(published, row_totals, strict=True)
    ]
    for table in itertools.product(*rows):
        columns = [sum(col) for col in zip(*table, strict=True)] if table else []
        if all(_fits(s, p) for s, p in zip(columns, column_totals, strict=True)) and _fits(
            sum(map(sum, table)), total
        ):
            yield table


def _row_solutions(row: Sequence[Cell], row_total: Cell, cap: int) -> Iterator[tuple[int, ...]]:
    """The rows consistent with their published cells and total, partial sums pruned."""
    most = T - 1 if row_total == SMALL else row_total if isinstance(row_total, int) else cap

    def extend(prefix: tuple[int, ...], rest: Sequence[Cell]) -> Iterator[tuple[int, ...]]:
        if not rest:
            if _fits(sum(prefix), row_total):
                yield prefix
            return
        for v in _domain(rest[0], cap):
            if sum(prefix) + v > most:
                break
            yield from extend((*prefix, v), rest[1:])

    yield from extend((), row)


# --- examples ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_a_count_from_one_to_four_reads_less_than_five(count: int) -> None:
    cells, total = protect_line({"threats": count, "doxxing": 0}, count, T)

    assert cells == {"doxxing": 0, "threats": SMALL}
    assert total == SMALL


def test_zeros_and_counts_from_five_are_shown() -> None:
    cells, total = protect_line({"a": 0, "b": 5, "c": 17}, 22, T)

    assert (cells, total) == ({"a": 0, "b": 5, "c": 17}, 22)


def test_the_next_smallest_cell_is_withheld_when_the_total_would_reveal_a_small_one() -> None:
    cells, total = protect_line({"P1": 2, "P2": 40, "P3": 9, "P4": 12}, 63, T)

    assert cells == {"P1": SMALL, "P2": 40, "P3": WITHHELD, "P4": 12}
    assert total == 63


def test_two_small_cells_that_the_total_would_pin_down_hide_a_third() -> None:
    # 1 + 1 = 2: a reader who knows "<5" means at least 1 would know both.
    cells, total = protect_line({"a": 1, "b": 1, "c": 30, "d": 50}, 82, T)

    assert cells == {"a": SMALL, "b": SMALL, "c": WITHHELD, "d": 50}
    assert total == 82


def test_where_nothing_is_left_to_withhold_a_small_cell_reads_x() -> None:
    # Four cells at "<5" under a total at "<5" could only be 1 each.
    cells, total = protect_line({"a": 1, "b": 1, "c": 1, "d": 1}, 4, T)

    assert WITHHELD in [*cells.values(), total]


def test_a_grid_suppresses_across_rows_columns_and_margins() -> None:
    grid = {"W1": {"P1": 2, "P2": 10}, "W2": {"P1": 7, "P2": 20}}

    out = protect_grid(grid, ["W1", "W2"], ["P1", "P2"], T)

    assert out.cells["W1"] == {"P1": SMALL, "P2": WITHHELD}
    assert out.cells["W2"] == {"P1": WITHHELD, "P2": WITHHELD}
    assert out.total == 39


# --- properties ----------------------------------------------------------------------------

counts = st.one_of(st.integers(0, 6), st.integers(0, 40))


@settings(max_examples=300, deadline=None)
@given(st.lists(counts, min_size=1, max_size=5))
def test_no_suppressed_cell_of_a_breakdown_can_be_recovered(values: list[int]) -> None:
    cells = {f"c{i}": v for i, v in enumerate(values)}
    total = sum(values)
    published, published_total = protect_line(cells, total, T)

    assert all(isinstance(v, int) or v in (SMALL, WITHHELD) for v in published.values())
    assert all(not isinstance(v, int) or v == 0 or v >= T for v in published.values())
    assert all(v != SMALL or 0 < cells[k] < T for k, v in published.items())
    solutions = list(line_solutions(published, published_total, cap=total + T))
    assert {k: cells[k] for k in sorted(cells)} in solutions
    for key, shown in published.items():
        if not isinstance(shown, int):
            assert len({s[key] for s in solutions}) >= 2, (cells, published)
    if not isinstance(published_total, int):
        assert len({sum(s.values()) for s in solutions}) >= 2


# Tables of up to 6 cells: the reader's side is a brute-force search over every table.
shapes = st.sampled_from([(1, 2), (1, 3), (2, 2), (2, 3), (3, 2)])


@settings(max_examples=100, deadline=None)
@given(
    shapes.flatmap(
        lambda shape: st.lists(
            st.tuples(*[st.integers(0, 6)] * shape[1]), min_size=shape[0], max_size=shape[0]
        )
    )
)
def test_no_suppressed_cell_of_a_grid_or_its_margins_can_be_recovered(
    table: list[tuple[int, ...]],
) -> None:
    rows = [f"r{i}" for i in range(len(table))]
    columns = [f"c{j}" for j in range(len(table[0]))]
    grid = {r: dict(zip(columns, row, strict=True)) for r, row in zip(rows, table, strict=True)}
    out = protect_grid(grid, rows, columns, T)

    published = [[out.cells[r][c] for c in columns] for r in rows]
    # Each hidden cell (or margin) as a function of a consistent table.
    readers: dict[object, Callable[[Grid], int]] = {}
    for i, j in itertools.product(range(len(rows)), range(len(columns))):
        if not isinstance(published[i][j], int):
            readers[(i, j)] = lambda t, i=i, j=j: t[i][j]  # type: ignore[misc]
    for i, r in enumerate(rows):
        if not isinstance(out.row_totals[r], int):
            readers[(i, "")] = lambda t, i=i: sum(t[i])  # type: ignore[misc]
    for j, c in enumerate(columns):
        if not isinstance(out.column_totals[c], int):
            readers[("", j)] = lambda t, j=j: sum(row[j] for row in t)  # type: ignore[misc]
    seen: dict[object, set[int]] = {key: set() for key in readers}
    found_truth = False
    for solution in grid_solutions(
        published,
        [out.row_totals[r] for r in rows],
        [out.column_totals[c] for c in columns],
        out.total,
        cap=sum(map(sum, table)) + T,
    ):
        found_truth = found_truth or solution == tuple(table)
        for key, read in readers.items():
            seen[key].add(read(solution))
        if found_truth and all(len(v) >= 2 for v in seen.values()):
            break
    assert found_truth
    assert all(len(v) >= 2 for v in seen.values()), (table, out, seen)
