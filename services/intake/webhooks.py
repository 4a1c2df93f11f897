"""Channel webhooks: WhatsApp Business Cloud API and a signal-cli bridge (signed, not tokened)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from services.intake import channels, inbound
from services.intake.deps import KeysDep, RuntimeDep, SessionDep, SettingsDep
from services.intake.inbound import WebhookReceipt

router = APIRouter(prefix="/v1/channels", tags=["channels"])
WHATSAPP_PATH = "/v1/channels/whatsapp/webhook"
SIGNAL_PATH = "/v1/channels/signal/webhook"
# Authenticated by the platform's signature or the bridge's secret, checked in the handlers.
WEBHOOK_PATHS = frozenset({("GET", WHATSAPP_PATH), ("POST", WHATSAPP_PATH), ("POST", SIGNAL_PATH)})


@router.get("/whatsapp/webhook", response_class=PlainTextResponse)
async def whatsapp_handshake(
    settings: SettingsDep,
    mode: Annotated[str | None, Query(alias="hub.mode", max_length=32)] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token", max_length=500)] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=500)] = None,
) -> PlainTextResponse:
    """Meta's subscription check: the challenge echoed when the verify token matches."""
    answer = channels.whatsapp_challenge(settings.whatsapp_verify_token, mode, token, challenge)
    return PlainTextResponse(answer)


@router.post("/whatsapp/webhook", response_model=WebhookReceipt)
async def whatsapp_webhook(
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
) -> WebhookReceipt:
    """Messages signed with the app secret (X-Hub-Signature-256): stored once each."""
    return await inbound.receive_whatsapp(
        session=session,
        keys=keys,
        settings=settings,
        outbox=runtime.outbox,
        body=await request.body(),
        signature=request.headers.get("x-hub-signature-256"),
        now=runtime.extras["recent_submissions"].now(),
    )


@router.post("/signal/webhook", response_model=WebhookReceipt)
async def signal_webhook(
    request: Request,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
) -> WebhookReceipt:
    """signal-cli `receive` notifications from the bridge holding the shared secret."""
    return await inbound.receive_signal(
        session=session,
        keys=keys,
        settings=settings,
        outbox=runtime.outbox,
        body=await request.body(),
        authorization=request.headers.get("authorization"),
        now=runtime.extras["recent_submissions"].now(),
    )
