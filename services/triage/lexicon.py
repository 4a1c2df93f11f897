"""Lexicons: data files a helpline can extend without code, validated when loaded."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.triage.model import Example, NaiveBayes
from services.triage.text import fold, skeleton_pattern
from shared.contracts import Category, Flag

LEXICON_DIR = Path(__file__).parent / "lexicons"
ARABIZI = "ar-Latn"
_ARABIC_LETTER = re.compile(r"[\u0621-\u064A]")
_ESCAPE = re.compile(r"(\\.)")


class Signal(StrEnum):
    """Cues that change how categories and flags are read, not what they are."""

    impersonation_contacts = "impersonation_contacts"  # the fake account writes to contacts
    released = "released"  # the person held was let go, the device handed back
    resolved = "resolved"  # the attack is over (site restored, access regained)
    no_incident = "no_incident"  # "nothing has happened (yet)"
    hypothetical = "hypothetical"  # "in case", "what if", "to prevent"
    physical_context = "physical_context"  # people in hiding, location of at-risk people
    accused = "accused"  # "saying I impersonate", "for violating": a platform's stated reason


class Platform(StrEnum):
    facebook = "facebook"
    instagram = "instagram"
    whatsapp = "whatsapp"
    tiktok = "tiktok"
    x = "x"
    telegram = "telegram"
    snapchat = "snapchat"
    gmail = "gmail"
    youtube = "youtube"
    signal = "signal"
    linkedin = "linkedin"
    dating_app = "dating_app"


def _bounded(pattern: str) -> str:
    # The group keeps every alternative of the pattern inside the word boundaries.
    return rf"(?<!\w)(?:{pattern})(?!\w)"


def _non_capturing(pattern: str) -> str:
    """Capturing groups made non-capturing: the regex engine tries alternatives faster."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(" and not pattern.startswith("(?", i):
            out.append("(?:")
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


_ARABIC_PREFIX = "[وفلكبيتنسحهاع]{0,3}"


def _bounded_arabic(pattern: str) -> str:
    # Arabic glues conjunctions, prepositions, the article and verb prefixes to the
    # word, and suffixes (pronouns, plurals) after it: Arabic terms are stems.
    return rf"(?<!\w){_ARABIC_PREFIX}(?:{pattern})"


def fold_pattern(pattern: str, language: str) -> str:
    """A pattern folded as text is (escapes kept), as a skeleton for Arabizi."""
    folded = "".join(
        part if part.startswith("\\") else fold(part) for part in _ESCAPE.split(pattern)
    )
    return skeleton_pattern(folded) if language == ARABIZI else folded


class LexiconError(ValueError):
    """A lexicon file that cannot be used; raised at start, never later."""


class WeightedPattern(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0, le=5)


Patterns = list[str | WeightedPattern]


class LexiconFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{4})?$")
    categories: dict[Category, Patterns]
    flags: dict[Flag, Patterns] = {}
    signals: dict[Signal, Patterns] = {}
    negations: list[str] = []
    platforms: dict[Platform, list[str]] = {}

    @field_validator("categories", "flags", "signals", "platforms")
    @classmethod
    def _patterns_compile(cls, value: dict[str, Patterns]) -> dict[str, Patterns]:
        for key, patterns in value.items():
            for item in patterns:
                _check(key, item if isinstance(item, str) else item.pattern)
        return value

    @field_validator("negations")
    @classmethod
    def _negations_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            _check("negations", pattern)
        return value


def _check(key: str, pattern: str) -> None:
    if "(?P" in pattern:
        raise ValueError(f"{key}: bad pattern {pattern!r}: named groups are reserved")
    for candidate in (pattern, fold_pattern(pattern, ARABIZI)):
        try:
            re.compile(_bounded(candidate))
        except re.error as exc:
            raise ValueError(f"{key}: bad pattern {pattern!r}: {exc}") from None


@dataclass(frozen=True)
class Term:
    """One compiled pattern and what it points to."""

    target: str
    source: str
    regex: re.Pattern[str]
    weight: float = 1.0
    arabizi: bool = False

    @property
    def arabic(self) -> bool:
        return bool(_ARABIC_LETTER.search(self.regex.pattern))

    @property
    def core(self) -> str:
        """The pattern without its left boundary (the group puts one in front of all)."""
        pattern = self.regex.pattern
        for head in ("(?<!\\w)" + _ARABIC_PREFIX, "(?<!\\w)"):
            if pattern.startswith(head):
                return _non_capturing(pattern[len(head) :])
        return _non_capturing(pattern)


