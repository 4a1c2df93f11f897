"""Group commit: concurrent requests share one transaction, and each waits until it is durable.

One commit (one fsync) per request caps SQLite at about a thousand writes a
second. Here a single writer task takes every write that arrived while the
previous commit was on disk, inserts them with one `executemany` per table
and commits once. Nobody is answered before the commit that holds their rows;
if a batch fails, its writes are retried one by one so that one bad row (a
reference that collided, say) fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError

from shared.db import SessionMaker
from shared.messaging.outbox import mark_outbox_written

log = logging.getLogger(__name__)


@dataclass
class RowSet:
    """Rows to insert, by table, for one request; tables are inserted in the order given."""

    inserts: list[tuple[Table, list[dict[str, Any]]]] = field(default_factory=list)
    writes_outbox: bool = False

    def add(self, table: Table, *rows: dict[str, Any]) -> RowSet:
        self.inserts.append((table, list(rows)))
        return self


@dataclass
class _Pending:
    rows: RowSet
    done: asyncio.Future[None]


class GroupCommitter:
    """Batches RowSets from concurrent callers into shared, durable commits."""

    def __init__(self, sessions: SessionMaker, *, max_batch: int = 512) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0
        self.rowsets = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def write(self, rows: RowSet) -> None:
        """Return once `rows` are committed; raise what the database raised for them."""
        if self._task is None:
            raise RuntimeError("group committer not started")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(rows, done))
        await done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit_batch(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_batch(self, batch: Sequence[_Pending]) -> None:
        live = [p for p in batch if not p.done.cancelled()]
        if not live:
            return
        try:
            await self._commit([p.rows for p in live])
        except Exception as exc:  # noqa: BLE001 - isolate the failing write below
            if len(live) == 1:
                _settle(live[0], exc)
                return
            log.warning(
                "groupcommit.batch_failed",
                extra={"size": len(live), "error_type": type(exc).__name__},
            )
            for pending in live:
                try:
                    await self._commit([pending.rows])
                except Exception as one_exc:  # noqa: BLE001 - handed to its own caller
                    _settle(pending, one_exc)
                else:
                    _settle(pending, None)
            return
        for pending in live:
            _settle(pending, None)

    async def _commit(self, rowsets: Sequence[RowSet]) -> None:
        merged: dict[Table, list[dict[str, Any]]] = {}
        for rowset in rowsets:
            for table, rows in rowset.inserts:
                merged.setdefault(table, []).extend(rows)
        async with self._sessions() as session, session.begin():
            for table, rows in merged.items():
                await session.execute(insert(table), rows)
            if any(r.writes_outbox for r in rowsets):
                mark_outbox_written(session)
        self.commits += 1
        self.rowsets += len(rowsets)


def _settle(pending: _Pending, exc: BaseException | None) -> None:
    if pending.done.done():
        return
    if exc is None:
        pending.done.set_result(None)
    else:
        pending.done.set_exception(exc)


__all__ = ["GroupCommitter", "IntegrityError", "RowSet"]
