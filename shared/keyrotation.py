"""Master key rotation: re-wrap every data key under a new master, without downtime.

With key files (development, one host), `rotate_key_files`:
1. keeps the current master as `master-retired-<id>.key` and writes a new
   `master.key`: running services pick the new one up within a second (their
   `MasterKeyring` re-reads the files) and still unwrap old keys with the
   retired one;
2. waits `grace` seconds, so that no service wraps under the old master any
   more, then re-wraps every data key still under another master, in batches
   (compare-and-set: a key erased meanwhile stays erased);
3. checks that none is left, waits until every keyed index (an HMAC under a key
   derived from the master, such as intake's contact index) has been computed
   again under the new master by the service that owns it, then destroys the
   retired key files.
After step 3 a copy of the database taken before the rotation holds data keys
wrapped under a master that no longer exists: this is what makes an erasure
hold against old copies (docs/security.md).

With keys from the environment, `rewrap` alone re-wraps under SANAD_MASTER_KEY
whatever SANAD_PREVIOUS_MASTER_KEYS wrapped; the operator then drops the
previous keys from the environment.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    Column,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.crypto import (
    MASTER_FILE,
    RETIRED_GLOB,
    CryptoError,
    MasterKey,
    destroy_key_file,
    keyring,
    read_master_key_files,
    rewrap_data_key,
    wrapped_key_id,
    write_master_key_file,
)

_PASSES = 5


class RotationError(Exception):
    """The rotation could not finish; the retired keys are kept so nothing becomes unreadable."""


@dataclass(frozen=True)
class WrappedKeys:
    """Where a service keeps wrapped data keys; each is bound (aad) to its row's id."""

    table: str
    id_column: str = "id"
    key_column: str = "wrapped_key"

    def core_table(self) -> Table:
        return Table(
            self.table,
            MetaData(),
            Column(self.id_column, Uuid, primary_key=True),
            Column(self.key_column, LargeBinary, nullable=True),
        )


@dataclass(frozen=True)
class KeyedIndex:
    """Values keyed under the master (HMAC indexes), with the id of the master each used.

    Only the owning service can compute them again (it alone knows what was hashed);
    rotation waits until none is left under another master.
    """

    table: str
    value_column: str
    key_column: str

    def core_table(self) -> Table:
        return Table(
            self.table,
            MetaData(),
            Column(self.value_column, String, nullable=True),
            Column(self.key_column, String, nullable=True),
        )


@dataclass(frozen=True)
class ServiceKeys:
    """What one service's database holds under the master key."""

    service: str
    wrapped: tuple[WrappedKeys, ...] = ()
    indexes: tuple[KeyedIndex, ...] = ()


@dataclass(frozen=True)
class RotationTarget:
    """A service's database to bring under the new master."""

    keys: ServiceKeys
    engine: AsyncEngine


# intake's requesters (services/intake/models.py; a test there keeps the two in step).
INTAKE_WRAPPED_KEYS = WrappedKeys("requesters")
INTAKE_KEYS = ServiceKeys(
    "intake",
    wrapped=(INTAKE_WRAPPED_KEYS,),
    indexes=(KeyedIndex("requesters", "contact_index", "contact_index_key"),),
)
# triage's per-ticket keys for handlers' reasons (services/triage/keys.py).
TRIAGE_KEYS = ServiceKeys("triage", wrapped=(WrappedKeys("ticket_keys", id_column="ticket_id"),))
# escalation's per-ticket keys and the key of the tokens partners issued us
# (services/escalation/keys.py ESCALATION_WRAPPED_KEYS; a test there keeps them in step).
ESCALATION_KEYS = ServiceKeys(
    "escalation",
    wrapped=(
        WrappedKeys("ticket_keys", id_column="ticket_id"),
        WrappedKeys("partners", id_column="token_key_id", key_column="token_wrapped_key"),
    ),
)
# Every service that keeps something under the master key, in the order rotation visits.
SERVICE_KEYS: tuple[ServiceKeys, ...] = (INTAKE_KEYS, TRIAGE_KEYS, ESCALATION_KEYS)


@dataclass(frozen=True)
class Rotation:
    new_key_id: str
    retired_key_ids: tuple[str, ...]
    rewrapped: int


