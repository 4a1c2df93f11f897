"""Channel webhooks: who may deliver, and WhatsApp and signal-cli payloads read into messages."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from services.intake import domain
from shared.contracts import Channel
from shared.errors import AppError, Forbidden, NotFound, Unauthorized

MAX_TEXT = 20_000
MAX_NAME = 200
# The kinds of WhatsApp message kept; reactions, locations, stickers and the like are skipped.
_WHATSAPP_MEDIA = ("image", "document", "audio", "video")


class ChannelNotEnabled(NotFound):
    slug, title = "channel-not-enabled", "This channel is not enabled"


class MissingSignature(Unauthorized):
    slug, title = "missing-signature", "The delivery is not signed"


class BadSignature(Forbidden):
    slug, title = "bad-signature", "The delivery's signature does not match"


class InvalidPayload(AppError):
    status, slug, title = 400, "invalid-payload", "The delivery is not a valid payload"


@dataclass(frozen=True)
class InboundAttachment:
    kind: str
    media_id: str
    mime_type: str | None = None
    filename: str | None = None
    sha256: str | None = None
    # The file itself when the channel carried it (email); platforms give an id to fetch.
    content: bytes | None = None


@dataclass(frozen=True)
class Inbound:
    """One message a channel delivered, before it is stored."""

    channel: Channel
    sender: str
    # The platform's id of this message: re-deliveries carry the same one.
    provider_id: str
    text: str
    name: str | None = None
    attachments: tuple[InboundAttachment, ...] = ()


def _secret(value: SecretStr | None) -> bytes:
    if value is None or not value.get_secret_value():
        raise ChannelNotEnabled()
    return value.get_secret_value().encode()


def same(given: str, expected: bytes) -> bool:
    """Constant-time comparison of a presented secret (any text) with the expected one."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected)


def whatsapp_challenge(
    verify_token: SecretStr | None, mode: str | None, token: str | None, challenge: str | None
) -> str:
    """The challenge to echo when Meta subscribes with our verify token; 403 otherwise."""
    expected = _secret(verify_token)
    if mode != "subscribe" or token is None or challenge is None or not same(token, expected):
        raise Forbidden("The verification request does not match.")
    return challenge


def check_whatsapp_signature(app_secret: SecretStr | None, body: bytes, header: str | None) -> None:
    """`X-Hub-Signature-256: sha256=<hex>` must be the HMAC-SHA256 of the raw body."""
    secret = _secret(app_secret)
    if not header:
        raise MissingSignature()
    scheme, _, given = header.strip().partition("=")
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if scheme.lower() != "sha256" or not same(given.strip().lower(), expected.encode()):
        raise BadSignature()


def check_bearer(token: SecretStr | None, header: str | None) -> None:
    """`Authorization: Bearer <shared secret>` of a bridge (not a Sanad token)."""
    expected = _secret(token)
    if not header:
        raise MissingSignature("The delivery carries no credentials.")
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not same(given.strip(), expected):
        raise BadSignature("The delivery's credentials do not match.")


def _json(body: bytes) -> object:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidPayload("The body is not valid JSON in UTF-8.") from exc


def _clip(text: str | None, limit: int) -> str:
    return (text or "").strip()[:limit]


def _message(
    channel: Channel,
    sender: str,
    provider_id: str,
    text: str,
    name: str | None,
    attachments: tuple[InboundAttachment, ...],
) -> Inbound | None:
    if not text and attachments:
        # A file without a caption still needs a line of text for the ticket and triage.
        text = ", ".join(f"[{a.kind}]" for a in attachments)
    if not text:
        return None
    return Inbound(channel, sender, provider_id, text, _clip(name, MAX_NAME) or None, attachments)


# --- WhatsApp Business Cloud API ------------------------------------------------


class _Lenient(BaseModel):
    # Platforms add fields without notice: unknown ones are ignored, never refused.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _WaText(_Lenient):
    body: str = ""


class _WaMedia(_Lenient):
    id: str = Field(min_length=1, max_length=200)
    mime_type: str | None = Field(default=None, max_length=128)
    sha256: str | None = Field(default=None, max_length=128)
    filename: str | None = Field(default=None, max_length=500)
    caption: str | None = None


class _WaMessage(_Lenient):
    sender: str = Field(alias="from", min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=300)
    type: str = "text"
    text: _WaText | None = None
    image: _WaMedia | None = None
    document: _WaMedia | None = None
    audio: _WaMedia | None = None
    video: _WaMedia | None = None


