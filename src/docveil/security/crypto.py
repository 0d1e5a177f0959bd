"""Field encryption (AES-256-GCM bound to tenant, owner and field) and small key helpers.

Only ``cryptography`` primitives are used here; this module composes them, it does not
implement any.

A field blob is self-describing::

    format (1 byte) | key version (4 bytes, big-endian) | nonce (12 bytes) | ciphertext + tag

The header is part of the associated data, so a blob cannot be relabelled with another key
version, and the associated data binds tenant, owner and field, so a blob copied into another
row or column fails to decrypt instead of revealing its content there.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from docveil.errors import CryptoError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT_VERSION = 1
MAX_KEY_VERSION = 2**32 - 1

_HEADER = struct.Struct(">BI")
_FIELD_LABEL = b"docveil/field/v1"


def length_prefixed(*parts: str | bytes) -> bytes:
    """Encode ``parts`` so that no two different sequences give the same bytes.

    Each part is UTF-8 (when a str) and preceded by its 4-byte big-endian length; plain
    concatenation would let ("ab", "c") and ("a", "bc") collide.
    """
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8") if isinstance(part, str) else bytes(part)
        out += struct.pack(">I", len(raw))
        out += raw
    return bytes(out)


def associated_data(tenant: str, owner: str, field: str) -> bytes:
    """The associated data that binds a field ciphertext to its tenant, owner and field name."""
    return length_prefixed(_FIELD_LABEL, tenant, owner, field)


def random_key() -> bytes:
    """A fresh 256-bit key from the operating system's CSPRNG."""
    return secrets.token_bytes(KEY_BYTES)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 of ``data`` under ``key`` (32 bytes)."""
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def derive_key(key: bytes, info: str, *, length: int = KEY_BYTES) -> bytes:
    """A subkey of ``key`` for one purpose (HKDF-SHA256), so one secret never serves two roles."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                info=info.encode("utf-8")).derive(key)


def _check_key(key: bytes, what: str) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
        raise CryptoError(f"{what} needs a {KEY_BYTES}-byte AES-256 key")


def encrypt_field(key: bytes, plaintext: bytes | str, *, tenant: str, owner: str, field: str,
                  key_version: int) -> bytes:
    """Encrypt one field value under ``key`` (version ``key_version``) for tenant/owner/field."""
    _check_key(key, f"encrypting field {field!r} of {owner!r}")
    if not 0 <= key_version <= MAX_KEY_VERSION:
        raise CryptoError(f"key version must be between 0 and {MAX_KEY_VERSION}")
    data = plaintext.encode("utf-8") if isinstance(plaintext, str) else bytes(plaintext)
    header = _HEADER.pack(FORMAT_VERSION, key_version)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(bytes(key)).encrypt(nonce, data, header + associated_data(tenant, owner, field))
    return header + nonce + sealed


def _parse(blob: bytes, where: str) -> tuple[bytes, int, bytes, bytes]:
    if len(blob) < _HEADER.size + NONCE_BYTES + TAG_BYTES:
        raise CryptoError(f"{where}: the ciphertext is truncated or not a docveil field blob")
    header = bytes(blob[:_HEADER.size])
    fmt, key_version = _HEADER.unpack(header)
    if fmt != FORMAT_VERSION:
        raise CryptoError(f"{where}: unknown ciphertext format {fmt} (this docveil reads format "
                          f"{FORMAT_VERSION})")
    nonce = bytes(blob[_HEADER.size:_HEADER.size + NONCE_BYTES])
    return header, key_version, nonce, bytes(blob[_HEADER.size + NONCE_BYTES:])


def blob_key_version(blob: bytes) -> int:
    """The version of the key a field blob was encrypted with (read from its header)."""
    return _parse(blob, "reading the key version")[1]


def decrypt_field(key_lookup: Callable[[int], bytes] | bytes, blob: bytes, *, tenant: str,
                  owner: str, field: str) -> bytes:
    """Decrypt a blob made by ``encrypt_field`` for the same tenant, owner and field.

    ``key_lookup`` is the key itself or a function from key version to key (it may raise
    ``KeyError`` for an unknown version or ``CryptoError`` for a destroyed one). Raises
    ``CryptoError`` naming the field and owner when the blob was altered, belongs elsewhere, or
    the key is wrong.
    """
    where = f"cannot decrypt field {field!r} of {owner!r}"
    header, key_version, nonce, sealed = _parse(blob, where)
    if isinstance(key_lookup, (bytes, bytearray)):
        key = bytes(key_lookup)
    else:
        try:
            key = key_lookup(key_version)
        except LookupError as exc:
            raise CryptoError(f"{where}: no key version {key_version} is available") from exc
        if key is None:
            raise CryptoError(f"{where}: no key version {key_version} is available")
    _check_key(key, where)
    try:
        return AESGCM(bytes(key)).decrypt(nonce, sealed, header + associated_data(tenant, owner, field))
    except InvalidTag:
        raise CryptoError(f"{where} (key version {key_version}): authentication failed; the "
                          "key is wrong, or the ciphertext was altered or belongs to another "
                          "row or field") from None
