"""The requester's own view of their case: found by reference and token, rate-limited."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain, handling, inbound, people, repository
from services.intake.keys import IntakeKeys
from services.intake.models import Ticket
from services.intake.service import requester_key
from shared.contracts import Author, Channel, ConsentPurpose
from shared.crypto import decrypt_field
from shared.errors import AppError, NotFound
from shared.hardening import RateLimiter

# Compared against when the reference is unknown, so that both cases cost the same.
_NO_HASH = "0" * 64


class CaseNotFound(NotFound):
    slug, title = "case-not-found", "No case with this reference and token"


class TooManyAttempts(AppError):
    status, slug, title = 429, "rate-limited", "Too many attempts"


class FollowUpGuard:
    """Attempts per reference and per address: guessing a token is slow from anywhere."""

    def __init__(
        self,
        *,
        per_reference_per_minute: float = 2.0,
        per_address_per_minute: float = 10.0,
        burst: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.by_reference = RateLimiter(
            per_minute=per_reference_per_minute, burst=burst, max_keys=20_000, clock=clock
        )
        self.by_address = RateLimiter(
            per_minute=per_address_per_minute, burst=burst, max_keys=20_000, clock=clock
        )

    def attempt(self, reference: str, address: str) -> None:
        """Count one attempt; TooManyAttempts once either limit is spent."""
        if self.by_address.take(address) > 0 or self.by_reference.take(reference) > 0:
            raise TooManyAttempts()


@dataclass(frozen=True)
class CaseView:
    reference: str
    status: str
    replies: list[str]
    # What the requester agrees to now, by purpose (ConsentPurpose values).
    consents: dict[str, bool]


@dataclass(frozen=True)
class Evidence:
    """A file the requester added from the follow-up page."""

    filename: str | None
    content: bytes


# What a message holding only a file says (the file is attached to it).
EVIDENCE_ONLY_TEXT = "[file]"


async def find_case(
    *,
    session: AsyncSession,
    guard: FollowUpGuard,
    reference: str,
    token: str,
    address: str,
    lock: bool = False,
) -> Ticket:
    """The ticket if the token is its follow-up token; the same CaseNotFound otherwise."""
    reference = domain.normalise_reference(reference)
    guard.attempt(reference, address)
    ticket = await repository.get_ticket_by_reference(session, reference, lock=lock)
    expected = ticket.follow_up_hash if ticket is not None and ticket.follow_up_hash else _NO_HASH
    matches = hmac.compare_digest(domain.hash_token(token), expected)
    if ticket is None or expected == _NO_HASH or not matches:
        raise CaseNotFound()
    return ticket


async def view_case(*, session: AsyncSession, keys: IntakeKeys, ticket: Ticket) -> CaseView:
    """Status and the handlers' replies (never internal notes), decrypted for the requester."""
    data_key = requester_key(keys, await repository.get_requester(session, ticket.requester_id))
    replies = [
        decrypt_field(data_key, m.body_enc, aad=domain.field_aad("messages", "body", str(m.id)))
        for m in await repository.list_messages(session, ticket.id)
        if m.author == Author.handler.value and not m.internal
    ]
    consents = await people.current_consent(session, ticket.requester_id)
    return CaseView(
        reference=ticket.reference,
        status=ticket.status,
        replies=replies,
        consents={p.value: granted for p, granted in consents.items()},
    )


async def add_information(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    outbox: Table,
    ticket: Ticket,
    text: str,
    evidence: Evidence | None = None,
    now: datetime | None = None,
) -> None:
    """The requester added to their case from the follow-up page: `message_added`, reopen;
    a file goes with the message as evidence (type sniffed, SHA-256 kept, stored once)."""
    at = now or datetime.now(UTC)
    message_id = await handling.add_requester_message(
        session=session,
        keys=keys,
        outbox=outbox,
        ticket=ticket,
        text=text or EVIDENCE_ONLY_TEXT,
        channel=Channel.web,
        now=at,
    )
    if evidence is None:
        return
    await session.flush()
    data_key = requester_key(keys, await repository.get_requester(session, ticket.requester_id))
    await inbound.store_evidence(
        session,
        keys,
        data_key,
        ticket_id=ticket.id,
        message_id=message_id,
        channel=Channel.web.value,
        kind="document",
        mime_type=None,
        filename=evidence.filename,
        content=evidence.content,
        at=at,
    )


async def change_consent(
    *,
    session: AsyncSession,
    outbox: Table,
    ticket: Ticket,
    granted: set[ConsentPurpose],
    wording_version: str,
    now: datetime | None = None,
) -> None:
    """The requester's own choice on the follow-up page: every purpose as ticked or not,
    recorded (channel web, actor requester) and published for escalation to enforce."""
    await people.record_consent(
        session=session,
        outbox=outbox,
        requester_id=ticket.requester_id,
        changes={p: p in granted for p in ConsentPurpose},
        wording_version=wording_version,
        source=Channel.web.value,
        actor_id=handling.REQUESTER_ACTOR,
        at=now or datetime.now(UTC),
        ticket_id=ticket.id,
    )
