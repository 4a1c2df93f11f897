"""Security headers, a request body limit and rate limits, as one pure ASGI middleware.

Cheap on purpose (intake's hot path): one pass over the request headers, one
dict lookup per rate limit, headers appended to the response start. Limits:
- body: a declared Content-Length above the limit is refused before the app
  runs; a body without one (chunked) is counted and cut off at the limit;
- rate: public paths are limited per client address (past that limit, a
  caller whose token verifies is limited per token instead); every other
  request with a token is limited per token. Buckets live in bounded LRU
  maps: a flood of new keys evicts old buckets, it cannot grow memory.
Refusals are RFC 9457 problem details (413, 429 with Retry-After).
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PROBLEM_BASE, PROBLEM_JSON

# JSON APIs load nothing and may be framed by nobody.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# FastAPI's /docs and /redoc pages load their assets from a CDN and run an inline script.
DOCS_CSP = (
    b"default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    b"font-src https://fonts.gstatic.com; img-src https://fastapi.tiangolo.com data:; "
    b"connect-src 'self'; worker-src blob:; frame-ancestors 'none'"
)
_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Limits:
    """What the middleware enforces; a rate of 0 turns that limit off."""

    max_body_bytes: int = 256 * 1024
    public_per_minute: float = 60.0
    public_burst: int = 20
    token_per_minute: float = 600.0
    token_burst: int = 100
    max_tracked: int = 20_000
    public_paths: frozenset[tuple[str, str]] = frozenset()
    # (method, path) that take a file: their bodies may reach `max_upload_bytes`.
    upload_paths: frozenset[tuple[str, str]] = frozenset()
    max_upload_bytes: int = 0

    def body_limit(self, method: str, path: str) -> int:
        """The biggest body a request may carry: more only where a file is expected."""
        if (method, path) in self.upload_paths:
            return max(self.max_body_bytes, self.max_upload_bytes)
        return self.max_body_bytes


class RateLimiter:
    """Token buckets by key, at most `max_keys` of them (least recently used evicted)."""

    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        max_keys: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[Hashable, list[float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable) -> float:
        """Spend one request of `key`: 0.0 if allowed, else the seconds until one is."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._buckets.popitem(last=False)
            self._buckets[key] = [self._burst - 1.0, now]
            return 0.0
        self._buckets.move_to_end(key)
        tokens = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self._rate


class HardeningMiddleware:
    """Security headers on every response; body size and rate limits on every request."""

    def __init__(
        self, app: ASGIApp, *, limits: Limits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.limits = limits
        self.by_address = RateLimiter(
            per_minute=limits.public_per_minute,
            burst=limits.public_burst,
            max_keys=limits.max_tracked,
            clock=clock,
        )
        self.by_token = RateLimiter(
            per_minute=limits.token_per_minute,
            burst=limits.token_burst,
            max_keys=limits.max_tracked,
            clock=clock,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        authorization: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"authorization":
                authorization = value

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(message.get("headers") or [])
            await send(message)

        limit = self.limits.body_limit(scope["method"], scope["path"])
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _refuse(send_secured, scope, 413, "Request too large", "too-large")
            return
        wait = await self._rate_limit(scope, authorization)
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            await _refuse(
                send_secured, scope, 429, "Too many requests", "rate-limited", retry_after=retry
            )
            return
        if length is None and scope["method"] in _BODY_METHODS:
            await self._app_with_counted_body(scope, receive, send_secured, limit)
            return
        await self.app(scope, receive, send_secured)

    async def _rate_limit(self, scope: Scope, authorization: bytes | None) -> float:
        if (scope["method"], scope["path"]) in self.limits.public_paths:
            if not self.by_address.enabled:
                return 0.0
            client = scope.get("client")
            wait = self.by_address.take(client[0] if client else "")
            # Past its address's limit, a caller with a valid token (a gateway that forwards
            # many people's messages) is limited per token instead; verifying costs a lookup,
            # so it is paid only then.
            if (
                wait == 0.0
                or authorization is None
                or not self.by_token.enabled
                or not await _verifies(scope, authorization)
            ):
                return wait
        elif authorization is None or not self.by_token.enabled:
            return 0.0
        return self.by_token.take(authorization)

    async def _app_with_counted_body(
        self, scope: Scope, receive: Receive, send: Send, limit: int
    ) -> None:
        seen, refused = 0, False

        async def counted_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    await _refuse(send, scope, 413, "Request too large", "too-large")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            # Once refused, the app sees a disconnect; what it raises about that is moot.
            if not refused:
                raise


async def _verifies(scope: Scope, authorization: bytes) -> bool:
    """Whether the bearer token verifies (cached by the token store)."""
    state = getattr(scope.get("app"), "state", None)
    store = getattr(state, "token_store", None)
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    if store is None or scheme.lower() != "bearer":
        return False
    return await store.verify(token.strip()) is not None


def _secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    html = cache = csp = False
    for name, value in headers:
        if name == b"content-type":
            html = value.startswith(b"text/html")
        elif name == b"cache-control":
            cache = True
        elif name == b"content-security-policy":
            # A page that set its own (stricter) policy keeps it: two policies would both apply.
            csp = True
    headers = [*headers, *_COMMON]
    if not csp:
        headers.append((b"content-security-policy", DOCS_CSP if html else API_CSP))
    if not cache:
        # Every answer may be personal (a ticket, a follow-up token): no cache keeps it.
        headers.append((b"cache-control", b"no-store"))
    return headers


async def _refuse(
    send: Send, scope: Scope, status: int, title: str, slug: str, retry_after: str | None = None
) -> None:
    body: dict[str, object] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": title + ".",
        "instance": scope["path"],
    }
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", retry_after.encode()))
    else:
        # The body it sent, or is sending, is not read: the connection cannot be reused.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
