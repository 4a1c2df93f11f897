"""Reporting's request dependencies as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.auth import Principal, Scope, require
from shared.deps import ReadSessionDep

AnalystDep = Annotated[Principal, Depends(require(Scope.analyst, Scope.coordinator))]

__all__ = ["AnalystDep", "ReadSessionDep"]