@dataclass(frozen=True)
class Group:
    """Every term of one kind and target on one view, as a single regex."""

    kind: str
    target: str
    arabizi: bool
    arabic: bool
    regex: re.Pattern[str]
    terms: tuple[Term, ...]

    def term_at(self, text: str, start: int) -> Term:
        """Which term of the group matched at `start` (only asked for actual matches)."""
        return next((t for t in self.terms if t.regex.match(text, start)), self.terms[0])


@dataclass(frozen=True)
class Lexicon:
    categories: tuple[Term, ...]
    flags: tuple[Term, ...]
    signals: tuple[Term, ...]
    negations: tuple[Term, ...] = ()
    platforms: tuple[Term, ...] = ()
    model: NaiveBayes | None = None

    @cached_property
    def groups(self) -> tuple[Group, ...]:
        """Terms grouped so one search per kind, target, view and script finds them all."""
        buckets: dict[tuple[str, str, bool, bool], list[Term]] = {}
        kinds = ("category", "flag", "signal", "negation", "platform")
        for kind, terms in zip(
            kinds,
            (self.categories, self.flags, self.signals, self.negations, self.platforms),
            strict=True,
        ):
            for t in terms:
                buckets.setdefault((kind, t.target, t.arabizi, t.arabic), []).append(t)
        # One word boundary in front of all the alternatives, none captured: an
        # order of magnitude faster than a boundary and a named group per term.
        return tuple(
            Group(
                kind,
                target,
                arabizi,
                arabic,
                re.compile(
                    (rf"\b{_ARABIC_PREFIX}" if arabic and kind != "negation" else r"\b")
                    + "(?:"
                    + "|".join(t.core for t in terms)
                    + ")"
                ),
                tuple(terms),
            )
            for (kind, target, arabizi, arabic), terms in buckets.items()
        )


def _terms(
    groups: dict[Category, Patterns]
    | dict[Flag, Patterns]
    | dict[Signal, Patterns]
    | dict[str, Patterns],
    language: str,
) -> tuple[Term, ...]:
    out: list[Term] = []
    for key, patterns in groups.items():
        for item in patterns:
            source, weight = (item, 1.0) if isinstance(item, str) else (item.pattern, item.weight)
            folded = fold_pattern(source, language)
            stem = _ARABIC_LETTER.search(folded) and key != "negation"
            bounded = _bounded_arabic(folded) if stem else _bounded(folded)
            compiled = re.compile(bounded, re.IGNORECASE)
            out.append(Term(str(key), source, compiled, weight, language == ARABIZI))
    return tuple(out)


def _load(path: Path) -> LexiconFile:
    try:
        return LexiconFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValidationError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LexiconError(f"{path.name}: {exc}") from None


def _examples(directory: Path) -> list[Example]:
    examples: list[Example] = []
    for path in sorted(directory.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                examples.append(Example.model_validate_json(line))
            except ValidationError as exc:
                raise LexiconError(f"{path.name} line {number}: {exc}") from None
    return examples


def load_lexicon(directory: Path = LEXICON_DIR) -> Lexicon:
    """Every *.json lexicon under `directory`, merged, and a model trained on
    `directory/examples/*.jsonl` when there are any; any defect is a LexiconError."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise LexiconError(f"no lexicon files under {directory}")
    categories: list[Term] = []
    flags: list[Term] = []
    signals: list[Term] = []
    negations: list[Term] = []
    platforms: list[Term] = []
    for path in files:
        data = _load(path)
        lang = data.language
        categories += _terms(data.categories, lang)
        flags += _terms(data.flags, lang)
        signals += _terms(data.signals, lang)
        negation: dict[str, Patterns] = {"negation": list(data.negations)}
        named: dict[str, Patterns] = {str(k): list(v) for k, v in data.platforms.items()}
        negations += _terms(negation, lang)
        platforms += _terms(named, lang)
    examples = _examples(directory / "examples")
    model = NaiveBayes.train(examples) if examples else None
    lexicon = Lexicon(
        tuple(categories),
        tuple(flags),
        tuple(signals),
        tuple(negations),
        tuple(platforms),
        model,
    )
    _ = lexicon.groups  # compiled now, at start, not on the first ticket
    return lexicon
