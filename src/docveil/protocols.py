"""The roles a plugin can fill, as Protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from docveil.types import RedactedImage, RedactedText


@runtime_checkable
class TextEncoder(Protocol):
    """Turns redacted text into unit-length vectors."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[RedactedText]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimension), L2-normalised."""
        ...


@runtime_checkable
class ImageEncoder(Protocol):
    """Turns redacted pictures, and redacted text that describes pictures, into unit-length
    vectors of one space (a two-tower model such as CLIP)."""

    name: str
    dimension: int

    def encode_images(self, images: Sequence[RedactedImage]) -> np.ndarray:
        """Return a float32 array of shape (len(images), dimension), L2-normalised."""
        ...

    def encode_texts(self, texts: Sequence[RedactedText]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimension), L2-normalised."""
        ...


@runtime_checkable
class Operator(Protocol):
    """Replaces one detected value; returns the replacement text.

    ``digest`` is the tenant-keyed HMAC of the normalised value (hex); the pseudonym token is
    built from it, so operators never need the key itself.
    """

    def __call__(self, value: str, entity_type: str, digest: str) -> str: ...


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps data keys under a key-encryption key it keeps."""

    @property
    def key_id(self) -> str:
        """The id of the current key-encryption key (never the key itself)."""
        ...

    def wrap(self, data_key: bytes, associated_data: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, associated_data: bytes, key_id: str) -> bytes: ...


@runtime_checkable
class AuditSink(Protocol):
    def __call__(self, record: Mapping[str, Any]) -> None: ...
