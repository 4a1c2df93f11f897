"""JSON-lines logs whose fields pass the same allow-list as span attributes."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from time import perf_counter
from typing import Any, TextIO

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.telemetry import UNTRACED_PATHS, allowed_attributes

# Local debugging only: exception messages and tracebacks can quote personal text.
EXCEPTION_DETAIL_ENV = "SANAD_LOG_EXCEPTION_DETAIL"
QUIET_LOGGERS = ("nats", "sqlalchemy", "aiosqlite", "asyncpg", "httpx", "httpcore")
_CORE_FIELDS = ("time", "level", "service", "logger", "event", "trace_id", "span_id")
_RECORD_ATTRIBUTES = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: core fields, allowed extras, the exception type."""

    def __init__(self, service_name: str, *, exception_detail: bool = False) -> None:
        super().__init__()
        self._service = service_name
        self._exception_detail = exception_detail

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "event": _event_name(record),
            **_trace_fields(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry.update(self._exception_fields(record.exc_info[1]))
        for key, value in allowed_attributes(_extra_fields(record)).items():
            entry.setdefault(key, value)
        return json.dumps(entry, ensure_ascii=False)

    def _exception_fields(self, exc: BaseException) -> dict[str, str]:
        fields = {"exception.type": exception_type(exc)}
        if self._exception_detail:
            fields["exception.message"] = str(exc)
            fields["exception.stacktrace"] = "".join(traceback.format_exception(exc))
        return fields


def _event_name(record: logging.LogRecord) -> str:
    # The template, never the formatted message: %-arguments can carry anything.
    return record.msg if isinstance(record.msg, str) else type(record.msg).__name__


def _trace_fields() -> dict[str, str]:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(ctx.trace_id),
        "span_id": trace.format_span_id(ctx.span_id),
    }


def _extra_fields(record: logging.LogRecord) -> dict[str, object]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRIBUTES and key not in _CORE_FIELDS
    }


def exception_type(exc: BaseException) -> str:
    """`module.QualName` of an exception, as OpenTelemetry writes `exception.type`."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class _SanadHandler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installs, so reconfiguring replaces only it."""


def configure_logging(
    service_name: str,
    level: str | int,
    *,
    stream: TextIO | None = None,
    exception_detail: bool | None = None,
) -> None:
    """Send every log record to `stream` (stderr) as JSON lines; tame third-party loggers."""
    if exception_detail is None:
        exception_detail = os.environ.get(EXCEPTION_DETAIL_ENV) == "1"
    handler = _SanadHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(service_name, exception_detail=exception_detail))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _SanadHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    _tame_third_party()


def _tame_third_party() -> None:
    # uvicorn.access writes the client address and the raw path with its query string;
    # AccessLogMiddleware logs method, route template and status instead.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class AccessLogMiddleware:
    """ASGI middleware logging `http.request` with method, route template, status, duration."""

    def __init__(self, app: ASGIApp, *, logger_name: str = "sanad.access") -> None:
        self.app = app
        self._log = logging.getLogger(logger_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self._log.info(
                "http.request",
                extra={
                    "http.request.method": scope.get("method"),
                    "http.route": _route_template(scope),
                    "http.response.status_code": status,
                    "duration_ms": round((perf_counter() - started) * 1000, 3),
                },
            )


def _route_template(scope: Scope) -> str | None:
    # Starlette sets scope["route"] once routing matched; the raw path is never logged.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None
