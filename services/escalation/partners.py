"""The partner registry: partner helplines, their keys, and the tokens to call them with."""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncSession

from services.escalation import repository
from services.escalation.errors import PartnerExists, PartnerNotFound
from services.escalation.keys import ContentKey, seal_token
from services.escalation.models import Partner, PartnerCreate, PartnerPublic, PartnerUpdate
from services.escalation.signing import fingerprint, public_key_from_text
from shared.contracts import Category


async def register_partner(
    *, session: AsyncSession, key: ContentKey, request: PartnerCreate, now: datetime
) -> PartnerPublic:
    """Add a partner helpline to the registry."""
    if await repository.get_partner(session, request.id) is not None:
        raise PartnerExists()
    row = Partner(
        id=request.id,
        name=request.name,
        endpoint=str(request.endpoint),
        public_key=request.public_key,
        services=[s.value for s in request.services],
        languages=list(request.languages),
        regions=list(request.regions),
        active=request.active,
        created_at=now,
        updated_at=now,
    )
    if request.token is not None:
        _set_token(row, key, request.token.get_secret_value())
    repository.add(session, row)
    return public(row)


async def update_partner(
    *,
    session: AsyncSession,
    key: ContentKey,
    partner_id: str,
    request: PartnerUpdate,
    now: datetime,
) -> PartnerPublic:
    """Change what is registered of a partner; fields left out stay as they are."""
    row = await get_partner(session, partner_id)
    given = request.model_dump(exclude_unset=True, exclude={"token"})
    for name, value in given.items():
        if value is None:
            continue
        if name == "endpoint":
            value = str(request.endpoint)
        elif name == "services":
            value = [Category(s).value for s in value]
        setattr(row, name, value)
    if request.token is not None:
        _set_token(row, key, request.token.get_secret_value())
    row.updated_at = now
    return public(row)


async def list_partners(*, session: AsyncSession) -> list[PartnerPublic]:
    """Every registered partner, without tokens."""
    return [public(row) for row in await repository.list_partners(session)]


async def read_partner(*, session: AsyncSession, partner_id: str) -> PartnerPublic:
    return public(await get_partner(session, partner_id))


async def get_partner(session: AsyncSession, partner_id: str) -> Partner:
    row = await repository.get_partner(session, partner_id)
    if row is None:
        raise PartnerNotFound()
    return row


def partner_key(row: Partner) -> Ed25519PublicKey:
    return public_key_from_text(row.public_key)


def _set_token(row: Partner, key: ContentKey, token: str) -> None:
    seal_token(key, row, token)


def public(row: Partner) -> PartnerPublic:
    return PartnerPublic(
        id=row.id,
        name=row.name,
        endpoint=row.endpoint,
        public_key=row.public_key,
        key_fingerprint=fingerprint(partner_key(row)),
        services=[Category(s) for s in row.services],
        languages=list(row.languages),
        regions=list(row.regions),
        has_token=row.token_sealed is not None,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
