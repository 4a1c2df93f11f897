"""GroupCommitter: concurrent writes share commits; each returns only once durable."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from shared.db import SessionMaker
from shared.groupcommit import GroupCommitter, RowSet
from shared.tests.messaging.conftest import Tables
from shared.tests.messaging.support import column_values

WRITES = 200


@pytest.fixture
async def committer(writer_sessions: SessionMaker) -> AsyncIterator[GroupCommitter]:
    committer = GroupCommitter(writer_sessions)
    committer.start()
    try:
        yield committer
    finally:
        await committer.stop()


def effect(tables: Tables, event_id: str) -> RowSet:
    return RowSet().add(tables.effects, {"event_id": event_id})


async def readable(sessions: SessionMaker, tables: Tables, event_id: str) -> bool:
    async with sessions() as session:
        query = select(tables.effects.c.event_id).where(tables.effects.c.event_id == event_id)
        return (await session.execute(query)).first() is not None


async def test_concurrent_writes_all_commit_in_far_fewer_commits(
    committer: GroupCommitter, sessions: SessionMaker, tables: Tables
) -> None:
    ids = sorted(str(uuid.uuid4()) for _ in range(WRITES))

    await asyncio.gather(*(committer.write(effect(tables, i)) for i in ids))

    assert await column_values(sessions, tables.effects, "event_id") == ids
    assert committer.rowsets == WRITES
    assert committer.commits < WRITES / 10, f"{committer.commits} commits for {WRITES} writes"


async def test_no_write_returns_before_its_row_is_readable_elsewhere(
    committer: GroupCommitter, sessions: SessionMaker, tables: Tables
) -> None:
    async def write_then_read(event_id: str) -> bool:
        await committer.write(effect(tables, event_id))
        return await readable(sessions, tables, event_id)

    seen = await asyncio.gather(*(write_then_read(str(uuid.uuid4())) for _ in range(WRITES)))

    assert all(seen), f"{seen.count(False)} writes returned before their row was readable"


async def test_a_unique_violation_fails_alone_and_the_rest_of_its_batch_commits(
    committer: GroupCommitter,
    writer_sessions: SessionMaker,
    sessions: SessionMaker,
    tables: Tables,
    caplog: pytest.LogCaptureFixture,
) -> None:
    taken = str(uuid.uuid4())
    async with writer_sessions() as session, session.begin():
        await session.execute(insert(tables.effects).values(event_id=taken))
    others = [str(uuid.uuid4()) for _ in range(50)]
    writes = [effect(tables, i) for i in others[:25]]
    writes += [effect(tables, taken)]
    writes += [effect(tables, i) for i in others[25:]]

    with caplog.at_level(logging.WARNING, logger="shared.groupcommit"):
        results = await asyncio.gather(
            *(committer.write(rows) for rows in writes), return_exceptions=True
        )

    failed = [r for r in results if r is not None]
    assert len(failed) == 1
    assert isinstance(failed[0], IntegrityError)
    assert isinstance(results[25], IntegrityError)
    assert sorted(await column_values(sessions, tables.effects, "event_id")) == sorted(
        [taken, *others]
    )
    # The failure was isolated out of a shared batch, not met in a batch of its own.
    sizes = [
        getattr(r, "size", None) for r in caplog.records if r.msg == "groupcommit.batch_failed"
    ]
    assert sizes == [51]


async def test_stop_finishes_the_writes_already_queued(
    writer_sessions: SessionMaker, sessions: SessionMaker, tables: Tables
) -> None:
    committer = GroupCommitter(writer_sessions, max_batch=8)
    committer.start()
    ids = sorted(str(uuid.uuid4()) for _ in range(40))
    writes = [asyncio.create_task(committer.write(effect(tables, i))) for i in ids]
    await asyncio.sleep(0)  # one turn of the loop: every write is queued, none committed

    await committer.stop()

    assert all(w.done() and w.exception() is None for w in writes)
    assert await column_values(sessions, tables.effects, "event_id") == ids
    assert committer.commits >= 40 / 8


async def test_a_write_to_a_stopped_committer_is_refused(
    writer_sessions: SessionMaker, tables: Tables
) -> None:
    committer = GroupCommitter(writer_sessions)

    with pytest.raises(RuntimeError, match="not started"):
        await committer.write(effect(tables, str(uuid.uuid4())))
