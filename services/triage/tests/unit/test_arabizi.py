"""Arabizi across the region: skeletons that keep words apart, dialects, negation's reach.

The examples in data/arabizi_dialects.jsonl were written for these tests (Levant, Egypt,
the Gulf, Iraq and the Maghreb, French loanwords, mixed script); none is in the
evaluation data or in the classifier's examples.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from services.triage.domain import classify
from services.triage.lexicon import Lexicon, load_lexicon
from services.triage.text import normalise, skeleton, skeleton_word
from shared.contracts import Category, Priority, RequesterRole

DIALECTS = Path(__file__).parent / "data" / "arabizi_dialects.jsonl"
CASES: list[dict[str, Any]] = [
    json.loads(line) for line in DIALECTS.read_text(encoding="utf-8").splitlines() if line
]
LEXICON = Path(__file__).parents[2] / "lexicons" / "ar-Latn.json"

# Everyday words, in several dialects, none of them a sign of any incident.
EVERYDAY = """
kaman kamen zamili zamilti zamile zamil 3orood 3ard nafs weld walad wlad 5atr 5ater
3ashan sar saret bas ba3d ba3den lessa hal2a hala hayda hadi shi shou lesh kif salam
yalla ana enta enti ne7na hon hone hnak hna tawa barcha bzaf ktir shwaya kel kol walo
wala ya3ni fi fih 3am 3an 3ala ma3 men min la lal bel fel 3and 3andi ma3i lsa baddi
bghit 3ayez abi nriid mni7 mnih zeen kwayes mezyan behi khalas yom nhar sob7 masa sa3a
shahr sene sana jom3a ahl ahli 3ayla bet beit dar madrase jam3a shoghl masari flous
saken mama baba akhi okhti jiran sa7bi ibni binti boulis shorta 7ijab sabab 3amalt
7aga 7aja kalam 7ki 2al galo 9al 3araft bta3i dyali mta3i maali 7ayati donya nas dawle
balad blad bled jaiza mabsout te3ban 3ajal jdid sghir kbir tani
""".split()  # noqa: SIM905


def _single_words() -> list[tuple[str, str]]:
    """(target, word) for each one-word alternative of a one-group Arabizi pattern."""
    data = json.loads(LEXICON.read_text(encoding="utf-8"))
    found: list[tuple[str, str]] = []
    for section in ("categories", "flags", "signals"):
        for target, patterns in data[section].items():
            for item in patterns:
                pattern = item if isinstance(item, str) else item["pattern"]
                group = re.fullmatch(r"\(([^()]+)\)", pattern)
                if group:
                    found += [(target, w) for w in group.group(1).split("|") if " " not in w]
    return found


@pytest.fixture(scope="module")
def shipped() -> Lexicon:
    return load_lexicon()


@pytest.mark.parametrize("case", CASES, ids=[f"{c['id']}-{c['dialect']}" for c in CASES])
def test_arabizi_in_every_dialect(shipped: Lexicon, case: dict[str, Any]) -> None:
    result = classify(case["text"], lexicon=shipped, role=RequesterRole(case["requester_role"]))

    assert (result.category.value, result.priority.value) == (case["category"], case["priority"])


def test_the_dialect_examples_cover_every_category() -> None:
    assert {c["category"] for c in CASES} == {c.value for c in Category}


def test_no_lexicon_word_shares_its_skeleton_with_an_everyday_word() -> None:
    everyday = {skeleton_word(w): w for w in EVERYDAY}

    clashes = [
        (target, word, everyday[skeleton_word(word)])
        for target, word in _single_words()
        if skeleton_word(word) in everyday and word not in EVERYDAY
    ]

    assert clashes == []


# --- skeletons ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("5tara2", "5atr"),  # hacked / because of: hamza is a consonant
        ("fakkouh", "fa5"),  # they freed him / a trap: kh is one letter
        ("thobab", "t7eb"),  # trolls / she loves: a letter twice across a vowel
        ("sara2", "sar"),  # stole / happened
    ],
)
def test_words_that_differ_keep_different_skeletons(a: str, b: str) -> None:
    assert skeleton_word(a) != skeleton_word(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("galo", "qalo"),  # qaf as "g" in the Gulf, Iraq and the Maghreb
        ("ma3tagal", "mu3taqal"),
        ("hakraw", "hakarou"),  # the plural "-aw"
        ("sakkaro", "sakaro"),
        ("5alas", "khalas"),
        ("ghadi", "8adi"),
    ],
)
def test_spellings_of_one_word_share_a_skeleton(a: str, b: str) -> None:
    assert skeleton(normalise(a)) == skeleton(normalise(b))


# --- reading -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ba3d ma sakkarna el 7sab sar yhadedni yensher souari el 5assa",
        "2abl ma yensher souari el 5assa talab masari",
    ],
)
def test_ma_after_a_conjunction_is_not_a_negation(shipped: Lexicon, text: str) -> None:
    result = classify(text, lexicon=shipped)

    assert result.category is Category.sextortion
    assert not any(r.startswith("neg:") for r in result.rule_ids)


@pytest.mark.parametrize(
    "text",
    [
        "mish 3am befham lesh el instagram taba3i 3am yetsakkar",
        "ma ba3ref kif el account taba3i et2afal",
        "I don't understand why my account was suspended",
    ],
)
def test_a_negation_stops_at_a_question_word(shipped: Lexicon, text: str) -> None:
    result = classify(text, lexicon=shipped)

    assert result.category is Category.account_suspension


@pytest.mark.parametrize(
    "text",
    [
        "Instagram disabled my account saying I was impersonating someone, it is my real account",
        "Facebook a suspendu ma page en prétendant que c'est une usurpation, c'est la vraie",
        "انقفل حسابي على فيسبوك بحجة انتحال شخصية مع انه حسابي الحقيقي",
        "facebook sakkar el page taba3i w bi2oulo enno ente7al shakhsiye, hiye page el asliye",
    ],
    ids=["en", "fr", "ar", "ar-Latn"],
)
def test_a_platforms_stated_reason_is_read_as_a_suspension(shipped: Lexicon, text: str) -> None:
    result = classify(text, lexicon=shipped)

    assert result.category is Category.account_suspension
    assert result.priority is Priority.P3
    assert "signal:accused" in result.rule_ids
