"""The public pages: the web form at /, /ar, /fr, /en and the follow-up page. No JavaScript."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from services.intake import domain, follow_up, service
from services.intake.config import IntakeSettings
from services.intake.copy import (
    CONTACT_CHANNELS,
    COPY,
    COUNTRIES,
    COUNTRY_NAMES,
    HELP_CATEGORIES,
    LANGUAGE_NAMES,
    ROLES,
)
from services.intake.deps import ReadSessionDep, RuntimeDep, SessionDep
from services.intake.models import ConsentGiven, Contact, Ticket, TicketCreate
from shared.app import Runtime
from shared.contracts import Category, Channel, ConsentPurpose, RequesterRole

TEMPLATES = Path(__file__).parent / "templates"
_MAX_FIELDS = 80
_FORM_TYPE = "application/x-www-form-urlencoded"
_MULTIPART_TYPE = "multipart/form-data"
_PURPOSES = frozenset(p.value for p in ConsentPurpose)
_FIELD_ERRORS = {
    "text": "error_text",
    "requester_name": "error_name",
    "contact": "error_contact",
}


@dataclass(frozen=True)
class Pages:
    """The templates and the stylesheet, with the one policy that lets only that style in."""

    env: Environment
    css: str
    csp: str

    def render(self, template: str, lang: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            lang=lang,
            t=COPY[lang],
            css=self.css,
            languages=LANGUAGE_NAMES,
            here=context.pop("here", ""),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"content-security-policy": self.csp})


def load_pages() -> Pages:
    """Read the templates and stylesheet (at start, never at import)."""
    css = (TEMPLATES / "style.css").read_text(encoding="utf-8").strip()
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    csp = (
        f"default-src 'none'; style-src 'sha256-{digest}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Pages(env=env, css=css, csp=csp)


def _form_context(lang: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    empty: dict[str, Any] = {
        "what_happened": "",
        "help": [],
        "name": "",
        "role": "",
        "country": "",
        "contact_channel": "",
        "contact_handle": "",
        "safe_times": "",
        "avoid": [],
        "consent": [],
    }
    return {
        "errors": [],
        "values": {**empty, **(values or {})},
        "help_keys": list(HELP_CATEGORIES),
        "roles": ROLES,
        "countries": COUNTRY_NAMES[lang],
        "channels": CONTACT_CHANNELS,
        "purposes": [p.value for p in ConsentPurpose],
        "wording_version": domain.CONSENT_WORDING_CURRENT,
    }


async def _read_form(request: Request) -> dict[str, list[str]] | None:
    """The posted fields, or None if the body is not a UTF-8 urlencoded form."""
    if not request.headers.get("content-type", "").startswith(_FORM_TYPE):
        return None
    try:
        text = (await request.body()).decode("utf-8")
        return parse_qs(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None


def _first(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0].strip()


def _ticket_from(lang: str, fields: dict[str, list[str]]) -> TicketCreate:
    """The form's plain-language fields as the API's ticket (ValidationError if invalid)."""
    help_keys = [k for k in dict.fromkeys(fields.get("help", [])) if k in HELP_CATEGORIES]
    categories: list[Category] = list(
        dict.fromkeys(c for k in help_keys for c in HELP_CATEGORIES[k])
    )
    role, country = _first(fields, "role"), _first(fields, "country")
    handle, channel = _first(fields, "contact_handle"), _first(fields, "contact_channel")
    avoid = [c for c in dict.fromkeys(fields.get("avoid", [])) if c in CONTACT_CHANNELS]
    granted = {p for p in fields.get("consent", []) if p in ConsentPurpose.__members__}
    return TicketCreate.model_validate(
        {
            "text": _first(fields, "what_happened"),
            "channel": Channel.web,
            "language": lang,
            "requester_role": role if role in ROLES else RequesterRole.unknown,
            "country": country if country in COUNTRIES else None,
            "requester_name": _first(fields, "name") or None,
            "contact": (
                Contact.model_validate(
                    {
                        "channel": channel if channel in CONTACT_CHANNELS else "other",
                        "handle": handle,
                        "safe_times": _first(fields, "safe_times") or None,
                        "avoid": avoid,
                    }
                )
                if handle
                else None
            ),
            "requested_help": categories[:10],
            "consent": ConsentGiven(
                wording_version=domain.CONSENT_WORDING_CURRENT,
                granted=[ConsentPurpose(p) for p in sorted(granted)],
            ),
        }
    )


def _errors(exc: ValidationError) -> list[str]:
    keys = [
        "error_safe_times"
        if "safe_times" in map(str, e["loc"])
        else _FIELD_ERRORS.get(str(e["loc"][0]) if e["loc"] else "", "error_form")
        for e in exc.errors()
    ]
    return list(dict.fromkeys(keys))


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _pages(runtime: RuntimeDep) -> Pages:
    pages: Pages = runtime.extras["pages"]
    return pages


def _form_page(lang: str) -> Callable[[RuntimeDep], Awaitable[HTMLResponse]]:
    async def show_form(runtime: RuntimeDep) -> HTMLResponse:
        """The web form."""
        return _pages(runtime).render("form.html", lang, **_form_context(lang))

    return show_form


def _submit(lang: str) -> Callable[[Request, RuntimeDep], Awaitable[HTMLResponse]]:
    async def submit_form(request: Request, runtime: RuntimeDep) -> HTMLResponse:
        """Posting the web form: the same group-committed path as POST /v1/tickets."""
        pages = _pages(runtime)
        fields = await _read_form(request)
        if fields is None:
            context = {**_form_context(lang), "errors": ["error_form"]}
            return pages.render("form.html", lang, 400, **context)
        try:
            data = _ticket_from(lang, fields)
        except ValidationError as exc:
            values = {k: v[0] for k, v in fields.items() if k in ("what_happened", "name")}
            context = {**_form_context(lang, values), "errors": _errors(exc)}
            return pages.render("form.html", lang, 422, **context)
        accepted = await service.submit_ticket(
            data=data,
            keys=runtime.extras["keys"],
            committer=runtime.extras["committer"],
            outbox=runtime.outbox,
            recent=runtime.extras["recent_submissions"],
            sessions=runtime.sessions,
            writer_sessions=runtime.writer_sessions,
            client=_address(request),
        )
        if accepted.follow_up_token is None:
            # Posted again (a double click, a reload): the first page showed the token, and
            # whoever posts the same text again is not shown it a second time.
            return pages.render(
                "accepted.html", lang, 200, reference=accepted.reference, duplicate=True
            )
        query = urlencode({"ref": accepted.reference, "token": accepted.follow_up_token})
        link = f"{_public_base(runtime, request)}/{lang}/follow-up?{query}"
        return pages.render(
            "accepted.html",
            lang,
            201,
            reference=accepted.reference,
            token=accepted.follow_up_token,
            link=link,
            duplicate=False,
        )

    return submit_form


def _public_base(runtime: Runtime, request: Request) -> str:
    """Where people reach the form: the configured address, else the one this request used.

    Behind a proxy the request's own address is an internal one (plain http, a service
    name), and a Host header is the client's to choose: production sets the setting.
    """
    configured = getattr(runtime.settings, "public_base_url", None)
    return str(configured or request.base_url).rstrip("/")


def _follow_up(
    lang: str,
) -> Callable[[Request, RuntimeDep, ReadSessionDep], Awaitable[HTMLResponse]]:
    async def show_case(
        request: Request, runtime: RuntimeDep, session: ReadSessionDep
    ) -> HTMLResponse:
        """The follow-up page: a lookup form, or the case for a reference and its token."""
        pages = _pages(runtime)
        ref = request.query_params.get("ref", "")[:20]
        token = request.query_params.get("token", "")[:100]
        if not ref or not token:
            return pages.render("lookup.html", lang, here="/follow-up", ref=ref, error=None)
        try:
            ticket = await follow_up.find_case(
                session=session,
                guard=runtime.extras["follow_up_guard"],
                reference=ref,
                token=token,
                address=_address(request),
            )
        except follow_up.CaseNotFound:
            return pages.render(
                "lookup.html", lang, 404, here="/follow-up", ref="", error="not_found"
            )
        except follow_up.TooManyAttempts:
            return pages.render(
                "lookup.html", lang, 429, here="/follow-up", ref="", error="too_many"
            )
        case = await follow_up.view_case(
            session=session, keys=runtime.extras["keys"], ticket=ticket
        )
        return _case_page(runtime, lang, case, token)

    return show_case


def _case_page(
    runtime: Runtime,
    lang: str,
    case: follow_up.CaseView,
    token: str,
    status: int = 200,
    *,
    added: bool = False,
    consent_saved: bool = False,
    error: str | None = None,
) -> HTMLResponse:
    settings = runtime.settings
    assert isinstance(settings, IntakeSettings)
    return _pages(runtime).render(
        "case.html",
        lang,
        status,
        case=case,
        token=token,
        added=added,
        consent_saved=consent_saved,
        error=error,
        purposes=[p.value for p in ConsentPurpose],
        wording_version=domain.CONSENT_WORDING_CURRENT,
        evidence_mb=f"{settings.evidence_max_bytes / (1024 * 1024):g}",
    )


@dataclass(frozen=True)
class _Posted:
    fields: dict[str, list[str]]
    evidence: follow_up.Evidence | None = None
    too_big: bool = False


async def _read_post(request: Request, max_file_bytes: int) -> _Posted | None:
    """The follow-up page's fields, urlencoded or multipart (with at most one file)."""
    if not request.headers.get("content-type", "").startswith(_MULTIPART_TYPE):
        fields = await _read_form(request)
        return _Posted(fields) if fields is not None else None
    fields, upload, too_big = {}, None, False
    try:
        async with request.form(max_files=1, max_fields=_MAX_FIELDS) as form:
            for name, value in form.multi_items():
                if isinstance(value, str):
                    fields.setdefault(name, []).append(value)
                elif name == "evidence" and (value.filename or value.size):
                    # One byte past the limit tells a file that is too big, without reading it.
                    content = await value.read(max_file_bytes + 1)
                    too_big = len(content) > max_file_bytes
                    if content and not too_big:
                        upload = follow_up.Evidence(filename=value.filename, content=content)
    except HTTPException:
        # Starlette's answer to a malformed multipart body (or more files than allowed).
        return None
    return _Posted(fields, upload, too_big)


