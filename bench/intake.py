"""`make bench`: intake throughput against a bare FastAPI endpoint, and POST-to-triaged latency.

    python -m bench.intake [--tickets N] [--concurrency C]
    python -m bench.intake --url http://127.0.0.1:8101 --triage-url http://127.0.0.1:8102 \\
        --token-file handler.token

Without --url it starts its own stack (nats-server and the four services) in a
temporary directory and stops it at the end. Sequence: warm-up; the bare endpoint
(bench.bare) closed loop, N requests at concurrency C; intake closed loop, the same;
the ratio; the web form's POST (urlencoded, 201 and its page) and a signed WhatsApp
webhook delivery, N each at concurrency C (bench.intake_paths), each as a ratio of the
same baseline; the bare endpoint again; then an open loop at --rate tickets/s for
--seconds, after which each of those tickets is polled on GET /v1/triage/{id} until
triaged, and triaged_at - received_at (both as the API gives them) yields
POST-to-triaged latency.

Load comes from `python -m bench.load` in a child process (raw HTTP/1.1 keep-alive,
a pool of C connections). A benchmark, not a test: targets are printed, never
asserted, and speed is a ratio to a baseline measured in the same run because the
machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.bare import BareServer, start_bare
from bench.load import check_loopback
from shared.auth import Scope
from shared.testing.stack import Stack, start_stack

RATIO_TARGET = 0.40
# The app secret the stack this benchmark starts verifies WhatsApp deliveries with.
WHATSAPP_SECRET = "bench-whatsapp-app-secret"  # noqa: S105 - a throwaway stack's
PATH_WARMUP = 100
TRIAGE_P99_TARGET_MS = 100.0
POLL_CAP = 60.0
DRAIN_CAP = 120.0
WARMUP = 300

# --- helpers -------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 < pct <= 100); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 if unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class CpuMeter:
    """CPU seconds used by named processes between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> None:
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}


@dataclass
class Phase:
    """One load run as reported by bench.load, plus server-side CPU."""

    name: str
    raw: dict[str, Any]
    cpu: dict[str, float] = field(default_factory=dict)
    # The status a request that worked is answered with (the form's is 201, a webhook's 200).
    expected: str = "202"

    @property
    def ok(self) -> int:
        return len(self.raw["latencies"])

    @property
    def seconds(self) -> float:
        return float(self.raw["seconds"])

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def ms(self, pct: float) -> float:
        return percentile(self.raw["latencies"], pct) * 1000

    @property
    def failures(self) -> int:
        failed = sum(
            int(n) for status, n in self.raw["statuses"].items() if status != self.expected
        )
        return failed + sum(int(n) for n in self.raw["errors"].values())


def run_load(
    mode: str,
    url: str,
    *,
    requests: int,
    first_ordinal: int,
    seed: int,
    client: str,
    time_cap: float,
    concurrency: int = 32,
    rate: float = 200.0,
) -> dict[str, Any]:
    """Run bench.load in a child process and return its JSON result."""
    args = [
        sys.executable, "-m", "bench.load", mode, "--url", url,
        "--requests", str(requests), "--concurrency", str(concurrency), "--rate", str(rate),
        "--client", client, "--seed", str(seed), "--first-ordinal", str(first_ordinal),
        "--time-cap", str(time_cap),
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, check=False, timeout=time_cap + 60)
    if done.returncode != 0:
        raise RuntimeError(f"bench.load failed ({done.returncode}): {done.stderr.decode()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_path_load(
    kind: str,
    url: str,
    *,
    requests: int,
    first_ordinal: int,
    seed: int,
    concurrency: int,
    secret: str,
    time_cap: float,
) -> dict[str, Any]:
    """Run bench.intake_paths (the form, or the WhatsApp webhook) in a child process."""
    args = [
        sys.executable, "-m", "bench.intake_paths", kind, "--url", url,
        "--requests", str(requests), "--concurrency", str(concurrency), "--seed", str(seed),
        "--first-ordinal", str(first_ordinal), "--time-cap", str(time_cap),
    ]  # fmt: skip
    if secret:
        args += ["--secret", secret]
    done = subprocess.run(args, capture_output=True, check=False, timeout=time_cap + 60)
    if done.returncode != 0:
        raise RuntimeError(f"bench.intake_paths failed ({done.returncode}): {done.stderr.decode()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def wait_latest_triaged(intake_url: str, token: str, *, cap: float) -> float:
    """Wait until the newest ticket shows its triage (the backlog of a phase whose answers
    carry no ticket id: a page, a webhook receipt); seconds waited."""
    t0 = time.monotonic()
    with httpx.Client(
        base_url=intake_url, headers={"Authorization": f"Bearer {token}"}, trust_env=False
    ) as client:
        while time.monotonic() - t0 < cap:
            response = client.get("/v1/tickets", params={"limit": 1})
            response.raise_for_status()
            items = response.json()["items"]
            if items and items[0]["category"] is not None:
                break
            time.sleep(0.25)
    return time.monotonic() - t0


def _ids(raw: dict[str, Any]) -> list[tuple[str, datetime]]:
    out = []
    for answer in raw["accepted"]:
        data = json.loads(answer)
        out.append((str(data["id"]), datetime.fromisoformat(data["received_at"])))
    return out


async def _poll(
    base_url: str,
    token: str,
    tickets: Sequence[tuple[str, datetime]],
    *,
    path: str,
    triaged_at: Callable[[dict[str, Any]], str | None],
    cap: float,
) -> tuple[dict[str, float], int]:
    """Poll `path` for each ticket until `triaged_at(answer)` is set (at most `cap` seconds).

    Returns triaged_at - received_at in seconds by ticket id, and how many never got there.
    """
    pending = dict(tickets)
    found: dict[str, float] = {}
    deadline = time.monotonic() + cap
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=10.0,
        trust_env=False,
    ) as client:
        semaphore = asyncio.Semaphore(8)

        async def one(ticket_id: str, received_at: datetime) -> None:
            async with semaphore:
                response = await client.get(path.format(ticket_id))
            if response.status_code == 404:
                return
            response.raise_for_status()
            stamp = triaged_at(response.json())
            if stamp is not None:
                found[ticket_id] = (datetime.fromisoformat(stamp) - received_at).total_seconds()
                pending.pop(ticket_id, None)

        while pending and time.monotonic() < deadline:
            await asyncio.gather(*(one(t, r) for t, r in list(pending.items())))
            if pending:
                await asyncio.sleep(0.25)
    return found, len(pending)


