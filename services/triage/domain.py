"""Triage's pure rules: classification from a lexicon, and priority per taxonomy.md."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.triage.lexicon import Group, Lexicon, Signal
from services.triage.text import (
    SUPPORTED_LANGUAGES,
    detect_language,
    detect_languages,
    normalise,
    skeleton,
    squeeze_fully,
)
from shared.contracts import Category, Flag, Priority, RequesterRole

__all__ = [
    "REVIEW_BELOW",
    "SUPPORTED_LANGUAGES",
    "Candidate",
    "Classification",
    "Shift",
    "backoff",
    "choose_handler",
    "choose_lead",
    "classify",
    "detect_language",
    "normalise",
    "on_shift",
    "priority_for",
    "speaks",
]

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
REVIEW_BELOW = 0.5
# The examples model decides alone only where the lexicon is silent; beside a
# lexicon match it is a tie-breaker.
MODEL_WEIGHT_ALONE = 1.0
MODEL_WEIGHT_BESIDE = 0.4
# A negation reaches no further than its clause: punctuation, "but", and a question
# word ("I don't understand why my account..."), in plain and in Arabizi skeleton form.
_CLAUSE_BREAK = re.compile(
    r"[,.!?;\n]|\b(but|mais|however|cependant|bs|bas"
    r"|why|how|pourquoi|comment|lesh|lish|lech|3lash|leh|kif|kifash|kifach|izzay|ezay|shlon"
    r"|lsh|3lsh|lh|kf|kfsh|zy|shln)\b|لكن|بس|ليش|لماذا|ليه|كيف|ازاي"
)
_NEGATION_REACH = 3  # words between a negation and what it negates


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
    platforms: tuple[str, ...] = field(default=())
    languages: tuple[str, ...] = field(default=())


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
    if category in _P2_CATEGORIES:
        return Priority.P2, [f"P2: {category.value} is ongoing harm that spreads"]
    if category is Category.device_seizure:
        return Priority.P2, ["P2: device_seizure with nobody held now"]
    if category is Category.website_attack and Flag.ongoing in flags:
        return Priority.P2, ["P2: website attack in progress"]
    if category is Category.impersonation and Signal.impersonation_contacts in signals:
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


_GROUP = re.compile(r"\((?:\?:)?([^()]*)\)")
_SYNTAX = re.compile(r"\\[wdsb][*+?]?|\.\{\d*,?\d*\}|[?*+]|\(\?[!=<][^)]*\)|[\[\]^$\\]")


def label(pattern: str) -> str:
    """A lexicon pattern as a handler reads it: the first spelling of each choice."""
    previous = None
    text = re.sub(r"\(\?<?[!=][^()]*\)", "", pattern)
    text = re.sub(r"\[([^\]])[^\]]*\]", r"\1", text)
    while previous != text:
        previous = text
        text = _GROUP.sub(lambda m: m.group(1).split("|")[0], text)
    text = _SYNTAX.sub(lambda m: "…" if m.group().startswith(".") else "", text)
    return re.sub(r"\s+", " ", text.split("|")[0]).strip() or pattern


# --- matching -----------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    kind: str
    target: str
    source: str
    weight: float
    negated: bool


def _views(text: str) -> dict[bool, str]:
    norm = normalise(text)
    squeezed = squeeze_fully(norm)
    # an elongated word is read both ways: "haacked" as "haacked" and "hacked"
    plain = norm if squeezed == norm or not re.search(r"(\w)\1", text) else f"{norm}\n{squeezed}"
    return {False: plain, True: skeleton(plain)}


def _negated(view: str, start: int, negation_ends: list[int]) -> bool:
    for end in negation_ends:
        if end <= start:
            between = view[end:start]
            if len(between.split()) <= _NEGATION_REACH and not _CLAUSE_BREAK.search(between):
                return True
    return False


def _scan(lexicon: Lexicon, text: str, arabizi: bool) -> tuple[list[Hit], str]:
    """Every term found, once each; Arabizi terms only where Arabizi was seen."""
    views = _views(text)
    plain = views[False]
    has_arabic = bool(re.search(r"[\u0621-\u064A]", plain))
    has_latin = bool(re.search(r"[a-z]", plain))
    active: list[Group] = [
        g
        for g in lexicon.groups
        if (has_arabic if g.arabic else has_latin) and (arabizi or not g.arabizi)
    ]
    negation_ends: dict[bool, list[int]] = {False: [], True: []}
    for g in active:
        if g.kind == "negation":
            negation_ends[g.arabizi] += [m.end() for m in g.regex.finditer(views[g.arabizi])]
    hits: list[Hit] = []
    seen: set[tuple[str, str, str]] = set()
    for g in active:
        if g.kind == "negation":
            continue
        view = views[g.arabizi]
        for m in g.regex.finditer(view):
            term = g.term_at(view, m.start())
            key = (g.kind, g.target, term.source)
            if key in seen:
                continue
            seen.add(key)
            negated = g.kind in {"category", "flag", "signal"} and _negated(
                view, m.start(), negation_ends[g.arabizi]
            )
            hits.append(Hit(g.kind, g.target, term.source, term.weight, negated))
    return hits, plain


# --- classify -------------------------------------------------------------------


def _language(text: str, declared: str | None) -> tuple[str, tuple[str, ...], bool]:
    """The language to record, every language seen, and whether Arabizi was seen."""
    seen = detect_languages(text)
    mixed = tuple(lang for lang, share in seen if share >= 0.15)
    arabizi = any(lang == "ar-Latn" for lang, _ in seen)
    if declared:
        head, _, tail = declared.partition("-")
        declared = head.lower() + (f"-{tail.title()}" if tail else "")
        return declared, mixed, arabizi or declared == "ar-Latn"
    return seen[0][0], mixed, arabizi


def classify(
    text: str,
    *,
    lexicon: Lexicon,
    role: RequesterRole = RequesterRole.unknown,
    declared_language: str | None = None,
) -> Classification:
    """Category, flags, priority, language, confidence and reasons for one message."""
    language, languages, arabizi = _language(text, declared_language)
    hits, plain = _scan(lexicon, text, arabizi)
    reasons: list[str] = []
    rule_ids: list[str] = []
    scores: dict[Category, float] = defaultdict(float)
    for hit in (h for h in hits if h.kind == "category"):
        if hit.negated:
            reasons.append(f"'{label(hit.source)}' ({hit.target}) is negated: not counted")
            rule_ids.append(f"neg:{hit.target}")
            continue
        scores[Category(hit.target)] += hit.weight
        reasons.append(f"'{label(hit.source)}' suggests {hit.target}")
        rule_ids.append(f"cat:{hit.target}")
    signals = {h.target for h in hits if h.kind == "signal"}
    for signal in sorted(signals):
        rule_ids.append(f"signal:{signal}")
    platforms = tuple(sorted({h.target for h in hits if h.kind == "platform"}))
    if platforms:
        reasons.append(f"platforms: {', '.join(platforms)}")
    flags = {Flag(h.target) for h in hits if h.kind == "flag" and not h.negated}
    flags = _read_flags(flags, signals, reasons, rule_ids)
    for flag in sorted(flags):
        reasons.append(f"flag {flag.value}: the message says so")
        rule_ids.append(f"flag:{flag.value}")
    _weigh_incident_cues(scores, signals, reasons)
    _weigh_by_taxonomy(scores, flags, signals, reasons)
    lexicon_scores = dict(scores)
    _add_model(scores, lexicon, plain, reasons, rule_ids)
    if Flag.detained in flags and not any(s >= 0.5 for s in scores.values()):
        scores[Category.out_of_scope] += 0.5
    category, secondary, confidence = _decide(scores, lexicon_scores, reasons)
    priority, priority_reasons = priority_for(category, flags, role, signals)
    supported = language in SUPPORTED_LANGUAGES
    if not supported:
        priority = _floor_for_unread(priority, role, priority_reasons)
    reasons += priority_reasons
    if not supported:
        reasons.append(f"language {language} is not one triage reads: a person must check")
    elif confidence < REVIEW_BELOW:
        reasons.append(f"confidence {confidence:.2f} is low: a person must check")
    return Classification(
        category=category,
        secondary=secondary,
        flags=tuple(sorted(flags)),
        priority=priority,
        language=language,
        confidence=confidence,
        needs_review=confidence < REVIEW_BELOW or not supported,
        reasons=tuple(reasons),
        rule_ids=tuple(dict.fromkeys(rule_ids)),
        platforms=platforms,
        languages=languages,
    )


def _read_flags(
    flags: set[Flag], signals: set[str], reasons: list[str], rule_ids: list[str]
) -> set[Flag]:
    """The taxonomy's reading rules: `detained` is held now; `ongoing` is not over."""
    if Flag.detained in flags and Signal.released in signals:
        flags = flags - {Flag.detained}
        reasons.append("not flagged detained: the message says they were let go or given back")
        rule_ids.append("rule:released")
    if Flag.ongoing in flags and Signal.resolved in signals:
        flags = flags - {Flag.ongoing}
        reasons.append("not flagged ongoing: the message says it is over")
        rule_ids.append("rule:resolved")
    if Signal.physical_context in signals and Flag.physical_threat not in flags:
        flags = flags | {Flag.physical_threat}
        reasons.append("flag physical_threat: people at risk could be located")
    return flags