async def rewrap(
    engine: AsyncEngine,
    where: WrappedKeys,
    *,
    masters: Mapping[str, MasterKey],
    to: MasterKey,
    batch: int = 500,
) -> int:
    """Re-wrap under `to` every data key wrapped by another master; how many were."""
    table = where.core_table()
    ids, keys = table.c[where.id_column], table.c[where.key_column]
    done, after = 0, uuid.UUID(int=0)
    while True:
        query = select(ids, keys).where(keys.is_not(None), ids > after).order_by(ids).limit(batch)
        async with engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            for row_id, wrapped in rows:
                if wrapped_key_id(wrapped) == to.key_id:
                    continue
                new = rewrap_data_key(masters, wrapped, aad=str(row_id).encode(), to=to)
                result = await conn.execute(
                    update(table).where(ids == row_id, keys == wrapped).values({keys: new})
                )
                done += result.rowcount
        if len(rows) < batch:
            return done
        after = rows[-1][0]


async def left_behind(engine: AsyncEngine, where: WrappedKeys, *, to: MasterKey) -> int:
    """How many data keys are not wrapped under `to`."""
    table = where.core_table()
    keys = table.c[where.key_column]
    async with engine.connect() as conn:
        result = await conn.stream(select(keys).where(keys.is_not(None)))
        return sum([1 async for (wrapped,) in result if wrapped_key_id(wrapped) != to.key_id])


async def rewrap_until_done(
    engine: AsyncEngine, where: WrappedKeys, *, masters: Mapping[str, MasterKey], to: MasterKey
) -> int:
    """Re-wrap, then check; again while a straggler wrapped under an old master appears."""
    total = 0
    for _ in range(_PASSES):
        total += await rewrap(engine, where, masters=masters, to=to)
        if await left_behind(engine, where, to=to) == 0:
            return total
    raise RotationError("data keys under an old master keep appearing; retired keys kept")


async def stale_indexes(engine: AsyncEngine, index: KeyedIndex, *, to: MasterKey) -> int:
    """How many values of `index` were computed under another master than `to`."""
    table = index.core_table()
    values, key_ids = table.c[index.value_column], table.c[index.key_column]
    query = (
        select(func.count())
        .select_from(table)
        .where(values.is_not(None), or_(key_ids.is_(None), key_ids != to.key_id))
    )
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def wait_for_indexes(
    targets: Sequence[RotationTarget],
    *,
    to: MasterKey,
    within: float,
    every: float = 0.5,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Wait until the services have re-computed every keyed index under `to`."""
    for _ in range(max(1, int(within / every))):
        left = [
            await stale_indexes(t.engine, index, to=to) for t in targets for index in t.keys.indexes
        ]
        if not any(left):
            return
        await sleep(every)
    raise RotationError(
        f"{sum(left)} keyed index value(s) still under an old master after {within:g}s: "
        "is the service that owns them running? Retired keys kept"
    )


async def rewrap_targets(
    targets: Sequence[RotationTarget], *, masters: Mapping[str, MasterKey], to: MasterKey
) -> int:
    """Re-wrap every target's data keys under `to`; how many were."""
    total = 0
    for target in targets:
        for where in target.keys.wrapped:
            total += await rewrap_until_done(target.engine, where, masters=masters, to=to)
    return total


async def rotate_master_files(
    keys_dir: Path,
    targets: Sequence[RotationTarget],
    *,
    grace: float = 3.0,
    reindex_timeout: float = 120.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Rotation:
    """Steps 1 to 3 above on the key files under `keys_dir`, for every service's database."""
    current, retired = read_master_key_files(keys_dir)
    new = MasterKey.generate()
    write_master_key_file(keys_dir / f"master-retired-{current.key_id}.key", current)
    write_master_key_file(keys_dir / MASTER_FILE, new)
    await sleep(grace)
    try:
        rewrapped = await rewrap_targets(targets, masters=keyring(new, current, *retired), to=new)
    except CryptoError as exc:
        raise RotationError(f"a data key could not be unwrapped: {exc}") from None
    await wait_for_indexes(targets, to=new, within=reindex_timeout, sleep=sleep)
    _destroy_retired(keys_dir)
    return Rotation(
        new_key_id=new.key_id,
        retired_key_ids=tuple(k.key_id for k in (current, *retired)),
        rewrapped=rewrapped,
    )


def _destroy_retired(keys_dir: Path) -> None:
    for path in keys_dir.glob(RETIRED_GLOB):
        destroy_key_file(path)
