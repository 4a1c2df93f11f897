"""The nats-server configuration `make run` and the end-to-end stack start with.

The same users and permissions as the cluster in deploy/ (deploy/nats/accounts.conf
is copied next to the config, not rewritten), JetStream encryption at rest, and
secrets generated once under `var/keys/` and handed to nats-server through its
environment, so that no file under `var/nats/` holds one.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.crypto import read_or_create_secret_file

ACCOUNTS = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "accounts.conf"
SERVICE_USERS = ("intake", "triage", "escalation", "reporting")
USERS = (*SERVICE_USERS, "ops", "sys")
SECRETS_FILE = "nats-secrets.json"

_CONFIG = """\
# Written by shared/testing/nats_config.py for `make run` and the end-to-end tests.
# Secrets ($JS_KEY, $NATS_*_PASSWORD) come from nats-server's environment; their
# values live in {secrets} (never committed).
max_payload: 1MB
debug: false
trace: false

# The store directory is given on the command line (-sd {store}).
jetstream {{
  # Encryption at rest of message blocks and stream/consumer metadata.
  cipher: chachapoly
  key: $JS_KEY
}}

include ./accounts.conf
"""


@dataclass(frozen=True)
class NatsConfig:
    """A written configuration: its file, the environment nats-server needs, the users."""

    path: Path
    server_env: dict[str, str]
    passwords: dict[str, str]

    def service_env(self) -> dict[str, str]:
        """INTAKE_NATS_USER, INTAKE_NATS_PASSWORD, ... for the four services."""
        env = {}
        for user in SERVICE_USERS:
            env[f"{user.upper()}_NATS_USER"] = user
            env[f"{user.upper()}_NATS_PASSWORD"] = self.passwords[user]
        return env

    def url_as(self, user: str, url: str) -> str:
        """`url` with `user`'s credentials in it (for tests and tools, never for logs)."""
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{user}:{self.passwords[user]}@{rest}"


def _new_secrets() -> bytes:
    # A letter then hex: nats-server reads an environment value like a config value,
    # and one that looked like a number would not be a string (deploy/nats/accounts.conf).
    values = {user: "p" + secrets.token_hex(24) for user in USERS}
    values["jetstream_key"] = "k" + secrets.token_hex(32)
    return json.dumps(values, indent=2).encode()


def write_nats_config(var_dir: Path) -> NatsConfig:
    """Write `var/nats/nats-server.conf` and its accounts; secrets made once in var/keys/."""
    keys_dir, nats_dir = var_dir / "keys", var_dir / "nats"
    values: dict[str, str] = json.loads(
        read_or_create_secret_file(keys_dir / SECRETS_FILE, _new_secrets)
    )
    nats_dir.mkdir(parents=True, exist_ok=True)
    # nats-server keeps its streams under <store_dir>/jetstream.
    store = nats_dir
    path = nats_dir / "nats-server.conf"
    path.write_text(_CONFIG.format(store=store, secrets=keys_dir / SECRETS_FILE), encoding="utf-8")
    (nats_dir / "accounts.conf").write_text(ACCOUNTS.read_text(encoding="utf-8"), encoding="utf-8")
    passwords = {user: values[user] for user in USERS}
    server_env = {f"NATS_{user.upper()}_PASSWORD": pw for user, pw in passwords.items()}
    server_env["JS_KEY"] = values["jetstream_key"]
    return NatsConfig(path=path, server_env=server_env, passwords=passwords)
