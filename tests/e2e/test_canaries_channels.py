"""Canaries planted in every personal field through every channel, then the whole journey
(triage, escalation, reporting): readable through the handler APIs, and nowhere else in clear
(files under var/, events on every stream, /metrics, reporting's answers)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
from nats.js.errors import NotFoundError

from shared.auth import Scope
from shared.testing.stack import Stack, start_stack
from tests.e2e.conftest import eventually, read_tree, summary, triage_of

APP_SECRET = secrets.token_hex(16)
SIGNAL_TOKEN = secrets.token_hex(16)
WA_PATH = "/v1/channels/whatsapp/webhook"
SIGNAL_PATH = "/v1/channels/signal/webhook"
HACKED = "Someone hacked my Facebook account and changed my password."
CONSENT = {"wording_version": "consent-2026-01", "granted": ["share_with_platforms"]}
DIMENSIONS = (
    "category",
    "priority",
    "channel",
    "language",
    "requester_role",
    "country",
    "flag",
    "platform",
    "outcome",
    "sla_breached",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Its own system, with both channel webhooks on and the per-address/token limits lifted
    (every request comes from 127.0.0.1 with one token per scope)."""
    extra = {
        "INTAKE_WHATSAPP_APP_SECRET": APP_SECRET,
        "INTAKE_WHATSAPP_VERIFY_TOKEN": secrets.token_hex(8),
        "INTAKE_SIGNAL_WEBHOOK_TOKEN": SIGNAL_TOKEN,
        "INTAKE_FOLLOW_UP_PER_ADDRESS_PER_MINUTE": "1000",
        **{
            f"{name}_RATE_LIMIT_{kind}_PER_MINUTE": "0"
            for name in ("INTAKE", "TRIAGE", "ESCALATION", "REPORTING")
            for kind in ("PUBLIC", "TOKEN")
        },
    }
    running = start_stack(tmp_path_factory.mktemp("var"), extra_env=extra)
    try:
        yield running
    finally:
        running.stop()


def _digits() -> str:
    return str(secrets.randbelow(10**11) + 10**11)


def _canaries() -> dict[str, str]:
    """One unique value per personal field and channel; numbers are digits only."""
    tag = uuid.uuid4().hex[:10]
    return {
        "api_name": f"CanaryApiName{tag}",
        "api_handle": f"canary.api.{tag}@example.org",
        "api_safe_times": f"CanarySafeTimes{tag}",
        "api_text": f"CanaryApiText{tag}",
        "form_name": f"CanaryFormName{tag}",
        "form_handle": f"canary.form.{tag}@example.org",
        "form_safe_times": f"CanaryFormTimes{tag}",
        "form_text": f"CanaryFormText{tag}",
        "wa_name": f"CanaryWaName{tag}",
        "wa_number": _digits(),
        "wa_text": f"CanaryWaText{tag}",
        "signal_name": f"CanarySignalName{tag}",
        "signal_number": _digits(),
        "signal_text": f"CanarySignalText{tag}",
        "reply": f"CanaryReply{tag}",
        "note": f"CanaryNote{tag}",
        "follow_up": f"CanaryFollowUp{tag}",
        "url": f"https://www.facebook.com/canaryurl{tag}",
        "account": f"canary.account.{tag}",
        "evidence": f"CanaryEvidence{tag}",
    }


def _post(stack: Stack, path: str, expect: int, **kwargs: Any) -> httpx.Response:
    response = httpx.post(f"{stack.url('intake')}{path}", timeout=10, **kwargs)
    assert response.status_code == expect, response.text
    return response


