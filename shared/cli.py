"""`sanad`: administer API tokens in the auth database.

Exit codes: 0 done, 1 the command failed (unknown token id, database error), 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar, NoReturn

from pydantic import AliasChoices, Field, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy import MetaData
from sqlalchemy.exc import SQLAlchemyError

from shared import audit
from shared.auth import TOKEN_PREFIX, Scope, TokenInfo, TokenRequestError, TokenStore
from shared.crypto import (
    CryptoError,
    load_master_keyring,
    read_or_create_secret_file,
    replace_secret_file,
)
from shared.db import make_engine
from shared.keyrotation import (
    SERVICE_KEYS,
    RotationError,
    RotationTarget,
    rewrap_targets,
    rotate_master_files,
    wait_for_indexes,
)
from shared.settings import BaseServiceSettings

# The services that keep a hash-chained audit log (shared/audit.py) in their database.
AUDITED_SERVICES = ("intake", "triage", "escalation")

Command = Callable[[argparse.Namespace, TokenStore, "CliSettings"], Awaitable[int]]


class CliSettings(BaseServiceSettings):
    """Settings of the `sanad` command: `SANAD_VAR_DIR`, `SANAD_AUTH_DATABASE_URL`, ..."""

    model_config = SettingsConfigDict(env_prefix="SANAD_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "cli"

    # Each service's database, from the same variables the services read (default: the
    # SQLite files under var/db/): intake's audit log and data keys, triage's and
    # escalation's data keys.
    intake_database_url: str = Field(
        default="", validation_alias=AliasChoices("INTAKE_DATABASE_URL", "intake_database_url")
    )
    triage_database_url: str = Field(
        default="", validation_alias=AliasChoices("TRIAGE_DATABASE_URL", "triage_database_url")
    )
    escalation_database_url: str = Field(
        default="",
        validation_alias=AliasChoices("ESCALATION_DATABASE_URL", "escalation_database_url"),
    )

    @model_validator(mode="after")
    def _default_databases(self) -> CliSettings:
        for service in ("intake", "triage", "escalation"):
            field = f"{service}_database_url"
            if not getattr(self, field):
                path = self.var_dir / "db" / f"{service}.db"
                object.__setattr__(self, field, f"sqlite+aiosqlite:///{path}")
        return self

    def database_of(self, service: str) -> str:
        url: str = getattr(self, f"{service}_database_url")
        return url


class UsageError(Exception):
    """The command line is not valid."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def main(argv: list[str] | None = None) -> int:
    """Run `sanad` with `argv` (default: the process arguments); return the exit code."""
    try:
        args = build_parser().parse_args(argv)
        settings = CliSettings()
    except UsageError as exc:
        return _fail(f"{exc} (see sanad --help)", code=2)
    except ValidationError as exc:
        # Name the fields only: the rejected values may be secrets.
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        return _fail(f"invalid settings: {fields}", code=2)
    command: Command = args.run
    return asyncio.run(_run(command, args, settings))


def build_parser() -> argparse.ArgumentParser:
    """The `sanad` argument parser."""
    parser = _Parser(prog="sanad", description="Administer Sanad.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    token = commands.add_parser("token", help="create, list and revoke API tokens")
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="create a token and print it once")
    create.add_argument("--scope", required=True, choices=[s.value for s in Scope])
    create.add_argument("--name", required=True, help="who or what will use the token")
    create.add_argument("--expires-days", type=_positive_int, metavar="N")
    create.add_argument("--partner-id", help="the partner helpline (partner tokens only)")
    create.set_defaults(run=_token_create)

    revoke = actions.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("token_id", metavar="ID")
    revoke.set_defaults(run=_token_revoke)

    actions.add_parser("list", help="list tokens (never their secrets)").set_defaults(
        run=_token_list
    )
    audit_cmd = commands.add_parser("audit", help="check the services' audit logs")
    audit_actions = audit_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = audit_actions.add_parser(
        "verify", help="walk the hash chain; exit 1 if an entry was edited, removed or moved"
    )
    verify.add_argument(
        "--database-url",
        help="one service's database; default: every service that keeps an audit log "
        "(INTAKE_, TRIAGE_, ESCALATION_DATABASE_URL, or their files under var/db/)",
    )
    verify.add_argument(
        "--anchor", type=_anchor, metavar="SEQ:HASH", help="a head printed earlier, kept elsewhere"
    )
    verify.set_defaults(run=_audit_verify)

    keys_cmd = commands.add_parser("keys", help="manage the master key")
    keys_actions = keys_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = keys_actions.add_parser(
        "rotate", help="re-wrap every data key under a new master key, then destroy the old one"
    )
    rotate.add_argument(
        "--database-url",
        help="intake's database (default: INTAKE_DATABASE_URL or var/db/intake.db); triage's "
        "and escalation's come from TRIAGE_DATABASE_URL and ESCALATION_DATABASE_URL",
    )
    rotate.add_argument(
        "--grace",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="how long running services get to switch to the new key (default 3)",
    )
    rotate.add_argument(
        "--reindex-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for the services to re-compute their keyed indexes (default 120)",
    )
    rotate.set_defaults(run=_keys_rotate)

    commands.add_parser(
        "bootstrap-admin", help="make sure var/credentials/admin.token holds a valid admin token"
    ).set_defaults(run=_bootstrap_admin)
    return parser


