"""Writing events to the outbox in the transaction of the change."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from shared.contracts import Envelope, encode
from shared.telemetry import current_carrier

# Session.info keys: the relay's wake-up callback, and whether this transaction wrote events.
WAKE_KEY = "sanad.outbox.wake"
_DIRTY_KEY = "sanad.outbox.dirty"
_STAGED_KEY = "sanad.outbox.staged"


def outbox_rows(events: Iterable[Envelope]) -> list[dict[str, Any]]:
    """Rows for `events`, each carrying the current trace context."""
    carrier = current_carrier()
    now = datetime.now(UTC)
    return [
        {
            "event_id": str(e.event_id),
            "subject": e.subject,
            "payload": encode(e),
            "trace_carrier": carrier,
            "created_at": now,
        }
        for e in events
    ]


async def add_to_outbox(session: AsyncSession, table: Table, *events: Envelope) -> None:
    """Stage `events` for publishing; they commit, or vanish, with the session's transaction.

    The rows are inserted just before the commit, all staged events of the
    transaction in one statement: a consumer applying a batch of fifty events then
    writes its outbox once, not fifty times.
    """
    if not events:
        return
    sync = session.sync_session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    staged: list[_Staged] = sync.info.setdefault(_STAGED_KEY, [])
    staged.append(_Staged(transaction, table, outbox_rows(events)))
    session.info[_DIRTY_KEY] = True


def mark_outbox_written(session: AsyncSession) -> None:
    """Tell the relay to wake after this session commits (for writers that bypass add_to_outbox)."""
    session.info[_DIRTY_KEY] = True


def wake_info(wake: Callable[[], None]) -> dict[str, Any]:
    """Session `info` that makes a commit with events wake the relay at once."""
    return {WAKE_KEY: wake}


@dataclass(frozen=True)
class _Staged:
    transaction: SessionTransaction | None
    table: Table
    rows: list[dict[str, Any]]


@event.listens_for(Session, "before_commit")
def _insert_staged_rows(session: Session) -> None:
    if session.in_nested_transaction():
        return
    staged: list[_Staged] = session.info.pop(_STAGED_KEY, [])
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for item in staged:
        by_table.setdefault(item.table, []).extend(item.rows)
    for table, rows in by_table.items():
        session.execute(insert(table), rows)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back_rows(session: Session, previous: SessionTransaction) -> None:
    staged: list[_Staged] | None = session.info.get(_STAGED_KEY)
    if staged:
        session.info[_STAGED_KEY] = [s for s in staged if not _within(s.transaction, previous)]


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_commit")
def _wake_relay_after_commit(session: Session) -> None:
    # Also fired when a savepoint is released: only the outermost commit makes rows visible.
    if session.in_nested_transaction():
        return
    if session.info.pop(_DIRTY_KEY, False):
        wake = session.info.get(WAKE_KEY)
        if wake is not None:
            wake()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_DIRTY_KEY, None)
