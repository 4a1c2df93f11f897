"""Handlers' replies on their way to the requester, through the channel the ticket came from.

A reply is queued (`deliveries`, state pending) in the transaction that stores it: the
handler's request never waits on a network. A job in the service sends what is due: email
through the configured relay, WhatsApp through the Cloud API, Signal through signal-cli's
JSON-RPC. A failure is retried with bounded exponential backoff, then recorded as failed with
a reason code (smtp_550, http_503, timeout, not_configured...) that the handler sees on the
ticket. A channel the person asked not to be contacted through is never used (withheld).

Delivery is at least once: a sender that dies between the channel's answer and the record
leaves the row pending, and it is sent again after its lease (a few minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import copy, domain, repository
from services.intake.config import IntakeSettings
from services.intake.handling import DO_NOT_CONTACT
from services.intake.keys import IntakeKeys
from services.intake.models import DeliveryState
from services.intake.service import provider_id_aad, requester_key
from shared.app import Runtime
from shared.contracts import Channel
from shared.crypto import decrypt_field
from shared.db import transaction

log = logging.getLogger(__name__)

BATCH = 20
# WhatsApp refuses longer text messages; the handler is told (too_long) rather than cut.
WHATSAPP_MAX_TEXT = 4096


@dataclass(frozen=True)
class Outgoing:
    """One reply ready to send, decrypted in memory only."""

    message_id: uuid.UUID
    ticket_id: uuid.UUID
    channel: str
    reference: str
    to: str
    text: str
    language: str
    # The Message-ID of the requester's last mail, for In-Reply-To (email only).
    in_reply_to: str | None = None


@dataclass(frozen=True)
class Attempt:
    """What one attempt came to: sent (with the channel's id), or an error to retry or not."""

    sent_id: str | None = None
    error: str | None = None
    retry: bool = False
    withheld: bool = False

    @property
    def sent(self) -> bool:
        return self.error is None and not self.withheld


async def deliver_due(
    runtime: Runtime, *, now: datetime | None = None, http: httpx.AsyncClient | None = None
) -> int:
    """Send the replies that are due (at most BATCH); returns how many were attempted."""
    settings = runtime.settings
    assert isinstance(settings, IntakeSettings)
    keys: IntakeKeys = runtime.extras["keys"]
    at = now or datetime.now(UTC)
    # A claimed row is not due again before this: one sender per reply, even across replicas.
    lease = at + timedelta(seconds=max(60.0, 3 * settings.outbound_timeout_seconds))
    # Looked for with a reader first: most passes find nothing, and SQLite has one writer.
    async with runtime.sessions() as session:
        if not await repository.due_deliveries(session, at, 1):
            return 0
    async with transaction(runtime.writer_sessions) as session:
        claimed = [
            (d.message_id, d.channel)
            for d in await repository.due_deliveries(session, at, BATCH)
            if await repository.claim_delivery(session, d, until=lease, at=at)
        ]
    if not claimed:
        return 0
    async with contextlib.AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=settings.outbound_timeout_seconds)
            )
        for message_id, channel in claimed:
            try:
                async with runtime.sessions() as session:
                    prepared = await prepare(session, keys, message_id)
                attempt = (
                    prepared
                    if isinstance(prepared, Attempt)
                    else await send(settings, prepared, http)
                )
            except Exception as exc:  # noqa: BLE001 - counted as an attempt, so bounded too
                log.warning("outbound.attempt_failed", extra={"error.type": type(exc).__name__})
                attempt = Attempt(error="internal", retry=True)
            async with transaction(runtime.writer_sessions) as session:
                await _record(session, keys, settings, message_id, channel, attempt, at)
    return len(claimed)


