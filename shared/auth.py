"""Bearer API tokens with scopes, kept in the auth database that every service reads.

A route asks for a principal with given scopes through an `Annotated` alias::

    StaffDep = Annotated[Principal, Depends(require(Scope.handler, Scope.coordinator))]

    @router.get("/tickets/{ticket_id}")
    async def read_ticket(ticket_id: UUID, principal: StaffDep) -> TicketPublic: ...

The app's lifespan puts a `TokenStore` on `app.state.token_store`.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import (
    Column,
    Index,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from shared.db import UTCDateTime, create_tables, make_engine, ping
from shared.errors import AppError, Forbidden, Unauthorized

if TYPE_CHECKING:
    from fastapi.dependencies.models import Dependant
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncEngine

    from shared.settings import BaseServiceSettings

TOKEN_PREFIX = "snd_"  # noqa: S105 - the public prefix of every token, not a secret
_TOKEN_SHAPE = re.compile(r"snd_[A-Za-z0-9_-]{43}")
MAX_NAME_LENGTH = 200


class Scope(StrEnum):
    handler = "handler"
    coordinator = "coordinator"
    partner = "partner"
    ops = "ops"
    analyst = "analyst"
    service = "service"
    admin = "admin"


class TokenRequestError(AppError):
    status, slug, title = 422, "invalid-token-request", "Invalid token request"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    token_id: str
    name: str
    scope: Scope
    partner_id: str | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: everything but the token and its hash."""

    id: str
    name: str
    scope: Scope
    partner_id: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


