"""Small-cell suppression: a published count never lets someone be picked out."""

from __future__ import annotations

import pytest

from services.reporting.domain import suppress, suppress_all


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_counts_from_one_to_four_read_less_than_five(count: int) -> None:
    assert suppress(count) == "<5"


@pytest.mark.parametrize("count", [0, 5, 6, 17, 10_000])
def test_zero_and_counts_of_five_or_more_are_shown(count: int) -> None:
    assert suppress(count) == count


def test_suppress_all_suppresses_each_cell_and_sorts_the_keys() -> None:
    counts = {"threats": 12, "doxxing": 3, "advice": 0}

    assert list(suppress_all(counts).items()) == [("advice", 0), ("doxxing", "<5"), ("threats", 12)]
