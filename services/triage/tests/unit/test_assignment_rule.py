"""domain.choose_handler: language first, then capacity, expertise, load, id."""

from __future__ import annotations

from typing import Any

from services.triage.domain import Candidate, choose_handler, speaks
from shared.contracts import Category, Priority


def handler(handler_id: str, **fields: Any) -> Candidate:
    defaults: dict[str, Any] = {
        "languages": frozenset({"ar", "en"}),
        "expertise": frozenset(),
        "max_open": 5,
        "available": True,
        "open_tickets": 0,
    }
    return Candidate(handler_id=handler_id, **{**defaults, **fields})


def choose(
    *candidates: Candidate,
    language: str = "ar",
    category: Category = Category.harassment,
    priority: Priority = Priority.P3,
) -> str | None:
    return choose_handler(candidates, language=language, category=category, priority=priority)


def test_only_a_handler_who_reads_the_language_is_chosen() -> None:
    assert choose(handler("amal", languages=frozenset({"fr"})), handler("badr"), language="ar") == (
        "badr"
    )


def test_arabizi_goes_to_arabic_readers() -> None:
    french_only = handler("amal", languages=frozenset({"fr", "en"}))
    arabic = handler("zaid", languages=frozenset({"ar"}), open_tickets=3)

    assert choose(french_only, arabic, language="ar-Latn") == "zaid"


def test_an_arabizi_reader_is_not_taken_for_an_arabic_script_reader() -> None:
    assert not speaks(frozenset({"ar-Latn"}), "ar")
    assert speaks(frozenset({"ar-Latn"}), "ar-Latn")


def test_expertise_in_the_category_wins_over_a_lighter_load() -> None:
    idle = handler("amal", open_tickets=0)
    expert = handler("badr", expertise=frozenset({Category.sextortion}), open_tickets=3)

    assert choose(idle, expert, category=Category.sextortion) == "badr"


def test_among_equals_the_least_loaded_then_the_lowest_id_is_chosen() -> None:
    assert choose(handler("ziad", open_tickets=1), handler("badr", open_tickets=2)) == "ziad"
    assert choose(handler("ziad"), handler("badr")) == "badr"


def test_unavailable_handlers_are_never_chosen() -> None:
    assert choose(handler("amal", available=False), priority=Priority.P1) is None


def test_handlers_at_capacity_are_skipped_below_p1() -> None:
    full = handler("amal", max_open=2, open_tickets=2)
    spare = handler("badr", max_open=9, open_tickets=4)

    assert choose(full, spare) == "badr"
    assert choose(full, priority=Priority.P2) is None


def test_a_p1_ticket_goes_to_the_least_loaded_even_when_everyone_is_full() -> None:
    fuller = handler("amal", max_open=2, open_tickets=4)
    full = handler("badr", max_open=2, open_tickets=2)

    assert choose(fuller, full, priority=Priority.P1) == "badr"


def test_a_p1_ticket_nobody_reads_still_goes_to_someone_available() -> None:
    french = handler("amal", languages=frozenset({"fr"}))

    assert choose(french, language="fa", priority=Priority.P1) == "amal"
    assert choose(french, language="fa", priority=Priority.P2) is None


def test_an_empty_roster_assigns_nobody() -> None:
    assert choose(priority=Priority.P1) is None
