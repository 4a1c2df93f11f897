"""Classifier latency and throughput: `python -m bench.triage` (a benchmark, never a timed test).

On one core (the process pins itself to one CPU where the OS allows it):

1. In-process: `classify` on the held-out examples, against a baseline of one
   case-insensitive regex search over the same texts.
2. Through the API: `POST /v1/classify` on the triage app over ASGI (no network; the
   app started as its server would, SQLite in a temporary directory, no bus), against
   a baseline route on the same app with the same authentication and request body
   that does no classification, so the ratio isolates what classification adds.

Figures are printed, never asserted; speed is a ratio to the baseline of the same run
because the machine is shared and noisy. The issue's target: in-process p99 under 5 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI

from services.triage.config import TriageSettings
from services.triage.deps import ClassifierDep
from services.triage.domain import classify
from services.triage.lexicon import load_lexicon
from services.triage.main import create_app
from services.triage.models import ClassifyRequest
from shared.auth import Scope
from shared.testing.asgi import bearer, serve

EXAMPLES = Path(__file__).parents[1] / "services/triage/tests/unit/data/heldout.jsonl"
ROUNDS = 5
HTTP_ROUNDS = 3
P99_TARGET_MS = 5.0


def _pin_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def _timings(texts: list[str], work: Callable[[str], object]) -> list[float]:
    out = []
    for _ in range(ROUNDS):
        for text in texts:
            start = time.perf_counter()
            work(text)
            out.append(time.perf_counter() - start)
    return out


async def _timings_async(texts: list[str], work: Callable[[str], Awaitable[None]]) -> list[float]:
    out = []
    for _ in range(HTTP_ROUNDS):
        for text in texts:
            start = time.perf_counter()
            await work(text)
            out.append(time.perf_counter() - start)
    return out


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def _line(name: str, values: list[float]) -> str:
    rate = len(values) / sum(values)
    return (
        f"  {name:<24} p50 {_pct(values, 50):7.3f} ms  p99 {_pct(values, 99):7.3f} ms"
        f"  {rate:8.0f} tickets/s"
    )


def _add_baseline_route(app: FastAPI) -> None:
    """The same auth and body validation as /v1/classify, and no classification."""

    async def baseline(body: ClassifyRequest, _: ClassifierDep) -> dict[str, object]:
        return {"category": "other", "priority": "P3", "chars": len(body.text)}

    app.router.add_api_route("/bench/baseline", baseline, methods=["POST"])


async def _through_api(texts: list[str]) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory(prefix="sanad-bench-triage-") as tmp:
        db = Path(tmp) / "db"
        settings = TriageSettings(
            var_dir=Path(tmp),
            database_url=f"sqlite+aiosqlite:///{db}/triage.db",
            auth_database_url=f"sqlite+aiosqlite:///{db}/auth.db",
            bus_enabled=False,
            sla_check_seconds=0,
            # One client sends thousands of requests a second here: no token bucket.
            rate_limit_token_per_minute=0,
        )
        app = create_app(settings)
        _add_baseline_route(app)
        async with serve(app) as client:
            headers = await bearer(app, Scope.service)

            def poster(path: str) -> Callable[[str], Awaitable[None]]:
                async def post(text: str) -> None:
                    response = await client.post(path, json={"text": text}, headers=headers)
                    if response.status_code != 200:
                        raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")

                return post

            for text in texts[:10]:  # warm-up: first requests pay for lazy imports
                await poster("/v1/classify")(text)
                await poster("/bench/baseline")(text)
            base = await _timings_async(texts, poster("/bench/baseline"))
            real = await _timings_async(texts, poster("/v1/classify"))
    return base, real


def main() -> int:
    pinned = _pin_one_core()
    texts = [json.loads(line)["text"] for line in EXAMPLES.read_text().splitlines() if line]
    started = time.perf_counter()
    lexicon = load_lexicon()
    load_ms = (time.perf_counter() - started) * 1000
    baseline = re.compile(r"hack|kill|اختر|menace", re.IGNORECASE)
    for text in texts:  # warm-up
        classify(text, lexicon=lexicon)
    base = _timings(texts, baseline.search)
    real = _timings(texts, lambda t: classify(t, lexicon=lexicon))
    print(f"one core: {pinned}")
    print(f"lexicons and model loaded in {load_ms:.0f} ms")
    print(f"in-process: {len(texts)} messages x {ROUNDS} rounds")
    print(_line("baseline regex", base))
    print(_line("classify", real))
    ratio = statistics.median(real) / statistics.median(base)
    print(f"  classify p50 = {ratio:.0f} x the baseline's")
    p99 = _pct(real, 99)
    verdict = "met" if p99 < P99_TARGET_MS else "NOT met"
    print(f"  target: in-process p99 < {P99_TARGET_MS:.0f} ms: {verdict} ({p99:.3f} ms)")

    http_base, http_real = asyncio.run(_through_api(texts))
    print(f"POST over ASGI: {len(texts)} messages x {HTTP_ROUNDS} rounds, one at a time")
    print(_line("baseline route", http_base))
    print(_line("POST /v1/classify", http_real))
    added = statistics.median(http_real) - statistics.median(http_base)
    print(
        f"  /v1/classify p50 = {statistics.median(http_real) / statistics.median(http_base):.2f}"
        f" x the baseline route's (classification adds {added * 1000:.3f} ms at p50)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
