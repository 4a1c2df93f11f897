"""Tracing: one allow-list for every attribute, exporters, instrumentation, W3C propagation.

Nothing here touches the global tracer provider: several apps may share one process,
so `setup_tracing` returns a provider and every helper takes it explicitly.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, TypeAlias
from uuid import UUID

from fastapi import FastAPI
from httpx import AsyncClient
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import (
    Link,
    Span,
    SpanKind,
    Status,
    Tracer,
    TraceState,
    format_span_id,
    format_trace_id,
    get_current_span,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import BaseServiceSettings

FieldValue: TypeAlias = str | bool | int | float | tuple[str, ...]

# --- THE allow-list: span attributes, span event attributes and log fields ---------------

# Outside our namespace a key passes only by exact name: `enduser.id`, `url.full`,
# `client.address`, `exception.message` and friends must never get through.
ALLOWED_KEYS: frozenset[str] = frozenset(
    {
        "service.name",
        "http.method",
        "http.request.method",
        "http.route",
        "http.status_code",
        "http.response.status_code",
        "db.system",
        "db.system.name",
        "db.operation",
        "db.operation.name",
        # Parametrised SQL only: SQLAlchemy never inlines bound values here.
        "db.statement",
        "db.query.text",
        "messaging.system",
        "messaging.destination",
        "messaging.destination.name",
        "messaging.operation",
        "messaging.operation.type",
        "messaging.operation.name",
        "messaging.message.id",
        "messaging.consumer.name",
        "messaging.consumer.group.name",
        "messaging.batch.message_count",
        "exception.type",
        "error.type",
    }
)
SANAD_PREFIX = "sanad."
# Our own fields, `sanad.<field>` on spans and bare `<field>` in logs.
SANAD_FIELDS: frozenset[str] = frozenset(
    {
        "category",
        "categories",
        "secondary_categories",
        "priority",
        "flags",
        "language",
        "channel",
        "status",
        "status_code",
        "state",
        "outcome",
        "platform",
        "needs_review",
        "confidence",
        "schema_version",
        "event_type",
        "subject",
        "stream",
        "durable",
        "producer",
        "consumer",
        "service",
        "operation",
        "attempt",
        "count",
        "duration",
    }
)
SANAD_SUFFIXES: tuple[str, ...] = ("_id", ".id", "_ids", "_count", "_ms", "_seconds", "_at")


def allowed_attributes(mapping: Mapping[str, object] | None) -> dict[str, FieldValue]:
    """Only the allowed keys, with values reduced to plain scalars (others dropped)."""
    kept: dict[str, FieldValue] = {}
    for key, value in (mapping or {}).items():
        if not is_allowed_key(key):
            continue
        plain = _plain_value(value)
        if plain is not None:
            kept[key] = plain
    return kept


def is_allowed_key(key: str) -> bool:
    """Exact names outside our namespace; ids, categories, counts and timings inside it."""
    if key in ALLOWED_KEYS:
        return True
    if key.startswith(SANAD_PREFIX):
        local = key.removeprefix(SANAD_PREFIX)
    elif "." not in key:
        local = key
    else:
        return False
    return (
        local == "id" or local.endswith(SANAD_SUFFIXES) or local.rsplit(".", 1)[-1] in SANAD_FIELDS
    )


def _plain_value(value: object) -> FieldValue | None:
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain_scalar(item) for item in value]
        return tuple(str(item) for item in items if item is not None)
    return _plain_scalar(value)


def _plain_scalar(value: object) -> str | bool | int | float | None:
    # Anything else (models, dicts, bytes) is dropped: its repr could hold personal text.
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Enum):
        return _plain_scalar(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return None


# --- exporters ---------------------------------------------------------------


class AllowListSpanExporter(SpanExporter):
    """Wraps an exporter so that it only ever sees allowed attributes."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([filtered_span(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def filtered_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of `span` with only allowed attributes and no status description."""
    return ReadableSpan(
        name=span.name,
        context=span.get_span_context(),
        parent=span.parent,
        resource=span.resource,
        attributes=allowed_attributes(span.attributes),
        events=[Event(e.name, allowed_attributes(e.attributes), e.timestamp) for e in span.events],
        links=[Link(link.context, allowed_attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        # The SDK writes "Type: message" here on exceptions; the message can quote a person.
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per span to a file that several processes may share."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(s), default=str) + "\n" for s in spans)
        try:
            _append(self._path, lines.encode())
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _append(path: Path, data: bytes) -> None:
    # One O_APPEND write per batch: appends from other processes land between
    # whole batches, never inside a line.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The JSON-lines form of a span, as `tools.trace` reads it."""
    ctx = span.get_span_context()
    start, end = span.start_time or 0, span.end_time or 0
    return {
        "trace_id": format_trace_id(ctx.trace_id) if ctx else None,
        "span_id": format_span_id(ctx.span_id) if ctx else None,
        "parent_span_id": format_span_id(span.parent.span_id) if span.parent else None,
        "name": span.name,
        "service": span.resource.attributes.get(SERVICE_NAME),
        "kind": span.kind.name,
        "start": start,
        "end": end,
        "duration_ms": round((end - start) / 1e6, 3),
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": e.name, "time": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in span.events
        ],
    }


# --- the provider ------------------------------------------------------------


_TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "PRAGMA")


class JourneySampler(Sampler):
    """Keeps every span of a journey; drops database calls made outside any request or event.

    The relay and the consumers poll the database all the time; as root spans those
    polls would bury the journeys in noise (and in disk).
    """

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT and name.startswith(_TRANSACTION_CONTROL):
            # BEGIN, SAVEPOINT, RELEASE...: many per event, and they say nothing to ops.
            return SamplingResult(Decision.DROP, attributes, trace_state)
        parent = get_current_span(parent_context).get_span_context()
        if parent.is_valid:
            decision = Decision.RECORD_AND_SAMPLE if parent.trace_flags.sampled else Decision.DROP
        else:
            decision = Decision.DROP if kind is SpanKind.CLIENT else Decision.RECORD_AND_SAMPLE
        return SamplingResult(decision, attributes, trace_state)

    def get_description(self) -> str:
        return "JourneySampler"


class SecretsIdGenerator(RandomIdGenerator):
    """Trace and span ids from the OS's CSPRNG (`secrets`), not the `random` module.

    Ids travel in NATS headers and outbox rows; a predictable generator would let
    one id be guessed from another. It also leaves the global `random` state alone
    for code (and property-based tests) that seed it.
    """

    def generate_span_id(self) -> int:
        span_id = secrets.randbits(64)
        while span_id == trace.INVALID_SPAN_ID:
            span_id = secrets.randbits(64)
        return span_id

    def generate_trace_id(self) -> int:
        trace_id = secrets.randbits(128)
        while trace_id == trace.INVALID_TRACE_ID:
            trace_id = secrets.randbits(128)
        return trace_id


def setup_tracing(
    service_name: str,
    settings: BaseServiceSettings,
    *,
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """A provider for one service; an explicit `exporter` (tests) is exported synchronously."""
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service_name}),
        sampler=JourneySampler(),
        id_generator=SecretsIdGenerator(),
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(AllowListSpanExporter(exporter)))
    else:
        default = _default_exporter(service_name, settings)
        provider.add_span_processor(BatchSpanProcessor(AllowListSpanExporter(default)))
    return provider


