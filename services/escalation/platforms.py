"""The platform registry: a data file validated at start, so a bad file stops the service."""

from __future__ import annotations

import json
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.contracts import Category, EscalationAction

DEFAULT_PATH = Path(__file__).parent / "data" / "platforms.json"


class RegistryError(Exception):
    """A registry file that cannot be used; raised at start."""


class ChannelType(StrEnum):
    trusted_partner_form = "trusted_partner_form"
    email = "email"
    portal = "portal"


class RequiredField(StrEnum):
    content_urls = "content_urls"
    account_handle = "account_handle"
    violation_type = "violation_type"
    evidence_refs = "evidence_refs"


class Platform(BaseModel):
    """One platform: how to reach it, what it needs, what it can do, how fast it answers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name: str = Field(min_length=1)
    products: tuple[str, ...] = Field(min_length=1)
    channel: ChannelType
    required_fields: tuple[RequiredField, ...]
    actions: tuple[EscalationAction, ...] = Field(min_length=1)
    expected_response_hours: int = Field(gt=0, le=24 * 60)
    # None: the registry's default map.
    violation_types: dict[Category, str] | None = None

    @property
    def expected_response(self) -> timedelta:
        return timedelta(hours=self.expected_response_hours)


class PlatformRegistry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    comment: list[str] = Field(default_factory=list, alias="_comment")
    default_violation_types: dict[Category, str] = Field(default_factory=dict)
    platforms: tuple[Platform, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> PlatformRegistry:
        ids = [p.id for p in self.platforms]
        if len(ids) != len(set(ids)):
            raise ValueError("platform ids must be unique")
        return self

    def get(self, platform_id: str) -> Platform | None:
        return next((p for p in self.platforms if p.id == platform_id), None)

    def violation_type(self, platform: Platform, category: Category) -> str | None:
        """The platform's label for one of our categories, if it has one."""
        mapping = platform.violation_types
        return (mapping if mapping is not None else self.default_violation_types).get(category)


def load_platforms(path: Path = DEFAULT_PATH) -> PlatformRegistry:
    """The registry in `path`; any defect raises RegistryError naming the file and fields."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return PlatformRegistry.model_validate(raw)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RegistryError(f"platform registry {path} is invalid: {where}") from None
    except (OSError, ValueError) as exc:
        raise RegistryError(f"platform registry {path}: {exc}") from None
