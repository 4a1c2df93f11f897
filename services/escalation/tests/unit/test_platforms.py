"""The platform registry: the shipped file loads, a bad file is a clear error at start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.escalation.platforms import DEFAULT_PATH, RegistryError, load_platforms
from shared.contracts import Category, EscalationAction


def test_the_shipped_registry_has_the_major_platforms() -> None:
    registry = load_platforms()
    ids = {p.id for p in registry.platforms}
    assert {"meta", "x", "tiktok", "google", "telegram", "snapchat", "microsoft", "apple"} <= ids
    meta = registry.get("meta")
    assert meta is not None
    assert {"Facebook", "Instagram", "WhatsApp", "Threads"} <= set(meta.products)
    assert EscalationAction.remove_impersonation in meta.actions
    assert registry.violation_type(meta, Category.impersonation) == "impersonation"


def _write(tmp_path: Path, change: dict[str, object]) -> Path:
    data = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["platforms"][0].update(change)
    path = tmp_path / "platforms.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_an_unknown_action_names_the_platform_and_field(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"platforms\.0\.actions"):
        load_platforms(_write(tmp_path, {"actions": ["fly_to_the_moon"]}))


def test_a_duplicate_platform_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="unique"):
        load_platforms(_write(tmp_path, {"id": "x"}))


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "platforms.json"
    path.write_text("platforms: [", encoding="utf-8")
    with pytest.raises(RegistryError):
        load_platforms(path)
