"""Load generator: closed loop (C workers, N requests) and open loop (fixed arrival rate).

Run as its own process (`python -m bench.load closed|open ...`, one JSON object on
stdout) so that the generator has a core's worth of event loop to itself and the
benchmark driver never competes with it. Two clients:

* `raw` (default): HTTP/1.1 over asyncio streams with keep-alive, a pool of at most
  C connections. A few tens of microseconds of CPU per request.
* `httpx`: `httpx.AsyncClient` with the same pool size, for comparison; it costs
  several times more CPU per request than `raw` (see `client_cpu_us_per_request`),
  enough to distort a ratio on a 2-core machine.

Every body is built before the clock starts, from a few dozen templates with a
random requester (role, channel, country, name, contact), and no two are equal.
Everything is bounded: a fixed number of requests, a per-request timeout and an
overall time cap. Only loopback URLs are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from shared.contracts import Channel, RequesterRole

TICKETS_PATH = "/v1/tickets"
REQUEST_TIMEOUT = 10.0

# --- bodies --------------------------------------------------------------------

_TEMPLATES: tuple[str, ...] = (
    "Someone hacked my {platform} account last night and changed my password. "
    "I can't log in anymore and they are messaging my contacts.",
    "I got a suspicious email pretending to be from {org} asking for my password. "
    "I clicked on a link before I realised. What should I do?",
    "My {platform} page was suspended {days} days ago without explanation. "
    "We use it to publish our reporting on {topic}.",
    "There is a fake account on {platform} using my name and photos. "
    "It is pretending to be me and asking people for money.",
    "Someone published my home address on {platform} after I wrote about {topic}. "
    "I received death threats this morning.",
    "I keep receiving threats on {platform}; one message said they know where I live in {city}.",
    "Our website is down since {days} days, it looks like a DDoS attack. "
    "We are a small {orgkind} in {city}.",
    "My phone is acting strange: battery drain, it gets hot, and I heard about Pegasus. "
    "I think I may have spyware because of my work on {topic}.",
    "The police took my phone at the border checkpoint and kept it for {hours} hours. "
    "I don't know what they copied.",
    "Someone is threatening to publish intimate photos unless I pay. "
    "They contacted me on {platform} {days} days ago.",
    "I am being harassed by dozens of troll accounts on {platform} after my article on {topic}.",
    "A dating app match tried to set up a meeting and I think it was a trap. "
    "Several people in our community in {city} were outed this way.",
    "Our internet was shut down in {city} and the VPN we used is blocked. "
    "How can we circumvent this safely?",
    "We would like advice and a security review for our {orgkind} of {staff} people "
    "before the elections.",
    "Someone logged in to my email from an unknown device, and my recovery email was changed.",
    "I received a message with a suspicious attachment that claims to be from {org}.",
    "My colleague was arrested yesterday in {city} and their laptop was seized. "
    "Our shared accounts may be exposed.",
    "They are spreading lies about us and fake news about our {orgkind} on {platform}.",
    "My {platform} post about {topic} was removed and my account was restricted for {days} days.",
    "I think my location is being tracked; the same car has been following me in {city}.",
    "Somebody did a SIM swap on my number and now gets my 2FA codes.",
    "Our site was defaced this morning with a message against our work on {topic}.",
    "Can you recommend the best way to protect our phones before travelling to {city}?",
    "I found stalkerware on my partner's old phone that I now use. Is my data safe?",
    "My daughter, 15 years old, is being bullied and blackmailed on {platform}.",
    "I need legal help and a lawyer because I was sued over my reporting on {topic}.",
    "Someone cloned my profile on {platform} and is contacting my colleagues at {org}.",
    "I lost access to the {orgkind} account on {platform}; the hacker enabled their own 2FA.",
    "Messages from an unknown number say they will hurt my family if I keep working on {topic}.",
    "We got {n} phishing messages this week, all with a fake login page for {platform}.",
    "Hello, my laptop was stolen in {city} with unencrypted files about our sources.",
    "I am a trans activist and my accounts are under a coordinated attack right now.",
    "Is it safe to use {platform} for our group chats? We organise protests in {city}.",
    "The authorities censor our site in {country_name}; we need a mirror that stays up.",
    "Our shared drive was accessed by someone outside the {orgkind}; {n} files were downloaded.",
    "I keep getting login codes I did not request for my {platform} account.",
)

_PLATFORMS = (
    "Facebook", "Instagram", "X", "TikTok", "WhatsApp", "Telegram", "Signal", "Gmail",
    "Outlook", "YouTube", "LinkedIn", "Grindr",
)  # fmt: skip
_ORGS = ("Google", "Meta", "the ministry", "our bank", "DHL", "the UN", "Microsoft", "Apple")
_ORGKINDS = ("newsroom", "NGO", "collective", "union", "radio station", "legal clinic")
_TOPICS = (
    "corruption", "the elections", "police violence", "land rights", "migration",
    "the mining company", "press freedom", "women's rights", "the protests",
)  # fmt: skip
_CITIES = (
    "Beirut", "Tunis", "Nairobi", "Manila", "Bogotá", "Istanbul", "Tbilisi", "Dhaka",
    "Kampala", "Caracas", "Amman", "Lagos", "Almaty", "Yangon",
)  # fmt: skip
_COUNTRIES = (
    ("LB", "Lebanon"), ("TN", "Tunisia"), ("KE", "Kenya"), ("PH", "the Philippines"),
    ("CO", "Colombia"), ("TR", "Türkiye"), ("GE", "Georgia"), ("BD", "Bangladesh"),
    ("UG", "Uganda"), ("VE", "Venezuela"), ("JO", "Jordan"), ("NG", "Nigeria"),
    ("KZ", "Kazakhstan"), ("MM", "Myanmar"),
)  # fmt: skip
_FIRST = (
    "Amina", "Omar", "Lina", "Samir", "Grace", "Juan", "María", "Ayşe", "Nino", "Rahim",
    "Joy", "Carlos", "Dana", "Aigerim", "Thu", "Kwame", "Leila", "Yusuf",
)  # fmt: skip
_LAST = (
    "Haddad", "Ben Ali", "Otieno", "Santos", "Gómez", "Yilmaz", "Beridze", "Hossain",
    "Nakato", "Pérez", "Khalil", "Okafor", "Nurlanova", "Aung", "Mensah",
)  # fmt: skip
_EXTRAS = (
    "",
    " It is still happening as we speak.",
    " This started around {days} days ago.",
    " I am writing from a friend's computer.",
    " Please answer on Signal if possible.",
    " I have screenshots if you need them.",
    " Several colleagues have the same problem.",
    " We have a deadline on Friday.",
)
_SIGNOFFS = (
    " My handle there is @{user}{ordinal}.",
    " You can reach me as {user}{ordinal}.",
    " (form ref {ordinal})",
    " — {first}, case note {ordinal}",
    " Thanks. Ticket draft {ordinal}.",
)
_LANGUAGES = ("en", "en", "en", "en-GB", "en-US", None)


def _handle(rng: random.Random, channel: str, user: str, ordinal: int) -> str:
    if channel == "email":
        return f"{user}.{ordinal}@{rng.choice(('example.org', 'mail.example', 'riseup.example'))}"
    if channel in ("whatsapp", "signal", "phone"):
        return f"+{rng.randint(20, 998)} {rng.randint(100, 999)} {ordinal:07d}"
    return f"@{user}{ordinal}"


def make_bodies(n: int, *, seed: int, first_ordinal: int = 0) -> list[bytes]:
    """`n` distinct ticket bodies (JSON bytes) valid for TicketCreate.

    Ordinals `first_ordinal .. first_ordinal + n - 1` end up in the text, so phases
    given disjoint ranges never repeat a body either.
    """
    rng = random.Random(seed)
    seen: set[bytes] = set()
    bodies: list[bytes] = []
    for i in range(n):
        ordinal = first_ordinal + i
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        user = f"{first}{last}".lower().replace(" ", "").encode("ascii", "ignore").decode()
        code, country_name = rng.choice(_COUNTRIES)
        words = {
            "platform": rng.choice(_PLATFORMS),
            "org": rng.choice(_ORGS),
            "orgkind": rng.choice(_ORGKINDS),
            "topic": rng.choice(_TOPICS),
            "city": rng.choice(_CITIES),
            "country_name": country_name,
            "days": rng.randint(1, 30),
            "hours": rng.randint(2, 48),
            "staff": rng.randint(3, 60),
            "n": rng.randint(2, 400),
            "user": user,
            "first": first,
            "ordinal": ordinal,
        }
        text = (rng.choice(_TEMPLATES) + rng.choice(_EXTRAS) + rng.choice(_SIGNOFFS)).format_map(
            words
        )
        body: dict[str, Any] = {
            "text": text,
            "channel": rng.choice(list(Channel)).value,
            "requester_role": rng.choice(list(RequesterRole)).value,
        }
        language = rng.choice(_LANGUAGES)
        if language is not None:
            body["language"] = language
        if rng.random() < 0.8:
            body["country"] = code
        if rng.random() < 0.7:
            body["requester_name"] = f"{first} {last}"
        if rng.random() < 0.75:
            contact = rng.choice(("email", "whatsapp", "signal", "phone", "telegram", "other"))
            body["contact"] = {"channel": contact, "handle": _handle(rng, contact, user, ordinal)}
        encoded = json.dumps(body, ensure_ascii=False).encode()
        if encoded in seen:
            raise AssertionError("duplicate body")  # impossible: the ordinal is in the text
        seen.add(encoded)
        bodies.append(encoded)
    return bodies


# --- clients -------------------------------------------------------------------


class Poster(Protocol):
    async def post(self, body: bytes) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


def check_loopback(url: str) -> tuple[str, int]:
    """(host, port) of an http:// URL on this machine; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"{url}: only http:// URLs are supported")
    host = parts.hostname
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{url}: the benchmark only targets loopback addresses")
    return host, parts.port or 80


