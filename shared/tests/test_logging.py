"""Log lines are JSON with ids and event names, never personal fields or exception text."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_span_id, format_trace_id

from shared.logging import AccessLogMiddleware, configure_logging

CANARY = "Rania-Haddad-canary-7f3e"
log = logging.getLogger("sanad.test")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging("intake", "INFO", stream=out, exception_detail=False)
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_has_time_level_service_and_event(stream: io.StringIO) -> None:
    log.info("outbox.published")

    [line] = lines(stream)
    assert line["event"] == "outbox.published"
    assert line["level"] == "INFO"
    assert line["service"] == "intake"
    assert line["time"].endswith("+00:00")


def test_allowed_ids_are_kept_and_personal_fields_dropped(stream: io.StringIO) -> None:
    ticket_id = uuid.uuid4()

    log.info(
        "ticket.stored",
        extra={
            "ticket_id": ticket_id,
            "priority": "P1",
            "display_name": CANARY,
            "requester.email": CANARY,
        },
    )

    [line] = lines(stream)
    assert line["ticket_id"] == str(ticket_id)
    assert line["priority"] == "P1"
    assert "display_name" not in line
    assert CANARY not in stream.getvalue()


def test_message_arguments_are_never_interpolated(stream: io.StringIO) -> None:
    log.warning("ticket.rejected for %s", CANARY)

    assert lines(stream)[0]["event"] == "ticket.rejected for %s"
    assert CANARY not in stream.getvalue()


def test_an_exception_is_logged_by_type_only(stream: io.StringIO) -> None:
    try:
        raise ValueError(f"could not parse {CANARY}")
    except ValueError:
        log.exception("ticket.failed", extra={"ticket_id": "t-1"})

    [line] = lines(stream)
    assert line["exception.type"] == "ValueError"
    assert line["ticket_id"] == "t-1"
    assert CANARY not in stream.getvalue()
    assert "Traceback" not in stream.getvalue()


def test_exception_detail_is_opt_in_for_local_debugging() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        configure_logging("intake", "INFO", stream=out, exception_detail=True)
        try:
            raise ValueError("local detail")
        except ValueError:
            log.exception("ticket.failed")
    finally:
        root.handlers[:] = handlers

    [line] = lines(out)
    assert line["exception.message"] == "local detail"
    assert "Traceback" in line["exception.stacktrace"]


def test_the_current_trace_is_on_the_line(stream: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("ticket.store") as span:
        log.info("ticket.stored")
    log.info("relay.idle")

    inside, outside = lines(stream)
    ctx = span.get_span_context()
    assert inside["trace_id"] == format_trace_id(ctx.trace_id)
    assert inside["span_id"] == format_span_id(ctx.span_id)
    assert "trace_id" not in outside


def test_reconfiguring_replaces_the_handler(stream: io.StringIO) -> None:
    configure_logging("intake", "INFO", stream=stream)

    log.info("outbox.published")

    assert len(lines(stream)) == 1


def test_uvicorn_access_lines_are_silenced(stream: io.StringIO) -> None:
    access = logging.getLogger("uvicorn.access")
    access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.7", "GET", f"/t?q={CANARY}", "1.1", 200)

    assert stream.getvalue() == ""


def test_chatty_libraries_log_warnings_only(stream: io.StringIO) -> None:
    for name in ("nats", "sqlalchemy", "httpx"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING


async def test_the_access_log_has_method_route_and_status_only(stream: io.StringIO) -> None:
    app = FastAPI()

    @app.get("/tickets/{ticket_id}")
    async def read_ticket(ticket_id: str) -> dict[str, str]:
        return {"id": ticket_id}

    app.add_middleware(AccessLogMiddleware)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        await client.get(f"/tickets/T-1?email={CANARY}", headers={"User-Agent": CANARY})

    [line] = lines(stream)
    assert line["event"] == "http.request"
    assert line["http.request.method"] == "GET"
    assert line["http.route"] == "/tickets/{ticket_id}"
    assert line["http.response.status_code"] == 200
    assert line["duration_ms"] >= 0
    for leak in (CANARY, "203.0.113.7", "T-1"):
        assert leak not in stream.getvalue()