def _weigh_incident_cues(
    scores: dict[Category, float], signals: set[str], reasons: list[str]
) -> None:
    """Prevention or 'what if' questions pull towards advice when no incident is told."""
    no_incident = Signal.no_incident in signals
    described = max((s for c, s in scores.items() if c not in _P4_CATEGORIES), default=0.0)
    # "how do I protect ..." closes most incident reports: it only counts when
    # nothing was described; "nothing has happened" always counts.
    if not no_incident and (Signal.hypothetical not in signals or described >= 1.0):
        return
    for category in [c for c in scores if c not in _P4_CATEGORIES]:
        scores[category] *= 0.4 if no_incident else 0.7
    scores[Category.advice] += 1.2 if no_incident else 0.6
    reasons.append("asks for prevention or advice without describing an incident")


def _weigh_by_taxonomy(
    scores: dict[Category, float], flags: set[Flag], signals: set[str], reasons: list[str]
) -> None:
    """Where the taxonomy says one reading absorbs another."""
    if scores.get(Category.account_suspension, 0) >= 1.0 and Signal.accused in signals:
        # "closed, saying I impersonate someone": the platform's reason, not the incident
        for reason_given in (Category.impersonation, Category.defamation):
            if scores.get(reason_given, 0) > 0:
                scores[reason_given] *= 0.4
        reasons.append("a suspension with the platform's stated reason: read as a suspension")
    compromised = max(
        scores.get(Category.account_compromise, 0), scores.get(Category.device_compromise, 0)
    )
    if compromised >= 1.0 and scores.get(Category.phishing, 0) > 0:
        scores[Category.phishing] *= 0.5
        reasons.append("a compromise is described: the lure counts as its route, not as phishing")
    if (
        scores.get(Category.sextortion, 0) >= 1.0
        and scores.get(Category.threats, 0) > 0
        and Flag.physical_threat not in flags
    ):
        scores[Category.threats] *= 0.5
        reasons.append("threats to publish private content are read as sextortion")