def poll_triaged(
    triage_url: str, token: str, tickets: Sequence[tuple[str, datetime]], *, cap: float
) -> tuple[dict[str, float], int]:
    """POST-to-triaged from triage's own record (GET /v1/triage/{id})."""
    return asyncio.run(
        _poll(
            triage_url,
            token,
            tickets,
            path="/v1/triage/{}",
            triaged_at=lambda answer: str(answer["triaged_at"]),
            cap=cap,
        )
    )


def wait_drained(
    intake_url: str, token: str, tickets: Sequence[tuple[str, datetime]], *, cap: float
) -> float:
    """Wait until the last tickets of a run are triaged and back on intake; seconds waited.

    Intake shows the triage once it applied `ticket.triaged`, the last step of the
    journey: after that no backlog is left to steal CPU from the next phase.
    """

    def applied(answer: dict[str, Any]) -> str | None:
        triage = answer.get("triage")
        return None if triage is None else str(triage["triaged_at"])

    t0 = time.monotonic()
    asyncio.run(
        _poll(
            intake_url,
            token,
            tickets[-50:],
            path="/v1/tickets/{}",
            triaged_at=applied,
            cap=cap,
        )
    )
    return time.monotonic() - t0


# --- report --------------------------------------------------------------------


def _fmt_ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def print_report(
    *,
    args: argparse.Namespace,
    bares: tuple[Phase, Phase],
    intake: Phase,
    paths: Sequence[Phase],
    open_phase: Phase,
    triaged: dict[str, float],
    untriaged: int,
    stack_started: bool,
) -> None:
    cores = os.cpu_count() or 0
    print()
    print(f"Sanad intake benchmark  ({cores} cores, load: bench.load --client {args.client})")
    print(f"closed loop: {args.tickets} requests at concurrency {args.concurrency}")
    header = f"{'endpoint':<11}{'ok':>7}{'fail':>6}{'seconds':>9}{'req/s':>9}"
    header += f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
    print(header)
    for phase in (*bares, intake, *paths):
        print(
            f"{phase.name:<11}{phase.ok:>7}{phase.failures:>6}{phase.seconds:>9.2f}"
            f"{phase.rate:>9.0f}{_fmt_ms(phase.ms(50)):>9}{_fmt_ms(phase.ms(95)):>9}"
            f"{_fmt_ms(phase.ms(99)):>9}"
        )
    # The baseline ran just before and just after intake: their mean evens out drift.
    baseline = sum(b.rate for b in bares) / len(bares)
    ratio = intake.rate / baseline if baseline else 0.0
    verdict = "met" if ratio >= RATIO_TARGET else "NOT met"
    print(
        f"intake / bare throughput: {ratio:.1%} of {baseline:.0f} req/s "
        f"(target >= {RATIO_TARGET:.0%}: {verdict})"
    )
    for phase in paths:
        share = phase.rate / baseline if baseline else 0.0
        print(f"{phase.name} / bare throughput: {share:.1%}")
    print()
    print("CPU ms per accepted request (server processes, and the load generator):")
    for phase in (*bares, intake, *paths, open_phase):
        parts = [f"{name} {1000 * used / max(phase.ok, 1):.2f}" for name, used in phase.cpu.items()]
        parts.append(f"loadgen {1000 * phase.raw['client_cpu_seconds'] / max(phase.ok, 1):.2f}")
        print(f"  {phase.name:<11}" + ", ".join(parts))

    print()
    arrived = open_phase.ok / open_phase.seconds if open_phase.seconds else 0.0
    print(
        f"open loop: {open_phase.raw['planned']} tickets at {args.rate:.0f}/s "
        f"({arrived:.0f}/s accepted over {open_phase.seconds:.1f} s, "
        f"{open_phase.failures} failed, max send lag "
        f"{1000 * open_phase.raw['max_send_lag']:.1f} ms)"
    )
    for phase in (*bares, intake, *paths, open_phase):
        if phase.failures:
            print(f"  {phase.name} failures: {phase.raw['statuses']} {phase.raw['errors']}")
    print(
        f"  POST latency from schedule ms: p50 {_fmt_ms(open_phase.ms(50))}, "
        f"p95 {_fmt_ms(open_phase.ms(95))}, p99 {_fmt_ms(open_phase.ms(99))}"
    )
    lat = [1000 * v for v in triaged.values()]
    p99 = percentile(lat, 99)
    verdict = "met" if lat and p99 < TRIAGE_P99_TARGET_MS and not untriaged else "NOT met"
    print(
        f"  POST-to-triaged ms (triaged_at - received_at, {len(lat)} tickets, "
        f"{untriaged} not triaged within {POLL_CAP:.0f} s):"
    )
    print(
        f"    p50 {_fmt_ms(percentile(lat, 50))}, p95 {_fmt_ms(percentile(lat, 95))}, "
        f"p99 {_fmt_ms(p99)}, max {_fmt_ms(max(lat) if lat else math.nan)}  "
        f"(target p99 < {TRIAGE_P99_TARGET_MS:.0f}: {verdict})"
    )
    where = "its own stack (stopped)" if stack_started else f"the stack at {args.url}"
    print(f"against {where}; {cores} cores shared by the servers and the load generator")