def _add_to_case(
    lang: str,
) -> Callable[[Request, RuntimeDep, SessionDep], Awaitable[HTMLResponse]]:
    async def add_to_case(
        request: Request, runtime: RuntimeDep, session: SessionDep
    ) -> HTMLResponse:
        """More information or a file from the requester (`ticket.message_added`, a reopen),
        or their consent as they now give it (`consent.changed`)."""
        pages = _pages(runtime)
        settings = runtime.settings
        assert isinstance(settings, IntakeSettings)
        posted = await _read_post(request, settings.evidence_max_bytes) or _Posted({})
        fields = posted.fields
        ref, token = _first(fields, "ref")[:20], _first(fields, "token")[:100]
        text = _first(fields, "text")
        try:
            ticket = await follow_up.find_case(
                session=session,
                guard=runtime.extras["follow_up_guard"],
                reference=ref,
                token=token,
                address=_address(request),
                lock=True,
            )
        except follow_up.CaseNotFound:
            return pages.render(
                "lookup.html", lang, 404, here="/follow-up", ref="", error="not_found"
            )
        except follow_up.TooManyAttempts:
            return pages.render(
                "lookup.html", lang, 429, here="/follow-up", ref="", error="too_many"
            )
        keys = runtime.extras["keys"]
        if _first(fields, "action") == "consent":
            return await _save_consent(runtime, session, lang, ticket, token, fields)
        error, status = None, 200
        if posted.too_big:
            error, status = "error_file_too_big", 413
        elif len(text) > 20_000:
            error, status = "error_text", 422
        elif not text and posted.evidence is None:
            error, status = "error_text_or_file", 422
        if error is not None:
            case = await follow_up.view_case(session=session, keys=keys, ticket=ticket)
            return _case_page(runtime, lang, case, token, status, error=error)
        await follow_up.add_information(
            session=session,
            keys=keys,
            outbox=runtime.outbox,
            ticket=ticket,
            text=text,
            evidence=posted.evidence,
        )
        case = await follow_up.view_case(session=session, keys=keys, ticket=ticket)
        return _case_page(runtime, lang, case, token, added=True)

    return add_to_case


