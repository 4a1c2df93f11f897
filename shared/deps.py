"""Request dependencies every service uses, as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.app import Runtime


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` in a thread pool,
# a thread hop per request on the hot path.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One writing transaction per request, committed when the handler returns without error."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.writer_sessions() as session, session.begin():
        yield session


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only request: no write lock, so reads never queue behind writers."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session, session.begin():
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# scope="function": the commit happens before the response is sent, never after.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
