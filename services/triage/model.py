"""A small naive Bayes over folded words and character n-grams, trained at start."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from services.triage.text import FUNCTION_WORDS, normalise, skeleton
from shared.contracts import Category, Flag, Priority, RequesterRole

_TOKEN = re.compile(r"[^\W_]+")
_TEMPERATURE = 2.0
# Words that say where or in which language, not what happened: left out so the
# model cannot learn "Telegram means doxxing" from a few examples.
_IGNORED_WORDS = """
    facebook fb insta instagram whatsapp telegram tiktok twitter gmail youtube
    snapchat signal messenger linkedin meta google account compte page فيسبوك فيس
    انستغرام انستا واتساب واتس تلغرام تليغرام تيك توك تويتر يوتيوب جيميل سناب حساب
    حسابي في على من الى عن مع انا انو انه اللي الي هاد هذا هذه هيك بس كل شي ما لا و
    او ثم يا
    """
_IGNORED = FUNCTION_WORDS | frozenset(normalise(word) for word in _IGNORED_WORDS.split())


class Example(BaseModel):
    """One written example: the text and what a handler would decide."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    category: Category
    lang: str | None = None
    requester_role: RequesterRole = RequesterRole.unknown
    flags: list[Flag] = []
    priority: Priority | None = None
    note: str | None = None


def features(normalised: str) -> set[str]:
    """Words (and Arabizi skeletons) plus the 4-letter pieces of every word."""
    out: set[str] = set()
    for word in _TOKEN.findall(normalised):
        if len(word) < 3 or word.isdigit() or word in _IGNORED:
            continue
        out.add(word)
        padded = f" {word} "
        out.update(padded[i : i + 4] for i in range(len(padded) - 3))
    if re.search(r"[a-z]\d|\d[a-z]", normalised):
        out.update(f"~{w}" for w in _TOKEN.findall(skeleton(normalised)) if len(w) >= 3)
    return out


@dataclass(frozen=True)
class Prediction:
    """Class probabilities and the features that pushed the winner up most."""

    probabilities: dict[Category, float]
    top_features: tuple[str, ...]


@dataclass(frozen=True)
class NaiveBayes:
    classes: tuple[Category, ...]
    log_likelihood: dict[str, tuple[float, ...]]

    @classmethod
    def train(cls, examples: list[Example], alpha: float = 1.0) -> NaiveBayes:
        """Binary multinomial naive Bayes with a uniform prior (no class is favoured)."""
        classes = tuple(sorted({e.category for e in examples}))
        counts: dict[Category, Counter[str]] = {c: Counter() for c in classes}
        for example in examples:
            counts[example.category].update(features(normalise(example.text)))
        vocabulary = {f for c in classes for f in counts[c] if sum(counts[k][f] for k in classes)}
        # features seen once in the whole set are noise more often than signal
        vocabulary = {f for f in vocabulary if sum(counts[c][f] for c in classes) >= 2}
        totals = {c: sum(counts[c][f] for f in vocabulary) for c in classes}
        size = len(vocabulary)
        table = {
            f: tuple(math.log((counts[c][f] + alpha) / (totals[c] + alpha * size)) for c in classes)
            for f in vocabulary
        }
        return cls(classes, table)

    def predict(self, normalised: str) -> Prediction | None:
        """None when the text shares no feature with the examples."""
        present = [f for f in features(normalised) if f in self.log_likelihood]
        if not present:
            return None
        sums = [0.0] * len(self.classes)
        for f in present:
            for i, value in enumerate(self.log_likelihood[f]):
                sums[i] += value
        # averaged and tempered: raw naive Bayes is wildly over-confident on long texts
        scaled = [s / len(present) * _TEMPERATURE * math.sqrt(len(present)) for s in sums]
        top = max(scaled)
        exps = [math.exp(s - top) for s in scaled]
        total = sum(exps)
        probabilities = {c: e / total for c, e in zip(self.classes, exps, strict=True)}
        best = self.classes[scaled.index(top)]
        return Prediction(probabilities, self._explain(present, best))

    def _explain(self, present: list[str], best: Category) -> tuple[str, ...]:
        k = self.classes.index(best)
        n = len(self.classes)

        def lift(f: str) -> float:
            row = self.log_likelihood[f]
            return row[k] - (sum(row) - row[k]) / (n - 1)

        words = [f for f in present if " " not in f and not f.startswith("~")]
        ranked = sorted(words or present, key=lift, reverse=True)
        return tuple(f.strip(" ~") for f in ranked[:3] if lift(f) > 0)