async def prepare(
    session: AsyncSession, keys: IntakeKeys, message_id: uuid.UUID
) -> Outgoing | Attempt:
    """The reply decrypted with where it goes, or why it cannot go."""
    delivery = await repository.get_delivery(session, message_id)
    message = await repository.get_message(session, message_id)
    ticket = await repository.get_ticket(session, delivery.ticket_id) if delivery else None
    if delivery is None or message is None or ticket is None:
        return Attempt(error="missing")
    requester = await repository.get_requester(session, ticket.requester_id)
    if requester is None or requester.wrapped_key is None:
        return Attempt(error="erased")
    if delivery.channel in (requester.avoid_channels or "").split(","):
        return Attempt(error=DO_NOT_CONTACT, withheld=True)
    if requester.contact_channel != delivery.channel or requester.contact_handle_enc is None:
        return Attempt(error="no_contact")
    rid = str(requester.id)
    data_key = requester_key(keys, requester)
    to = decrypt_field(
        data_key,
        requester.contact_handle_enc,
        aad=domain.field_aad("requesters", "contact_handle", rid),
    )
    text = decrypt_field(
        data_key, message.body_enc, aad=domain.field_aad("messages", "body", str(message.id))
    )
    in_reply_to = None
    if delivery.channel == Channel.email.value:
        last = await repository.last_requester_provider_id(session, ticket.id)
        if last is not None and last.provider_id_enc is not None:
            in_reply_to = decrypt_field(
                data_key, last.provider_id_enc, aad=provider_id_aad(last.id)
            )
    return Outgoing(
        message_id=message.id,
        ticket_id=ticket.id,
        channel=delivery.channel,
        reference=ticket.reference,
        to=to,
        text=text,
        language=domain.reply_language(ticket.declared_language, text),
        in_reply_to=in_reply_to,
    )


async def send(settings: IntakeSettings, out: Outgoing, http: httpx.AsyncClient) -> Attempt:
    """One attempt through the reply's channel; network trouble is worth another try."""
    try:
        if out.channel == Channel.email.value:
            return await send_email(settings, out)
        if out.channel == Channel.whatsapp.value:
            return await send_whatsapp(settings, out, http)
        if out.channel == Channel.signal.value:
            return await send_signal(settings, out, http)
    except (httpx.TimeoutException, TimeoutError):
        return Attempt(error="timeout", retry=True)
    except (httpx.HTTPError, OSError, smtplib.SMTPException):
        return Attempt(error="connection", retry=True)
    return Attempt(error="not_configured")


# --- email ------------------------------------------------------------------------


def reply_email(out: Outgoing, *, sender: str, message_id: str, at: datetime) -> EmailMessage:
    """The reply as a mail: [SND-XXXXX] and the subject in the person's language, threaded
    under their last mail."""
    words = copy.REPLY_EMAIL.get(out.language, copy.REPLY_EMAIL["en"])
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = out.to
    msg["Subject"] = f"[{out.reference}] {words['subject']}"
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = message_id
    msg["Content-Language"] = out.language
    if out.in_reply_to:
        msg["In-Reply-To"] = f"<{out.in_reply_to}>"
        msg["References"] = f"<{out.in_reply_to}>"
    footer = words["footer"].format(reference=out.reference)
    msg.set_content(f"{out.text}\n\n-- \n{footer}\n")
    return msg


