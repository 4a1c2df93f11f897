"""Text folding and language detection: pure functions, no I/O."""

from __future__ import annotations

import re
import unicodedata

_LETTERS = str.maketrans(
    {
        "ى": "ي",
        "ة": "ه",
        "ک": "ك",
        "ی": "ي",
        "گ": "ك",
        "ڤ": "ف",
        "پ": "ب",
        "چ": "ج",
        "ـ": None,  # tatweel
        "\u200c": None,
        "\u200d": None,
        "\u200e": None,
        "\u200f": None,
        "،": ",",
        "؛": ";",
        "؟": "?",
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
    }
)
_ARABIC_RUN = re.compile(r"([\u0621-\u064A])\1{2,}")
_LATIN_RUN = re.compile(r"([^\W\d_\u0600-\u06FF])\1{2,}")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def fold(text: str) -> str:
    """Case, accents, harakat, tatweel, Arabic letter variants and digits folded."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.translate(_LETTERS)


def normalise(text: str) -> str:
    """`fold`, then elongation squeezed: Arabic runs to one letter, Latin runs to two."""
    folded = _ARABIC_RUN.sub(r"\1", fold(text))
    return _SPACES.sub(" ", _LATIN_RUN.sub(r"\1\1", folded)).strip()


def squeeze_fully(normalised: str) -> str:
    """The other reading of an elongated Latin word ("haacked" -> "hacked")."""
    return re.sub(r"([^\W\d_])\1", r"\1", normalised) if normalised else normalised


# --- Arabizi -------------------------------------------------------------------
# Arabizi is written many ways ("hakarouli", "7akaroli", "hakrouli"), so it is
# matched on a consonant skeleton: digits mapped to the letters they stand for,
# vowels dropped, doubled letters single. Lexicon patterns get the same treatment;
# tests/unit/test_arabizi.py keeps lexicon words apart from everyday ones.

# "2" (hamza, or qaf in the Levant) is a consonant: "5tara2" (hacked) is not "5atr".
# خ and غ are one letter each, written "5"/"kh" and "8"/"gh": one symbol each, so that
# "fakkouh" (they freed him) is not "fa5" (a trap).
_DIGITS = {"3": "3", "5": "5", "6": "t", "7": "h", "8": "8", "9": "k"}
_DIGRAPHS = (
    ("kh", "5"),
    ("gh", "8"),
    ("ch", "sh"),
    ("dj", "j"),
    ("ou", ""),
    ("q", "k"),
    # the Gulf, Iraq and the Maghreb say qaf as "g": "galo", "gaa3id", "ma3tagal"
    ("g", "k"),
    ("c", "k"),
)
_VOWELS = re.compile(r"[aeiou]")
_DOUBLES = re.compile(r"(\w)\1+")
_LATIN_WORD = re.compile(r"[a-z0-9']+")


def skeleton_word(word: str) -> str:
    """One Latin word as its Arabizi skeleton; a number stays a number.

    Letters doubled side by side are one ("sakkaro" is "sakaro"), but the same letter
    twice across a vowel stays twice ("thobab" is not "t7eb").
    """
    if word.isdigit():
        return word
    out = _DOUBLES.sub(r"\1", "".join(_DIGITS.get(ch, ch) for ch in word.replace("'", "")))
    if len(out) >= 5 and out.endswith("aw"):
        out = out[:-2] + "ou"  # "hakraw" (Gulf, Iraq, Maghreb) is "hakarou"
    for old, new in _DIGRAPHS:
        out = out.replace(old, new)
    return _VOWELS.sub("", out)


def skeleton(normalised: str) -> str:
    """Every Latin word of a normalised text as its skeleton."""
    return _SPACES.sub(" ", _LATIN_WORD.sub(lambda m: skeleton_word(m.group()), normalised))


def skeleton_pattern(pattern: str) -> str:
    """A lexicon pattern's literal words as skeletons; escapes, classes and counts kept."""
    out: list[str] = []
    i, run = 0, ""
    while i < len(pattern):
        ch = pattern[i]
        if ch.isascii() and (ch.isalnum() or ch == "'"):
            run += ch
            i += 1
            continue
        if run:
            if ch in "?*+" and len(run) > 1:
                # the quantifier belongs to the last letter only
                out.append(skeleton_word(run[:-1]))
                run = run[-1]
            last = skeleton_word(run)
            out.append(last)
            run = ""
            if not last and ch in "?*+":
                i += 1
                continue
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif ch in "[{":
            end = pattern.find("]" if ch == "[" else "}", i + 1)
            end = len(pattern) - 1 if end < 0 else end
            out.append(pattern[i : end + 1])
            i = end + 1
        elif ch == "(" and pattern.startswith("(?", i):
            end = i + 3 if pattern[i + 2 : i + 3] in {":", "!", "="} else i + 4
            out.append(pattern[i:end])
            i = end
        else:
            out.append(ch)
            i += 1
    if run:
        out.append(skeleton_word(run))
    return re.sub(r" {2,}", " ", "".join(out))


