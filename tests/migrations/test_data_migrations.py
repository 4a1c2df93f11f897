"""Migrations that carry data over, shown on a database holding that data."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import Connection, text

from services.triage.main import DEFINITION as TRIAGE
from shared.db import make_engine
from shared.migrations import migration_config


def _to(revision: str, migrations: Path):  # type: ignore[no-untyped-def]
    def upgrade(connection: Connection) -> None:
        config = migration_config(migrations, "sqlite://")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return upgrade


async def test_a_lead_page_waiting_for_the_webhook_is_queued_as_a_notice(tmp_path: Path) -> None:
    assert TRIAGE.migrations is not None
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'triage.db'}")
    waiting, sent = uuid.uuid4(), uuid.uuid4()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_to("0004", TRIAGE.migrations))
            for ticket, status in ((waiting, "due"), (sent, "done")):
                await conn.execute(
                    text(
                        "INSERT INTO lead_pages (ticket_id, lead_id, priority, reason, paged_at,"
                        " status, attempts, next_attempt_at) VALUES (:t, 'nour', 'P1', 'p1',"
                        " '2026-07-01 07:00:00.000000', :s, 0, '2026-07-01 07:00:00.000000')"
                    ),
                    {"t": ticket.hex, "s": status},
                )
            await conn.run_sync(_to("0005", TRIAGE.migrations))
            notices = (await conn.execute(text("SELECT body, status FROM notices"))).all()
            pages = (await conn.execute(text("SELECT count(*) FROM lead_pages"))).scalar_one()
    finally:
        await engine.dispose()

    assert pages == 2  # the pages themselves are kept
    ((body, status),) = notices
    assert status == "due"
    assert json.loads(body)["ticket_id"] == str(waiting)
    assert json.loads(body)["lead_id"] == "nour"
