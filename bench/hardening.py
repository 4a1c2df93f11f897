"""What the hardening middleware costs per request: a bare ASGI app with and without it.

`python -m bench.hardening [--requests N]` prints microseconds per request for
the public form's shape (POST with a Content-Length, per-address rate limit)
and for an authenticated GET (per-token rate limit), each against the bare app.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.hardening import HardeningMiddleware, Limits

BODY = b'{"text": "someone took over my account"}'


async def bare(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]], n: int) -> Scope:
    # One address per 64 requests: buckets are created, found and evicted as in real traffic.
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers,
        "client": (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n >> 6 & 3}", 40000),
    }


async def _run(app: ASGIApp, method: str, headers: list[tuple[bytes, bytes]], n: int) -> float:
    async def receive() -> Message:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(_message: Message) -> None:
        return None

    path = "/v1/tickets" if method == "POST" else "/v1/tickets/1"
    scopes = [_scope(method, path, headers, i) for i in range(n)]
    start = time.perf_counter()
    for scope in scopes:
        await app(scope, receive, send)
    return (time.perf_counter() - start) / n * 1e6


async def main(n: int) -> None:
    limits = Limits(
        public_paths=frozenset({("POST", "/v1/tickets")}), public_burst=10**9, token_burst=10**9
    )
    hardened = HardeningMiddleware(bare, limits=limits)
    post = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    get = [(b"authorization", b"Bearer snd_" + b"x" * 43), (b"accept", b"application/json")]
    for label, method, headers in (
        ("POST public form", "POST", post),
        ("GET with a token", "GET", get),
    ):
        base = min([await _run(bare, method, headers, n) for _ in range(3)])
        with_mw = min([await _run(hardened, method, headers, n) for _ in range(3)])
        print(
            f"{label:<18} bare {base:6.2f} us  hardened {with_mw:6.2f} us  "
            f"overhead {with_mw - base:5.2f} us/request"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().requests))
