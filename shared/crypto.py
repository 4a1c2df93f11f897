"""Envelope encryption (master -> per-requester data keys -> fields) and sealing for one service.

Formats, all versioned by their first byte:
- wrapped data key: version | master key id (4 bytes) | nonce (12) | AES-GCM(data key)
- field ciphertext: version | nonce (12) | AES-GCM(utf-8 text)
- sealed token (url-safe base64): version | ephemeral X25519 public key (32) | nonce (12)
  | AES-GCM(utf-8 text); senders reuse an ephemeral key for a bounded window (Sealer)
The header of each format is part of the authenticated data, followed by the caller's `aad`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from shared.settings import BaseServiceSettings

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_BYTES = 4

_WRAP_V1 = b"\x01"
_FIELD_V1 = b"\x01"
_SEAL_V2 = b"\x02"
_OPENER_CACHE = 64
_WRAP_HEADER_BYTES = 1 + KEY_ID_BYTES
_WRAPPED_BYTES = _WRAP_HEADER_BYTES + NONCE_BYTES + KEY_BYTES + TAG_BYTES
_SEAL_HEADER_BYTES = 1 + KEY_BYTES
_SEAL_INFO = b"sanad.seal.v2"
_TO_STANDARD_B64 = str.maketrans("-_", "+/")
_KEY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class CryptoError(Exception):
    """A key or ciphertext that cannot be used; the message never quotes data or keys."""


# --- keys -------------------------------------------------------------------


class _SymmetricKey:
    __slots__ = ("_aead", "_raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise CryptoError(f"a {type(self).__name__} must be {KEY_BYTES} bytes")
        self._raw = bytes(raw)
        # One AESGCM per key, built once: encrypting a field then costs one AEAD call.
        self._aead = AESGCM(self._raw)

    @classmethod
    def generate(cls) -> Self:
        """A new random key."""
        return cls(os.urandom(KEY_BYTES))


class MasterKey(_SymmetricKey):
    """The key that wraps data keys; `key_id` tells rotation which master wrapped what."""

    __slots__ = ("key_id",)

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw)
        self.key_id = hashlib.sha256(self._raw).hexdigest()[: 2 * KEY_ID_BYTES]

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        """A master key from base64 (standard or url-safe) of 32 bytes."""
        return cls(_b64decode(text, what="master key"))

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"


class DataKey(_SymmetricKey):
    """One requester's key for their fields; stored only wrapped under a master key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DataKey(<hidden>)"


def keyring(*masters: MasterKey) -> dict[str, MasterKey]:
    """Master keys by key id, as `unwrap_data_key` takes them during a rotation."""
    return {m.key_id: m for m in masters}


MASTER_FILE = "master.key"
RETIRED_GLOB = "master-retired-*.key"


class MasterKeyring(Mapping[str, MasterKey]):
    """The current master key (wraps new data keys) and retired ones (unwrap only).

    Retired keys exist only while `sanad keys rotate` re-wraps data keys. A keyring
    built with `load` re-reads its keys at most every `every` seconds when asked for
    the current key, and at once when asked for a key id it does not hold: running
    services follow a rotation without a restart.
    """

    def __init__(
        self,
        current: MasterKey,
        retired: Iterable[MasterKey] = (),
        *,
        load: Callable[[], tuple[MasterKey, list[MasterKey]]] | None = None,
        every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load, self._every, self._clock = load, every, clock
        self._current = current
        self._keys = keyring(*retired, current)
        self._checked = clock()

    @property
    def current(self) -> MasterKey:
        if self._load is not None and self._clock() - self._checked >= self._every:
            self.reload()
        return self._current

    def reload(self) -> None:
        """Re-read the keys now (no-op for a keyring given its keys)."""
        if self._load is not None:
            current, retired = self._load()
            self._current, self._keys = current, keyring(*retired, current)
            self._checked = self._clock()

    def __getitem__(self, key_id: str) -> MasterKey:
        key = self._keys.get(key_id)
        if key is None and self._load is not None:
            self.reload()
            key = self._keys.get(key_id)
        if key is None:
            raise KeyError(key_id)
        return key

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"MasterKeyring(current={self._current.key_id!r}, ids={sorted(self._keys)!r})"


def load_master_keyring(settings: BaseServiceSettings) -> MasterKeyring:
    """From settings (SANAD_MASTER_KEY and SANAD_PREVIOUS_MASTER_KEYS), else from key files."""
    if settings.master_key is not None:
        previous = settings.previous_master_keys
        retired = [
            MasterKey.from_base64(text)
            for text in (previous.get_secret_value().split(",") if previous else ())
            if text.strip()
        ]
        return MasterKeyring(load_master_key(settings), retired)
    load_master_key(settings)  # fails if keys are required, creates the file if missing
    keys_dir = settings.keys_dir
    return MasterKeyring(
        *read_master_key_files(keys_dir), load=lambda: read_master_key_files(keys_dir)
    )


def read_master_key_files(keys_dir: Path) -> tuple[MasterKey, list[MasterKey]]:
    """The current master key file and the retired ones under `keys_dir`."""
    current = MasterKey.from_base64((keys_dir / MASTER_FILE).read_text("ascii", "replace"))
    retired = []
    for path in sorted(keys_dir.glob(RETIRED_GLOB)):
        try:
            retired.append(MasterKey.from_base64(path.read_text("ascii", "replace")))
        except FileNotFoundError:
            continue  # destroyed by the rotation between the listing and the read
    return current, retired


def write_master_key_file(path: Path, key: MasterKey) -> None:
    """Write `key` to `path` (0600), replacing what was there."""
    replace_secret_file(path, _b64encode(key._raw).encode())


def destroy_key_file(path: Path) -> None:
    """Overwrite a key file with random bytes, then remove it."""
    # Best effort: journaling file systems and SSDs may keep the old blocks; see
    # docs/security.md on where the master key should live in production.
    size = max(path.stat().st_size, KEY_BYTES * 2)
    with path.open("r+b") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())
    path.unlink()
    _fsync_dir(path.parent)


