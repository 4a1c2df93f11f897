"""Email in: an SMTP server (aiosmtpd) on the service's own event loop, for the helpline.

Mail is accepted only for the configured addresses (550 for any other recipient), up to a
size (552), a number of recipients (452), a number of connections (421) and a number parsed
at once; an idle connection is closed after `smtp_timeout_seconds`. Each mail is parsed
(services.intake.mail) and stored in one transaction (services.intake.inbound): a new
ticket, or the ticket it names when it comes from that ticket's requester. A mail seen
before (same Message-ID) is answered 250 and not stored twice; a failure to store is 451, so
that the sending server tries again later.

Nothing about the sender (address, name, subject) is logged: aiosmtpd's own logger is kept
at WARNING, and our records carry ticket ids only.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import IntegrityError

from services.intake import inbound, mail
from services.intake.config import IntakeSettings
from shared.app import Runtime
from shared.db import transaction

log = logging.getLogger(__name__)
# aiosmtpd logs peers and commands at INFO and DEBUG (its records' arguments can hold
# addresses; our formatter drops arguments, but they are not worth the volume either).
logging.getLogger("mail.log").setLevel(logging.WARNING)


class HelplineMailbox:
    """The aiosmtpd handler: RCPT checked against our addresses, DATA stored as a ticket."""

    def __init__(self, runtime: Runtime, settings: IntakeSettings) -> None:
        self._runtime = runtime
        self._settings = settings
        self._addresses = settings.email_address_set
        self._slots = asyncio.Semaphore(settings.smtp_concurrency)

    async def handle_RCPT(  # noqa: N802 - the hook's name is aiosmtpd's
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.strip().lower() not in self._addresses:
            return "550 5.1.1 No such recipient here"
        if len(envelope.rcpt_tos) >= self._settings.smtp_max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - the hook's name is aiosmtpd's
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content
        if raw is None:
            content = envelope.content
            raw = (
                content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
            )
        if not raw:
            return "554 5.6.0 Empty message"
        async with self._slots:
            return await self.store(raw, envelope.mail_from)

    async def store(self, raw: bytes, envelope_sender: str | None) -> str:
        """Parse and store one mail; the SMTP reply to give."""
        try:
            # Parsing a large mail takes a while: not on the loop that serves the API.
            parsed = await asyncio.to_thread(
                mail.parse,
                raw,
                max_attachments=self._settings.email_max_attachments,
                envelope_sender=envelope_sender,
            )
        except Exception as exc:  # noqa: BLE001 - the same bytes would fail again: refused
            log.warning("email.unreadable", extra={"error.type": type(exc).__name__})
            return "554 5.6.0 The message could not be read"
        try:
            delivery_id = mail.provider_id(parsed, raw)
            runtime = self._runtime
            async with transaction(runtime.writer_sessions) as session:
                receipt = await inbound.receive_email(
                    session=session,
                    keys=runtime.extras["keys"],
                    outbox=runtime.outbox,
                    mail=parsed,
                    delivery_id=delivery_id,
                    window=timedelta(seconds=self._settings.duplicate_window_seconds),
                    now=runtime.extras["recent_submissions"].now(),
                )
        except inbound.NoSender:
            return "550 5.1.7 A sender address is needed"
        except IntegrityError:
            # The same mail arriving twice at once: the other delivery stored it.
            log.info("email.concurrent_duplicate")
            return "250 2.0.0 Already received"
        except Exception as exc:  # noqa: BLE001 - the sending server keeps it and retries
            log.warning("email.store_failed", extra={"error.type": type(exc).__name__})
            return "451 4.3.0 Temporary failure, please try again later"
        if receipt.duplicate:
            return "250 2.0.0 Already received"
        return "250 2.0.0 Received"


class _BoundedSMTP(SMTP):
    """aiosmtpd's server, saying 421 to connections beyond a limit (idle ones time out)."""

    def __init__(self, handler: HelplineMailbox, *, slots: list[int], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        # [open connections, limit], shared by every connection of one server.
        self._slots = slots
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._counted:
            # STARTTLS calls this again on the same connection.
            return
        self._counted = True
        self._slots[0] += 1
        if self._slots[0] > self._slots[1]:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
            transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._slots[0] -= 1
        super().connection_lost(error)


async def start_email_server(runtime: Runtime, settings: IntakeSettings) -> None:
    """Listen on smtp_host:smtp_port (0: not at all); closed when the service stops."""
    if settings.smtp_port == 0:
        return
    loop = asyncio.get_running_loop()
    handler = HelplineMailbox(runtime, settings)
    domain = settings.reply_from.rpartition("@")[2] or "sanad.localhost"

    slots = [0, settings.smtp_max_connections]

    def factory() -> SMTP:
        return _BoundedSMTP(
            handler,
            slots=slots,
            data_size_limit=settings.smtp_max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            # Given, not looked up: getfqdn() can block on DNS.
            hostname=domain,
            ident="Sanad",
            timeout=settings.smtp_timeout_seconds,
            loop=loop,
        )

    server = await loop.create_server(factory, host=settings.smtp_host, port=settings.smtp_port)
    log.info("email.listening")

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    runtime.on_stop.append(stop)