async def _run(command: Command, args: argparse.Namespace, settings: CliSettings) -> int:
    store = TokenStore.from_settings(settings)
    try:
        return await command(args, store, settings)
    except TokenRequestError as exc:
        return _fail(exc.detail, code=2)
    except SQLAlchemyError as exc:
        # The exception text may carry the database URL and its password.
        return _fail(f"the database failed ({type(exc).__name__})", code=1)
    finally:
        await store.close()


async def _token_create(args: argparse.Namespace, store: TokenStore, _: CliSettings) -> int:
    expires_in = timedelta(days=args.expires_days) if args.expires_days else None
    info, token = await store.create(
        name=args.name, scope=Scope(args.scope), expires_in=expires_in, partner_id=args.partner_id
    )
    print(f"id: {info.id}")
    print(f"token: {token}")
    print("Store the token now: it is not shown again.", file=sys.stderr)
    return 0


async def _token_revoke(args: argparse.Namespace, store: TokenStore, _: CliSettings) -> int:
    token_id: str = args.token_id
    if token_id.startswith(TOKEN_PREFIX):
        return _fail("give the token's id, not the token itself", code=2)
    if not await store.revoke(token_id):
        return _fail(f"no token with id {token_id}", code=1)
    print(f"revoked {token_id}")
    return 0


async def _token_list(_args: argparse.Namespace, store: TokenStore, _: CliSettings) -> int:
    header = ("ID", "NAME", "SCOPE", "PARTNER", "CREATED", "EXPIRES", "REVOKED")
    rows = [header, *(_token_row(info) for info in await store.list())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


async def _bootstrap_admin(_args: argparse.Namespace, store: TokenStore, s: CliSettings) -> int:
    path = s.var_dir / "credentials" / "admin.token"
    existing = path.read_text(encoding="ascii", errors="replace").strip() if path.exists() else None
    if existing is not None:
        principal = await store.verify(existing)
        if principal is not None and principal.scope is Scope.admin:
            print(path)
            return 0
    info, token = await store.create(name="bootstrap admin", scope=Scope.admin)
    if existing is None:
        kept = read_or_create_secret_file(path, token.encode).decode("ascii", "replace")
        if kept != token:
            # Another bootstrap wrote its token first: keep that one, retire ours.
            await store.revoke(info.id)
    else:
        replace_secret_file(path, token.encode())
    print(path)
    return 0


async def _audit_verify(args: argparse.Namespace, _: TokenStore, s: CliSettings) -> int:
    if args.database_url:
        logs = {"": args.database_url}
    elif args.anchor is not None:
        return _fail("--anchor names one log's head: give its --database-url too", code=2)
    else:
        logs = {name: s.database_of(name) for name in AUDITED_SERVICES}
        logs = {name: url for name, url in logs.items() if _exists(url)}
    broken = False
    for name, url in logs.items():
        label = f"{name}: " if name else ""
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                verdict = await audit.verify(
                    conn, audit.audit_tables(MetaData()), anchor=args.anchor
                )
        finally:
            await engine.dispose()
        if not verdict.ok:
            print(f"{label}audit log broken: {verdict.problem}", file=sys.stderr)
            broken = True
            continue
        print(f"{label}audit log intact: {verdict.entries} entries")
        print(f"{label}head: {verdict.head_seq}:{verdict.head_hash}")
    return 1 if broken else 0


async def _keys_rotate(args: argparse.Namespace, _: TokenStore, s: CliSettings) -> int:
    urls = {k.service: s.database_of(k.service) for k in SERVICE_KEYS}
    if args.database_url:
        urls["intake"] = args.database_url
    # Writer engines: their transactions take SQLite's write lock at BEGIN, so a read that
    # turns into an update never fails because the running service committed in between.
    targets = [
        RotationTarget(keys=k, engine=make_engine(urls[k.service], writer=True))
        for k in SERVICE_KEYS
        if _exists(urls[k.service])
    ]
    try:
        if s.master_key is not None:
            # Keys from the environment: only the re-wrap is ours to do.
            masters = load_master_keyring(s)
            count = await rewrap_targets(targets, masters=masters, to=masters.current)
            await wait_for_indexes(targets, to=masters.current, within=args.reindex_timeout)
            print(f"re-wrapped {count} data keys under master {masters.current.key_id}")
            print("now remove SANAD_PREVIOUS_MASTER_KEYS and restart the services")
            return 0
        rotation = await rotate_master_files(
            s.keys_dir, targets, grace=args.grace, reindex_timeout=args.reindex_timeout
        )
    except (RotationError, CryptoError) as exc:
        return _fail(f"rotation stopped: {exc}", code=1)
    finally:
        for target in targets:
            await target.engine.dispose()
    print(
        f"new master key {rotation.new_key_id}; re-wrapped {rotation.rewrapped} data keys "
        f"in {', '.join(t.keys.service for t in targets)}"
    )
    print(f"destroyed master key(s) {', '.join(rotation.retired_key_ids)}")
    return 0


def _exists(url: str) -> bool:
    """False for a SQLite file that was never created (a service that never ran here)."""
    prefix = "sqlite+aiosqlite:///"
    return not url.startswith(prefix) or Path(url.removeprefix(prefix)).exists()


def _anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise argparse.ArgumentTypeError("expected SEQ:HASH as printed by `sanad audit verify`")
    return int(seq), digest.lower()


def _token_row(info: TokenInfo) -> tuple[str, ...]:
    return (
        info.id,
        info.name,
        info.scope.value,
        info.partner_id or "-",
        _when(info.created_at),
        _when(info.expires_at),
        _when(info.revoked_at),
    )


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def _fail(message: str, *, code: int) -> int:
    print(f"sanad: error: {message}", file=sys.stderr)
    return code