async def _save_consent(
    runtime: Runtime,
    session: SessionDep,
    lang: str,
    ticket: Ticket,
    token: str,
    fields: dict[str, list[str]],
) -> HTMLResponse:
    keys = runtime.extras["keys"]
    wording = _first(fields, "wording_version")
    if wording not in domain.CONSENT_WORDINGS:
        case = await follow_up.view_case(session=session, keys=keys, ticket=ticket)
        return _case_page(runtime, lang, case, token, 422, error="error_form")
    await follow_up.change_consent(
        session=session,
        outbox=runtime.outbox,
        ticket=ticket,
        granted={ConsentPurpose(p) for p in fields.get("consent", []) if p in _PURPOSES},
        wording_version=wording,
    )
    await session.flush()
    case = await follow_up.view_case(session=session, keys=keys, ticket=ticket)
    return _case_page(runtime, lang, case, token, consent_saved=True)


def page_router() -> APIRouter:
    """The public pages, one route per language (so that nothing else matches them)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def root(request: Request, runtime: RuntimeDep) -> HTMLResponse:
        """The web form in the language the browser asks for; Arabic by default."""
        lang = domain.pick_language(request.headers.get("accept-language"))
        return _pages(runtime).render("form.html", lang, **_form_context(lang))

    for lang in domain.PAGE_LANGUAGES:
        router.add_api_route(f"/{lang}", _form_page(lang), methods=["GET"])
        router.add_api_route(f"/{lang}", _submit(lang), methods=["POST"])
        router.add_api_route(f"/{lang}/follow-up", _follow_up(lang), methods=["GET"])
        router.add_api_route(f"/{lang}/follow-up", _add_to_case(lang), methods=["POST"])
    return router


# Where the person may attach a file (evidence): the only bodies bigger than the default.
UPLOAD_PAGE_PATHS: frozenset[tuple[str, str]] = frozenset(
    ("POST", f"/{lang}/follow-up") for lang in domain.PAGE_LANGUAGES
)
PUBLIC_PAGE_PATHS: frozenset[tuple[str, str]] = frozenset(
    {(m, f"/{lang}") for lang in domain.PAGE_LANGUAGES for m in ("POST",)}
    | {(m, f"/{lang}/follow-up") for lang in domain.PAGE_LANGUAGES for m in ("GET", "POST")}
)
