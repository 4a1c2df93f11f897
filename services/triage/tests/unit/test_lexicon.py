"""Lexicon files: validated when loaded, so a bad one stops the service at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.triage.lexicon import LexiconError, load_lexicon
from services.triage.text import normalise, skeleton

GOOD: dict[str, Any] = {
    "language": "fr",
    "categories": {"doxxing": ["mon adresse"], "harassment": ["harc[eè]lement"]},
    "flags": {"minor": ["ma fille"]},
    "signals": {"impersonation_contacts": ["écrit à mes amis"]},
}


def write(directory: Path, name: str, content: dict[str, Any] | str) -> Path:
    path = directory / name
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_file_in_the_directory_is_merged(tmp_path: Path) -> None:
    write(tmp_path, "fr.json", GOOD)
    write(tmp_path, "en.json", {"language": "en", "categories": {"phishing": ["fake login"]}})

    lexicon = load_lexicon(tmp_path)

    assert {t.target for t in lexicon.categories} == {"doxxing", "harassment", "phishing"}
    assert [t.target for t in lexicon.flags] == ["minor"]
    assert [t.target for t in lexicon.signals] == ["impersonation_contacts"]


def test_terms_match_whole_words_only(tmp_path: Path) -> None:
    write(tmp_path, "fr.json", GOOD)

    (doxxing, *_) = load_lexicon(tmp_path).categories

    assert doxxing.regex.search("ils ont publié mon adresse hier")
    assert not doxxing.regex.search("mon adresses")


def test_alternatives_in_a_pattern_all_match_whole_words_only(tmp_path: Path) -> None:
    write(tmp_path, "en.json", {"language": "en", "categories": {"surveillance": ["spy|track"]}})

    (surveillance,) = load_lexicon(tmp_path).categories

    assert surveillance.regex.search("they track me")
    assert not surveillance.regex.search("I had to backtrack")
    assert not surveillance.regex.search("a spyware scan")


def test_the_shipped_lexicons_load() -> None:
    assert load_lexicon().categories


@pytest.mark.parametrize(
    "content",
    [
        {**GOOD, "categories": {"harassment": ["harc(èlement"]}},
        {**GOOD, "flags": {"minor": ["[ma fille"]}},
        {**GOOD, "signals": {"impersonation_contacts": ["*amis"]}},
        {**GOOD, "categories": {"censorship": ["(?i)vpn"]}},
    ],
    ids=["category", "flag", "signal", "inline-flag-invalid-once-bounded"],
)
def test_a_pattern_that_does_not_compile_is_rejected_naming_the_file(
    tmp_path: Path, content: dict[str, Any]
) -> None:
    write(tmp_path, "fr.json", content)

    with pytest.raises(LexiconError, match=r"(?s)^fr\.json: .*bad pattern"):
        load_lexicon(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        {**GOOD, "categories": {"cyber_stuff": ["piraté"]}},
        {**GOOD, "flags": {"urgent": ["vite"]}},
        {**GOOD, "colour": "blue"},
        {"categories": GOOD["categories"]},
    ],
    ids=["unknown-category", "unknown-flag", "unknown-key", "no-language"],
)
def test_a_file_outside_the_taxonomy_is_rejected_naming_the_file(
    tmp_path: Path, content: dict[str, Any]
) -> None:
    write(tmp_path, "fr.json", GOOD | {"language": "fr"})
    write(tmp_path, "zz-broken.json", content)

    with pytest.raises(LexiconError, match=r"^zz-broken\.json: "):
        load_lexicon(tmp_path)


def test_a_file_that_is_not_json_is_rejected_naming_the_file(tmp_path: Path) -> None:
    write(tmp_path, "ar.json", '{"language": "ar", "categories": {')

    with pytest.raises(LexiconError, match=r"^ar\.json: "):
        load_lexicon(tmp_path)


def test_a_directory_without_lexicons_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", "not a lexicon")

    with pytest.raises(LexiconError, match="no lexicon files"):
        load_lexicon(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({**GOOD, "signals": {"vibes": ["x"]}}, "signals"),
        ({**GOOD, "platforms": {"myspace": ["myspace"]}}, "platforms"),
        ({**GOOD, "categories": {"threats": [{"pattern": "menace", "weight": 50}]}}, "weight"),
        ({**GOOD, "categories": {"threats": ["(?P<x>menace)"]}}, "named groups"),
        ({**GOOD, "negations": ["(pas"]}, "bad pattern"),
        ({**GOOD, "language": "French"}, "language"),
    ],
    ids=[
        "unknown-signal",
        "unknown-platform",
        "weight-out-of-range",
        "named-group",
        "negation",
        "language",
    ],
)
def test_every_key_is_validated_naming_the_file(
    tmp_path: Path, content: dict[str, Any], message: str
) -> None:
    write(tmp_path, "fr.json", content)

    with pytest.raises(LexiconError, match=rf"(?s)^fr\.json: .*{message}"):
        load_lexicon(tmp_path)


def test_weighted_patterns_and_platforms_load(tmp_path: Path) -> None:
    write(
        tmp_path,
        "fr.json",
        {
            **GOOD,
            "categories": {"threats": [{"pattern": "menaces? de mort", "weight": 2.0}]},
            "platforms": {"telegram": ["telegram"]},
            "negations": ["pas"],
        },
    )

    lexicon = load_lexicon(tmp_path)

    assert [(t.target, t.weight) for t in lexicon.categories] == [("threats", 2.0)]
    assert [t.target for t in lexicon.platforms] == ["telegram"]
    assert [t.target for t in lexicon.negations] == ["negation"]


def test_arabic_terms_match_through_attached_prefixes(tmp_path: Path) -> None:
    write(tmp_path, "ar.json", {"language": "ar", "categories": {"threats": ["هدد"]}})

    (threats,) = load_lexicon(tmp_path).categories

    assert threats.regex.search("وبيهددوني")
    assert not threats.regex.search("مهددات")  # "م" is not a prefix


def test_arabizi_terms_match_any_spelling(tmp_path: Path) -> None:
    write(tmp_path, "az.json", {"language": "ar-Latn", "categories": {"threats": ["yhadedni"]}})

    (threats,) = load_lexicon(tmp_path).categories

    assert threats.arabizi
    for spelling in ("yhaddedni", "yhadadni", "yhededni"):
        assert threats.regex.search(skeleton(normalise(spelling)))


def test_examples_train_a_model_and_a_bad_line_names_its_file(tmp_path: Path) -> None:
    write(tmp_path, "fr.json", GOOD)
    (tmp_path / "examples").mkdir()
    examples = tmp_path / "examples" / "mine.jsonl"
    examples.write_text(
        '{"text": "ils menacent de me tuer", "category": "threats"}\n'
        '{"text": "on m\'insulte tous les jours", "category": "harassment"}\n',
        encoding="utf-8",
    )

    assert load_lexicon(tmp_path).model is not None

    examples.write_text('{"text": "x", "category": "not-a-category"}\n', encoding="utf-8")
    with pytest.raises(LexiconError, match=r"^mine\.jsonl line 1: "):
        load_lexicon(tmp_path)
