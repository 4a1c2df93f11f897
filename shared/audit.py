"""An append-only, hash-chained audit log: who read or changed which case object, and when.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's
canonical fields, so editing, removing or reordering an entry breaks the chain
from there on; a one-row head (last seq and hash) makes removing the newest
entries visible too. Entries hold ids, never personal data. An entry is
written in the transaction of the read or change it records, on the writer
session: the head row is locked (`FOR UPDATE`; SQLite's writer holds the
database lock) so concurrent appends queue instead of forking the chain.

Someone who can rewrite the whole table and its head can rebuild a valid
chain: `verify` reports the head so that it can be kept elsewhere and checked
later with `anchor` (docs/threat-model.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.auth import Principal
from shared.db import UTCDateTime

GENESIS = "0" * 64
HEAD_ID = 1


class Action(StrEnum):
    read = "read"
    create = "create"
    update = "update"
    erase = "erase"


class ObjectType(StrEnum):
    ticket = "ticket"
    requester = "requester"
    evidence = "evidence"


def audit_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The audit log and its head, on a service's own metadata (idempotent)."""
    existing = metadata.tables.get("audit_log"), metadata.tables.get("audit_head")
    if existing[0] is not None and existing[1] is not None:
        return existing[0], existing[1]
    log = Table(
        "audit_log",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("at", UTCDateTime(), nullable=False),
        Column("token_id", String(16), nullable=False),
        Column("actor_scope", String(16), nullable=False),
        Column("action", String(16), nullable=False),
        Column("object_type", String(16), nullable=False),
        Column("object_id", String(64), nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
    )
    head = Table(
        "audit_head",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("seq", Integer, nullable=False),
        Column("hash", String(64), nullable=False),
    )
    return log, head


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    at: datetime
    token_id: str
    actor_scope: str
    action: str
    object_type: str
    object_id: str


def entry_hash(prev_hash: str, entry: Entry) -> str:
    """The chained hash of `entry` after `prev_hash`."""
    fields = [
        entry.seq,
        entry.at.astimezone(UTC).isoformat(),
        entry.token_id,
        entry.actor_scope,
        entry.action,
        entry.object_type,
        entry.object_id,
    ]
    canonical = json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode()
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical).hexdigest()


async def record(
    session: AsyncSession,
    tables: tuple[Table, Table],
    *,
    actor: Principal,
    action: Action,
    objects: list[tuple[ObjectType, str]],
    now: datetime | None = None,
) -> None:
    """Append one entry per object to the log, in `session`'s transaction (a writer's)."""
    log, head = tables
    at = now or datetime.now(UTC)
    row = (
        await session.execute(
            select(head.c.seq, head.c.hash).where(head.c.id == HEAD_ID).with_for_update()
        )
    ).one_or_none()
    seq, prev = (row.seq, row.hash) if row is not None else (0, GENESIS)
    rows = []
    for object_type, object_id in objects:
        seq += 1
        entry = Entry(seq, at, actor.token_id, actor.scope.value, action, object_type, object_id)
        digest = entry_hash(prev, entry)
        rows.append({**_fields(entry), "prev_hash": prev, "hash": digest})
        prev = digest
    await session.execute(insert(log), rows)
    if row is None:
        await session.execute(insert(head).values(id=HEAD_ID, seq=seq, hash=prev))
    else:
        await session.execute(update(head).where(head.c.id == HEAD_ID).values(seq=seq, hash=prev))


def _fields(entry: Entry) -> dict[str, object]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "token_id": entry.token_id,
        "actor_scope": entry.actor_scope,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
    }


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: `problem` is None when the chain is intact."""

    entries: int
    head_seq: int
    head_hash: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def verify(
    conn: AsyncConnection, tables: tuple[Table, Table], *, anchor: tuple[int, str] | None = None
) -> Verdict:
    """Walk the chain from the start; report the first entry that does not fit."""
    log, head = tables
    row = (await conn.execute(select(head.c.seq, head.c.hash))).one_or_none()
    head_seq, head_hash = (row.seq, row.hash) if row is not None else (0, GENESIS)
    seq, prev, count, seen_anchor = 0, GENESIS, 0, anchor is None

    def verdict(problem: str | None) -> Verdict:
        return Verdict(count, head_seq, head_hash, problem)

    async for entry, stored_prev, stored_hash in _entries(conn, log):
        count += 1
        if entry.seq != seq + 1:
            return verdict(f"entry {seq + 1} is missing (next is {entry.seq})")
        if stored_prev != prev:
            return verdict(f"entry {entry.seq} does not follow entry {seq}")
        if entry_hash(prev, entry) != stored_hash:
            return verdict(f"entry {entry.seq} was altered")
        if anchor is not None and entry.seq == anchor[0]:
            if stored_hash != anchor[1]:
                return verdict(f"entry {entry.seq} is not the anchored one")
            seen_anchor = True
        seq, prev = entry.seq, stored_hash
    if (seq, prev) != (head_seq, head_hash):
        return verdict(f"the log ends at entry {seq} but its head says {head_seq}")
    if not seen_anchor:
        return verdict("the anchored entry is not in the log")
    return verdict(None)


async def _entries(conn: AsyncConnection, log: Table) -> AsyncIterator[tuple[Entry, str, str]]:
    result = await conn.stream(select(log).order_by(log.c.seq))
    async for row in result:
        entry = Entry(
            row.seq,
            row.at,
            row.token_id,
            row.actor_scope,
            row.action,
            row.object_type,
            row.object_id,
        )
        yield entry, row.prev_hash, row.hash
