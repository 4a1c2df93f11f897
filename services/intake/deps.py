"""Intake's request dependencies as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.intake.config import IntakeSettings
from services.intake.keys import IntakeKeys
from shared.auth import Principal, Scope, require
from shared.deps import ReadSessionDep, RuntimeDep, SessionDep
from shared.groupcommit import GroupCommitter


async def get_keys(runtime: RuntimeDep) -> IntakeKeys:
    keys: IntakeKeys = runtime.extras["keys"]
    return keys


async def get_settings(runtime: RuntimeDep) -> IntakeSettings:
    settings = runtime.settings
    assert isinstance(settings, IntakeSettings)
    return settings


async def get_committer(runtime: RuntimeDep) -> GroupCommitter:
    committer: GroupCommitter = runtime.extras["committer"]
    return committer


KeysDep = Annotated[IntakeKeys, Depends(get_keys)]
SettingsDep = Annotated[IntakeSettings, Depends(get_settings)]
CommitterDep = Annotated[GroupCommitter, Depends(get_committer)]
HandlerDep = Annotated[Principal, Depends(require(Scope.handler, Scope.coordinator))]
CoordinatorDep = Annotated[Principal, Depends(require(Scope.coordinator))]

__all__ = [
    "CommitterDep",
    "CoordinatorDep",
    "HandlerDep",
    "KeysDep",
    "ReadSessionDep",
    "RuntimeDep",
    "SessionDep",
    "SettingsDep",
]
