"""Spans carry ids, categories and timings; nothing personal reaches an exporter."""

from __future__ import annotations

import json
import multiprocessing
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, StatusCode
from sqlalchemy import text

from shared.contracts import Priority
from shared.db import make_engine
from shared.settings import BaseServiceSettings
from shared.telemetry import (
    JsonLinesSpanExporter,
    allowed_attributes,
    consume_span,
    current_carrier,
    instrument_app,
    instrument_engine,
    instrument_httpx,
    publish_span,
    setup_tracing,
    shutdown_tracing,
    span_record,
)

CANARY = "Rania-Haddad-canary-7f3e"
SUBJECT = "sanad.intake.ticket.received"
FORBIDDEN_KEYS = (
    "client.address",
    "net.peer.ip",
    "http.client_ip",
    "user_agent.original",
    "http.user_agent",
    "url.full",
    "url.path",
    "url.query",
    "http.url",
    "http.target",
    "exception.message",
    "exception.stacktrace",
)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BaseServiceSettings:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    return BaseServiceSettings(var_dir=tmp_path)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(
    settings: BaseServiceSettings, exporter: InMemorySpanExporter
) -> Iterator[TracerProvider]:
    provider = setup_tracing("intake", settings, exporter=exporter)
    yield provider
    shutdown_tracing(provider)


def exported_text(exporter: InMemorySpanExporter) -> str:
    """Everything an exporter received, names, attributes and events included."""
    return json.dumps([span_record(s) for s in exporter.get_finished_spans()])


def only_span(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    spans = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(spans) == 1, [s.name for s in exporter.get_finished_spans()]
    return spans[0]


def span_id(span: ReadableSpan) -> int:
    ctx = span.get_span_context()
    assert ctx is not None
    return ctx.span_id


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def trace_id(span: ReadableSpan) -> int:
    ctx = span.get_span_context()
    assert ctx is not None
    return ctx.trace_id


# --- the allow-list ----------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "sanad.ticket_id",
        "sanad.event_id",
        "sanad.event.id",
        "sanad.category",
        "sanad.priority",
        "sanad.flags",
        "sanad.language",
        "sanad.channel",
        "sanad.message_count",
        "sanad.wait_ms",
        "ticket_id",
        "priority",
        "duration_ms",
        "http.route",
        "http.request.method",
        "http.response.status_code",
        "db.system",
        "db.statement",
        "messaging.destination.name",
        "messaging.message.id",
        "messaging.consumer.name",
        "exception.type",
        "service.name",
    ],
)
def test_allowed_keys_are_kept(key: str) -> None:
    assert allowed_attributes({key: "v"}) == {key: "v"}


@pytest.mark.parametrize(
    "key",
    [
        *FORBIDDEN_KEYS,
        "requester.name",
        "sanad.requester.name",
        "name",
        "email",
        "phone",
        "handle",
        "text",
        "sanad.message_text",
        "enduser.id",
        "http.request.header.authorization",
        "server.address",
    ],
)
def test_other_keys_are_dropped(key: str) -> None:
    assert allowed_attributes({key: CANARY}) == {}


def test_values_become_plain_scalars_or_are_dropped() -> None:
    ticket = uuid.uuid4()

    kept = allowed_attributes(
        {
            "ticket_id": ticket,
            "priority": Priority.P1,
            "flags": ["detained", "minor"],
            "event_id": {"name": CANARY},
            "request_id": object(),
        }
    )

    assert kept == {"ticket_id": str(ticket), "priority": "P1", "flags": ("detained", "minor")}


# --- the exporter only ever sees allowed attributes -------------------------