def _add_model(
    scores: dict[Category, float],
    lexicon: Lexicon,
    plain: str,
    reasons: list[str],
    rule_ids: list[str],
) -> None:
    if lexicon.model is None:
        return
    prediction = lexicon.model.predict(plain)
    if prediction is None:
        return
    weight = MODEL_WEIGHT_BESIDE if any(s >= 1.0 for s in scores.values()) else MODEL_WEIGHT_ALONE
    for category, p in prediction.probabilities.items():
        if p >= 0.05:
            scores[category] += weight * p
    best = max(prediction.probabilities, key=lambda c: prediction.probabilities[c])
    p = prediction.probabilities[best]
    words = ", ".join(f"'{w}'" for w in prediction.top_features)
    reasons.append(f"examples model: {best.value} ({p:.2f})" + (f" from {words}" if words else ""))
    rule_ids.append(f"model:{best.value}")


def _decide(
    scores: dict[Category, float], lexicon_scores: dict[Category, float], reasons: list[str]
) -> tuple[Category, tuple[Category, ...], float]:
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0].value))
    if not ranked or ranked[0][1] < 0.3:
        reasons.append("no known words: defaulted to advice for a person to check")
        return Category.advice, (), 0.2
    top_category, top = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    for category, score in ranked[1:]:
        # physical danger first: a close reading that would make the ticket P1 wins
        words = lexicon_scores.get(category, 0.0)
        if category in _P1_CATEGORIES and words >= 1.0 and score >= 0.75 * top:
            reasons.append(f"{category.value} preferred over {top_category.value}: close, and P1")
            top_category, second = category, top
            top = score
            break
    secondary = tuple(c for c, s in ranked[1:] if s >= 1.0 and s >= 0.5 * top)[:3]
    confidence = 0.3 + 0.35 * (top - second) / top + 0.1 * min(top, 3.0)
    return top_category, secondary, round(min(0.97, max(0.05, confidence)), 2)


