"""Triage's pure rules: classification from a lexicon, and priority per taxonomy.md."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from services.triage.lexicon import Lexicon
from shared.contracts import Category, Flag, Priority, RequesterRole

_PRIORITY_RANK = {Priority.P1: 1, Priority.P2: 2, Priority.P3: 3, Priority.P4: 4}
_P1_CATEGORIES = {Category.doxxing, Category.threats, Category.entrapment}
_P2_CATEGORIES = {Category.sextortion, Category.account_compromise, Category.device_compromise}
_P4_CATEGORIES = {Category.advice, Category.out_of_scope}
_RAISING_ROLES = {
    RequesterRole.journalist,
    RequesterRole.hrd,
    RequesterRole.lgbtq,
    RequesterRole.activist,
}
SUPPORTED_LANGUAGES = {"ar", "ar-Latn", "fr", "en"}
REVIEW_BELOW = 0.5

_ARABIC = re.compile(r"[\u0600-\u06FF]")
_ARABIZI = re.compile(r"\b[a-z]*[2357689][a-z]+[a-z0-9]*\b", re.IGNORECASE)
_FRENCH = re.compile(r"\b(je|mon|ma|mes|est|pas|compte|avec|pour|qui|une|les|des)\b", re.I)
_ENGLISH = re.compile(r"\b(the|my|is|was|and|to|i|me|someone|account|they|have)\b", re.I)


@dataclass(frozen=True)
class Classification:
    category: Category
    secondary: tuple[Category, ...]
    flags: tuple[Flag, ...]
    priority: Priority
    language: str
    confidence: float
    needs_review: bool
    reasons: tuple[str, ...]
    rule_ids: tuple[str, ...] = field(default=())


def detect_language(text: str) -> str:
    """ar, ar-Latn (Arabizi), fr, en, or und when none is recognised."""
    if len(_ARABIC.findall(text)) >= 3:
        return "ar"
    words = max(len(text.split()), 1)
    arabizi, french, english = (
        len(_ARABIZI.findall(text)),
        len(_FRENCH.findall(text)),
        len(_ENGLISH.findall(text)),
    )
    best = max(arabizi * 2, french, english)
    if best == 0 or best / words < 0.05:
        return "und"
    if best == arabizi * 2:
        return "ar-Latn"
    return "fr" if french > english else "en"


def normalise(text: str) -> str:
    """Case, accents and repeated letters folded, so lexicon terms match real writing."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"(\w)\1{2,}", r"\1\1", stripped)


def priority_for(
    category: Category, flags: set[Flag], role: RequesterRole, signals: set[str]
) -> tuple[Priority, list[str]]:
    """Priority by the taxonomy's rules and modifiers, with the reasons that decided it."""
    reasons: list[str] = []
    if Flag.physical_threat in flags or Flag.detained in flags:
        which = sorted(f.value for f in flags & {Flag.physical_threat, Flag.detained})
        return Priority.P1, [f"P1: flagged {', '.join(which)}"]
    if category in _P1_CATEGORIES:
        return Priority.P1, [f"P1: {category.value} is an immediate physical threat"]
    if category in _P2_CATEGORIES or category is Category.device_seizure:
        return Priority.P2, [f"P2: {category.value} is ongoing harm that spreads"]
    if category is Category.website_attack and Flag.ongoing in flags:
        return Priority.P2, ["P2: website attack in progress"]
    if category is Category.impersonation and "impersonation_contacts" in signals:
        return Priority.P2, ["P2: the fake account is used on the person's contacts"]
    if category in _P4_CATEGORIES:
        return Priority.P4, [f"P4: {category.value}"]
    priority = Priority.P3
    reasons.append(f"P3: {category.value}")
    if role in _RAISING_ROLES:
        reasons.append(f"raised to P2: requester is a {role.value}")
        priority = Priority.P2
    for flag in (Flag.minor, Flag.gbv):
        if flag in flags:
            reasons.append(f"raised to P2: flagged {flag.value}")
            priority = Priority.P2
    return priority, reasons


def classify(
    text: str,
    *,
    lexicon: Lexicon,
    role: RequesterRole = RequesterRole.unknown,
    declared_language: str | None = None,
) -> Classification:
    """Category, flags, priority, language, confidence and reasons for one message."""
    norm = normalise(text)
    language = declared_language or detect_language(text)
    scores: dict[Category, float] = defaultdict(float)
    reasons: list[str] = []
    rule_ids: list[str] = []
    for term in lexicon.categories:
        if term.regex.search(norm):
            scores[Category(term.target)] += 1.0
            reasons.append(f"'{term.source}' suggests {term.target}")
            rule_ids.append(f"cat:{term.target}")
    flags = {Flag(t.target) for t in lexicon.flags if t.regex.search(norm)}
    for flag in sorted(flags):
        reasons.append(f"flag {flag.value}: the message says so")
        rule_ids.append(f"flag:{flag.value}")
    signals = {t.target for t in lexicon.signals if t.regex.search(norm)}
    if Flag.detained in flags and not scores:
        scores[Category.out_of_scope] += 0.5
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0].value))
    if ranked:
        category = ranked[0][0]
        secondary = tuple(c for c, s in ranked[1:] if s >= 1.0)[:3]
        total = sum(scores.values())
        confidence = round(min(0.95, 0.4 + 0.5 * ranked[0][1] / total + 0.05 * ranked[0][1]), 2)
    else:
        category, secondary, confidence = Category.advice, (), 0.2
        reasons.append("no known words: defaulted to advice for a person to check")
    priority, priority_reasons = priority_for(category, flags, role, signals)
    reasons += priority_reasons
    needs_review = confidence < REVIEW_BELOW or language not in SUPPORTED_LANGUAGES
    if language not in SUPPORTED_LANGUAGES:
        reasons.append(f"language {language} is not one triage reads: a person must check")
    return Classification(
        category=category,
        secondary=secondary,
        flags=tuple(sorted(flags)),
        priority=priority,
        language=language,
        confidence=confidence,
        needs_review=needs_review,
        reasons=tuple(reasons),
        rule_ids=tuple(dict.fromkeys(rule_ids)),
    )
