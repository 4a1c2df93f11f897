"""MasterKeyring: the current master wraps, retired ones unwrap, and files are followed."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.crypto import (
    MASTER_FILE,
    CryptoError,
    MasterKey,
    MasterKeyring,
    load_master_keyring,
    new_data_key,
    read_master_key_files,
    unwrap_data_key,
    write_master_key_file,
)
from shared.settings import BaseServiceSettings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_retired_key_still_unwraps_but_never_wraps() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    _, wrapped = new_data_key(old, aad=b"r1")
    ring = MasterKeyring(new, [old])

    assert ring.current is new
    assert unwrap_data_key(ring, wrapped, aad=b"r1")


def test_a_file_keyring_follows_a_new_master_within_its_interval(tmp_path: Path) -> None:
    clock = Clock()
    first, second = MasterKey.generate(), MasterKey.generate()
    write_master_key_file(tmp_path / MASTER_FILE, first)
    ring = MasterKeyring(
        *read_master_key_files(tmp_path), load=lambda: read_master_key_files(tmp_path), clock=clock
    )
    write_master_key_file(tmp_path / MASTER_FILE, second)

    assert ring.current.key_id == first.key_id
    clock.now += 1.0
    assert ring.current.key_id == second.key_id


def test_an_unknown_key_id_makes_a_file_keyring_look_again(tmp_path: Path) -> None:
    first, second = MasterKey.generate(), MasterKey.generate()
    write_master_key_file(tmp_path / MASTER_FILE, first)
    ring = MasterKeyring(
        *read_master_key_files(tmp_path), load=lambda: read_master_key_files(tmp_path)
    )
    write_master_key_file(tmp_path / "master-retired-x.key", second)
    _, wrapped = new_data_key(second, aad=b"r2")

    assert unwrap_data_key(ring, wrapped, aad=b"r2")


def test_keys_from_the_environment_include_the_previous_ones(tmp_path: Path) -> None:
    raw_new, raw_old = b"n" * 32, b"o" * 32
    settings = BaseServiceSettings(
        var_dir=tmp_path,
        master_key=SecretStr(base64.b64encode(raw_new).decode()),
        previous_master_keys=SecretStr(base64.b64encode(raw_old).decode()),
    )
    ring = load_master_keyring(settings)
    _, wrapped = new_data_key(MasterKey(raw_old), aad=b"r3")

    assert ring.current.key_id == MasterKey(raw_new).key_id
    assert unwrap_data_key(ring, wrapped, aad=b"r3")
    assert not (tmp_path / "keys").exists()


def test_a_keyring_without_the_wrapping_master_fails_cleanly() -> None:
    _, wrapped = new_data_key(MasterKey.generate(), aad=b"r4")

    with pytest.raises(CryptoError, match="not loaded"):
        unwrap_data_key(MasterKeyring(MasterKey.generate()), wrapped, aad=b"r4")
