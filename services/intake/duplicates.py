"""No double tickets: the same text from the same sender within ten minutes opens none.

A person who presses "send" twice, a form posted again after a lost answer, a platform's
webhook retried under a new message id: each would open a second ticket that a handler
then answers twice. A new ticket leaves its fingerprint (a keyed hash of the normalised
text and of the sender: the contact's keyed index, else for the web form the client's
address; the JSON API without a contact is not checked) in
`recent_submissions` for the window; a submission finding it gets that ticket back.

The fingerprint is unique in the table: the hot path reads nothing, it inserts the
fingerprint with the ticket (one group commit) and only a conflict costs a look. Twins
arriving together, even at two replicas, open one ticket; a fingerprint past the window
that was not purged yet is deleted on conflict and the insert tried again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.intake import domain
from services.intake.keys import IntakeKeys
from services.intake.models import RecentSubmission, Ticket, TicketCreate
from shared.db import SessionMaker, table_of, transaction

WINDOW = timedelta(seconds=domain.DUPLICATE_WINDOW_SECONDS)
# Expired fingerprints are deleted at most this often (one small DELETE on the writer).
_PURGE_EVERY_SECONDS = 60.0


def sender_of(keys: IntakeKeys, data: TicketCreate, client: str | None) -> str | None:
    """Who a submission is from: the contact given, else the client it came from when that
    says who it is (the web form's browser); None when nothing does (the JSON API without a
    contact: its callers are programs and gateways forwarding many people's messages)."""
    if data.contact is not None:
        index, _ = keys.contact_index(data.contact.channel.value, data.contact.handle)
        return f"contact:{index}"
    return f"client:{data.channel.value}:{client}" if client is not None else None


def fingerprint(keys: IntakeKeys, data: TicketCreate, client: str | None) -> str | None:
    sender = sender_of(keys, data, client)
    return keys.submission_fingerprint(sender, data.text) if sender is not None else None


def recent_row(fingerprint: str, ticket_id: object, at: datetime) -> dict[str, object]:
    return {"fingerprint": fingerprint, "ticket_id": ticket_id, "received_at": at}


RECENT_TABLE = table_of(RecentSubmission)


async def find_recent(
    session: AsyncSession, fingerprint: str, now: datetime, window: timedelta = WINDOW
) -> tuple[Ticket, datetime] | None:
    """The ticket this fingerprint opened within the window before `now`, if any."""
    found = await find(session, fingerprint)
    return found if found is not None and found[1] > now - window else None


async def find(session: AsyncSession, fingerprint: str) -> tuple[Ticket, datetime] | None:
    """The ticket this fingerprint opened and when, however long ago (not yet purged)."""
    query = (
        select(Ticket, col(RecentSubmission.received_at))
        .join(RecentSubmission, col(RecentSubmission.ticket_id) == col(Ticket.id))
        .where(col(RecentSubmission.fingerprint) == fingerprint)
        .limit(1)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row is not None else None


async def forget_stale(
    session: AsyncSession, fingerprint: str, now: datetime, window: timedelta
) -> None:
    """Delete this fingerprint's row if it is past the window (it blocks a new ticket)."""
    await session.execute(
        delete(RecentSubmission).where(
            col(RecentSubmission.fingerprint) == fingerprint,
            col(RecentSubmission.received_at) <= now - window,
        )
    )


async def purge(session: AsyncSession, now: datetime, window: timedelta = WINDOW) -> None:
    """Forget fingerprints past the window."""
    await session.execute(
        delete(RecentSubmission).where(col(RecentSubmission.received_at) <= now - window)
    )


@dataclass
class RecentSubmissions:
    """The window, the clock, and when expired rows were last purged (by this process).
    A window of zero turns the check off."""

    window: timedelta = WINDOW
    # The wall clock submissions are stamped with (tests move it past the window).
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    clock: Callable[[], float] = time.monotonic
    _purged_at: float | None = None

    @property
    def enabled(self) -> bool:
        return self.window > timedelta(0)

    async def purge_if_due(self, sessions: SessionMaker, now: datetime) -> None:
        at = self.clock()
        if self._purged_at is not None and at - self._purged_at < _PURGE_EVERY_SECONDS:
            return
        self._purged_at = at
        async with transaction(sessions) as session:
            await purge(session, now, self.window)
