"""Envelope encryption, sealing and key files."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from shared.crypto import (
    CryptoError,
    DataKey,
    MasterKey,
    RecipientKeyPair,
    RecipientPublicKey,
    Sealer,
    decrypt_field,
    encrypt_field,
    keyring,
    load_master_key,
    load_or_create_recipient_keys,
    new_data_key,
    open_sealed,
    rewrap_data_key,
    seal,
    unwrap_data_key,
    wrapped_key_id,
)
from shared.settings import BaseServiceSettings

AAD = b"requesters:42:email"


def settings_for(var_dir: Path, master_key: str | None = None) -> BaseServiceSettings:
    secret = SecretStr(master_key) if master_key is not None else None
    return BaseServiceSettings(var_dir=var_dir, master_key=secret)


def flip_last_byte(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 1])


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def data_key() -> DataKey:
    return DataKey.generate()


# --- fields ------------------------------------------------------------------


def test_field_round_trips(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, "rana@example.org", aad=AAD)
    assert decrypt_field(data_key, blob, aad=AAD) == "rana@example.org"


def test_field_ciphertext_hides_plaintext_and_differs_each_time(data_key: DataKey) -> None:
    first = encrypt_field(data_key, "rana@example.org", aad=AAD)
    assert b"rana" not in first
    assert first != encrypt_field(data_key, "rana@example.org", aad=AAD)


def test_field_copied_to_another_row_fails(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, "secret", aad=b"requesters:42:email")
    with pytest.raises(CryptoError):
        decrypt_field(data_key, blob, aad=b"requesters:43:email")


def test_tampered_field_fails(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, "secret", aad=AAD)
    with pytest.raises(CryptoError):
        decrypt_field(data_key, flip_last_byte(blob), aad=AAD)


def test_field_under_another_key_fails(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, "secret", aad=AAD)
    with pytest.raises(CryptoError):
        decrypt_field(DataKey.generate(), blob, aad=AAD)


@pytest.mark.parametrize("blob", [b"", b"\x01short", b"\x02" + bytes(40)])
def test_malformed_field_fails(data_key: DataKey, blob: bytes) -> None:
    with pytest.raises(CryptoError):
        decrypt_field(data_key, blob, aad=AAD)


def test_error_messages_never_quote_plaintext(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, "canary-7f3a", aad=AAD)
    with pytest.raises(CryptoError) as caught:
        decrypt_field(data_key, blob, aad=b"other")
    assert "canary" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_text_that_cannot_be_utf8_is_rejected(data_key: DataKey) -> None:
    with pytest.raises(CryptoError):
        encrypt_field(data_key, "bad \ud800", aad=AAD)


@given(text=st.text(), aad=st.binary(max_size=64))
def test_any_text_round_trips(text: str, aad: bytes) -> None:
    key = DataKey.generate()
    assert decrypt_field(key, encrypt_field(key, text, aad=aad), aad=aad) == text


# --- data keys ---------------------------------------------------------------


def test_data_key_round_trips(master: MasterKey) -> None:
    key, wrapped = new_data_key(master, aad=b"requester:42")
    blob = encrypt_field(key, "hello", aad=AAD)
    unwrapped = unwrap_data_key(master, wrapped, aad=b"requester:42")
    assert decrypt_field(unwrapped, blob, aad=AAD) == "hello"


def test_wrapped_key_carries_master_key_id(master: MasterKey) -> None:
    _, wrapped = new_data_key(master, aad=b"requester:42")
    assert wrapped_key_id(wrapped) == master.key_id
    assert len(master.key_id) == 8


def test_unwrap_with_wrong_aad_fails(master: MasterKey) -> None:
    _, wrapped = new_data_key(master, aad=b"requester:42")
    with pytest.raises(CryptoError):
        unwrap_data_key(master, wrapped, aad=b"requester:43")


def test_unwrap_with_wrong_master_fails(master: MasterKey) -> None:
    _, wrapped = new_data_key(master, aad=b"requester:42")
    with pytest.raises(CryptoError, match="not loaded"):
        unwrap_data_key(MasterKey.generate(), wrapped, aad=b"requester:42")


def test_tampered_wrapped_key_fails(master: MasterKey) -> None:
    _, wrapped = new_data_key(master, aad=b"requester:42")
    with pytest.raises(CryptoError):
        unwrap_data_key(master, flip_last_byte(wrapped), aad=b"requester:42")


def test_unwrap_picks_master_by_key_id_from_a_keyring(master: MasterKey) -> None:
    old, new = MasterKey.generate(), master
    key, wrapped = new_data_key(old, aad=b"r1")
    blob = encrypt_field(key, "hello", aad=AAD)
    unwrapped = unwrap_data_key(keyring(new, old), wrapped, aad=b"r1")
    assert decrypt_field(unwrapped, blob, aad=AAD) == "hello"


def test_unwrap_with_keyring_missing_the_master_fails(master: MasterKey) -> None:
    _, wrapped = new_data_key(master, aad=b"r1")
    with pytest.raises(CryptoError):
        unwrap_data_key(keyring(MasterKey.generate()), wrapped, aad=b"r1")


def test_rewrap_moves_a_data_key_to_the_new_master(master: MasterKey) -> None:
    old = MasterKey.generate()
    key, wrapped = new_data_key(old, aad=b"r1")
    blob = encrypt_field(key, "hello", aad=AAD)
    rewrapped = rewrap_data_key(old, wrapped, aad=b"r1", to=master)
    assert wrapped_key_id(rewrapped) == master.key_id
    assert decrypt_field(unwrap_data_key(master, rewrapped, aad=b"r1"), blob, aad=AAD) == "hello"


# --- master key loading ------------------------------------------------------


def test_master_key_from_settings_accepts_standard_base64(tmp_path: Path) -> None:
    raw = os.urandom(32)
    loaded = load_master_key(settings_for(tmp_path, base64.b64encode(raw).decode()))
    assert loaded.key_id == MasterKey(raw).key_id
    assert not (tmp_path / "keys").exists()


@pytest.mark.parametrize("value", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_bad_master_key_setting_is_rejected(tmp_path: Path, value: str) -> None:
    with pytest.raises(CryptoError):
        load_master_key(settings_for(tmp_path, value))


def test_master_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    first = load_master_key(settings_for(tmp_path))
    path = tmp_path / "keys" / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_master_key(settings_for(tmp_path)).key_id == first.key_id
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]


def test_concurrent_first_starts_agree_on_one_master_key(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    barrier = threading.Barrier(8)
    ids: list[str] = []

    def start() -> None:
        barrier.wait()
        ids.append(load_master_key(settings).key_id)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(ids) == 8
    assert len(set(ids)) == 1


# --- repr --------------------------------------------------------------------


def test_repr_hides_key_material(master: MasterKey, data_key: DataKey) -> None:
    pair = RecipientKeyPair.generate()
    for obj in (master, data_key, pair):
        text = repr(obj) + str(obj)
        for raw in (master._raw, data_key._raw, pair._private.private_bytes_raw()):
            assert raw.hex() not in text
            assert base64.urlsafe_b64encode(raw).decode().rstrip("=") not in text
    assert master.key_id in repr(master)


# --- sealing -----------------------------------------------------------------


def test_sealed_text_opens_with_the_right_private_key() -> None:
    triage = RecipientKeyPair.generate()
    token = seal(triage.public_key, "my account was hacked", aad=b"ticket:7")
    assert open_sealed(triage, token, aad=b"ticket:7") == "my account was hacked"


def test_sealed_token_is_url_safe_text() -> None:
    token = seal(RecipientKeyPair.generate().public_key, "x" * 100, aad=b"")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_sealed_text_does_not_open_with_another_private_key() -> None:
    token = seal(RecipientKeyPair.generate().public_key, "secret", aad=b"ticket:7")
    with pytest.raises(CryptoError):
        open_sealed(RecipientKeyPair.generate(), token, aad=b"ticket:7")


def test_sealed_text_does_not_open_with_another_aad() -> None:
    triage = RecipientKeyPair.generate()
    token = seal(triage.public_key, "secret", aad=b"ticket:7")
    with pytest.raises(CryptoError):
        open_sealed(triage, token, aad=b"ticket:8")


@pytest.mark.parametrize(
    "blob", [b"", b"\x01", bytes(60), b"\x01" + bytes(60)], ids=["empty", "short", "v0", "zero-key"]
)
def test_malformed_sealed_token_fails(blob: bytes) -> None:
    token = base64.urlsafe_b64encode(blob).decode()
    with pytest.raises(CryptoError):
        open_sealed(RecipientKeyPair.generate(), token, aad=b"")


def test_sealed_token_that_is_not_base64_fails() -> None:
    with pytest.raises(CryptoError, match="base64"):
        open_sealed(RecipientKeyPair.generate(), "not base64!", aad=b"")


@given(text=st.text())
def test_any_text_seals_and_opens(text: str) -> None:
    pair = RecipientKeyPair.generate()
    assert open_sealed(pair, seal(pair.public_key, text, aad=b"a"), aad=b"a") == text


def test_public_key_loads_from_base64_text() -> None:
    pair = RecipientKeyPair.generate()
    assert RecipientPublicKey.from_base64(pair.public_key.to_base64()) == pair.public_key


def test_recipient_key_files_are_created_once(tmp_path: Path) -> None:
    first = load_or_create_recipient_keys(tmp_path / "keys", "triage")
    again = load_or_create_recipient_keys(tmp_path / "keys", "triage")
    assert again.public_key == first.public_key
    private, public = tmp_path / "keys" / "triage.key", tmp_path / "keys" / "triage.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert RecipientPublicKey.from_base64(public.read_text()) == first.public_key
    token = seal(RecipientPublicKey.from_base64(public.read_text()), "hi", aad=b"")
    assert open_sealed(again, token, aad=b"") == "hi"


def test_recipient_key_name_cannot_escape_the_keys_dir(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key name"):
        load_or_create_recipient_keys(tmp_path, "../triage")


# --- a sealer reused across messages -----------------------------------------


def _header(token: str) -> bytes:
    padded = token + "=" * (-len(token) % 4)
    return base64.urlsafe_b64decode(padded)[:33]


def test_a_sealer_reuses_its_ephemeral_key_within_its_window_and_every_token_opens() -> None:
    keys = RecipientKeyPair.generate()
    now = [0.0]
    sealer = Sealer(keys.public_key, max_age=60, max_messages=3, clock=lambda: now[0])

    tokens = [sealer.seal(f"message {i}", aad=b"t") for i in range(3)]
    rotated_by_count = sealer.seal("message 3", aad=b"t")
    now[0] = 61.0
    rotated_by_age = sealer.seal("message 4", aad=b"t")

    assert len({_header(t) for t in tokens}) == 1
    assert len(set(tokens)) == 3
    assert _header(rotated_by_count) != _header(tokens[0])
    assert _header(rotated_by_age) != _header(rotated_by_count)
    opened = [open_sealed(keys, t, aad=b"t") for t in [*tokens, rotated_by_count, rotated_by_age]]
    assert opened == [f"message {i}" for i in range(5)]


def test_a_token_from_a_reused_key_still_refuses_another_aad() -> None:
    keys = RecipientKeyPair.generate()
    sealer = Sealer(keys.public_key)
    sealer.seal("first", aad=b"ticket-1")
    token = sealer.seal("second", aad=b"ticket-2")

    with pytest.raises(CryptoError):
        open_sealed(keys, token, aad=b"ticket-1")


def test_a_missing_master_key_is_refused_when_keys_are_required(tmp_path: Path) -> None:
    settings = BaseServiceSettings(var_dir=tmp_path, require_keys=True)

    with pytest.raises(CryptoError, match="SANAD_MASTER_KEY"):
        load_master_key(settings)
    assert not (tmp_path / "keys" / "master.key").exists()
