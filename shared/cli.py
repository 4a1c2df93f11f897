"""`sanad`: administer API tokens in the auth database.

Exit codes: 0 done, 1 the command failed (unknown token id, database error), 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import ClassVar, NoReturn

from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict
from sqlalchemy.exc import SQLAlchemyError

from shared.auth import TOKEN_PREFIX, Scope, TokenInfo, TokenRequestError, TokenStore
from shared.crypto import read_or_create_secret_file, replace_secret_file
from shared.settings import BaseServiceSettings

Command = Callable[[argparse.Namespace, TokenStore, "CliSettings"], Awaitable[int]]


class CliSettings(BaseServiceSettings):
    """Settings of the `sanad` command: `SANAD_VAR_DIR`, `SANAD_AUTH_DATABASE_URL`, ..."""

    model_config = SettingsConfigDict(env_prefix="SANAD_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "cli"


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
        return _fail(f"the auth database failed ({type(exc).__name__})", code=1)
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