async def send_email(settings: IntakeSettings, out: Outgoing) -> Attempt:
    if not settings.smtp_relay_host or not settings.reply_from:
        return Attempt(error="not_configured")
    sender = settings.reply_from
    message_id = make_msgid(domain=sender.rpartition("@")[2] or "sanad.localhost")
    try:
        msg = reply_email(out, sender=sender, message_id=message_id, at=datetime.now(UTC))
    except (ValueError, TypeError):
        # An address the mail headers cannot carry: no relay would take it either.
        return Attempt(error="bad_address")
    try:
        await asyncio.to_thread(_smtp_send, settings, msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        return _smtp_refused(codes[0] if codes else 550)
    except smtplib.SMTPResponseException as exc:
        return _smtp_refused(exc.smtp_code)
    except smtplib.SMTPNotSupportedError:
        return Attempt(error="smtp_no_starttls")
    except ssl.SSLError:
        return Attempt(error="tls", retry=True)
    return Attempt(sent_id=message_id.strip("<>"))


def _smtp_refused(code: int) -> Attempt:
    # 4xx: try later; 5xx: the relay will not take it (bad address, refused, auth).
    return Attempt(error=f"smtp_{code}", retry=400 <= code < 500)


def _smtp_send(settings: IntakeSettings, msg: EmailMessage) -> None:
    host, port = settings.smtp_relay_host or "", settings.smtp_relay_port
    timeout = settings.outbound_timeout_seconds
    security = settings.smtp_relay_security
    client: smtplib.SMTP
    if security == "tls":
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        client.ehlo()
        if security == "starttls":
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if settings.smtp_relay_username is not None and settings.smtp_relay_password is not None:
            client.login(
                settings.smtp_relay_username.get_secret_value(),
                settings.smtp_relay_password.get_secret_value(),
            )
        client.send_message(msg)


# --- WhatsApp and Signal --------------------------------------------------------------


def _http_refused(status: int) -> Attempt:
    # Rate limits, timeouts and server errors pass; other refusals will not change.
    return Attempt(error=f"http_{status}", retry=status in (408, 425, 429) or status >= 500)


async def send_whatsapp(
    settings: IntakeSettings, out: Outgoing, http: httpx.AsyncClient
) -> Attempt:
    token = settings.whatsapp_access_token
    if not settings.whatsapp_phone_number_id or token is None:
        return Attempt(error="not_configured")
    if len(out.text) > WHATSAPP_MAX_TEXT:
        return Attempt(error="too_long")
    url = f"{settings.whatsapp_graph_base.rstrip('/')}/{settings.whatsapp_phone_number_id}/messages"
    response = await http.post(
        url,
        headers={"Authorization": f"Bearer {token.get_secret_value()}"},
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            # The Cloud API takes the number in international form without its "+".
            "to": out.to.lstrip("+"),
            "type": "text",
            "text": {"preview_url": False, "body": out.text},
        },
    )
    if not response.is_success:
        return _http_refused(response.status_code)
    try:
        sent_id = str(response.json()["messages"][0]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        # Accepted (2xx) but unreadable: sent, without an id to keep.
        sent_id = ""
    return Attempt(sent_id=sent_id)


# signal-cli's per-recipient results that will not change on a retry.
_SIGNAL_PERMANENT = {
    "UNREGISTERED_FAILURE": "signal_unregistered",
    # The person's safety number changed: a new phone, or someone else. A handler checks.
    "IDENTITY_FAILURE": "signal_identity_changed",
}


async def send_signal(settings: IntakeSettings, out: Outgoing, http: httpx.AsyncClient) -> Attempt:
    if not settings.signal_rpc_url:
        return Attempt(error="not_configured")
    params: dict[str, object] = {"recipient": [out.to], "message": out.text}
    if settings.signal_account:
        params["account"] = settings.signal_account
    response = await http.post(
        settings.signal_rpc_url,
        json={"jsonrpc": "2.0", "id": str(out.message_id), "method": "send", "params": params},
    )
    if not response.is_success:
        return _http_refused(response.status_code)
    try:
        body = response.json()
        error = body.get("error")
        result = body.get("result") or {}
        kinds = {str(r.get("type")) for r in result.get("results") or []}
    except (ValueError, AttributeError, TypeError):
        return Attempt(error="bad_response", retry=True)
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        return Attempt(error=f"rpc_{code}" if isinstance(code, int) else "rpc_error", retry=True)
    for kind, code in _SIGNAL_PERMANENT.items():
        if kind in kinds:
            return Attempt(error=code)
    failed = sorted(kinds - {"SUCCESS"})
    if failed:
        return Attempt(error=f"signal_{failed[0].lower()}"[:64], retry=True)
    return Attempt(sent_id=str(result.get("timestamp") or ""))


# --- recording ------------------------------------------------------------------------


async def _record(
    session: AsyncSession,
    keys: IntakeKeys,
    settings: IntakeSettings,
    message_id: uuid.UUID,
    channel: str,
    attempt: Attempt,
    at: datetime,
) -> None:
    delivery = await repository.get_delivery(session, message_id)
    if delivery is None or delivery.state != DeliveryState.pending.value:
        # Erased meanwhile: nothing left to record.
        return
    delivery.updated_at = at
    if attempt.withheld:
        delivery.state, delivery.next_attempt_at = DeliveryState.withheld.value, None
        delivery.last_error = attempt.error
    else:
        delivery.attempts += 1
        if attempt.sent:
            delivery.state, delivery.next_attempt_at = DeliveryState.sent.value, None
            delivery.last_error = None
            if attempt.sent_id:
                delivery.provider_ref = keys.delivery_index(channel, attempt.sent_id)
        elif attempt.retry and delivery.attempts < settings.outbound_max_attempts:
            delay = domain.retry_delay(
                delivery.attempts,
                base=settings.outbound_retry_base_seconds,
                cap=settings.outbound_retry_max_seconds,
            )
            delivery.next_attempt_at = at + timedelta(seconds=delay)
            delivery.last_error = attempt.error
        else:
            delivery.state, delivery.next_attempt_at = DeliveryState.failed.value, None
            delivery.last_error = attempt.error
    log.info(
        "outbound.attempt",
        extra={
            "ticket_id": str(delivery.ticket_id),
            "message_id": str(message_id),
            "channel": channel,
            "state": delivery.state,
            "attempt": delivery.attempts,
            "error.type": attempt.error,
        },
    )


# --- the job --------------------------------------------------------------------------
# Idle, the job touches nothing: it sleeps until a reply is queued here (a wake-up after
# that transaction commits), until the next retry is due, or at most `outbound_poll_seconds`
# (what another replica queued and could not send, if it stopped).


class OutboundJob:
    """The sender: one task, woken by new replies and by the next retry's time."""

    def __init__(self, runtime: Runtime, settings: IntakeSettings) -> None:
        self._runtime = runtime
        self._settings = settings
        self._woken = asyncio.Event()
        self._http = httpx.AsyncClient(timeout=settings.outbound_timeout_seconds)
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A reply was queued: send it now rather than at the next poll."""
        self._woken.set()

    async def start(self) -> None:
        # Replies left pending by a previous run: found before the service serves anything.
        first = await self._next_due()
        self._task = asyncio.get_running_loop().create_task(self._run(first), name="outbound")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._http.aclose()

    async def _next_due(self) -> datetime | None:
        async with self._runtime.sessions() as session:
            return await repository.next_delivery_due(session)

    async def _run(self, due: datetime | None) -> None:
        while True:
            wait = self._settings.outbound_poll_seconds
            if due is not None:
                wait = min(wait, (due - datetime.now(UTC)).total_seconds())
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), wait)
            self._woken.clear()
            try:
                while await deliver_due(self._runtime, http=self._http) >= BATCH:
                    pass
                due = await self._next_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - what is due stays due for the next pass
                log.warning("outbound.pass_failed", extra={"error.type": type(exc).__name__})
                due = None


async def start_outbound_job(runtime: Runtime, settings: IntakeSettings) -> None:
    """Run the sender until the service stops (`outbound_poll_seconds` 0: not at all); its
    wake-up is `runtime.extras["outbound_wake"]`."""
    if settings.outbound_poll_seconds <= 0:
        return
    job = OutboundJob(runtime, settings)
    await job.start()
    runtime.extras["outbound_wake"] = job.wake
    runtime.on_stop.append(job.stop)