def derive_key(master: MasterKey, purpose: bytes) -> DataKey:
    """A key for one purpose (HKDF-SHA256 from `master`): no new secret to store or rotate."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose)
    return DataKey(hkdf.derive(master._raw))


def keyed_hash(key: DataKey, message: bytes) -> str:
    """HMAC-SHA256 of `message` under `key`, as hex: matches values without storing them."""
    return hmac.new(key._raw, message, hashlib.sha256).hexdigest()


def load_master_key(settings: BaseServiceSettings) -> MasterKey:
    """The configured master key, or else the one generated once under `settings.keys_dir`."""
    if settings.master_key is not None:
        return MasterKey.from_base64(settings.master_key.get_secret_value())
    if settings.require_keys:
        raise CryptoError("no master key configured (SANAD_MASTER_KEY) and keys are required")
    data = read_or_create_secret_file(
        settings.keys_dir / MASTER_FILE, lambda: _b64encode(os.urandom(KEY_BYTES)).encode()
    )
    return MasterKey.from_base64(data.decode("ascii", "replace"))


# --- data keys and fields ---------------------------------------------------


def new_data_key(master: MasterKey, *, aad: bytes) -> tuple[DataKey, bytes]:
    """A fresh data key and its form wrapped under `master`, bound to `aad` (the requester id)."""
    key = DataKey.generate()
    return key, _wrap(master, key, aad)


def wrapped_key_id(wrapped: bytes) -> str:
    """The id of the master key that wrapped `wrapped`."""
    if len(wrapped) != _WRAPPED_BYTES or wrapped[:1] != _WRAP_V1:
        raise CryptoError("wrapped data key is malformed or of an unknown version")
    return wrapped[1:_WRAP_HEADER_BYTES].hex()


def unwrap_data_key(
    masters: Mapping[str, MasterKey] | MasterKey, wrapped: bytes, *, aad: bytes
) -> DataKey:
    """The data key in `wrapped`, unwrapped by whichever of `masters` wrapped it."""
    master = _pick_master(masters, wrapped_key_id(wrapped))
    header = wrapped[:_WRAP_HEADER_BYTES]
    nonce = wrapped[_WRAP_HEADER_BYTES : _WRAP_HEADER_BYTES + NONCE_BYTES]
    body = wrapped[_WRAP_HEADER_BYTES + NONCE_BYTES :]
    try:
        raw = master._aead.decrypt(nonce, body, header + aad)
    except InvalidTag:
        raise CryptoError("wrapped data key failed authentication") from None
    return DataKey(raw)


def rewrap_data_key(
    masters: Mapping[str, MasterKey] | MasterKey, wrapped: bytes, *, aad: bytes, to: MasterKey
) -> bytes:
    """`wrapped` unwrapped by one of `masters` and wrapped again under `to` (rotation)."""
    return _wrap(to, unwrap_data_key(masters, wrapped, aad=aad), aad)


def encrypt_field(key: DataKey, plaintext: str, *, aad: bytes) -> bytes:
    """`plaintext` encrypted under `key`, bound to `aad` (its table, row and column)."""
    # Random 96-bit nonces are safe far beyond the messages one requester's key will see.
    nonce = os.urandom(NONCE_BYTES)
    return b"".join((_FIELD_V1, nonce, key._aead.encrypt(nonce, _utf8(plaintext), _FIELD_V1 + aad)))


def decrypt_field(key: DataKey, blob: bytes, *, aad: bytes) -> str:
    """The text in `blob`, if it was encrypted under `key` with this same `aad`."""
    if len(blob) < 1 + NONCE_BYTES + TAG_BYTES or blob[:1] != _FIELD_V1:
        raise CryptoError("field ciphertext is malformed or of an unknown version")
    try:
        data = key._aead.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], blob[:1] + aad)
    except InvalidTag:
        raise CryptoError("field ciphertext failed authentication") from None
    return data.decode("utf-8")


def _wrap(master: MasterKey, key: DataKey, aad: bytes) -> bytes:
    header = _WRAP_V1 + bytes.fromhex(master.key_id)
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + master._aead.encrypt(nonce, key._raw, header + aad)


def _pick_master(masters: Mapping[str, MasterKey] | MasterKey, key_id: str) -> MasterKey:
    master = masters if isinstance(masters, MasterKey) else masters.get(key_id)
    if master is None or master.key_id != key_id:
        raise CryptoError(f"data key was wrapped by master key {key_id}, which is not loaded")
    return master


# --- sealing for one recipient service --------------------------------------


class RecipientPublicKey:
    """The X25519 public key of a service that may open what is sealed for it."""

    __slots__ = ("_key", "raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise CryptoError(f"a public key must be {KEY_BYTES} bytes")
        self.raw = bytes(raw)
        self._key = X25519PublicKey.from_public_bytes(self.raw)

    @classmethod
    def from_base64(cls, text: str) -> RecipientPublicKey:
        """A public key from base64 text, as given in settings."""
        return cls(_b64decode(text, what="public key"))

    def to_base64(self) -> str:
        """This key as url-safe base64 text."""
        return _b64encode(self.raw)

    @property
    def fingerprint(self) -> str:
        """A short id for logs and errors."""
        return hashlib.sha256(self.raw).hexdigest()[:8]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecipientPublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"RecipientPublicKey(fingerprint={self.fingerprint!r})"


class RecipientKeyPair:
    """A service's X25519 private key and its public key."""

    __slots__ = ("_openers", "_private", "public_key")

    def __init__(self, private_raw: bytes) -> None:
        if len(private_raw) != KEY_BYTES:
            raise CryptoError(f"a private key must be {KEY_BYTES} bytes")
        self._private = X25519PrivateKey.from_private_bytes(private_raw)
        self.public_key = RecipientPublicKey(self._private.public_key().public_bytes_raw())
        # Ephemeral keys are reused by senders for a while: remember the last few.
        self._openers: OrderedDict[bytes, AESGCM] = OrderedDict()

    def _opener(self, header: bytes) -> AESGCM:
        aead = self._openers.get(header)
        if aead is None:
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(header[1:]))
            aead = AESGCM(_seal_key(shared, header, self.public_key.raw))
            self._openers[header] = aead
            if len(self._openers) > _OPENER_CACHE:
                self._openers.popitem(last=False)
        else:
            self._openers.move_to_end(header)
        return aead

    @classmethod
    def generate(cls) -> RecipientKeyPair:
        """A new random key pair."""
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def from_private_base64(cls, text: str) -> RecipientKeyPair:
        """A key pair from base64 of the raw 32-byte private key."""
        return cls(_b64decode(text, what="private key"))

    def __repr__(self) -> str:
        return f"RecipientKeyPair(public={self.public_key.fingerprint!r})"