class _WaProfile(_Lenient):
    name: str | None = None


class _WaContact(_Lenient):
    wa_id: str | None = None
    profile: _WaProfile | None = None


class _WaValue(_Lenient):
    contacts: list[_WaContact] = []
    messages: list[_WaMessage] = []


class _WaChange(_Lenient):
    value: _WaValue = _WaValue()


class _WaEntry(_Lenient):
    changes: list[_WaChange] = []


class _WaPayload(_Lenient):
    entry: list[_WaEntry] = []


def read_whatsapp(body: bytes) -> list[Inbound]:
    """The text, image and document messages of a Cloud API webhook; statuses are skipped."""
    try:
        payload = _WaPayload.model_validate(_json(body))
    except ValidationError as exc:
        raise InvalidPayload("The body is not a WhatsApp webhook payload.") from exc
    return [m for change in _changes(payload) for m in _whatsapp_messages(change.value)]


def _changes(payload: _WaPayload) -> Iterator[_WaChange]:
    for entry in payload.entry:
        yield from entry.changes


def _whatsapp_messages(value: _WaValue) -> Iterator[Inbound]:
    names = {c.wa_id: c.profile.name for c in value.contacts if c.wa_id and c.profile}
    for wa in value.messages:
        attachments: tuple[InboundAttachment, ...] = ()
        if wa.type == "text" and wa.text is not None:
            text = wa.text.body
        elif wa.type in _WHATSAPP_MEDIA and (media := getattr(wa, wa.type)) is not None:
            text = media.caption or ""
            attachments = (
                InboundAttachment(wa.type, media.id, media.mime_type, media.filename, media.sha256),
            )
        else:
            continue
        inbound = _message(
            Channel.whatsapp,
            _whatsapp_number(wa.sender),
            wa.id,
            _clip(text, MAX_TEXT),
            names.get(wa.sender),
            attachments,
        )
        if inbound is not None:
            yield inbound


def _whatsapp_number(wa_id: str) -> str:
    # Cloud API ids are the number in international form without its "+".
    return wa_id if wa_id.startswith("+") else "+" + wa_id


# --- signal-cli JSON-RPC `receive` ----------------------------------------------


class _SigAttachment(_Lenient):
    id: str | None = Field(default=None, max_length=300)
    content_type: str | None = Field(default=None, alias="contentType", max_length=128)
    filename: str | None = Field(default=None, max_length=500)


class _SigData(_Lenient):
    message: str | None = None
    attachments: list[_SigAttachment] = []


class _SigEnvelope(_Lenient):
    source: str | None = Field(default=None, max_length=100)
    source_number: str | None = Field(default=None, alias="sourceNumber", max_length=64)
    source_uuid: str | None = Field(default=None, alias="sourceUuid", max_length=100)
    source_name: str | None = Field(default=None, alias="sourceName")
    timestamp: int = Field(ge=0)
    data_message: _SigData | None = Field(default=None, alias="dataMessage")


class _SigParams(_Lenient):
    envelope: _SigEnvelope


class _SigRequest(_Lenient):
    jsonrpc: str | None = None
    method: str
    params: _SigParams | None = None


def read_signal(body: bytes) -> list[Inbound]:
    """The message of a signal-cli `receive` notification; receipts and typing are skipped."""
    try:
        request = _SigRequest.model_validate(_json(body))
    except ValidationError as exc:
        raise InvalidPayload("The body is not a signal-cli receive notification.") from exc
    if request.method != "receive" or request.params is None:
        return []
    envelope = request.params.envelope
    data = envelope.data_message
    sender = envelope.source_number or envelope.source or envelope.source_uuid
    if data is None or not sender:
        return []
    attachments = tuple(
        InboundAttachment(_kind(a.content_type), a.id, a.content_type, a.filename)
        for a in data.attachments
        if a.id
    )
    handle = domain.normalise_handle(Channel.signal.value, sender)
    # A sender's timestamps are unique per message: (sender, timestamp) is Signal's message id.
    provider_id = f"{handle}:{envelope.timestamp}"
    inbound = _message(
        Channel.signal,
        sender,
        provider_id,
        _clip(data.message, MAX_TEXT),
        envelope.source_name,
        attachments,
    )
    return [inbound] if inbound is not None else []


def _kind(content_type: str | None) -> str:
    major = (content_type or "").split("/", 1)[0]
    return major if major in ("image", "audio", "video") else "document"
