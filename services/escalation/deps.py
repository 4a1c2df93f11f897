"""Escalation's request dependencies as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.escalation.keys import ContentKey
from services.escalation.platforms import PlatformRegistry
from shared.auth import Principal, Scope, require
from shared.deps import ReadSessionDep, RuntimeDep, SessionDep


async def get_platforms(runtime: RuntimeDep) -> PlatformRegistry:
    registry: PlatformRegistry = runtime.extras["platforms"]
    return registry


async def get_content_key(runtime: RuntimeDep) -> ContentKey:
    key: ContentKey = runtime.extras["content_key"]
    return key


PlatformsDep = Annotated[PlatformRegistry, Depends(get_platforms)]
ContentKeyDep = Annotated[ContentKey, Depends(get_content_key)]
HandlerDep = Annotated[Principal, Depends(require(Scope.handler, Scope.coordinator))]
CoordinatorDep = Annotated[Principal, Depends(require(Scope.coordinator))]

__all__ = [
    "ContentKeyDep",
    "CoordinatorDep",
    "HandlerDep",
    "PlatformsDep",
    "ReadSessionDep",
    "RuntimeDep",
    "SessionDep",
]
