"""Triage's rules: priority per taxonomy.md, classification, normalisation."""

from __future__ import annotations

import itertools
import re

import pytest

from services.triage.domain import classify, detect_language, normalise, priority_for
from services.triage.lexicon import Lexicon, Term
from shared.contracts import Category, Flag, Priority, RequesterRole

C, F, R = Category, Flag, RequesterRole
RANK = {Priority.P1: 1, Priority.P2: 2, Priority.P3: 3, Priority.P4: 4}
P3_CATEGORIES = (
    C.harassment,
    C.defamation,
    C.account_suspension,
    C.impersonation,
    C.surveillance,
    C.phishing,
    C.censorship,
    C.website_attack,
)
CONTACTS = "impersonation_contacts"


def priority(
    category: Category,
    flags: set[Flag] | None = None,
    role: RequesterRole = R.unknown,
    signals: set[str] | None = None,
) -> Priority:
    return priority_for(category, flags or set(), role, signals or set())[0]


# --- priority: the rules ------------------------------------------------------


@pytest.mark.parametrize("category", [C.doxxing, C.threats, C.entrapment])
def test_immediate_physical_threat_categories_are_p1(category: Category) -> None:
    assert priority(category) is Priority.P1


@pytest.mark.parametrize("flag", [F.physical_threat, F.detained])
@pytest.mark.parametrize("category", list(Category))
def test_a_p1_flag_wins_over_any_category(category: Category, flag: Flag) -> None:
    assert priority(category, {flag}) is Priority.P1


def test_a_lawyer_for_someone_detained_is_out_of_scope_yet_p1() -> None:
    assert priority(C.out_of_scope, {F.detained}) is Priority.P1


@pytest.mark.parametrize(
    ("flags", "expected"),
    [({F.detained}, Priority.P1), (set(), Priority.P2), ({F.ongoing}, Priority.P2)],
    ids=["detained", "not-detained", "not-detained-ongoing"],
)
def test_device_seizure_is_p1_only_with_someone_detained(
    flags: set[Flag], expected: Priority
) -> None:
    assert priority(C.device_seizure, flags) is expected


@pytest.mark.parametrize("category", [C.sextortion, C.account_compromise, C.device_compromise])
def test_spreading_harm_categories_are_p2(category: Category) -> None:
    assert priority(category) is Priority.P2


def test_a_website_attack_in_progress_is_p2() -> None:
    assert priority(C.website_attack, {F.ongoing}) is Priority.P2


def test_a_website_attack_that_is_over_is_p3() -> None:
    assert priority(C.website_attack) is Priority.P3


def test_impersonation_used_on_the_persons_contacts_is_p2() -> None:
    assert priority(C.impersonation, signals={CONTACTS}) is Priority.P2


def test_impersonation_not_used_on_contacts_is_p3() -> None:
    assert priority(C.impersonation) is Priority.P3


@pytest.mark.parametrize("category", P3_CATEGORIES)
def test_normal_categories_are_p3(category: Category) -> None:
    assert priority(category) is Priority.P3


@pytest.mark.parametrize("category", [C.advice, C.out_of_scope])
def test_advice_and_out_of_scope_are_p4(category: Category) -> None:
    assert priority(category) is Priority.P4


# --- priority: the modifiers --------------------------------------------------


@pytest.mark.parametrize("role", [R.journalist, R.hrd, R.lgbtq, R.activist])
@pytest.mark.parametrize("category", P3_CATEGORIES)
def test_an_at_risk_role_raises_p3_to_p2(category: Category, role: RequesterRole) -> None:
    assert priority(category, role=role) is Priority.P2


@pytest.mark.parametrize("role", [R.civil_society, R.private_person, R.unknown])
@pytest.mark.parametrize("category", P3_CATEGORIES)
def test_other_roles_leave_p3_as_it_is(category: Category, role: RequesterRole) -> None:
    assert priority(category, role=role) is Priority.P3


@pytest.mark.parametrize("flag", [F.minor, F.gbv])
@pytest.mark.parametrize("category", P3_CATEGORIES)
def test_minor_and_gbv_raise_p3_to_p2(category: Category, flag: Flag) -> None:
    assert priority(category, {flag}) is Priority.P2


@pytest.mark.parametrize("flag", [F.lgbtq_targeting, F.ongoing])
def test_other_flags_do_not_raise_p3(flag: Flag) -> None:
    assert priority(C.harassment, {flag}) is Priority.P3


@pytest.mark.parametrize("role", list(RequesterRole))
@pytest.mark.parametrize("category", [C.advice, C.out_of_scope])
def test_modifiers_do_not_raise_p4(category: Category, role: RequesterRole) -> None:
    assert priority(category, {F.minor, F.gbv}, role) is Priority.P4


def test_a_modifier_never_lowers_a_priority() -> None:
    """Every category, flag set, role and signal: with modifiers >= without them."""
    flag_sets = [
        set(combo) for n in range(len(Flag) + 1) for combo in itertools.combinations(Flag, n)
    ]
    for category, flags, role, signals in itertools.product(
        Category, flag_sets, RequesterRole, [set(), {CONTACTS}]
    ):
        bare = priority(category, flags - {F.minor, F.gbv}, R.unknown, signals)
        modified = priority(category, flags, role, signals)
        assert RANK[modified] <= RANK[bare], (category, flags, role, signals)


