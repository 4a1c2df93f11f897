"""Triage's request dependencies as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.triage.lexicon import Lexicon
from shared.auth import Principal, Scope, require
from shared.crypto import MasterKeyring
from shared.deps import ReadSessionDep, RuntimeDep, SessionDep


async def get_lexicon(runtime: RuntimeDep) -> Lexicon:
    lexicon: Lexicon = runtime.extras["lexicon"]
    return lexicon


async def get_masters(runtime: RuntimeDep) -> MasterKeyring:
    masters: MasterKeyring = runtime.extras["masters"]
    return masters


LexiconDep = Annotated[Lexicon, Depends(get_lexicon)]
MastersDep = Annotated[MasterKeyring, Depends(get_masters)]
HandlerDep = Annotated[Principal, Depends(require(Scope.handler, Scope.coordinator))]
CoordinatorDep = Annotated[Principal, Depends(require(Scope.coordinator))]
LabelsDep = Annotated[Principal, Depends(require(Scope.coordinator, Scope.analyst))]
ClassifierDep = Annotated[
    Principal, Depends(require(Scope.service, Scope.handler, Scope.coordinator))
]

__all__ = [
    "ClassifierDep",
    "CoordinatorDep",
    "HandlerDep",
    "LabelsDep",
    "LexiconDep",
    "MastersDep",
    "ReadSessionDep",
    "RuntimeDep",
    "SessionDep",
]
