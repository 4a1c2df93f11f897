"""Escalation's request dependencies as Annotated aliases."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends

from services.escalation.config import EscalationSettings
from services.escalation.keys import ContentKey
from services.escalation.platforms import PlatformRegistry
from services.escalation.referrals import Inbox
from services.escalation.signing import SigningKey
from shared.auth import Principal, Scope, require
from shared.deps import ReadSessionDep, RuntimeDep, SessionDep


async def get_platforms(runtime: RuntimeDep) -> PlatformRegistry:
    registry: PlatformRegistry = runtime.extras["platforms"]
    return registry


async def get_content_key(runtime: RuntimeDep) -> ContentKey:
    key: ContentKey = runtime.extras["content_key"]
    return key


async def get_signing_key(runtime: RuntimeDep) -> SigningKey:
    key: SigningKey = runtime.extras["signing_key"]
    return key


async def get_settings(runtime: RuntimeDep) -> EscalationSettings:
    settings = runtime.settings
    assert isinstance(settings, EscalationSettings)
    return settings


async def get_inbox(runtime: RuntimeDep) -> Inbox:
    settings = runtime.settings
    assert isinstance(settings, EscalationSettings)
    return Inbox(
        validator=runtime.extras["iodef_validator"],
        intake_sealer=runtime.extras["intake_sealer"],
        max_age=timedelta(seconds=settings.referral_max_age_seconds),
        skew=timedelta(seconds=settings.referral_clock_skew_seconds),
    )


PlatformsDep = Annotated[PlatformRegistry, Depends(get_platforms)]
ContentKeyDep = Annotated[ContentKey, Depends(get_content_key)]
HandlerDep = Annotated[Principal, Depends(require(Scope.handler, Scope.coordinator))]
CoordinatorDep = Annotated[Principal, Depends(require(Scope.coordinator))]
SigningKeyDep = Annotated[SigningKey, Depends(get_signing_key)]
SettingsDep = Annotated[EscalationSettings, Depends(get_settings)]
InboxDep = Annotated[Inbox, Depends(get_inbox)]
# A partner helpline calling in: the token carries its partner id.
PartnerDep = Annotated[Principal, Depends(require(Scope.partner))]
# Staff, or a partner confined to its own referrals.
ReferralReaderDep = Annotated[
    Principal, Depends(require(Scope.handler, Scope.coordinator, Scope.partner))
]

__all__ = [
    "ContentKeyDep",
    "CoordinatorDep",
    "HandlerDep",
    "InboxDep",
    "PartnerDep",
    "PlatformsDep",
    "ReadSessionDep",
    "ReferralReaderDep",
    "RuntimeDep",
    "SessionDep",
    "SettingsDep",
    "SigningKeyDep",
]