class _RawConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reusable = True

    async def roundtrip(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif key == b"connection" and b"close" in value.lower():
                self.reusable = False
        if chunked:
            payload = await self._read_chunked()
        elif length is not None:
            payload = await self.reader.readexactly(length)
        else:
            payload = await self.reader.read()
            self.reusable = False
        return status, payload

    async def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.writer.close()


class RawPoster:
    """HTTP/1.1 keep-alive over asyncio streams, at most `pool_size` connections."""

    def __init__(self, url: str, *, pool_size: int, headers: dict[str, str] | None = None):
        self.host, self.port = check_loopback(url)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = (
            f"POST {TICKETS_PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\n{extra}Content-Length: "
        ).encode()
        self._idle: list[_RawConnection] = []
        self._slots = asyncio.Semaphore(pool_size)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        request = b"%s%d\r\n\r\n%s" % (self._head, len(body), body)
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                conn = _RawConnection(reader, writer)
            try:
                result = await conn.roundtrip(request)
            except BaseException:
                conn.close()
                raise
            if conn.reusable:
                self._idle.append(conn)
            else:
                conn.close()
            return result

    async def aclose(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


class HttpxPoster:
    """The same through httpx.AsyncClient (HTTP/1.1 keep-alive, pool of `pool_size`)."""

    def __init__(self, url: str, *, pool_size: int, headers: dict[str, str] | None = None):
        check_loopback(url)
        self._client = httpx.AsyncClient(
            base_url=url,
            headers={"Content-Type": "application/json", **(headers or {})},
            limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
            timeout=REQUEST_TIMEOUT,
            trust_env=False,
        )

    async def post(self, body: bytes) -> tuple[int, bytes]:
        response = await self._client.post(TICKETS_PATH, content=body)
        return response.status_code, response.content

    async def aclose(self) -> None:
        await self._client.aclose()


def make_poster(kind: str, url: str, *, pool_size: int) -> Poster:
    if kind == "raw":
        return RawPoster(url, pool_size=pool_size)
    if kind == "httpx":
        return HttpxPoster(url, pool_size=pool_size)
    raise ValueError(f"unknown client {kind!r}")


# --- runs ----------------------------------------------------------------------


@dataclass
class RunResult:
    """What one run measured; latencies in seconds, in completion order."""

    mode: str
    client: str
    planned: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    client_cpu_seconds: float = 0.0
    # Open loop: how late requests left compared with their schedule (seconds).
    max_send_lag: float = 0.0
    # The answer body of every 202 (ticket id, received_at), for the triage join.
    accepted: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def ok(self) -> int:
        return len(self.latencies)


async def _one(poster: Poster, body: bytes, result: RunResult, started: float) -> None:
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            status, payload = await poster.post(body)
    except Exception as exc:  # noqa: BLE001 - counted, the run goes on
        name = type(exc).__name__
        result.errors[name] = result.errors.get(name, 0) + 1
        return
    elapsed = time.perf_counter() - started
    result.statuses[str(status)] = result.statuses.get(str(status), 0) + 1
    if status == 202:
        result.latencies.append(elapsed)
        result.accepted.append(payload.decode())


async def closed_loop(
    poster: Poster, bodies: Sequence[bytes], *, concurrency: int, time_cap: float, client: str
) -> RunResult:
    """`concurrency` workers send `bodies` back to back; stops early at `time_cap` seconds."""
    result = RunResult(mode="closed", client=client, planned=len(bodies), seconds=0.0)
    queue = iter(bodies)
    deadline = time.perf_counter() + time_cap

    async def worker() -> None:
        for body in queue:
            if time.perf_counter() > deadline:
                result.timed_out = True
                return
            await _one(poster, body, result, time.perf_counter())

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - t0
    result.client_cpu_seconds = time.process_time() - cpu0
    return result


async def open_loop(
    poster: Poster, bodies: Sequence[bytes], *, rate: float, time_cap: float, client: str
) -> RunResult:
    """Send `bodies` at `rate` per second whatever the answers; latency counts from schedule."""
    result = RunResult(mode="open", client=client, planned=len(bodies), seconds=0.0)
    tasks: list[asyncio.Task[None]] = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + time_cap
    for i, body in enumerate(bodies):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.perf_counter()
        if now > deadline:
            result.timed_out = True
            break
        result.max_send_lag = max(result.max_send_lag, now - scheduled)
        tasks.append(asyncio.create_task(_one(poster, body, result, scheduled)))
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - t0
    result.client_cpu_seconds = time.process_time() - cpu0
    return result


def _run(main: Callable[[], Awaitable[RunResult]]) -> RunResult:
    async def wrapped() -> RunResult:
        return await main()

    try:
        import uvloop  # optional: a faster loop for the generator itself
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(wrapped())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(wrapped())


def run_load(args: argparse.Namespace) -> RunResult:
    """Build the bodies, then run the closed or open loop that `args` describe."""
    bodies = make_bodies(args.requests, seed=args.seed, first_ordinal=args.first_ordinal)

    async def main() -> RunResult:
        poster = make_poster(args.client, args.url, pool_size=args.pool)
        try:
            if args.mode == "closed":
                return await closed_loop(
                    poster,
                    bodies,
                    concurrency=args.concurrency,
                    time_cap=args.time_cap,
                    client=args.client,
                )
            return await open_loop(
                poster, bodies, rate=args.rate, time_cap=args.time_cap, client=args.client
            )
        finally:
            with contextlib.suppress(Exception):
                await poster.aclose()

    return _run(main)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Sanad load generator (prints one JSON object)")
    parser.add_argument("mode", choices=("closed", "open"))
    parser.add_argument("--url", required=True, help="service base URL (loopback only)")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=32, help="closed loop workers")
    parser.add_argument("--rate", type=float, default=200.0, help="open loop requests/s")
    parser.add_argument("--pool", type=int, default=0, help="connections (default: C or 128)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first-ordinal", type=int, default=0)
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds, hard bound")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.rate <= 0:
        raise SystemExit("requests, concurrency and rate must be positive")
    if args.pool <= 0:
        args.pool = args.concurrency if args.mode == "closed" else 128
    result = run_load(args)
    json.dump(asdict(result), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