class Sealer:
    """Seals text for one recipient, reusing an ephemeral key for a short, bounded window.

    An X25519 exchange costs about a hundred microseconds; intake seals every
    message it takes, so one ephemeral key serves up to `max_messages` messages or
    `max_age` seconds, each with its own random nonce (far below AES-GCM's limit).
    """

    def __init__(
        self,
        public_key: RecipientPublicKey,
        *,
        max_age: float = 60.0,
        max_messages: int = 1 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.public_key = public_key
        self._max_age = max_age
        self._max_messages = max_messages
        self._clock = clock
        self._header = b""
        self._aead: AESGCM | None = None
        self._born = 0.0
        self._used = 0

    def seal(self, plaintext: str, *, aad: bytes) -> str:
        """`plaintext` sealed so only the holder of the recipient's private key can open it."""
        if (
            self._aead is None
            or self._used >= self._max_messages
            or self._clock() - self._born > self._max_age
        ):
            self._rotate()
        assert self._aead is not None
        self._used += 1
        nonce = os.urandom(NONCE_BYTES)
        ct = self._aead.encrypt(nonce, _utf8(plaintext), self._header + aad)
        return _b64encode(self._header + nonce + ct)

    def _rotate(self) -> None:
        ephemeral = X25519PrivateKey.generate()
        self._header = _SEAL_V2 + ephemeral.public_key().public_bytes_raw()
        shared = ephemeral.exchange(self.public_key._key)
        self._aead = AESGCM(_seal_key(shared, self._header, self.public_key.raw))
        self._born, self._used = self._clock(), 0

    def __repr__(self) -> str:
        return f"Sealer(recipient={self.public_key.fingerprint!r})"


def seal(public_key: RecipientPublicKey, plaintext: str, *, aad: bytes) -> str:
    """`plaintext` sealed for `public_key` with a fresh ephemeral key (see Sealer for many)."""
    return Sealer(public_key).seal(plaintext, aad=aad)


def open_sealed(keys: RecipientKeyPair, token: str, *, aad: bytes) -> str:
    """The text sealed in `token`, if it was sealed for `keys` with this same `aad`."""
    blob = _b64decode(token, what="sealed token")
    if len(blob) < _SEAL_HEADER_BYTES + NONCE_BYTES + TAG_BYTES or blob[:1] != _SEAL_V2:
        raise CryptoError("sealed token is malformed or of an unknown version")
    header = blob[:_SEAL_HEADER_BYTES]
    nonce = blob[_SEAL_HEADER_BYTES : _SEAL_HEADER_BYTES + NONCE_BYTES]
    try:
        aead = keys._opener(header)
        data = aead.decrypt(nonce, blob[_SEAL_HEADER_BYTES + NONCE_BYTES :], header + aad)
    except (InvalidTag, ValueError):
        raise CryptoError("sealed token failed authentication") from None
    return data.decode("utf-8")


def _seal_key(shared: bytes, header: bytes, recipient: bytes) -> bytes:
    info = _SEAL_INFO + header + recipient
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=info).derive(shared)


