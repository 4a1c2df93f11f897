"""The `sanad` command line against a real SQLite auth database."""

from __future__ import annotations

import asyncio
import re
import stat
from pathlib import Path

import pytest

from shared.auth import Principal, Scope, TokenStore
from shared.cli import CliSettings, main


@pytest.fixture(autouse=True)
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANAD_VAR_DIR", str(tmp_path))
    for name in ("SANAD_AUTH_DATABASE_URL", "SANAD_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def verify(token: str) -> Principal | None:
    async def run() -> Principal | None:
        store = TokenStore.from_settings(CliSettings())
        try:
            return await store.verify(token)
        finally:
            await store.close()

    return asyncio.run(run())


def create(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    assert main(["token", "create", *args]) == 0
    out = capsys.readouterr().out
    found = re.fullmatch(r"id: (\w+)\ntoken: (snd_\S+)\n", out)
    assert found, out
    return found[1], found[2]


def test_settings_read_the_sanad_prefix(var_dir: Path) -> None:
    settings = CliSettings()
    assert settings.var_dir == var_dir
    assert settings.auth_database_url.endswith(f"{var_dir}/db/auth.db")


def test_token_create_prints_a_token_that_verifies(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_id, token = create(capsys, "--scope", "handler", "--name", "Rana")
    assert verify(token) == Principal(token_id=token_id, name="Rana", scope=Scope.handler)
    assert (var_dir / "db" / "auth.db").exists()


def test_partner_token_carries_its_partner(capsys: pytest.CaptureFixture[str]) -> None:
    _, token = create(
        capsys,
        "--scope",
        "partner",
        "--name",
        "SMEX",
        "--partner-id",
        "smex",
        "--expires-days",
        "30",
    )
    principal = verify(token)
    assert principal is not None
    assert principal.partner_id == "smex"


def test_revoke_stops_a_token_verifying(capsys: pytest.CaptureFixture[str]) -> None:
    token_id, token = create(capsys, "--scope", "ops", "--name", "Ops")
    assert main(["token", "revoke", token_id]) == 0
    assert capsys.readouterr().out == f"revoked {token_id}\n"
    assert verify(token) is None


def test_revoke_unknown_id_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "revoke", "nosuchid"]) == 1
    assert "no token with id nosuchid" in capsys.readouterr().err


def test_revoke_refuses_a_token_in_place_of_an_id(capsys: pytest.CaptureFixture[str]) -> None:
    _, token = create(capsys, "--scope", "ops", "--name", "Ops")
    assert main(["token", "revoke", token]) == 2
    assert token not in capsys.readouterr().err
    assert verify(token) is not None


def test_list_shows_tokens_but_no_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    first_id, first = create(capsys, "--scope", "handler", "--name", "Rana")
    second_id, _ = create(capsys, "--scope", "analyst", "--name", "Board", "--expires-days", "7")
    main(["token", "revoke", first_id])
    capsys.readouterr()
    assert main(["token", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SCOPE", "PARTNER", "CREATED", "EXPIRES", "REVOKED"]
    assert lines[1].startswith(first_id)
    assert lines[2].startswith(second_id)
    assert "snd_" not in "\n".join(lines)
    assert first[4:] not in "\n".join(lines)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["token"],
        ["token", "create", "--name", "x"],
        ["token", "create", "--scope", "root", "--name", "x"],
        ["token", "create", "--scope", "handler", "--name", "x", "--expires-days", "0"],
        ["token", "create", "--scope", "partner", "--name", "x"],
        ["token", "create", "--scope", "handler", "--name", " "],
        ["nonsense"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("sanad: error: ")
    assert captured.err.count("\n") == 1


def test_bootstrap_admin_writes_a_private_token_file(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bootstrap-admin"]) == 0
    path = var_dir / "credentials" / "admin.token"
    out = capsys.readouterr().out
    assert out == f"{path}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    token = path.read_text()
    assert token not in out
    principal = verify(token)
    assert principal is not None
    assert principal.scope is Scope.admin


def test_bootstrap_admin_is_idempotent(var_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = var_dir / "credentials" / "admin.token"
    main(["bootstrap-admin"])
    token = path.read_text()
    assert main(["bootstrap-admin"]) == 0
    assert path.read_text() == token
    main(["token", "list"])
    assert capsys.readouterr().out.count("bootstrap admin") == 1


def test_bootstrap_admin_replaces_a_token_the_database_no_longer_knows(var_dir: Path) -> None:
    path = var_dir / "credentials" / "admin.token"
    main(["bootstrap-admin"])
    stale = path.read_text()
    for db_file in (var_dir / "db").glob("auth.db*"):
        db_file.unlink()
    assert main(["bootstrap-admin"]) == 0
    fresh = path.read_text()
    assert fresh != stale
    assert verify(fresh) is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