def _submit_everywhere(stack: Stack, c: dict[str, str]) -> dict[str, Any]:
    """Plant each canary through its channel; returns the API ticket as accepted."""
    api = _post(
        stack,
        "/v1/tickets",
        202,
        json={
            "text": f"{HACKED} {c['api_text']}",
            "channel": "api",
            "requester_role": "journalist",
            "requester_name": c["api_name"],
            "contact": {
                "channel": "email",
                "handle": c["api_handle"],
                "safe_times": c["api_safe_times"],
            },
            "consent": CONSENT,
        },
    ).json()
    form = {
        "what_happened": f"{HACKED} {c['form_text']}",
        "name": c["form_name"],
        "role": "activist",
        "contact_channel": "email",
        "contact_handle": c["form_handle"],
        "safe_times": c["form_safe_times"],
        "consent": "anonymous_statistics",
    }
    _post(stack, "/en", 201, data=form)
    wa = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550001111",
                                    "phone_number_id": "1234",
                                },
                                "contacts": [
                                    {"profile": {"name": c["wa_name"]}, "wa_id": c["wa_number"]}
                                ],
                                "messages": [
                                    {
                                        "from": c["wa_number"],
                                        "id": f"wamid.{uuid.uuid4().hex}",
                                        "timestamp": "1700000000",
                                        "type": "text",
                                        "text": {"body": f"{HACKED} {c['wa_text']}"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()
    digest = hmac.new(APP_SECRET.encode(), wa, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}
    assert _post(stack, WA_PATH, 200, content=wa, headers=headers).json()["stored"] == 1
    number = f"+{c['signal_number']}"
    envelope = {
        "source": number,
        "sourceNumber": number,
        "sourceUuid": str(uuid.uuid4()),
        "sourceName": c["signal_name"],
        "sourceDevice": 1,
        "timestamp": 1700000000000,
        "dataMessage": {"timestamp": 1700000000000, "message": f"{HACKED} {c['signal_text']}"},
    }
    rpc = {"jsonrpc": "2.0", "method": "receive", "params": {"envelope": envelope}}
    signal = _post(
        stack,
        SIGNAL_PATH,
        200,
        content=json.dumps(rpc).encode(),
        headers={"Authorization": f"Bearer {SIGNAL_TOKEN}", "Content-Type": "application/json"},
    )
    assert signal.json()["stored"] == 1
    follow = {"ref": api["reference"], "token": api["follow_up_token"], "text": c["follow_up"]}
    _post(stack, "/en/follow-up", 200, data=follow)
    for text, internal in ((c["reply"], False), (c["note"], True)):
        _post(
            stack,
            f"/v1/tickets/{api['id']}/messages",
            201,
            json={"text": text, "internal": internal},
            headers=stack.auth(Scope.handler),
        )
    result: dict[str, Any] = api
    return result


def _escalate(stack: Stack, ticket_id: str, c: dict[str, str]) -> dict[str, Any]:
    eventually(lambda: triage_of(stack, ticket_id))
    base = f"{stack.url('escalation')}/v1/escalations"

    def opened() -> httpx.Response | None:
        # Escalation learns of the triage from the bus: retry until it has.
        response = httpx.post(
            base,
            json={
                "ticket_id": ticket_id,
                "platform": "meta",
                "action": "take_down",
                "violation_type": "hacked account",
                "content": {
                    "content_urls": [c["url"]],
                    "account_handle": c["account"],
                    "evidence_refs": [c["evidence"]],
                },
            },
            headers=stack.auth(Scope.handler),
            timeout=10,
        )
        return response if response.status_code == 201 else None

    created: dict[str, Any] = eventually(opened).json()
    return created


def _tickets(stack: Stack) -> list[dict[str, Any]]:
    """Every ticket, read in full by a handler."""
    url, headers = f"{stack.url('intake')}/v1/tickets", stack.auth(Scope.handler)
    page = httpx.get(url, params={"limit": 100}, headers=headers, timeout=10)
    assert page.status_code == 200, page.text
    return [
        httpx.get(f"{url}/{t['id']}", headers=headers, timeout=10).json()
        for t in page.json()["items"]
    ]


async def _every_event(url: str) -> list[bytes]:
    """Every message still held on every stream, with its subject and headers."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    found: list[bytes] = []
    try:
        for info in await js.streams_info():
            for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(info.config.name or "", seq)
                except NotFoundError:
                    continue
                found.append(
                    (msg.subject or "").encode() + (msg.data or b"") + repr(msg.headers).encode()
                )
    finally:
        await nc.close()
    return found


def _reporting_answers(stack: Stack) -> list[str]:
    base, headers = f"{stack.url('reporting')}/v1", stack.auth(Scope.analyst)
    month = datetime.now(UTC).strftime("%Y-%m")
    paths = [
        "/metrics/summary",
        "/reports/counters",
        "/reports/counters?format=csv",
        "/reports/breakdowns/category?format=csv",
        f"/reports/monthly/{month}",
        f"/reports/monthly/{month}?lang=ar",
        *(f"/reports/breakdowns/{d}" for d in DIMENSIONS),
    ]
    answers = []
    for path in paths:
        response = httpx.get(f"{base}{path}", headers=headers, timeout=30)
        assert response.status_code == 200, (path, response.text)
        answers.append(response.text)
    return answers


def test_canaries_from_every_channel_are_stored_but_nowhere_in_clear(stack: Stack) -> None:
    c = _canaries()
    api = _submit_everywhere(stack, c)
    escalation = _escalate(stack, api["id"], c)

    tickets = _tickets(stack)
    assert len(tickets) == 4
    for ticket in tickets:
        eventually(lambda: triage_of(stack, ticket["id"]))  # noqa: B023 - called at once
    eventually(lambda: summary(stack)["tickets_triaged"] != 0)

    # The handler APIs give every canary back: they were really stored.
    readable = json.dumps(tickets) + json.dumps(
        httpx.get(
            f"{stack.url('escalation')}/v1/escalations/{escalation['id']}",
            headers=stack.auth(Scope.handler),
            timeout=10,
        ).json()
    )
    assert [k for k, v in c.items() if v not in readable] == []

    answers = [
        httpx.get(f"{stack.url(n)}/metrics", headers=stack.auth(Scope.ops), timeout=10).text
        for n in stack.services
    ]
    answers += _reporting_answers(stack)
    events = asyncio.run(_every_event(stack.nats_ops_url))
    subjects = b"".join(e[:40] for e in events)
    assert b"sanad.escalation." in subjects, "the streams hold the journey's events"
    files = read_tree(stack.var_dir)
    assert any(p.suffix == ".jsonl" for p in files), "spans were exported"

    leaks = {
        field: (
            [
                str(p.relative_to(stack.var_dir))
                for p, data in files.items()
                if value.encode() in data
            ]
            + [f"event:{e[:60]!r}" for e in events if value.encode() in e]
            + [f"answer:{a[:60]!r}" for a in answers if value in a]
        )
        for field, value in c.items()
    }
    assert {k: v for k, v in leaks.items() if v} == {}
