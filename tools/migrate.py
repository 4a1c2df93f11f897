"""Alembic for one service, on the database its settings name.

    python -m tools.migrate intake revision -m "add ticket tags" --autogenerate
    python -m tools.migrate intake upgrade head
    python -m tools.migrate triage current | history | check | downgrade -1 ...

New revisions are numbered 0001, 0002, ... unless --rev-id is given: two branches
adding the same number conflict visibly instead of leaving two heads.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import CommandLine, Config
from alembic.script import ScriptDirectory

from shared.migrations import migration_config
from shared.settings import BaseServiceSettings

SERVICES = ("intake", "triage", "escalation", "reporting")
ROOT = Path(__file__).resolve().parent.parent


def service_config(service: str) -> Config:
    """The Alembic config of `service`: its scripts and its settings' database URL."""
    settings_class = _settings_class(service)
    script_location = ROOT / "services" / service / "migrations"
    return migration_config(script_location, settings_class().database_url)


def _settings_class(service: str) -> type[BaseServiceSettings]:
    module = importlib.import_module(f"services.{service}.config")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseServiceSettings)
            and value is not BaseServiceSettings
        ):
            return value
    raise LookupError(f"services.{service}.config has no settings class")


def next_rev_id(config: Config) -> str:
    """One more than the highest numeric revision id, zero-padded to four digits."""
    scripts = ScriptDirectory.from_config(config)
    numbers = [int(s.revision) for s in scripts.walk_revisions() if s.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SERVICES:
        print(f"usage: python -m tools.migrate {{{','.join(SERVICES)}}} <alembic command> ...")
        return 2
    service, rest = args[0], args[1:]
    cli = CommandLine(prog=f"python -m tools.migrate {service}")
    options = cli.parser.parse_args(rest)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    config = service_config(service)
    if options.cmd[0] is command.revision and options.rev_id is None:
        options.rev_id = next_rev_id(config)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for name in ("alembic.runtime.migration", "alembic.autogenerate.compare"):
        logging.getLogger(name).setLevel(logging.INFO)
    cli.run_cmd(config, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
