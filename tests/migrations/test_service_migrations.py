"""Every service's schema history builds exactly its models, once, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import importlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, String, event, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.app import ServiceDefinition, service_tables
from shared.db import make_engine
from shared.migrations import migration_config, schema_drift, upgrade_to_head

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
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _head(migrations: Path) -> str | None:
    return ScriptDirectory.from_config(migration_config(migrations, "sqlite://")).get_current_head()


def test_each_service_has_one_head(migrations: Path) -> None:
    scripts = ScriptDirectory.from_config(migration_config(migrations, "sqlite://"))
    assert len(scripts.get_heads()) == 1


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

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    await upgrade_to_head(engine, migrations)
    event.remove(engine.sync_engine, "before_cursor_execute", record)

    assert statements
    assert not set(statements) & {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"}


async def test_replicas_starting_together_migrate_once(
    tmp_path: Path, migrations: Path, definition: ServiceDefinition
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    engines = [make_engine(url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade_to_head(e, migrations) for e in engines))
        async with engines[0].connect() as conn:
            tables = await conn.run_sync(_tables)
    finally:
        for e in engines:
            await e.dispose()
    assert tables == set(definition.metadata.tables) | {"alembic_version"}


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
async def postgres_url(postgres_server: str, definition: ServiceDefinition) -> str:
    """A fresh database of the cluster for one service."""
    admin = make_engine(f"{postgres_server}/postgres").execution_options(
        isolation_level="AUTOCOMMIT"
    )
    name = f"sanad_{definition.name}"
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return f"{postgres_server}/{name}"


@pytest.mark.postgres
async def test_postgresql_replicas_migrate_once_to_the_models(
    postgres_url: str, definition: ServiceDefinition, migrations: Path
) -> None:
    engines = [make_engine(postgres_url) for _ in range(3)]
    try:
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
