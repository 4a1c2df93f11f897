"""What every service app has: runtime wiring, health, readiness, metrics and problem details."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal, Scope, TokenStore, require
from shared.db import (
    SessionMaker,
    create_tables,
    is_sqlite,
    make_engine,
    make_sessionmaker,
    ping,
)
from shared.errors import install_problem_handlers
from shared.hardening import HardeningMiddleware, Limits
from shared.logging import configure_logging
from shared.messaging.bus import ServiceBus
from shared.messaging.consumer import ConsumerSpec
from shared.messaging.outbox import wake_info
from shared.messaging.tables import inbox_table, outbox_table
from shared.metrics import CountersCollector, HttpMetrics, MetricsMiddleware
from shared.migrations import upgrade_to_head
from shared.settings import BaseServiceSettings
from shared.telemetry import instrument_app, instrument_engine, setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass
class Runtime:
    """Everything a running service holds; reached through `request.app.state.runtime`."""

    settings: BaseServiceSettings
    service: str
    engine: AsyncEngine
    writer_engine: AsyncEngine
    sessions: SessionMaker
    writer_sessions: SessionMaker
    tracer_provider: TracerProvider
    tracer: Tracer
    outbox: Table
    inbox: Table
    bus: ServiceBus
    token_store: TokenStore
    registry: CollectorRegistry
    extras: dict[str, Any] = field(default_factory=dict)
    # Awaited in reverse order at shutdown, before the bus stops.
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def counters(self) -> Iterable[tuple[str, str, dict[str, str], float]]:
        if self.bus.relay is not None:
            yield (
                "sanad_outbox_published",
                "Events published from the outbox",
                {},
                float(self.bus.relay.published),
            )
        for consumer in self.bus.consumers:
            yield (
                "sanad_events_applied",
                "Events applied by a consumer",
                {"consumer": consumer.spec.durable},
                float(consumer.applied),
            )


@dataclass(frozen=True)
class ServiceDefinition:
    """What makes one service different from another."""

    name: str
    title: str
    metadata: MetaData
    routers: Sequence[APIRouter]
    consumers: Callable[[Runtime], Sequence[ConsumerSpec]] = lambda _rt: ()
    on_start: Callable[[Runtime], Any] | None = None
    version: str = "0.1.0"
    description: str = ""
    # The service's Alembic scripts; None creates the tables from the metadata instead.
    migrations: Path | None = None
    # (method, path) reachable without a token: rate-limited per client address.
    public_paths: frozenset[tuple[str, str]] = frozenset()
    # (method, path) that take a file: bodies up to settings.max_upload_bytes, not
    # max_body_bytes, so one upload form does not widen every route's limit.
    upload_paths: frozenset[tuple[str, str]] = frozenset()


def service_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The outbox and inbox of a service, on its own metadata (idempotent)."""
    outbox = metadata.tables.get("outbox")
    inbox = metadata.tables.get("processed_events")
    return (
        outbox if outbox is not None else outbox_table(metadata),
        inbox if inbox is not None else inbox_table(metadata),
    )


def create_service_app(definition: ServiceDefinition, settings: BaseServiceSettings) -> FastAPI:
    """Build the FastAPI app of a service; nothing connects until its lifespan starts."""
    configure_logging(definition.name, settings.log_level)
    provider = setup_tracing(definition.name, settings)
    registry = CollectorRegistry(auto_describe=True)
    metrics = HttpMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await _start_runtime(definition, settings, provider, registry)
        app.state.runtime = runtime
        app.state.token_store = runtime.token_store
        try:
            yield
        finally:
            await _stop_runtime(runtime)

    app = FastAPI(
        title=definition.title,
        version=definition.version,
        description=definition.description,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(_ops_router())
    for router in definition.routers:
        app.include_router(router)
    app.add_middleware(HardeningMiddleware, limits=_limits(definition, settings))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    instrument_app(app, provider)
    return app


def _limits(definition: ServiceDefinition, settings: BaseServiceSettings) -> Limits:
    return Limits(
        max_body_bytes=settings.max_body_bytes,
        public_per_minute=settings.rate_limit_public_per_minute,
        public_burst=settings.rate_limit_public_burst,
        token_per_minute=settings.rate_limit_token_per_minute,
        token_burst=settings.rate_limit_token_burst,
        public_paths=definition.public_paths,
        upload_paths=definition.upload_paths,
        max_upload_bytes=settings.max_upload_bytes,
    )


async def _start_runtime(
    definition: ServiceDefinition,
    settings: BaseServiceSettings,
    provider: TracerProvider,
    registry: CollectorRegistry,
) -> Runtime:
    engine = make_engine(settings.database_url)
    writer_engine = (
        make_engine(settings.database_url, writer=True)
        if is_sqlite(settings.database_url)
        else engine
    )
    for each in {engine, writer_engine}:
        instrument_engine(each, provider)
    outbox, inbox = service_tables(definition.metadata)
    if definition.migrations is not None:
        await upgrade_to_head(engine, definition.migrations)
    else:
        await create_tables(engine, definition.metadata)
    bus_ref: list[ServiceBus] = []
    info = wake_info(lambda: bus_ref[0].wake_relay())
    sessions = make_sessionmaker(engine, info=info)
    writer_sessions = make_sessionmaker(writer_engine, info=info)
    tracer = provider.get_tracer(f"sanad.{definition.name}")
    token_store = TokenStore.from_url(settings.auth_database_url)
    await token_store.start()
    runtime = Runtime(
        settings=settings,
        service=definition.name,
        engine=engine,
        writer_engine=writer_engine,
        sessions=sessions,
        writer_sessions=writer_sessions,
        tracer_provider=provider,
        tracer=tracer,
        outbox=outbox,
        inbox=inbox,
        bus=ServiceBus(
            settings=settings,
            service=definition.name,
            sessions=sessions,
            writer_sessions=writer_sessions,
            outbox=outbox,
            inbox=inbox,
            tracer=tracer,
        ),
        token_store=token_store,
        registry=registry,
    )
    bus_ref.append(runtime.bus)
    registry.register(CountersCollector(runtime.counters))
    if definition.on_start is not None:
        result = definition.on_start(runtime)
        if asyncio.iscoroutine(result):
            await result
    runtime.bus.set_consumers(definition.consumers(runtime))
    if settings.bus_enabled:
        await runtime.bus.start()
    log.info("service.started", extra={"port": settings.port})
    return runtime


async def _stop_runtime(runtime: Runtime) -> None:
    for stop in reversed(runtime.on_stop):
        await stop()
    await runtime.bus.stop()
    await runtime.token_store.close()
    for engine in {runtime.engine, runtime.writer_engine}:
        await engine.dispose()
    shutdown_tracing(runtime.tracer_provider)
    log.info("service.stopped")


OpsDep = Annotated[Principal, Depends(require(Scope.ops, Scope.service))]


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The database and NATS are reachable")
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime = request.app.state.runtime
        checks = {"database": "ok", "nats": "ok"}
        try:
            await asyncio.wait_for(ping(runtime.engine), timeout=2.0)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["database"] = type(exc).__name__
        if runtime.settings.bus_enabled and not runtime.bus.is_connected():
            checks["nats"] = "disconnected"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics (ops)")
    async def metrics(request: Request, _: OpsDep) -> Response:
        runtime: Runtime = request.app.state.runtime
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    return router
