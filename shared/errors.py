"""Errors that carry their HTTP status, rendered in one place as RFC 9457 problem details."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://sanad.example/problems/"


class AppError(Exception):
    """An expected failure: its status, a stable problem slug and a message safe to show."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "unavailable", "Service unavailable"


def problem(
    status: int, *, title: str, detail: str, slug: str, instance: str | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        slug=exc.slug,
        instance=request.url.path,
        **exc.extra,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Location and message only: never echo the submitted value, it may be personal.
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]
    return problem(
        422,
        title="Invalid request",
        detail="The request body or parameters are not valid.",
        slug="validation",
        instance=request.url.path,
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    try:
        title = HTTPStatus(exc.status_code).phrase
    except ValueError:
        title = "Error"
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem(
        exc.status_code,
        title=title,
        detail=detail,
        slug=title.lower().replace(" ", "-"),
        instance=request.url.path,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The exception text may quote personal data: log the type only (done by middleware).
    return problem(
        500,
        title="Internal error",
        detail="An unexpected error occurred.",
        slug="internal",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error of `app` as application/problem+json."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
