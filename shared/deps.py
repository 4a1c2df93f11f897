"""Request dependencies every service uses, as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.app import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One writing transaction per request, committed when the handler returns without error."""
    async with get_runtime(request).writer_sessions() as session, session.begin():
        yield session


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only request: no write lock, so reads never queue behind writers."""
    async with get_runtime(request).sessions() as session, session.begin():
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# scope="function": the commit happens before the response is sent, never after.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
