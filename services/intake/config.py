"""Intake settings: INTAKE_* from the environment."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AnyHttpUrl, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class IntakeSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "intake"
    default_port: ClassVar[int] = 8101

    # Base64 X25519 public key of triage, for sealing message text on the bus.
    # In development both services read var/keys/triage-content.pub.
    triage_content_public_key: SecretStr | None = None
    # Base64 X25519 private key that opens what escalation seals for intake (an inbound
    # referral's summary and contact); in development generated once as
    # var/keys/intake-content.key, whose .pub escalation reads.
    content_private_key: SecretStr | None = None

    # The public address of the form (e.g. https://help.example.org): the follow-up link
    # shown to the person is built on it. Unset, the request's own address is used.
    public_base_url: AnyHttpUrl | None = None

    # Follow-up page: attempts per reference and per client address (token guessing).
    follow_up_per_reference_per_minute: float = 2.0
    follow_up_per_address_per_minute: float = 10.0
    follow_up_burst: int = 10

    # The same text from the same sender within this many seconds opens no second ticket
    # (a double submit, a retried delivery); 0 turns the check off.
    duplicate_window_seconds: float = Field(default=600.0, ge=0)

    # Evidence: the biggest file the follow-up page takes (a bigger one gets a 413 page).
    evidence_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # The follow-up page's POST may carry such a file: the hardening limit makes room for
    # it there alone (multipart's framing and the form's other fields on top).
    max_upload_bytes: int = 10 * 1024 * 1024 + 256 * 1024

    # Channel webhooks: each is enabled only when its secrets are set (404 otherwise).
    # WhatsApp Business Cloud API: the token of the GET handshake and the app secret
    # that signs every POST (X-Hub-Signature-256).
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = None
    # The bearer secret the signal-cli bridge sends with each delivery (not a Sanad token).
    signal_webhook_token: SecretStr | None = None

    # Retention: requesters whose tickets have all been closed for longer than this are
    # erased (crypto-shredded) by an in-service job that runs every `retention_check_seconds`.
    # 0 in either turns the job off.
    retention_days: float = Field(default=365.0, ge=0)
    retention_check_seconds: float = Field(default=3600.0, ge=0)
    # How often contact indexes computed under an older master key are computed again
    # (after `sanad keys rotate`, which waits for it; 0 turns the job off).
    reindex_check_seconds: float = Field(default=2.0, ge=0)

    # Email in: an SMTP server (aiosmtpd) intake starts itself, for the helpline's addresses.
    # 0 turns it off, the default here so that tests and extra replicas bind nothing;
    # `make run` sets 2525. Put an MTA (SPF/DKIM/DMARC checks, TLS) in front of it in production.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=0, ge=0, le=65535)
    # The addresses mail is accepted for, comma-separated; any other recipient gets 550.
    email_addresses: str = "help@sanad.localhost"
    # Bigger mail is refused with 552 (attachments included).
    smtp_max_message_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    smtp_max_recipients: int = Field(default=10, ge=1)
    # Open connections at once; more are answered 421 (the sender tries again later).
    smtp_max_connections: int = Field(default=50, ge=1)
    smtp_timeout_seconds: float = Field(default=60.0, gt=0)
    # Mail parsed and stored at once; more wait (each holds the SQLite writer a moment).
    smtp_concurrency: int = Field(default=4, ge=1)
    email_max_attachments: int = Field(default=20, ge=0)

    # Replies out, through the ticket's channel. Email: a relay (STARTTLS, implicit TLS or none).
    smtp_relay_host: str | None = None
    smtp_relay_port: int = Field(default=587, ge=1, le=65535)
    smtp_relay_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_relay_username: SecretStr | None = None
    smtp_relay_password: SecretStr | None = None
    # The From of replies; the first of `email_addresses` when unset.
    email_from: str | None = None
    # WhatsApp Cloud API: POST {graph_base}/{phone_number_id}/messages with the access token.
    whatsapp_graph_base: str = "https://graph.facebook.com/v21.0"
    whatsapp_phone_number_id: str | None = None
    whatsapp_access_token: SecretStr | None = None
    # signal-cli's JSON-RPC over HTTP (`signal-cli daemon --http`), e.g.
    # http://127.0.0.1:8080/api/v1/rpc, and the helpline's account when it holds several.
    signal_rpc_url: str | None = None
    signal_account: str | None = None
    # The sender job. It sends a reply as soon as it is queued and a retry when it is due;
    # besides, it looks for due replies every `outbound_poll_seconds` (those another replica
    # queued and could not send); 0 turns the job off. Then how long one attempt may take,
    # and the bounded exponential backoff between attempts.
    outbound_poll_seconds: float = Field(default=60.0, ge=0)
    outbound_timeout_seconds: float = Field(default=20.0, gt=0)
    outbound_max_attempts: int = Field(default=8, ge=1)
    outbound_retry_base_seconds: float = Field(default=30.0, gt=0)
    outbound_retry_max_seconds: float = Field(default=3600.0, gt=0)

    @property
    def email_address_set(self) -> frozenset[str]:
        """The helpline's addresses, lower-cased, as RCPT TO is matched against them."""
        return frozenset(a.strip().lower() for a in self.email_addresses.split(",") if a.strip())

    @property
    def reply_from(self) -> str:
        """The From address of replies by email."""
        if self.email_from:
            return self.email_from
        return next((a.strip() for a in self.email_addresses.split(",") if a.strip()), "")
