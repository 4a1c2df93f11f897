"""Lexicons: data files a helpline can extend without code, validated when loaded."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from shared.contracts import Category, Flag

LEXICON_DIR = Path(__file__).parent / "lexicons"


def _bounded(pattern: str) -> str:
    # The group keeps every alternative of the pattern inside the word boundaries.
    return rf"(?<!\w)(?:{pattern})(?!\w)"


class LexiconError(ValueError):
    """A lexicon file that cannot be used; raised at start, never later."""


class LexiconFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    language: str
    categories: dict[Category, list[str]]
    flags: dict[Flag, list[str]] = {}
    signals: dict[str, list[str]] = {}

    @field_validator("categories", "flags", "signals")
    @classmethod
    def _patterns_compile(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, patterns in value.items():
            for pattern in patterns:
                try:
                    re.compile(_bounded(pattern))
                except re.error as exc:
                    raise ValueError(f"{key}: bad pattern {pattern!r}: {exc}") from None
        return value


@dataclass(frozen=True)
class Term:
    """One compiled pattern and what it points to."""

    target: str
    source: str
    regex: re.Pattern[str]


@dataclass(frozen=True)
class Lexicon:
    categories: tuple[Term, ...]
    flags: tuple[Term, ...]
    signals: tuple[Term, ...]


def _terms(
    groups: dict[str, list[str]] | dict[Category, list[str]] | dict[Flag, list[str]],
) -> tuple[Term, ...]:
    return tuple(
        Term(str(key), pattern, re.compile(_bounded(pattern), re.IGNORECASE))
        for key, patterns in groups.items()
        for pattern in patterns
    )


def load_lexicon(directory: Path = LEXICON_DIR) -> Lexicon:
    """Every *.json lexicon under `directory`, merged; any defect is a LexiconError."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise LexiconError(f"no lexicon files under {directory}")
    categories: list[Term] = []
    flags: list[Term] = []
    signals: list[Term] = []
    for path in files:
        try:
            data = LexiconFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (ValidationError, json.JSONDecodeError) as exc:
            raise LexiconError(f"{path.name}: {exc}") from None
        categories += _terms(data.categories)
        flags += _terms(data.flags)
        signals += _terms(data.signals)
    return Lexicon(tuple(categories), tuple(flags), tuple(signals))
