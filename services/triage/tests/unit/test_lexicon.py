"""Lexicon files: validated when loaded, so a bad one stops the service at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.triage.lexicon import LexiconError, load_lexicon

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