def load_or_create_recipient_keys(keys_dir: Path, name: str) -> RecipientKeyPair:
    """The key pair `<keys_dir>/<name>.key`, created once; `<name>.pub` holds its public key."""
    if not _KEY_NAME.fullmatch(name):
        raise ValueError("a key name is lowercase letters, digits, '-' and '_'")
    data = read_or_create_secret_file(
        keys_dir / f"{name}.key", lambda: _b64encode(os.urandom(KEY_BYTES)).encode()
    )
    keys = RecipientKeyPair.from_private_base64(data.decode("ascii", "replace"))
    public = keys.public_key.to_base64().encode()
    pub_path = keys_dir / f"{name}.pub"
    if not pub_path.exists() or pub_path.read_bytes() != public:
        replace_secret_file(pub_path, public, mode=0o644)
    return keys


# --- key files --------------------------------------------------------------


def read_or_create_secret_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The content of `path`, created from `make()` if missing; concurrent creators agree."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    _ensure_private_dir(path.parent)
    tmp = _write_temp(path.parent, make(), mode=0o600)
    try:
        # Unlike rename, link never replaces: the first creator wins, the others read its key.
        os.link(tmp, path)
        _fsync_dir(path.parent)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


def replace_secret_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Atomically write `data` to `path` (its directory 0700 if created here)."""
    _ensure_private_dir(path.parent)
    os.replace(_write_temp(path.parent, data, mode=mode), path)
    _fsync_dir(path.parent)


def _ensure_private_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _write_temp(directory: Path, data: bytes, *, mode: int) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- encoding ---------------------------------------------------------------


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise CryptoError("plaintext is not encodable as UTF-8") from None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str, *, what: str) -> bytes:
    clean = text.strip().translate(_TO_STANDARD_B64)
    try:
        return base64.b64decode(clean + "=" * (-len(clean) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"{what} is not valid base64") from None