def test_every_priority_comes_with_its_reasons() -> None:
    _, reasons = priority_for(C.harassment, {F.minor}, R.journalist, set())

    assert reasons[0] == "P3: harassment"
    assert "raised to P2: requester is a journalist" in reasons
    assert "raised to P2: flagged minor" in reasons


def test_a_p1_flag_names_itself_as_the_reason() -> None:
    _, reasons = priority_for(C.advice, {F.detained, F.physical_threat}, R.unknown, set())

    assert reasons == ["P1: flagged detained, physical_threat"]


# --- classify -----------------------------------------------------------------


def term(target: str, pattern: str) -> Term:
    return Term(target, pattern, re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE))


LEXICON = Lexicon(
    categories=(
        term("account_compromise", "hacked"),
        term("account_compromise", "lost access"),
        term("harassment", "trolls?"),
        term("impersonation", "fake profile"),
        term("threats", "menace\\w*"),
        term("out_of_scope", "lawyer"),
    ),
    flags=(term("detained", "arrested"), term("ongoing", "right now")),
    signals=(term(CONTACTS, "messaging my (friends|family)"),),
)


def test_classify_names_category_flags_priority_and_why() -> None:
    result = classify("They hacked my account and I lost access right now", lexicon=LEXICON)

    assert result.category is C.account_compromise
    assert result.flags == (F.ongoing,)
    assert result.priority is Priority.P2
    assert "'hacked' suggests account_compromise" in result.reasons
    assert "flag ongoing: the message says so" in result.reasons
    assert result.reasons[-1] == "P2: account_compromise is ongoing harm that spreads"
    assert result.rule_ids == ("cat:account_compromise", "flag:ongoing")


def test_classify_keeps_weaker_matches_as_secondary_categories() -> None:
    result = classify(
        "a fake profile, trolls everywhere, and they hacked and I lost access", lexicon=LEXICON
    )

    assert result.category is C.account_compromise
    assert set(result.secondary) == {C.harassment, C.impersonation}


def test_classify_applies_signals_to_priority() -> None:
    result = classify("a fake profile is messaging my family", lexicon=LEXICON)

    assert (result.category, result.priority) == (C.impersonation, Priority.P2)


def test_classify_raises_priority_for_the_requesters_role() -> None:
    result = classify("the trolls again", lexicon=LEXICON, role=R.hrd)

    assert (result.category, result.priority) == (C.harassment, Priority.P2)


def test_someone_detained_with_no_other_words_is_out_of_scope_and_p1() -> None:
    result = classify("my brother was arrested last night", lexicon=LEXICON)

    assert (result.category, result.flags, result.priority) == (
        C.out_of_scope,
        (F.detained,),
        Priority.P1,
    )


def test_a_confident_match_in_a_supported_language_needs_no_review() -> None:
    result = classify("I was hacked and lost access to my account", lexicon=LEXICON)

    assert result.confidence >= 0.5
    assert result.needs_review is False


def test_a_message_with_no_known_words_is_advice_for_a_person_to_check() -> None:
    result = classify("Hello, is this the right place to write to?", lexicon=LEXICON)

    assert (result.category, result.priority) == (C.advice, Priority.P4)
    assert result.confidence < 0.5
    assert result.needs_review is True
    assert "no known words: defaulted to advice for a person to check" in result.reasons


def test_a_declared_unsupported_language_is_kept_and_sent_for_review() -> None:
    result = classify("me hackearon la cuenta, hacked", lexicon=LEXICON, declared_language="es")

    assert result.language == "es"
    assert result.category is C.account_compromise
    assert result.needs_review is True
    assert "language es is not one triage reads: a person must check" in result.reasons


def test_an_unsupported_language_never_lowers_what_the_role_implies() -> None:
    result = classify("trolls", lexicon=LEXICON, role=R.journalist, declared_language="fa")

    assert (result.priority, result.needs_review) == (Priority.P2, True)


def test_classify_matches_through_case_and_accents() -> None:
    result = classify("Ils me MENACÉNT tous les jours", lexicon=LEXICON)

    assert result.category is C.threats


# --- language and normalisation -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("شخص ما اخترق حسابي على فيسبوك", "ar"),
        ("7ada 3am yhadedni 3al whatsapp", "ar-Latn"),
        ("Je ne peux pas accéder à mon compte depuis hier", "fr"),
        ("Someone took over my account and they post as me", "en"),
        ("xyzzy plugh", "und"),
    ],
)
def test_detect_language_recognises_the_four_helpline_languages(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("HACKED", "hacked"),
        ("Menacé à Sétif", "menace a setif"),
        ("Straße", "strasse"),
        ("pleeeeease heeelp", "pleease heelp"),
        ("account harassed", "account harassed"),
        ("تَهْدِيد", "تهديد"),
    ],
    ids=["case", "accents", "casefold", "elongation", "double-letters-kept", "arabic-harakat"],
)
def test_normalise_folds_case_accents_and_elongation(text: str, folded: str) -> None:
    assert normalise(text) == folded
