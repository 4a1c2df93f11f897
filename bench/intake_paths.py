"""Load for intake's other doors: the web form's POST and a signed WhatsApp webhook.

    python -m bench.intake_paths form|whatsapp --url http://127.0.0.1:8101 \\
        --requests N --concurrency C [--secret APP_SECRET] [--seed S] [--first-ordinal K]

One JSON object on stdout, as bench.load prints (latencies, statuses, errors, seconds,
client_cpu_seconds), so bench.intake reads it the same way. Run as its own process for
the same reason as bench.load: the generator gets an event loop to itself.

Every request is built before the clock starts: a urlencoded form as a browser posts it
(`/en`, 201 and the reference page), or a Cloud API delivery of one text message signed
with the app secret (X-Hub-Signature-256, 200). No two bodies, senders or message ids
repeat, so each one opens a ticket: nothing is answered as a duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import random
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlencode

from bench.load import REQUEST_TIMEOUT, _RawConnection, check_loopback, make_bodies

FORM_PATH = "/en"
WHATSAPP_PATH = "/v1/channels/whatsapp/webhook"
EXPECTED = {"form": 201, "whatsapp": 200}


def _texts(n: int, *, seed: int, first_ordinal: int) -> list[str]:
    """The same distinct texts bench.load sends, so the phases compare like with like."""
    return [
        str(json.loads(body)["text"])
        for body in make_bodies(n, seed=seed, first_ordinal=first_ordinal)
    ]


def form_bodies(n: int, *, seed: int, first_ordinal: int) -> list[bytes]:
    rng = random.Random(seed ^ 0x5EED)
    bodies = []
    for i, text in enumerate(_texts(n, seed=seed, first_ordinal=first_ordinal)):
        fields: list[tuple[str, str]] = [
            ("what_happened", text),
            ("help", rng.choice(("account", "threats", "device", "fake"))),
            ("role", rng.choice(("journalist", "activist", "lawyer", ""))),
            ("contact_channel", "signal"),
            ("contact_handle", f"+{rng.randint(20, 998)} 5{first_ordinal + i:08d}"),
            ("consent", "anonymous_statistics"),
        ]
        bodies.append(urlencode(fields).encode())
    return bodies


def whatsapp_bodies(n: int, *, seed: int, first_ordinal: int) -> list[bytes]:
    bodies = []
    for i, text in enumerate(_texts(n, seed=seed, first_ordinal=first_ordinal)):
        ordinal = first_ordinal + i
        number = f"9617{ordinal:08d}"
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "1234"},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": number}],
            "messages": [
                {
                    "from": number,
                    "id": f"wamid.bench.{seed}.{ordinal}",
                    "timestamp": "1700000000",
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        }
        body = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
        }
        bodies.append(json.dumps(body).encode())
    return bodies


def requests_for(kind: str, host: str, port: int, bodies: list[bytes], secret: str) -> list[bytes]:
    """Whole HTTP/1.1 requests, headers and body, ready to write."""
    out = []
    for body in bodies:
        if kind == "form":
            head = (
                f"POST {FORM_PATH} HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            )
        else:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            head = (
                f"POST {WHATSAPP_PATH} HTTP/1.1\r\nContent-Type: application/json\r\n"
                f"X-Hub-Signature-256: sha256={digest}\r\n"
            )
        head += f"Host: {host}:{port}\r\nContent-Length: {len(body)}\r\n\r\n"
        out.append(head.encode() + body)
    return out


async def closed_loop(
    host: str, port: int, requests: list[bytes], concurrency: int, expected: int, cap: float
) -> dict[str, Any]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()

    async def worker() -> None:
        conn: _RawConnection | None = None
        while queue:
            request = queue.pop()
            if conn is None:
                reader, writer = await asyncio.open_connection(host, port)
                conn = _RawConnection(reader, writer)
            t0 = time.perf_counter()
            try:
                status, _ = await asyncio.wait_for(conn.roundtrip(request), REQUEST_TIMEOUT)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                errors[type(exc).__name__] += 1
                conn.close()
                conn = None
                continue
            statuses[str(status)] += 1
            if status == expected:
                latencies.append(time.perf_counter() - t0)
            if not conn.reusable:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), cap)
    return {
        "latencies": latencies,
        "statuses": dict(statuses),
        "errors": dict(errors),
        "seconds": time.perf_counter() - t0,
        "client_cpu_seconds": time.process_time() - cpu0,
        "accepted": [],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Load for intake's form and WhatsApp webhook")
    parser.add_argument("kind", choices=tuple(EXPECTED))
    parser.add_argument("--url", required=True, help="intake's base URL (loopback only)")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--secret", default="", help="the WhatsApp app secret (whatsapp)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first-ordinal", type=int, default=0)
    parser.add_argument("--time-cap", type=float, default=120.0, help="seconds, hard bound")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.kind == "whatsapp" and not args.secret:
        raise SystemExit("whatsapp needs --secret (the app secret intake verifies with)")
    host, port = check_loopback(args.url)
    make = form_bodies if args.kind == "form" else whatsapp_bodies
    bodies = make(args.requests, seed=args.seed, first_ordinal=args.first_ordinal)
    requests = requests_for(args.kind, host, port, bodies, args.secret)
    result = asyncio.run(
        closed_loop(host, port, requests, args.concurrency, EXPECTED[args.kind], args.time_cap)
    )
    json.dump({"mode": "closed", "client": "raw", "kind": args.kind, **result}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