# --- language ----------------------------------------------------------------

SUPPORTED_LANGUAGES = frozenset({"ar", "ar-Latn", "fr", "en"})
_ARABIC_WORD = re.compile(r"[\u0621-\u064A\u0671-\u06D3]+")
_WORD = re.compile(r"[^\W\d_]+|\w+")
_PERSIAN = re.compile(r"[\u06A9\u06CC\u067E\u0698]")
_URDU = re.compile(r"[\u06D2\u0679\u0688\u06BA\u0691]")
_SORANI = re.compile(r"[\u06D5\u06CE\u06C6\u0695\u06B5]")
_SCRIPTS = (
    (re.compile(r"[\u0590-\u05FF]"), "he"),
    (re.compile(r"[\u0400-\u04FF]"), "ru"),
    (re.compile(r"[\u0370-\u03FF]"), "el"),
    (re.compile(r"[\u0900-\u097F]"), "hi"),
    (re.compile(r"[\u3040-\u30FF]"), "ja"),
    (re.compile(r"[\u4E00-\u9FFF]"), "zh"),
    (re.compile(r"[\uAC00-\uD7AF]"), "ko"),
)
_FA_WORDS = frozenset(
    ["است", "را", "می", "این", "که", "برای", "شده", "من\u200c", "هست", "نمی", "خیلی", "کردم"]
)
_ARABIZI_DIGIT = re.compile(r"^(?=.*[a-z])(?=.*[235679])[a-z0-9']+$")
_ARABIZI = frozenset(
    """
    ana enta enti inta inti howa hiya hia e7na ehna ni7na n7na homa houma hene 3am
    3al 3ala 3an 3and 3andi 3ndi ma3 ma3i ma3o fi fih fiya fiha mafi mafih mafish
    msh mish mesh mech mich machi mashi mush mo mu mou bass kaman kman ktir kteer
    ktiir bzaf barcha w wa ya3ni yani shi chi shu chou sho shou eh ayh ish esh wesh
    wach wash lesh leh lech 3ashan 3ashen 3shan alashan 7ata hata lli elli illi
    yalli hada hay hayda haida hadi hedi hedha hatha da di dah deh dol kif kifash
    kifach keef kef izzay ezay ezzay 3lash 3leh wala walla wallah ya rani rah raho
    kayn kayna kayen fama famma bghit bgheet nheb n7eb b7eb bhebb 7abibi sa7bi sahbi
    sa7bti sahbti 5ay 5ayi akhi o5ti okhti ba3d ba3den b3dn hal2a halla2 halla hala2
    daba tawa delwa2ti dilwa2ti dlw2ty hessa hassa elyom lyoum 3amel 3amla bidi
    baddi bade biddi 3awez 3ayez 3ayza 7ada had7a 7add 7ad 7aja haja 2al 2alo 2alli
    2ali 9al galli galo gal bi3ref ba3ref 3aref 3arfa mabaref mab3rafsh ma3rafsh
    ma3raftch ma3rftch sar sa2 saar sarli s2ali salam slm yalla inshallah nshallah
    khalas 5alas habibi mashallah el
    """.split()  # noqa: SIM905
)
_FRENCH = frozenset(
    """
    je j m mon ma mes moi nous notre nos vous votre vos il ils elle elles est sont
    suis ai avons avez ont etait ete le la les un une des du de d au aux et ou mais
    donc pas ne n plus rien jamais sans avec pour par sur dans qui que qu quoi
    comment pourquoi quand depuis hier aujourd hui ce cette ces c ca tout tous
    toutes aussi tres bien merci bonjour salut compte compromis menace pirate aide
    besoin peux veux faire fait
    """.split()  # noqa: SIM905
)
_ENGLISH = frozenset(
    """
    i i'm im me my mine we our us you your he she they them their it its is are was
    were be been being am have has had do does did don't didn't can can't cannot
    could would should will won't the a an and or but not no of to in on at for from
    with by about into after before since yesterday today what how why when who
    which this that these those there here someone somebody anyone please help
    account hacked threat threatened think know want need just all now still again
    also some any my
    """.split()  # noqa: SIM905
)
_OTHER_LATIN = (
    (
        "es",
        frozenset(
            """
    el los las y pero mi mis cuenta por para una esta que con puedo hackearon tengo
    """.split()  # noqa: SIM905
        ),
    ),
    (
        "tr",
        frozenset(
            [
                "ve",
                "bir",
                "bu",
                "ben",
                "benim",
                "hesabım",
                "için",
                "çok",
                "değil",
                "da",
                "de",
                "ile",
            ]
        ),
    ),
    (
        "de",
        frozenset(
            [
                "ich",
                "mein",
                "meine",
                "ist",
                "nicht",
                "und",
                "der",
                "die",
                "das",
                "mit",
                "für",
                "konto",
            ]
        ),
    ),
)


