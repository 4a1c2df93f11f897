"""The hash-chained audit log: appends, and what `verify` catches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import audit
from shared.audit import Action, ObjectType
from shared.auth import Principal, Scope
from shared.cli import main
from shared.db import create_tables, make_engine, make_sessionmaker

HANDLER = Principal(token_id="a1b2c3d4e5f6", name="Rana", scope=Scope.handler)
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def tables() -> tuple[Table, Table]:
    return audit.audit_tables(MetaData())


@pytest.fixture
async def engine(tmp_path: Path, tables: tuple[Table, Table]) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}", writer=True)
    await create_tables(engine, tables[0].metadata)
    yield engine
    await engine.dispose()


async def append(engine: AsyncEngine, tables: tuple[Table, Table], count: int) -> None:
    sessions = make_sessionmaker(engine)
    for n in range(count):
        async with sessions() as session, session.begin():
            await audit.record(
                session,
                tables,
                actor=HANDLER,
                action=Action.read,
                objects=[(ObjectType.ticket, f"ticket-{n}")],
                now=T0 + timedelta(minutes=n),
            )


async def check(engine: AsyncEngine, tables: tuple[Table, Table], **kw: object) -> audit.Verdict:
    async with engine.connect() as conn:
        return await audit.verify(conn, tables, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def five(engine: AsyncEngine, tables: tuple[Table, Table]) -> AsyncEngine:
    await append(engine, tables, 5)
    return engine


async def test_an_untouched_log_verifies_and_reports_its_head(
    five: AsyncEngine, tables: tuple[Table, Table]
) -> None:
    verdict = await check(five, tables)

    assert verdict.ok, verdict.problem
    assert (verdict.entries, verdict.head_seq) == (5, 5)
    async with five.connect() as conn:
        last = (await conn.execute(select(tables[0]).where(tables[0].c.seq == 5))).one()
    assert verdict.head_hash == last.hash


async def test_an_empty_log_verifies(engine: AsyncEngine, tables: tuple[Table, Table]) -> None:
    assert (await check(engine, tables)).ok


async def test_entries_hold_ids_and_never_names(
    five: AsyncEngine, tables: tuple[Table, Table]
) -> None:
    async with five.connect() as conn:
        row = (await conn.execute(select(tables[0]).where(tables[0].c.seq == 1))).one()

    assert (row.token_id, row.actor_scope, row.action, row.object_type, row.object_id) == (
        HANDLER.token_id,
        "handler",
        "read",
        "ticket",
        "ticket-0",
    )
    assert HANDLER.name not in repr(row)


async def test_an_edited_entry_is_caught(five: AsyncEngine, tables: tuple[Table, Table]) -> None:
    log = tables[0]
    async with five.begin() as conn:
        await conn.execute(update(log).where(log.c.seq == 3).values(object_id="ticket-99"))

    assert (await check(five, tables)).problem == "entry 3 was altered"


async def test_a_removed_entry_is_caught(five: AsyncEngine, tables: tuple[Table, Table]) -> None:
    log = tables[0]
    async with five.begin() as conn:
        await conn.execute(delete(log).where(log.c.seq == 2))

    assert (await check(five, tables)).problem == "entry 2 is missing (next is 3)"


async def test_removing_the_newest_entries_is_caught_by_the_head(
    five: AsyncEngine, tables: tuple[Table, Table]
) -> None:
    log = tables[0]
    async with five.begin() as conn:
        await conn.execute(delete(log).where(log.c.seq >= 4))

    assert (await check(five, tables)).problem == "the log ends at entry 3 but its head says 5"


async def test_reordered_entries_are_caught(five: AsyncEngine, tables: tuple[Table, Table]) -> None:
    log = tables[0]
    async with five.begin() as conn:
        await conn.execute(update(log).where(log.c.seq == 2).values(seq=-2))
        await conn.execute(update(log).where(log.c.seq == 3).values(seq=2))
        await conn.execute(update(log).where(log.c.seq == -2).values(seq=3))

    assert (await check(five, tables)).problem == "entry 2 does not follow entry 1"


async def test_a_rebuilt_chain_is_caught_by_an_anchor_kept_elsewhere(
    five: AsyncEngine, tables: tuple[Table, Table]
) -> None:
    anchor = (3, (await check(five, tables)).head_hash)  # wrong on purpose: entry 5's hash
    verdict = await check(five, tables, anchor=anchor)

    assert verdict.problem == "entry 3 is not the anchored one"


async def test_the_cli_checks_every_services_log_and_names_the_broken_one(
    tmp_path: Path,
    tables: tuple[Table, Table],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for service in ("intake", "triage"):
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db' / f'{service}.db'}")
        await create_tables(engine, tables[0].metadata)
        await append(engine, tables, 3)
        if service == "triage":
            async with engine.begin() as conn:
                await conn.execute(delete(tables[0]).where(tables[0].c.seq == 2))
        await engine.dispose()
    monkeypatch.setenv("SANAD_VAR_DIR", str(tmp_path))
    for name in ("INTAKE_DATABASE_URL", "TRIAGE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)

    code = await asyncio.to_thread(main, ["audit", "verify"])

    assert code == 1
    printed = capsys.readouterr()
    assert "intake: audit log intact: 3 entries" in printed.out
    assert "triage: audit log broken" in printed.err
    assert await asyncio.to_thread(main, ["audit", "verify", "--anchor", "1:" + "0" * 64]) == 2