def _default_exporter(service_name: str, settings: BaseServiceSettings) -> SpanExporter:
    if settings.otel_exporter_otlp_endpoint:
        base = settings.otel_exporter_otlp_endpoint.removesuffix("/")
        return OTLPSpanExporter(endpoint=f"{base}/v1/traces")
    return JsonLinesSpanExporter(settings.traces_dir / f"{service_name}.jsonl")


def shutdown_tracing(provider: TracerProvider) -> None:
    """Flush pending spans and stop the exporters."""
    provider.force_flush()
    provider.shutdown()


# --- instrumentation ---------------------------------------------------------

UNTRACED_PATHS = ("/healthz", "/readyz", "/metrics")
# Metric attributes would bypass the allow-list, and /metrics is Prometheus' job.
_NO_METRICS = NoOpMeterProvider()


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    """Trace every request but health and metrics probes."""
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        meter_provider=_NO_METRICS,
        excluded_urls=",".join(f"{path}$" for path in UNTRACED_PATHS),
        exclude_spans=["receive", "send"],
    )


def instrument_engine(engine: AsyncEngine, provider: TracerProvider) -> None:
    """Trace the statements of one engine (never globally: each app has its provider)."""
    sync_engine = engine.sync_engine
    if getattr(sync_engine, "_sanad_traced", False):
        return
    # SQLAlchemyInstrumentor is a process-wide singleton that patches create_engine
    # for the first provider only; EngineTracer is what it attaches per engine.
    meter = _NO_METRICS.get_meter(__name__)
    usage = meter.create_up_down_counter("db.client.connections.usage")
    EngineTracer(provider.get_tracer(__name__), sync_engine, usage)  # type: ignore[no-untyped-call]
    sync_engine._sanad_traced = True  # type: ignore[attr-defined]


def instrument_httpx(client: AsyncClient, provider: TracerProvider) -> None:
    """Trace one client's requests and send the trace context with them."""
    HTTPXClientInstrumentor.instrument_client(
        client, tracer_provider=provider, meter_provider=_NO_METRICS
    )


# --- W3C trace context for the outbox and NATS -------------------------------

_W3C = TraceContextTextMapPropagator()


def current_carrier() -> dict[str, str]:
    """The traceparent/tracestate of the current span, to store in an outbox row."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier


def context_from_carrier(carrier: Mapping[str, str] | None) -> Context:
    """The context a carrier (outbox row, NATS headers) was written in; empty if none."""
    lowered = {key.lower(): value for key, value in (carrier or {}).items()}
    return _W3C.extract(lowered, context=Context())


@contextmanager
def publish_span(
    tracer: Tracer,
    subject: str,
    *,
    carrier: Mapping[str, str] | None,
    attributes: Mapping[str, object] | None = None,
) -> Iterator[dict[str, str]]:
    """A PRODUCER span under the stored `carrier` (else the current span); yields headers."""
    parent = context_from_carrier(carrier) if carrier is not None else None
    span_attributes = _messaging_attributes(subject, "publish", "send", attributes)
    with tracer.start_as_current_span(
        f"publish {subject}", context=parent, kind=SpanKind.PRODUCER, attributes=span_attributes
    ):
        yield current_carrier()


@contextmanager
def consume_span(
    tracer: Tracer,
    subject: str,
    headers: Mapping[str, str] | None,
    attributes: Mapping[str, object] | None = None,
) -> Iterator[Span]:
    """A CONSUMER span continuing the trace whose context came in `headers`."""
    span_attributes = _messaging_attributes(subject, "process", "process", attributes)
    with tracer.start_as_current_span(
        f"process {subject}",
        context=context_from_carrier(headers),
        kind=SpanKind.CONSUMER,
        attributes=span_attributes,
    ) as span:
        yield span


def _messaging_attributes(
    subject: str, operation: str, operation_type: str, extra: Mapping[str, object] | None
) -> Attributes:
    return {
        **allowed_attributes(extra),
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.operation.name": operation,
        "messaging.operation.type": operation_type,
    }
