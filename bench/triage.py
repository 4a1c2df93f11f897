"""Classifier latency: `python -m bench.triage` (a benchmark, never a timed test).

Times `classify` on the held-out examples and, in the same run, a baseline of one
case-insensitive regex search over the same texts, so the figure survives a noisy
machine as a ratio.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from services.triage.domain import classify
from services.triage.lexicon import load_lexicon

EXAMPLES = Path(__file__).parents[1] / "services/triage/tests/unit/data/heldout.jsonl"
ROUNDS = 5


def _timings(texts: list[str], work: Callable[[str], object]) -> list[float]:
    out = []
    for _ in range(ROUNDS):
        for text in texts:
            start = time.perf_counter()
            work(text)
            out.append(time.perf_counter() - start)
    return out


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def main() -> int:
    texts = [json.loads(line)["text"] for line in EXAMPLES.read_text().splitlines() if line]
    started = time.perf_counter()
    lexicon = load_lexicon()
    load_ms = (time.perf_counter() - started) * 1000
    baseline = re.compile(r"hack|kill|اختر|menace", re.IGNORECASE)
    base = _timings(texts, baseline.search)
    real = _timings(texts, lambda t: classify(t, lexicon=lexicon))
    print(f"lexicons and model loaded in {load_ms:.0f} ms")
    print(f"{len(texts)} messages x {ROUNDS} rounds")
    for name, values in (("baseline regex", base), ("classify", real)):
        print(f"  {name:<15} p50 {_pct(values, 50):7.3f} ms  p99 {_pct(values, 99):7.3f} ms")
    ratio = statistics.median(real) / statistics.median(base)
    print(f"classify p50 = {ratio:.0f} x the baseline's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