metadata = MetaData()

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(MAX_NAME_LENGTH), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("partner_id", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Index("ux_api_tokens_token_hash", "token_hash", unique=True),
)
_LISTED = [c for c in api_tokens.c if c.name != "token_hash"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def hash_token(token: str) -> str:
    """The stored form of a token."""
    # A plain hash suffices: the token has 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    expires_at: datetime | None


class _TtlCache:
    """Recent successful lookups, so auth costs nothing per request yet revocation still bites."""

    def __init__(self, *, ttl: float, size: int, clock: Callable[[], float]) -> None:
        self._ttl, self._size, self._clock = ttl, size, clock
        self._entries: OrderedDict[str, tuple[float, _Verified]] = OrderedDict()

    def get(self, key: str) -> _Verified | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: str, value: _Verified) -> None:
        self._entries[key] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class TokenStore:
    """API tokens in the auth database: written by the CLI, verified by every service."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        cache_ttl: float = 5.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._cache = _TtlCache(ttl=cache_ttl, size=cache_size, clock=clock)
        self._now = now
        self._ready = False

    @classmethod
    def from_url(cls, url: str) -> TokenStore:
        """A store on the auth database at `url`; it owns its engine (see `close`)."""
        return cls(make_engine(url))

    @classmethod
    def from_settings(cls, settings: BaseServiceSettings) -> TokenStore:
        """A store on `settings.auth_database_url`."""
        return cls.from_url(settings.auth_database_url)

    async def start(self) -> None:
        """Create the table if missing, so a service fails at startup, not at first request."""
        await self._ensure_table()

    async def close(self) -> None:
        """Dispose of the store's engine."""
        await self._engine.dispose()

    async def ping(self) -> None:
        """Raise if the auth database does not answer."""
        await ping(self._engine)

    async def create(
        self,
        *,
        name: str,
        scope: Scope,
        expires_in: timedelta | None = None,
        partner_id: str | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new token and its text, which is shown once and stored only as a hash."""
        _check_request(name=name, scope=scope, expires_in=expires_in, partner_id=partner_id)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._now()
        info = TokenInfo(
            id=secrets.token_hex(6),
            name=name.strip(),
            scope=scope,
            partner_id=partner_id,
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
            revoked_at=None,
        )
        await self._ensure_table()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(api_tokens).values(
                    id=info.id,
                    name=info.name,
                    scope=info.scope.value,
                    token_hash=hash_token(token),
                    partner_id=info.partner_id,
                    created_at=info.created_at,
                    expires_at=info.expires_at,
                )
            )
        return info, token

    async def revoke(self, token_id: str) -> bool:
        """Revoke a token by id; False if there is no such token."""
        await self._ensure_table()
        table = api_tokens.c
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_tokens)
                .where(table.id == token_id, table.revoked_at.is_(None))
                .values(revoked_at=self._now())
            )
            found = result.rowcount == 1 or (
                await conn.scalar(select(table.id).where(table.id == token_id)) is not None
            )
        self._cache.clear()
        return found

    async def list(self) -> builtins.list[TokenInfo]:
        """Every token, oldest first, without hashes."""
        await self._ensure_table()
        query = select(*_LISTED).order_by(api_tokens.c.created_at, api_tokens.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_token_info(row) for row in rows]

    async def verify(self, token: str) -> Principal | None:
        """The principal of a valid token; None if unknown, revoked or expired."""
        if not _TOKEN_SHAPE.fullmatch(token):
            return None
        digest = hash_token(token)
        verified = self._cache.get(digest)
        if verified is None:
            verified = await self._lookup(digest)
            if verified is None:
                return None
            self._cache.put(digest, verified)
        if verified.expires_at is not None and verified.expires_at <= self._now():
            return None
        return verified.principal

    async def _lookup(self, digest: str) -> _Verified | None:
        await self._ensure_table()
        query = select(api_tokens).where(api_tokens.c.token_hash == digest)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.token_hash, digest):
            return None
        principal = Principal(
            token_id=row.id, name=row.name, scope=Scope(row.scope), partner_id=row.partner_id
        )
        return _Verified(principal, row.expires_at)

    async def _ensure_table(self) -> None:
        if self._ready:
            return
        try:
            await create_tables(self._engine, metadata)
        except DBAPIError:
            # Several services starting at once race to create it; the loser finds it made.
            await create_tables(self._engine, metadata)
        self._ready = True


def _check_request(
    *, name: str, scope: Scope, expires_in: timedelta | None, partner_id: str | None
) -> None:
    if not name.strip() or len(name.strip()) > MAX_NAME_LENGTH or not name.isprintable():
        raise TokenRequestError(
            f"A token needs a name of 1 to {MAX_NAME_LENGTH} printable characters."
        )
    if expires_in is not None and expires_in <= timedelta(0):
        raise TokenRequestError("A token's lifetime must be positive.")
    if partner_id is not None and (len(partner_id) > 64 or not partner_id.isprintable()):
        raise TokenRequestError("A partner id is at most 64 printable characters.")
    if (scope is Scope.partner) != bool(partner_id):
        raise TokenRequestError("A partner token needs a partner id; other tokens have none.")


def _token_info(row: Row[Any]) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        scope=Scope(row.scope),
        partner_id=row.partner_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


# --- FastAPI -----------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer snd_…`")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def authenticate(request: Request, credentials: BearerCredentials) -> Principal:
    """The principal of the request's bearer token, or Unauthorized."""
    if credentials is None:
        raise Unauthorized("A bearer token is required.")
    principal = await _token_store(request).verify(credentials.credentials)
    if principal is None:
        raise Unauthorized("The bearer token is not valid.")
    return principal


class ScopeGuard:
    """The dependency `require` builds; its `scopes` are what the access-matrix test reads."""

    __slots__ = ("scopes",)

    def __init__(self, scopes: frozenset[Scope]) -> None:
        self.scopes = scopes

    async def __call__(self, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.scope not in self.scopes:
            raise Forbidden("This token's scope does not allow this request.")
        return principal

    def __repr__(self) -> str:
        return f"ScopeGuard({sorted(self.scopes)!r})"


def require(*scopes: Scope) -> ScopeGuard:
    """A dependency giving the request's principal if its scope is one of `scopes` (or admin)."""
    return ScopeGuard(frozenset((*scopes, Scope.admin)))


def route_scopes(dependant: Dependant) -> frozenset[Scope] | None:
    """The scopes a route allows (every `require` among its dependencies), None if none."""
    found = dependant.call.scopes if isinstance(dependant.call, ScopeGuard) else None
    for sub in dependant.dependencies:
        inner = route_scopes(sub)
        if inner is not None:
            found = inner if found is None else found & inner
    return found


def _token_store(request: Request) -> TokenStore:
    state = request.app.state
    # Services built by shared.app keep it on their runtime; small apps put it on the state.
    store = getattr(state, "token_store", None) or getattr(
        getattr(state, "runtime", None), "token_store", None
    )
    if not isinstance(store, TokenStore):
        raise RuntimeError("app.state.token_store is not set")
    return store
