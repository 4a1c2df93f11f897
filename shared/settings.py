"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Settings that one deployment shares across services may be given once, unprefixed.
_SHARED_ENV = {
    "nats_url": "NATS_URL",
    "var_dir": "SANAD_VAR_DIR",
    "auth_database_url": "SANAD_AUTH_DATABASE_URL",
    "master_key": "SANAD_MASTER_KEY",
    "previous_master_keys": "SANAD_PREVIOUS_MASTER_KEYS",
    "otel_exporter_otlp_endpoint": "OTEL_EXPORTER_OTLP_ENDPOINT",
    "stream_replicas": "SANAD_STREAM_REPLICAS",
    "require_keys": "SANAD_REQUIRE_KEYS",
}


class BaseServiceSettings(BaseSettings):
    """Settings read from the environment; `INTAKE_DATABASE_URL`, `NATS_URL`, ..."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: ClassVar[str] = "sanad"
    default_port: ClassVar[int] = 8100

    host: str = "127.0.0.1"
    port: int = 0
    var_dir: Path = Path("var")
    database_url: str = ""
    auth_database_url: str = ""
    # One URL, or several separated by commas (the nodes of a cluster).
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    # Base64 of 32 bytes; in development generated once under var/keys/.
    master_key: SecretStr | None = None
    # During a rotation with keys from the environment: the masters being retired
    # (comma-separated base64), accepted only to unwrap until `sanad keys rotate` is done.
    previous_master_keys: SecretStr | None = None
    # In production every key must be given: replicas that each generated their own
    # could not read each other's data.
    require_keys: bool = False
    # Replicas of each JetStream stream: 3 on a three-node cluster.
    stream_replicas: int = 1
    otel_exporter_otlp_endpoint: str | None = None
    log_level: str = "INFO"
    # Consumers: how many deliveries before a message goes to the dead-letter subject.
    max_deliver: int = 5
    ack_wait_seconds: float = 30.0
    relay_poll_seconds: float = 1.0
    bus_enabled: bool = True
    # Hardening (shared/hardening.py): request bodies above this are refused with 413.
    max_body_bytes: int = 256 * 1024
    # ... except on a service's upload paths (ServiceDefinition.upload_paths).
    max_upload_bytes: int = 0
    # Token buckets; a rate of 0 turns that limit off. Public paths, per client address:
    rate_limit_public_per_minute: float = 60.0
    rate_limit_public_burst: int = 20
    # Any request with a bearer token, per token:
    rate_limit_token_per_minute: float = 1200.0
    rate_limit_token_burst: int = 200

    @model_validator(mode="before")
    @classmethod
    def _fill_shared_env(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field, env in _SHARED_ENV.items():
                if data.get(field) in (None, "") and os.environ.get(env):
                    data[field] = os.environ[env]
        return data

    @model_validator(mode="after")
    def _defaults_from_var_dir(self) -> BaseServiceSettings:
        # frozen: defaults derived from var_dir are set once, here.
        if not self.database_url:
            path = self.var_dir / "db" / f"{self.service_name}.db"
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{path}")
        if not self.auth_database_url:
            path = self.var_dir / "db" / "auth.db"
            object.__setattr__(self, "auth_database_url", f"sqlite+aiosqlite:///{path}")
        if not self.port:
            object.__setattr__(self, "port", self.default_port)
        return self

    @property
    def traces_dir(self) -> Path:
        return self.var_dir / "traces"

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"
