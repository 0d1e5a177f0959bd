"""A stand-in KMS: keys live in a dict, as they would inside a key-management service.

Registering this module replaces the local key provider: ``docveil_key_provider`` is a
first-result hook and the local provider is registered ``trylast``.
"""

from __future__ import annotations

import os
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from docveil import hookimpl
from docveil.context import StageContext, StashKey
from docveil.errors import CryptoError

KEY_ID = "kms:test/1"


class InMemoryKms:
    """Wraps data keys with AES-GCM under a key that never leaves the "service"."""

    def __init__(self) -> None:
        self._keys = {KEY_ID: AESGCM(AESGCM.generate_key(bit_length=256))}
        self.key_id = KEY_ID

    def wrap(self, data_key: bytes, associated_data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._keys[self.key_id].encrypt(nonce, data_key, associated_data)

    def unwrap(self, wrapped: bytes, associated_data: bytes, key_id: str) -> bytes:
        if key_id not in self._keys:
            raise CryptoError(f"KMS key {key_id} does not exist")
        try:
            return self._keys[key_id].decrypt(wrapped[:12], wrapped[12:], associated_data)
        except InvalidTag:
            raise CryptoError(f"KMS key {key_id} refused to unwrap this data key") from None

    def __repr__(self) -> str:
        return f"InMemoryKms(key_id={self.key_id!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("InMemoryKms holds secret keys and cannot be pickled")


_KMS: StashKey[InMemoryKms] = StashKey("tests.kms_plugin.provider")


@hookimpl
def docveil_key_provider(context: StageContext) -> InMemoryKms:
    return context.stash.get(_KMS, InMemoryKms)
