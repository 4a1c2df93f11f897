"""The committed JSON Schemas of the events: what other services and tools rely on."""

from __future__ import annotations

import json
from pathlib import Path

from shared.contracts import EVENT_TYPES, event_json_schema, subject_of

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schema_path(subject: str) -> Path:
    return SCHEMA_DIR / f"{subject}.json"


def render(schema: dict[str, object]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all() -> list[Path]:
    """Rewrite every committed schema from the contract (after a deliberate change)."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for cls in EVENT_TYPES:
        path = schema_path(subject_of(cls))
        path.write_text(render(event_json_schema(cls)), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)  # noqa: T201
