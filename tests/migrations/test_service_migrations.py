"""Every service's schema history builds exactly its models, once, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import importlib
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, MetaData, String, event, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.app import ServiceDefinition, service_tables
from shared.db import make_engine
from shared.migrations import migration_config, schema_drift, upgrade_to_head
from shared.testing.postgres import PostgresServer
from tools.migrate import next_rev_id, service_config

SERVICES = ("intake", "triage", "escalation", "reporting")


@pytest.fixture(params=SERVICES)
def definition(request: pytest.FixtureRequest) -> ServiceDefinition:
    module = importlib.import_module(f"services.{request.param}.main")
    found: ServiceDefinition = module.DEFINITION
    service_tables(found.metadata)
    return found


@pytest.fixture
def migrations(definition: ServiceDefinition) -> Path:
    assert definition.migrations is not None
    return definition.migrations


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'service.db'}")
    yield engine
    await engine.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _head(migrations: Path) -> str | None:
    return ScriptDirectory.from_config(migration_config(migrations, "sqlite://")).get_current_head()


def test_each_service_has_one_head(migrations: Path) -> None:
    scripts = ScriptDirectory.from_config(migration_config(migrations, "sqlite://"))
    assert len(scripts.get_heads()) == 1


def test_new_revisions_are_numbered_after_the_head(definition: ServiceDefinition) -> None:
    config = service_config(definition.name)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    assert next_rev_id(config) == f"{int(head) + 1:04d}"


async def test_downgrade_to_base_removes_every_table(engine: AsyncEngine, migrations: Path) -> None:
    await upgrade_to_head(engine, migrations)

    def downgrade(connection: Connection) -> None:
        config = migration_config(migrations, "sqlite://")
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    async with engine.begin() as conn:
        await conn.run_sync(downgrade)
        assert await conn.run_sync(_tables) == {"alembic_version"}


async def test_upgrade_creates_exactly_the_tables_of_the_metadata(
    engine: AsyncEngine, definition: ServiceDefinition, migrations: Path
) -> None:
    await upgrade_to_head(engine, migrations)

    async with engine.connect() as conn:
        tables = await conn.run_sync(_tables)
        current = await conn.run_sync(_current)
    assert tables == set(definition.metadata.tables) | {"alembic_version"}
    assert {"outbox", "processed_events"} <= tables
    assert current == _head(migrations)


async def test_upgrading_a_database_at_head_changes_nothing(
    engine: AsyncEngine, migrations: Path
) -> None:
    await upgrade_to_head(engine, migrations)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.strip().split()[0].upper())

    # On every engine: the upgrade may open its own (SQLite's write-locked one).
    event.listen(Engine, "before_cursor_execute", record)
    try:
        await upgrade_to_head(engine, migrations)
    finally:
        event.remove(Engine, "before_cursor_execute", record)

    assert statements
    assert not set(statements) & {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"}


async def test_replicas_starting_together_migrate_once(
    tmp_path: Path, migrations: Path, definition: ServiceDefinition
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    engines = [make_engine(url) for _ in range(3)]
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(upgrade_to_head(e, migrations) for e in engines))
        async with engines[0].connect() as conn:
            tables = await conn.run_sync(_tables)
    finally:
        for e in engines:
            await e.dispose()
    assert tables == set(definition.metadata.tables) | {"alembic_version"}


async def test_services_starting_in_one_process_migrate_side_by_side(tmp_path: Path) -> None:
    definitions = [importlib.import_module(f"services.{s}.main").DEFINITION for s in SERVICES]
    engines = [make_engine(f"sqlite+aiosqlite:///{tmp_path / d.name}.db") for d in definitions]
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(
                *(
                    upgrade_to_head(e, d.migrations)
                    for e, d in zip(engines, definitions, strict=True)
                )
            )
        for e, d in zip(engines, definitions, strict=True):
            async with e.connect() as conn:
                assert await conn.run_sync(_tables) == set(d.metadata.tables) | {"alembic_version"}
    finally:
        for e in engines:
            await e.dispose()


async def test_migrated_schema_matches_the_models(
    engine: AsyncEngine, definition: ServiceDefinition, migrations: Path
) -> None:
    await upgrade_to_head(engine, migrations)

    async with engine.connect() as conn:
        drift = await conn.run_sync(schema_drift, definition.metadata)
    assert drift == []


async def test_a_model_change_without_a_migration_is_drift(
    engine: AsyncEngine, definition: ServiceDefinition, migrations: Path
) -> None:
    await upgrade_to_head(engine, migrations)
    changed = MetaData()
    for table in definition.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["outbox"].append_column(Column("added_later", String(10)))

    async with engine.connect() as conn:
        drift = await conn.run_sync(schema_drift, changed)
    assert [d[0] for d in drift] == ["add_column"]


def test_postgresql_sql_renders_every_table(
    definition: ServiceDefinition, migrations: Path
) -> None:
    config = migration_config(migrations, "postgresql+asyncpg://sanad:p%40ss@db/sanad")
    config.output_buffer = io.StringIO()

    command.upgrade(config, "head", sql=True)

    sql = config.output_buffer.getvalue()
    for name in definition.metadata.tables:
        assert f"CREATE TABLE {name} (" in sql
    assert "TIMESTAMP WITH TIME ZONE" in sql
    assert "CREATE TABLE alembic_version" in sql
    assert "COMMIT;" in sql


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, definition: ServiceDefinition) -> str:
    """A fresh database of the server for one service."""
    name = f"migrations_{definition.name}"
    postgres_server.create_database(name)
    return postgres_server.url(name)


@pytest.mark.postgres
async def test_postgresql_replicas_migrate_once_to_the_models(
    postgres_url: str, definition: ServiceDefinition, migrations: Path
) -> None:
    engines = [make_engine(postgres_url) for _ in range(3)]
    try:
        # Bounded: without the lock, concurrent DDL can leave the replicas waiting on each other.
        async with asyncio.timeout(60):
            await asyncio.gather(*(upgrade_to_head(e, migrations) for e in engines))
        await upgrade_to_head(engines[0], migrations)
        async with engines[0].connect() as conn:
            tables = await conn.run_sync(_tables)
            drift = await conn.run_sync(schema_drift, definition.metadata)
            current = await conn.run_sync(_current)
    finally:
        for e in engines:
            await e.dispose()
    assert tables == set(definition.metadata.tables) | {"alembic_version"}
    assert drift == []
    assert current == _head(migrations)


def _migrate_in_processes(url: str, count: int) -> list[int]:
    env = {**os.environ, "INTAKE_DATABASE_URL": url}
    command_line = [sys.executable, "-m", "tools.migrate", "intake", "upgrade", "head"]
    processes = [
        subprocess.Popen(command_line, env=env, stderr=subprocess.DEVNULL) for _ in range(count)
    ]
    return [p.wait(timeout=60) for p in processes]


async def _intake_tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_tables)
    finally:
        await engine.dispose()


async def test_replica_processes_on_sqlite_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"
    codes = await asyncio.to_thread(_migrate_in_processes, url, 3)
    assert codes == [0, 0, 0]
    assert "tickets" in await _intake_tables(url)


@pytest.mark.postgres
async def test_replica_processes_on_postgresql_migrate_once(
    postgres_server: PostgresServer,
) -> None:
    postgres_server.create_database("migrations_processes")
    url = postgres_server.url("migrations_processes")
    codes = await asyncio.to_thread(_migrate_in_processes, url, 3)
    assert codes == [0, 0, 0]
    assert "tickets" in await _intake_tables(url)