# --- main ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.intake", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument("--tickets", type=int, default=1500, help="closed loop requests (N)")
    parser.add_argument("--concurrency", type=int, default=32, help="closed loop workers (C)")
    parser.add_argument("--rate", type=float, default=200.0, help="open loop tickets/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="open loop duration")
    parser.add_argument("--url", help="intake of a running stack (loopback only)")
    parser.add_argument(
        "--triage-url",
        default="http://127.0.0.1:8102",
        help="triage of the running stack (with --url; default: make run's port)",
    )
    parser.add_argument("--token-file", type=Path, help="handler token, with --url")
    parser.add_argument(
        "--whatsapp-secret",
        help="with --url: the stack's INTAKE_WHATSAPP_APP_SECRET (else no webhook phase)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the stack it starts, e.g. OTEL_SDK_DISABLED=true",
    )
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--time-cap", type=float, default=120.0, help="per phase, seconds")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.tickets < 1 or args.concurrency < 1 or args.rate <= 0 or args.seconds <= 0:
        raise SystemExit("--tickets, --concurrency, --rate and --seconds must be positive")
    if any("=" not in item for item in args.env):
        raise SystemExit("--env takes KEY=VALUE")
    if args.url and args.env:
        raise SystemExit("--env applies only to the stack this benchmark starts (no --url)")
    if args.url and args.token_file is None:
        raise SystemExit("--url needs --token-file (a handler token, for GET /v1/triage)")
    with tempfile.TemporaryDirectory(prefix="sanad-bench-") as tmp:
        return _bench(args, Path(tmp))


def _bench(args: argparse.Namespace, var_dir: Path) -> int:
    stack: Stack | None = None
    bare_server: BareServer | None = None
    started = time.monotonic()
    try:
        if args.url:
            check_loopback(args.url)
            check_loopback(args.triage_url)
            intake_url, triage_url = args.url.rstrip("/"), args.triage_url.rstrip("/")
            token = args.token_file.read_text().strip()
            pids: dict[str, int] = {}
        else:
            print("starting nats-server and the four services ...", flush=True)
            # Every ticket comes from 127.0.0.1 and every poll carries one handler token:
            # the per-address and per-token limits would refuse a benchmark's load.
            extra = {
                "INTAKE_RATE_LIMIT_PUBLIC_PER_MINUTE": "0",
                "INTAKE_RATE_LIMIT_TOKEN_PER_MINUTE": "0",
                "TRIAGE_RATE_LIMIT_TOKEN_PER_MINUTE": "0",
                "INTAKE_WHATSAPP_APP_SECRET": WHATSAPP_SECRET,
                **dict(item.split("=", 1) for item in args.env),
            }
            stack = start_stack(var_dir, extra_env=extra)
            intake_url, triage_url = stack.url("intake"), stack.url("triage")
            token = stack.tokens[Scope.handler]
            pids = {
                name: proc.process.pid
                for name, proc in stack.services.items()
                if proc.process is not None
            }
            pids["nats"] = stack.nats.process.pid
        (var_dir / "logs").mkdir(parents=True, exist_ok=True)
        bare_server = start_bare(var_dir / "logs" / "bare.log")
        bare_pids = {"bare": bare_server.process.pid}

        ordinal = 0
        common = {"seed": args.seed, "client": args.client, "time_cap": args.time_cap}

        def phase(
            name: str, mode: str, url: str, n: int, meter_pids: dict[str, int], **kw: Any
        ) -> Phase:
            nonlocal ordinal
            meter = CpuMeter(meter_pids)
            meter.start()
            raw = run_load(mode, url, requests=n, first_ordinal=ordinal, **common, **kw)
            meter.stop()
            ordinal += n
            return Phase(name, raw, meter.used)

        print("warm-up ...", flush=True)
        phase("warm-bare", "closed", bare_server.url, WARMUP, {}, concurrency=args.concurrency)
        warm = phase("warm-int", "closed", intake_url, WARMUP, {}, concurrency=args.concurrency)
        if warm.ok == 0:
            raise RuntimeError(f"intake accepted no ticket during warm-up: {warm.raw}")
        wait_drained(intake_url, token, _ids(warm.raw), cap=DRAIN_CAP)

        print(f"bare endpoint: {args.tickets} requests at concurrency {args.concurrency} ...")
        bare = phase(
            "bare", "closed", bare_server.url, args.tickets, bare_pids,
            concurrency=args.concurrency,
        )  # fmt: skip
        print(f"intake: {args.tickets} tickets at concurrency {args.concurrency} ...", flush=True)
        intake = phase(
            "intake", "closed", intake_url, args.tickets, pids, concurrency=args.concurrency
        )
        waited = wait_drained(intake_url, token, _ids(intake.raw), cap=DRAIN_CAP)
        print(f"  (triage backlog drained in {waited:.1f} s)", flush=True)
        secret = WHATSAPP_SECRET if stack is not None else (args.whatsapp_secret or "")
        paths: list[Phase] = []
        for kind, name, status in (("form", "form", "201"), ("whatsapp", "whatsapp", "200")):
            if kind == "whatsapp" and not secret:
                print("whatsapp: skipped (--whatsapp-secret not given)", flush=True)
                continue
            path_kw = {
                "url": intake_url,
                "seed": args.seed,
                "concurrency": args.concurrency,
                "secret": secret,
                "time_cap": args.time_cap,
            }
            run_path_load(kind, requests=PATH_WARMUP, first_ordinal=ordinal, **path_kw)
            ordinal += PATH_WARMUP
            wait_latest_triaged(intake_url, token, cap=DRAIN_CAP)
            print(f"{name}: {args.tickets} requests at concurrency {args.concurrency} ...")
            meter = CpuMeter(pids)
            meter.start()
            raw = run_path_load(kind, requests=args.tickets, first_ordinal=ordinal, **path_kw)
            meter.stop()
            ordinal += args.tickets
            paths.append(Phase(name, raw, meter.used, expected=status))
            waited = wait_latest_triaged(intake_url, token, cap=DRAIN_CAP)
            print(f"  (triage backlog drained in {waited:.1f} s)", flush=True)
        print("bare endpoint again (the baseline brackets intake) ...", flush=True)
        bare_after = phase(
            "bare again", "closed", bare_server.url, args.tickets, bare_pids,
            concurrency=args.concurrency,
        )  # fmt: skip

        n_open = max(1, round(args.rate * args.seconds))
        print(f"open loop: {n_open} tickets at {args.rate:.0f}/s ...", flush=True)
        open_phase = phase(
            "open-loop", "open", intake_url, n_open, pids,
            rate=args.rate, concurrency=args.concurrency,
        )  # fmt: skip
        # Let the journey finish before polling, so that polls never slow triage down.
        tickets = _ids(open_phase.raw)
        waited = wait_drained(intake_url, token, tickets, cap=DRAIN_CAP)
        print(f"  (journeys finished {waited:.1f} s after the last answer)", flush=True)
        triaged, untriaged = poll_triaged(triage_url, token, tickets, cap=POLL_CAP)
        print_report(
            args=args,
            bares=(bare, bare_after),
            intake=intake,
            paths=paths,
            open_phase=open_phase,
            triaged=triaged,
            untriaged=untriaged,
            stack_started=stack is not None,
        )
    finally:
        if bare_server is not None:
            bare_server.stop()
        if stack is not None:
            stack.stop()
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
