"""Intake's request dependencies as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.keys import IntakeKeys
from shared.app import Runtime
from shared.auth import Principal, Scope, require
from shared.groupcommit import GroupCommitter


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed when the handler returns without error."""
    async with get_runtime(request).sessions() as session, session.begin():
        yield session


def get_keys(request: Request) -> IntakeKeys:
    keys: IntakeKeys = get_runtime(request).extras["keys"]
    return keys


def get_committer(request: Request) -> GroupCommitter:
    committer: GroupCommitter = get_runtime(request).extras["committer"]
    return committer


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
KeysDep = Annotated[IntakeKeys, Depends(get_keys)]
CommitterDep = Annotated[GroupCommitter, Depends(get_committer)]
HandlerDep = Annotated[Principal, Depends(require(Scope.handler, Scope.coordinator))]