def test_a_personal_attribute_never_reaches_the_exporter(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("link.target") as target:
        pass
    link = Link(target.get_span_context(), {"requester.name": CANARY})
    with tracer.start_as_current_span("ticket.store", links=[link]) as span:
        span.set_attributes({"requester.name": CANARY, "sanad.ticket_id": "t-1"})
        span.add_event("stored", {"requester.contact": CANARY, "sanad.category": "doxxing"})

    stored = only_span(exporter, "ticket.store")
    assert dict(stored.attributes or {}) == {"sanad.ticket_id": "t-1"}
    assert dict(stored.events[0].attributes or {}) == {"sanad.category": "doxxing"}
    assert CANARY not in exported_text(exporter)
    assert dict(stored.links[0].attributes or {}) == {}


def test_a_recorded_exception_keeps_its_type_only(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("test")
    with pytest.raises(ValueError, match=CANARY), tracer.start_as_current_span("ticket.store"):
        raise ValueError(f"cannot parse {CANARY}")

    failed = only_span(exporter, "ticket.store")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description is None
    assert [dict(e.attributes or {}) for e in failed.events] == [{"exception.type": "ValueError"}]
    assert CANARY not in exported_text(exporter)


# --- instrumentation ---------------------------------------------------------


def ticket_app(provider: TracerProvider) -> FastAPI:
    app = FastAPI()

    @app.get("/tickets/{ticket_id}")
    async def read_ticket(ticket_id: str) -> dict[str, str]:
        return {"id": ticket_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    instrument_app(app, provider)
    return app


async def get(app: FastAPI, url: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        return await client.get(url, headers=headers)


async def test_a_request_span_has_route_and_status_but_no_client_or_url(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    app = ticket_app(provider)

    response = await get(app, f"/tickets/T-1?email={CANARY}", **{"User-Agent": CANARY})

    assert response.status_code == 200
    span = only_span(exporter, "GET /tickets/{ticket_id}")
    attributes = dict(span.attributes or {})
    assert span.kind is SpanKind.SERVER
    assert attributes["http.route"] == "/tickets/{ticket_id}"
    assert 200 in (attributes.get("http.status_code"), attributes.get("http.response.status_code"))
    assert not set(FORBIDDEN_KEYS) & attributes.keys()
    text_seen = exported_text(exporter)
    for leak in (CANARY, "203.0.113.7", "T-1", "email="):
        assert leak not in text_seen


async def test_probes_are_not_traced(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    await get(ticket_app(provider), "/healthz")

    assert exporter.get_finished_spans() == ()


async def test_two_apps_in_one_process_keep_their_own_providers(
    settings: BaseServiceSettings,
) -> None:
    intake_spans, triage_spans = InMemorySpanExporter(), InMemorySpanExporter()
    intake = setup_tracing("intake", settings, exporter=intake_spans)
    triage = setup_tracing("triage", settings, exporter=triage_spans)

    await get(ticket_app(intake), "/tickets/1")
    await get(ticket_app(triage), "/tickets/2")
    await get(ticket_app(triage), "/tickets/3")

    assert len(intake_spans.get_finished_spans()) == 1
    assert len(triage_spans.get_finished_spans()) == 2
    service = triage_spans.get_finished_spans()[0].resource.attributes["service.name"]
    assert service == "triage"
    shutdown_tracing(intake)
    shutdown_tracing(triage)


async def test_database_statements_are_traced_without_their_values(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    engine = make_engine("sqlite+aiosqlite:///:memory:")
    instrument_engine(engine, provider)
    instrument_engine(engine, provider)
    try:
        with provider.get_tracer("test").start_as_current_span("ticket.load") as parent:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT :name AS name"), {"name": CANARY})
    finally:
        await engine.dispose()

    [db_span] = [s for s in exporter.get_finished_spans() if "AS name" in str(s.attributes or {})]
    attributes = dict(db_span.attributes or {})
    assert db_span.kind is SpanKind.CLIENT
    assert attributes["db.system"] == "sqlite"
    assert attributes["db.statement"] == "SELECT ? AS name"
    assert parent_id(db_span) == parent.get_span_context().span_id
    assert CANARY not in exported_text(exporter)


async def test_outgoing_requests_are_traced_and_carry_the_trace_context(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    sent: list[httpx.Request] = []

    def partner(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(202)

    tracer = provider.get_tracer("test")
    async with httpx.AsyncClient(transport=httpx.MockTransport(partner)) as client:
        instrument_httpx(client, provider)
        with tracer.start_as_current_span("referral.send"):
            await client.post(f"https://partner.example/referrals?contact={CANARY}")

    [span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert "traceparent" in sent[0].headers
    assert format(trace_id(span), "032x") in sent[0].headers["traceparent"]
    assert CANARY not in exported_text(exporter)
    assert "partner.example" not in exported_text(exporter)


def test_client_calls_outside_any_journey_are_not_recorded(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("poll", kind=SpanKind.CLIENT):
        pass
    with (
        tracer.start_as_current_span("journey", kind=SpanKind.SERVER),
        tracer.start_as_current_span("query", kind=SpanKind.CLIENT),
    ):
        pass

    assert sorted(s.name for s in exporter.get_finished_spans()) == ["journey", "query"]


# --- the JSON-lines file -----------------------------------------------------


def test_spans_are_appended_as_json_lines_under_the_traces_dir(
    settings: BaseServiceSettings,
) -> None:
    for service in ("intake", "intake"):
        provider = setup_tracing(service, settings)
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("ticket.store") as parent:
            parent.set_attributes({"sanad.ticket_id": "t-1", "requester.name": CANARY})
            with tracer.start_as_current_span("outbox.write"):
                pass
        shutdown_tracing(provider)

    path = settings.traces_dir / "intake.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["name"] for r in records] == ["outbox.write", "ticket.store"] * 2
    child, parent_record = records[0], records[1]
    assert child["parent_span_id"] == parent_record["span_id"]
    assert child["trace_id"] == parent_record["trace_id"]
    assert parent_record["service"] == "intake"
    assert parent_record["kind"] == "INTERNAL"
    assert parent_record["attributes"] == {"sanad.ticket_id": "t-1"}
    assert parent_record["end"] >= parent_record["start"]
    assert parent_record["duration_ms"] >= 0
    assert CANARY not in path.read_text()


def write_spans(path: Path, service: str, count: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    tracer = provider.get_tracer(service)
    for n in range(count):
        # Lines longer than PIPE_BUF, where interleaving would show first.
        with tracer.start_as_current_span("x" * 8192, attributes={"sanad.ticket_id": n}):
            pass
    provider.shutdown()


def test_several_processes_append_whole_lines_to_one_file(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "shared.jsonl"
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=spawn) as pool:
        done = [pool.submit(write_spans, path, f"svc{n}", 100) for n in range(3)]
        for future in done:
            future.result()

    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 300
    assert {r["attributes"]["sanad.ticket_id"] for r in records} == set(range(100))


# --- W3C propagation through the outbox and NATS -----------------------------


def test_a_consumer_continues_the_trace_stored_in_the_outbox(
    provider: TracerProvider, exporter: InMemorySpanExporter, settings: BaseServiceSettings
) -> None:
    triage_spans = InMemorySpanExporter()
    triage = setup_tracing("triage", settings, exporter=triage_spans)
    intake_tracer = provider.get_tracer("intake")
    with intake_tracer.start_as_current_span("POST /tickets"):
        outbox_carrier = current_carrier()

    with publish_span(
        intake_tracer, SUBJECT, carrier=outbox_carrier, attributes={"sanad.event_id": "e-1"}
    ) as headers:
        pass
    with consume_span(
        triage.get_tracer("triage"), SUBJECT, headers, {"sanad.ticket_id": "t-1", "name": CANARY}
    ) as consumed:
        consumed.set_attribute("sanad.category", "doxxing")

    request = only_span(exporter, "POST /tickets")
    published = only_span(exporter, f"publish {SUBJECT}")
    [consumer] = triage_spans.get_finished_spans()
    assert published.kind is SpanKind.PRODUCER
    assert consumer.kind is SpanKind.CONSUMER
    assert trace_id(request) == trace_id(published) == trace_id(consumer)
    assert parent_id(published) == span_id(request)
    assert parent_id(consumer) == span_id(published)
    assert dict(consumer.attributes or {}) == {
        "sanad.ticket_id": "t-1",
        "sanad.category": "doxxing",
        "messaging.system": "nats",
        "messaging.destination.name": SUBJECT,
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
    }
    assert (published.attributes or {})["sanad.event_id"] == "e-1"
    shutdown_tracing(triage)


def test_publish_without_a_stored_carrier_is_a_child_of_the_current_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("intake")
    with tracer.start_as_current_span("relay.tick"), publish_span(tracer, SUBJECT, carrier=None):
        pass

    published = only_span(exporter, f"publish {SUBJECT}")
    assert parent_id(published) == span_id(only_span(exporter, "relay.tick"))


def test_a_message_without_headers_starts_a_new_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("triage")
    with (
        tracer.start_as_current_span("consumer.loop"),
        consume_span(tracer, SUBJECT, None),
    ):
        pass

    consumer = only_span(exporter, f"process {SUBJECT}")
    assert consumer.parent is None
    assert trace_id(consumer) != trace_id(only_span(exporter, "consumer.loop"))


def test_there_is_no_carrier_outside_a_span() -> None:
    assert current_carrier() == {}
