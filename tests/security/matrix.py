"""The access matrix, read from the routes of the four apps: who may call what.

`python -m tests.security.matrix` prints the table that docs/security.md holds
between its access-matrix markers (the test fails when the two differ).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Route

from shared.auth import Scope, route_scopes
from shared.settings import BaseServiceSettings

SERVICES = ("intake", "triage", "escalation", "reporting")
# Reachable without a token, on purpose. Anything else without a scope rule fails the test.
PUBLIC = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
        ("POST", "/v1/tickets"),
        # intake's web form and follow-up page (the follow-up token is checked in the app).
        ("GET", "/"),
        *((m, f"/{lang}") for lang in ("ar", "fr", "en") for m in ("GET", "POST")),
        *((m, f"/{lang}/follow-up") for lang in ("ar", "fr", "en") for m in ("GET", "POST")),
        # intake's channel webhooks: no Sanad token, but the platform's signature
        # (X-Hub-Signature-256, the verify token) or the Signal bridge's shared secret,
        # compared in constant time in the app; 404 while the channel's secrets are unset.
        ("GET", "/v1/channels/whatsapp/webhook"),
        ("POST", "/v1/channels/whatsapp/webhook"),
        ("POST", "/v1/channels/signal/webhook"),
    }
)
DOC = Path(__file__).parents[2] / "docs" / "security.md"
START, END = "<!-- access-matrix:start -->", "<!-- access-matrix:end -->"


@dataclass(frozen=True, order=True)
class Endpoint:
    service: str
    method: str
    path: str
    # None: public; otherwise the scopes allowed besides admin.
    scopes: frozenset[Scope] | None

    @property
    def public(self) -> bool:
        return (self.method, self.path) in PUBLIC


def settings_for(service: str, var_dir: Path) -> BaseServiceSettings:
    """Settings of `service` with everything under `var_dir` and no bus."""
    module = importlib.import_module(f"services.{service}.config")
    cls = next(
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, BaseServiceSettings)
        and v is not BaseServiceSettings
    )
    db = var_dir / "db"
    settings: BaseServiceSettings = cls(
        var_dir=var_dir,
        database_url=f"sqlite+aiosqlite:///{db / service}.db",
        auth_database_url=f"sqlite+aiosqlite:///{db / 'auth.db'}",
        bus_enabled=False,
    )
    return settings


def create(service: str, var_dir: Path) -> FastAPI:
    """The app of `service`, not started."""
    main = importlib.import_module(f"services.{service}.main")
    app: FastAPI = main.create_app(settings_for(service, var_dir))
    return app


def endpoints(service: str, app: FastAPI) -> list[Endpoint]:
    """Every method and path of `app` with the scopes its dependencies require."""
    found = []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if isinstance(original, APIRoute):
            scopes = route_scopes(route.dependant)
        elif isinstance(original, Route):
            scopes = None
        else:
            raise TypeError(f"{service}: a route of unknown kind: {original!r}")
        path = route.path
        assert path is not None
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append(Endpoint(service, method, path, _visible(scopes)))
    return sorted(found, key=lambda e: (SERVICES.index(e.service), e.path, e.method))


def _visible(scopes: frozenset[Scope] | None) -> frozenset[Scope] | None:
    return None if scopes is None else scopes - {Scope.admin}


def render(rows: list[Endpoint]) -> str:
    """The markdown table of `rows`."""
    lines = ["| service | method | path | scopes (admin always) |", "|---|---|---|---|"]
    for row in rows:
        if row.scopes is None:
            who = "public" if row.public else "**NO RULE**"
        else:
            who = ", ".join(s.value for s in Scope if s in row.scopes) or "admin only"
        lines.append(f"| {row.service} | {row.method} | `{row.path}` | {who} |")
    return "\n".join(lines) + "\n"


def documented() -> str:
    """The table as docs/security.md has it."""
    text = DOC.read_text(encoding="utf-8")
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def all_endpoints(var_dir: Path) -> list[Endpoint]:
    return [e for s in SERVICES for e in endpoints(s, create(s, var_dir / s))]


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(render(all_endpoints(Path(tmp))), end="")  # noqa: T201
