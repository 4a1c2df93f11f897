"""Each service's schema history (Alembic): applied at start, written from `tools.migrate`.

A service's `migrations/env.py` calls `run_env(metadata)`; the app calls `upgrade_to_head`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import metadata as auth_metadata
from shared.db import make_engine

# Any fixed 64-bit key: PostgreSQL scopes advisory locks to the database, which one service owns.
MIGRATION_LOCK_KEY = 0x53414E4144  # "SANAD"

# Alembic's `context` and `op` are module-level proxies: one migration at a time per process.
_in_process: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def migration_config(script_location: Path, url: str) -> Config:
    """An Alembic config built in code: no alembic.ini at run time."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # ConfigParser interpolates "%": URL-encoded passwords must be escaped.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_to_head(engine: AsyncEngine, script_location: Path) -> None:
    """Apply every pending migration; a no-op at head, serialised between replicas."""
    url = engine.url.render_as_string(hide_password=False)
    config = migration_config(script_location, url)
    async with _process_lock(), locked_connection(engine) as conn:
        await conn.run_sync(_upgrade, config)


def _process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _in_process.get(loop)
    if lock is None:
        lock = _in_process[loop] = asyncio.Lock()
    return lock


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@asynccontextmanager
async def locked_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction that holds the migration lock until it commits or rolls back."""
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        # BEGIN IMMEDIATE: the second replica waits (busy_timeout) for the first to commit.
        writer = make_engine(engine.url.render_as_string(hide_password=False), writer=True)
        try:
            async with writer.begin() as conn:
                yield conn
        finally:
            await writer.dispose()
        return
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        yield conn


def schema_drift(connection: Connection, metadata: MetaData) -> list[Any]:
    """What autogenerate would change to make the database match `metadata`; [] when none."""
    options = {"compare_type": True, "include_name": _include_name}
    diffs: list[Any] = compare_metadata(
        MigrationContext.configure(connection, opts=options), metadata
    )
    return diffs


def run_env(metadata: MetaData) -> None:
    """The body of every service's env.py: a passed connection, offline SQL, or the URL."""
    config = context.config
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run_online(connection, metadata)
    elif context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **_options(metadata),
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_run_from_url(config.get_main_option("sqlalchemy.url") or "", metadata))


async def _run_from_url(url: str, metadata: MetaData) -> None:
    engine = make_engine(url)
    try:
        async with locked_connection(engine) as conn:
            await conn.run_sync(_run_online, metadata)
    finally:
        await engine.dispose()


def _run_online(connection: Connection, metadata: MetaData) -> None:
    context.configure(connection=connection, **_options(metadata))
    with context.begin_transaction():
        context.run_migrations()


def _options(metadata: MetaData) -> dict[str, Any]:
    return {
        "target_metadata": metadata,
        # Batch operations also run on PostgreSQL, so one script serves both databases.
        "render_as_batch": True,
        "compare_type": True,
        "include_name": _include_name,
        "render_item": _render_item,
    }


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # A database shared with the auth store must not grow a migration dropping its table.
    return not (type_ == "table" and name in auth_metadata.tables)


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Project types render through their importable module, not a bare class name.
    module = type(obj).__module__
    if type_ == "type" and module == "shared.db":
        autogen_context.imports.add("import shared.db")
        return f"shared.db.{type(obj).__name__}()"
    return False
