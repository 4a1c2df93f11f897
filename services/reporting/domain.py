"""Reporting's pure rules: small-cell suppression."""

from __future__ import annotations

from collections.abc import Mapping

SMALL_CELL = 5
SUPPRESSED = "<5"


def suppress(count: int) -> int | str:
    """A count fit to publish: 1 to 4 could identify someone, so they read "<5"."""
    return SUPPRESSED if 0 < count < SMALL_CELL else count


def suppress_all(counts: Mapping[str, int]) -> dict[str, int | str]:
    return {key: suppress(value) for key, value in sorted(counts.items())}
