"""Requester use cases for staff: consent as data, and vetting with who, when and why."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain, repository
from services.intake.errors import RequesterNotFound
from services.intake.keys import IntakeKeys
from services.intake.models import (
    AUDIT_TABLES,
    ConsentChange,
    ConsentEntry,
    ConsentPublic,
    ConsentUpdate,
    Requester,
    VettingChange,
    VettingEntry,
    VettingPublic,
    VettingUpdate,
)
from services.intake.service import requester_key
from shared import audit
from shared.audit import ObjectType
from shared.auth import Principal
from shared.contracts import ConsentChanged, ConsentChangedData, ConsentPurpose
from shared.crypto import DataKey, decrypt_field, encrypt_field
from shared.messaging.outbox import add_to_outbox

HANDLER_SOURCE = "handler"


async def read_consent(
    *, session: AsyncSession, requester_id: uuid.UUID, actor: Principal
) -> ConsentPublic:
    """A requester's current consent and its history; audited."""
    requester = await _requester(session, requester_id)
    await _audit(session, actor, audit.Action.read, requester, datetime.now(UTC))
    return _consent_public(requester.id, await repository.consent_history(session, requester.id))


async def change_consent(
    *,
    session: AsyncSession,
    outbox: Table,
    requester_id: uuid.UUID,
    update: ConsentUpdate,
    actor: Principal,
    now: datetime | None = None,
) -> ConsentPublic:
    """Record a consent change a handler heard from the person; `consent.changed`; audited."""
    at = now or datetime.now(UTC)
    requester = await _requester(session, requester_id)
    await record_consent(
        session=session,
        outbox=outbox,
        requester_id=requester.id,
        changes=update.consents,
        wording_version=update.wording_version,
        source=HANDLER_SOURCE,
        actor_id=actor.token_id,
        at=at,
    )
    await _audit(session, actor, audit.Action.update, requester, at)
    await session.flush()
    return _consent_public(requester.id, await repository.consent_history(session, requester.id))


async def current_consent(
    session: AsyncSession, requester_id: uuid.UUID
) -> dict[ConsentPurpose, bool]:
    """What the requester agrees to now: nothing unless recorded."""
    history = await repository.consent_history(session, requester_id)
    return _consents(history[0]) if history else _nothing_granted()


async def record_consent(
    *,
    session: AsyncSession,
    outbox: Table,
    requester_id: uuid.UUID,
    changes: dict[ConsentPurpose, bool],
    wording_version: str,
    source: str,
    actor_id: str,
    at: datetime,
    ticket_id: uuid.UUID | None = None,
) -> dict[ConsentPurpose, bool]:
    """Append the whole record after `changes` and publish it (`consent.changed`), so that
    escalation enforces it; purposes not in `changes` keep their value."""
    current = await current_consent(session, requester_id)
    merged = {
        ConsentPurpose(k): v
        for k, v in domain.merged_consent(
            {p.value: g for p, g in current.items()},
            {p.value: g for p, g in changes.items()},
        ).items()
    }
    repository.add(
        session,
        ConsentChange(
            requester_id=requester_id,
            share_with_platforms=merged[ConsentPurpose.share_with_platforms],
            share_with_partners=merged[ConsentPurpose.share_with_partners],
            anonymous_statistics=merged[ConsentPurpose.anonymous_statistics],
            wording_version=wording_version,
            source=source,
            actor_id=actor_id,
            changed_at=at,
        ),
    )
    event = ConsentChanged(
        ticket_id=ticket_id,
        occurred_at=at,
        data=ConsentChangedData(
            requester_id=requester_id,
            consents=merged,
            wording_version=wording_version,
            source=source,
            changed_at=at,
        ),
    )
    await add_to_outbox(session, outbox, event)
    return merged


async def read_vetting(
    *, session: AsyncSession, keys: IntakeKeys, requester_id: uuid.UUID, actor: Principal
) -> VettingPublic:
    """A requester's vetting state and its history with the handlers' notes; audited."""
    requester = await _requester(session, requester_id)
    await _audit(session, actor, audit.Action.read, requester, datetime.now(UTC))
    return await _vetting_public(session, keys, requester)


async def change_vetting(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    requester_id: uuid.UUID,
    update: VettingUpdate,
    actor: Principal,
    now: datetime | None = None,
) -> VettingPublic:
    """Set a requester's vetting state, with the handler's reason stored encrypted; audited."""
    at = now or datetime.now(UTC)
    requester = await _requester(session, requester_id)
    data_key = requester_key(keys, requester)
    change_id = uuid.uuid4()
    repository.add(
        session,
        VettingChange(
            id=change_id,
            requester_id=requester.id,
            state=update.state.value,
            actor_id=actor.token_id,
            actor_scope=actor.scope.value,
            note_enc=(
                encrypt_field(data_key, update.note, aad=_note_aad(change_id))
                if update.note
                else None
            ),
            changed_at=at,
        ),
    )
    requester.vetting_state = update.state.value
    await _audit(session, actor, audit.Action.update, requester, at)
    await session.flush()
    return await _vetting_public(session, keys, requester)


async def _requester(session: AsyncSession, requester_id: uuid.UUID) -> Requester:
    requester = await repository.get_requester(session, requester_id)
    if requester is None or requester.wrapped_key is None:
        raise RequesterNotFound("No such requester, or erased.")
    return requester


def _nothing_granted() -> dict[ConsentPurpose, bool]:
    return dict.fromkeys(ConsentPurpose, False)


def _consents(change: ConsentChange) -> dict[ConsentPurpose, bool]:
    return {p: bool(getattr(change, p.value)) for p in ConsentPurpose}


def _consent_public(requester_id: uuid.UUID, history: Sequence[ConsentChange]) -> ConsentPublic:
    return ConsentPublic(
        requester_id=requester_id,
        consents=_consents(history[0]) if history else _nothing_granted(),
        history=[
            ConsentEntry(
                consents=_consents(c),
                wording_version=c.wording_version,
                source=c.source,
                actor_id=c.actor_id,
                changed_at=c.changed_at,
            )
            for c in history
        ],
    )


async def _vetting_public(
    session: AsyncSession, keys: IntakeKeys, requester: Requester
) -> VettingPublic:
    history = await repository.vetting_history(session, requester.id)
    data_key = requester_key(keys, requester) if history else None
    return VettingPublic(
        requester_id=requester.id,
        state=requester.vetting_state,
        history=[
            VettingEntry(
                state=v.state,
                actor_id=v.actor_id,
                actor_scope=v.actor_scope,
                note=_note(data_key, v),
                changed_at=v.changed_at,
            )
            for v in history
        ],
    )


def _note(data_key: DataKey | None, change: VettingChange) -> str | None:
    if data_key is None or not change.note_enc:
        return None
    return decrypt_field(data_key, change.note_enc, aad=_note_aad(change.id))


def _note_aad(change_id: uuid.UUID) -> bytes:
    return domain.field_aad("vetting_changes", "note", str(change_id))


async def _audit(
    session: AsyncSession,
    actor: Principal,
    action: audit.Action,
    requester: Requester,
    at: datetime,
) -> None:
    await audit.record(
        session,
        AUDIT_TABLES,
        actor=actor,
        action=action,
        objects=[(ObjectType.requester, str(requester.id))],
        now=at,
    )