FUNCTION_WORDS = _ARABIZI | _FRENCH | _ENGLISH


def detect_languages(text: str) -> list[tuple[str, float]]:
    """Every language seen in a text with its share of the recognised words, largest first."""
    lowered = fold(text)
    arabic_words = _ARABIC_WORD.findall(lowered)
    persian = len(_PERSIAN.findall(text)) + 2 * sum(w in _FA_WORDS for w in text.split())
    if arabic_words and persian >= 4:
        return [("fa", 1.0)]
    if arabic_words and len(_URDU.findall(text)) >= 2:
        return [("ur", 1.0)]
    if arabic_words and len(_SORANI.findall(text)) >= 2:
        return [("ckb", 1.0)]
    counts = {"ar": float(len(arabic_words)), "ar-Latn": 0.0, "fr": 0.0, "en": 0.0}
    for word in _WORD.findall(lowered):
        if _ARABIC_WORD.fullmatch(word):
            continue
        if _ARABIZI_DIGIT.match(word):
            counts["ar-Latn"] += 1.5
        elif word in _ARABIZI:
            counts["ar-Latn"] += 1.0
        elif word in _FRENCH:
            counts["fr"] += 1.0
        elif word in _ENGLISH:
            counts["en"] += 1.0
    words = set(_WORD.findall(lowered))
    other, other_n = max(
        ((code, len(words & vocab)) for code, vocab in _OTHER_LATIN), key=lambda kv: kv[1]
    )
    if (
        other_n >= 2
        and other_n > max(counts["fr"], counts["en"], counts["ar-Latn"])
        and not counts["ar"]
    ):
        return [(other, 1.0)]
    total = sum(counts.values())
    if total == 0:
        return [(_other_language(text, lowered), 1.0)]
    shares = [(lang, n / total) for lang, n in counts.items() if n > 0]
    return sorted(shares, key=lambda kv: -kv[1])


def _other_language(text: str, lowered: str) -> str:
    for pattern, code in _SCRIPTS:
        if len(pattern.findall(text)) >= 2:
            return code
    words = set(_WORD.findall(lowered))
    best = max(_OTHER_LATIN, key=lambda kv: len(words & kv[1]))
    return best[0] if len(words & best[1]) >= 2 else "und"


def detect_language(text: str) -> str:
    """ar, ar-Latn (Arabizi), fr, en, another code when recognised, or und."""
    return detect_languages(text)[0][0]
