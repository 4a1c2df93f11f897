"""Measure the triage classifier on labelled JSONL: `python -m tools.eval_triage <file>`."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from services.triage.domain import classify
from services.triage.lexicon import load_lexicon
from shared.contracts import Category, Priority, RequesterRole


@dataclass(frozen=True)
class Row:
    id: str
    lang: str
    text: str
    role: RequesterRole
    category: str
    priority: str
    predicted_category: str
    predicted_priority: str


def classify_file(path: Path) -> list[Row]:
    """Every labelled line of `path` with what the classifier predicts for it."""
    lexicon = load_lexicon()
    rows: list[Row] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        role = RequesterRole(item.get("requester_role", "unknown"))
        result = classify(item["text"], lexicon=lexicon, role=role)
        rows.append(
            Row(
                item.get("id", str(number)),
                item.get("lang", "?"),
                item["text"],
                role,
                item["category"],
                item["priority"],
                result.category.value,
                result.priority.value,
            )
        )
    return rows


def _ratio(n: float, d: float) -> float:
    return n / d if d else 0.0


def per_category(rows: list[Row]) -> dict[str, tuple[float, float, float, int]]:
    out: dict[str, tuple[float, float, float, int]] = {}
    for category in (c.value for c in Category):
        tp = sum(r.category == category == r.predicted_category for r in rows)
        predicted = sum(r.predicted_category == category for r in rows)
        actual = sum(r.category == category for r in rows)
        if not actual and not predicted:
            continue
        p, rc = _ratio(tp, predicted), _ratio(tp, actual)
        out[category] = (p, rc, _ratio(2 * p * rc, p + rc), actual)
    return out


def report(rows: list[Row]) -> str:
    """Every figure the issue asks for, as plain text."""
    n = len(rows)
    lines = [f"examples: {n}"]
    cat_ok = sum(r.category == r.predicted_category for r in rows)
    pri_ok = sum(r.priority == r.predicted_priority for r in rows)
    per_cat = per_category(rows)
    scored = [v for v in per_cat.values() if v[3]]
    macro_f1 = sum(v[2] for v in scored) / len(scored) if scored else 0.0
    p1_true = sum(r.priority == Priority.P1 for r in rows)
    p1_pred = sum(r.predicted_priority == Priority.P1 for r in rows)
    p1_hit = sum(r.priority == r.predicted_priority == Priority.P1 for r in rows)
    lines += [
        f"category accuracy: {_ratio(cat_ok, n):.3f}",
        f"category macro-F1: {macro_f1:.3f}",
        f"priority accuracy: {_ratio(pri_ok, n):.3f}",
        f"P1 recall: {_ratio(p1_hit, p1_true):.3f} ({p1_hit}/{p1_true})",
        f"P1 precision: {_ratio(p1_hit, p1_pred):.3f} ({p1_hit}/{p1_pred})",
        "",
        f"{'category':<20} {'precision':>9} {'recall':>7} {'F1':>6} {'n':>4}",
    ]
    for category, (p, rc, f1, actual) in per_cat.items():
        lines.append(f"{category:<20} {p:>9.2f} {rc:>7.2f} {f1:>6.2f} {actual:>4}")
    lines += ["", f"{'language':<10} {'n':>4} {'category':>9} {'priority':>9}"]
    by_lang: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_lang[r.lang].append(r)
    for lang, group in sorted(by_lang.items()):
        c = _ratio(sum(r.category == r.predicted_category for r in group), len(group))
        p = _ratio(sum(r.priority == r.predicted_priority for r in group), len(group))
        lines.append(f"{lang:<10} {len(group):>4} {c:>9.3f} {p:>9.3f}")
    lines += ["", *_confusion(rows)]
    errors = [
        r for r in rows if (r.category, r.priority) != (r.predicted_category, r.predicted_priority)
    ]
    if errors:
        lines += ["", "misses (id lang: expected -> predicted):"]
        lines += [
            f"  {r.id} {r.lang}: {r.category}/{r.priority} -> "
            f"{r.predicted_category}/{r.predicted_priority}"
            for r in errors
        ]
    return "\n".join(lines)


def _confusion(rows: list[Row]) -> list[str]:
    labels = [
        c.value
        for c in Category
        if any(c.value in (r.category, r.predicted_category) for r in rows)
    ]
    short = {label: label[:6] for label in labels}
    counts = Counter((r.category, r.predicted_category) for r in rows)
    head = f"{'actual/predicted':<20}" + "".join(f"{short[label]:>7}" for label in labels)
    out = ["confusion matrix (rows: actual, columns: predicted)", head]
    for actual in labels:
        cells = "".join(f"{counts[(actual, p)] or '.':>7}" for p in labels)
        out.append(f"{actual:<20}{cells}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.eval_triage <labelled.jsonl>")
        return 2
    started = time.perf_counter()
    rows = classify_file(Path(argv[0]))
    elapsed = time.perf_counter() - started
    print(report(rows))
    print(f"\n{len(rows)} classified in {elapsed:.2f}s (lexicon and model load included)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