def _floor_for_unread(priority: Priority, role: RequesterRole, reasons: list[str]) -> Priority:
    """An unread message is never left in the low queue: at least P3, P2 for at-risk roles."""
    floor = Priority.P2 if role in _RAISING_ROLES else Priority.P3
    if _PRIORITY_RANK[priority] > _PRIORITY_RANK[floor]:
        reasons.append(f"kept at {floor.value}: the message could not be read")
        return floor
    return priority


# --- shifts -----------------------------------------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Shift:
    """Working hours on some weekdays, in the handler's own time zone.

    `end` at or before `start` runs overnight: a "fri" 22:00-06:00 shift covers Friday
    night and Saturday until 06:00 (it belongs to the day it starts on).
    """

    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start: time
    end: time

    def covers(self, local: datetime) -> bool:
        now, day = local.time().replace(tzinfo=None), local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        return (day in self.days and now >= self.start) or (
            (day - 1) % 7 in self.days and now < self.end
        )


def on_shift(shifts: Iterable[Shift], zone: ZoneInfo, now: datetime) -> bool:
    """Whether `now` (aware) falls in one of the shifts, read on the zone's wall clock.

    No shifts at all means always on: a roster without hours keeps working as before.
    The wall clock follows the zone's rules, so a shift keeps its local hours across
    daylight saving changes.
    """
    shifts = list(shifts)
    if not shifts:
        return True
    local = now.astimezone(zone)
    return any(s.covers(local) for s in shifts)


def backoff(attempts: int, *, base: float, cap: float) -> timedelta:
    """The wait after `attempts` failed deliveries: doubling from `base`, never above `cap`."""
    exponent = min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(cap, base * (2**exponent)))


# --- assignment -------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A roster entry as the assignment rule sees it, with its open tickets now.

    `available` is already the availability flag and being on shift at the time.
    """

    handler_id: str
    languages: frozenset[str]
    expertise: frozenset[Category]
    max_open: int
    available: bool
    open_tickets: int
    lead: bool = False


def speaks(languages: frozenset[str], language: str) -> bool:
    """Whether a handler reads a ticket's language: Arabizi is Arabic in Latin letters."""
    if language in languages:
        return True
    return language == "ar-Latn" and "ar" in languages


def choose_handler(
    candidates: Iterable[Candidate], *, language: str, category: Category, priority: Priority
) -> str | None:
    """The handler triage assigns a ticket to, or None to leave it for a coordinator.

    1. Only available handlers who read the ticket's language (Arabizi: Arabic readers).
       A P1 ticket nobody available reads still goes to an available handler: an answer
       within the hour, through an interpreter if need be, beats a wait.
    2. Only those below their maximum of open tickets; a P1 ticket, when everyone is at
       capacity, goes to the least loaded anyway.
    3. Among them, those who know the category first, then the fewest open tickets,
       then the lowest load against capacity, then the handler id (deterministic).
    """
    available = [c for c in candidates if c.available]
    pool = [c for c in available if speaks(c.languages, language)]
    if not pool and priority is Priority.P1:
        pool = available
    below = [c for c in pool if c.open_tickets < c.max_open]
    if below:
        pool = below
    elif priority is not Priority.P1:
        return None
    if not pool:
        return None
    best = min(
        pool,
        key=lambda c: (
            category not in c.expertise,
            c.open_tickets,
            c.open_tickets / c.max_open,
            c.handler_id,
        ),
    )
    return best.handler_id


def choose_lead(candidates: Iterable[Candidate]) -> str | None:
    """The lead to page about a P1: an available lead on shift, least loaded, then by id."""
    leads = [c for c in candidates if c.lead and c.available]
    if not leads:
        return None
    return min(leads, key=lambda c: (c.open_tickets, c.handler_id)).handler_id
