"""Signing and verifying referrals: JWS compact serialisation, Ed25519 (RFC 8037, RFC 9864).

The algorithm is named `Ed25519`, RFC 9864's fully-specified name for EdDSA over
Ed25519 (joserfc warns that the polymorphic `EdDSA` is deprecated); the
signature bytes are the same. Only this one algorithm is accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from services.escalation.config import EscalationSettings
from shared.crypto import CryptoError, read_or_create_secret_file

ALGORITHM = "Ed25519"
SIGNING_KEY_FILE = "escalation-signing.key"
# A compact JWS larger than this is refused before any parsing.
MAX_JWS_CHARS = 192 * 1024


class SignatureRefused(Exception):
    """A JWS that is malformed, of another algorithm, or whose signature does not verify."""

    def __init__(self, reason: str, *, malformed: bool) -> None:
        super().__init__(reason)
        self.malformed = malformed


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    clean = text.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(clean + "=" * (-len(clean) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from base64 (standard or url-safe) of its 32 raw bytes."""
    raw = _unb64(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_text(key: Ed25519PublicKey) -> str:
    """The url-safe base64 of a public key's 32 raw bytes, as partners register it."""
    return _b64(key.public_bytes_raw())


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short id of a public key: the JWS `kid`, and what humans compare."""
    return hashlib.sha256(key.public_bytes_raw()).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """This helpline's Ed25519 key; its public half is what partners register."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def kid(self) -> str:
        return fingerprint(self.public)

    def sign(self, payload: dict[str, Any], *, typ: str) -> str:
        """`payload` as compact JSON, signed: a compact JWS."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        header = {"alg": ALGORITHM, "typ": typ, "kid": self.kid}
        return jws.serialize_compact(
            header, body, OKPKey.import_key(self.private), algorithms=[ALGORITHM]
        )

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


def verify(token: str, key: Ed25519PublicKey, *, typ: str) -> bytes:
    """The payload of `token` if it is a compact JWS of `typ` signed by `key`."""
    if len(token) > MAX_JWS_CHARS:
        raise SignatureRefused("the JWS is too large", malformed=True)
    try:
        parsed = jws.extract_compact(token.encode("ascii"))
        header = parsed.headers()
    except (JoseError, ValueError, TypeError, KeyError, UnicodeError):
        raise SignatureRefused("not a compact JWS", malformed=True) from None
    if header.get("alg") != ALGORITHM:
        raise SignatureRefused(f"the JWS algorithm must be {ALGORITHM}", malformed=True)
    if header.get("typ") != typ:
        raise SignatureRefused(f"the JWS type must be {typ}", malformed=True)
    try:
        valid = jws.validate_compact(parsed, OKPKey.import_key(key), algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError, KeyError):
        valid = False
    if not valid:
        raise SignatureRefused("the signature does not verify", malformed=False)
    return bytes(parsed.payload)


def load_signing_key(settings: EscalationSettings) -> SigningKey:
    """From ESCALATION_SIGNING_KEY, else in development a key generated once under var/keys/."""
    if settings.signing_key is not None:
        text = settings.signing_key.get_secret_value()
    elif settings.require_keys:
        raise CryptoError("ESCALATION_SIGNING_KEY is required")
    else:
        made = read_or_create_secret_file(
            settings.keys_dir / SIGNING_KEY_FILE, lambda: _b64(os.urandom(32)).encode()
        )
        text = made.decode("ascii", "replace")
    try:
        raw = _unb64(text)
        if len(raw) != 32:
            raise ValueError("wrong length")
    except ValueError:
        raise CryptoError("the signing key must be base64 of 32 bytes") from None
    return SigningKey(Ed25519PrivateKey.from_private_bytes(raw))
