from __future__ import annotations

import pytest

from docveil.errors import CryptoError
from docveil.security.crypto import (
    associated_data,
    blob_key_version,
    decrypt_field,
    derive_key,
    encrypt_field,
    hmac_sha256,
    length_prefixed,
    random_key,
)

WHERE = {"tenant": "acme", "owner": "doc-1", "field": "file_name"}


@pytest.fixture()
def key() -> bytes:
    return random_key()


def test_field_round_trips_text_and_bytes(key: bytes) -> None:
    text_blob = encrypt_field(key, "Jane Roe – contract.pdf", key_version=1, **WHERE)
    byte_blob = encrypt_field(key, b"\x00\xffraw", key_version=1, **WHERE)

    assert decrypt_field(key, text_blob, **WHERE) == "Jane Roe – contract.pdf".encode()
    assert decrypt_field(key, byte_blob, **WHERE) == b"\x00\xffraw"


def test_ciphertext_does_not_contain_the_plaintext_and_is_randomised(key: bytes) -> None:
    first = encrypt_field(key, "Jane Roe", key_version=1, **WHERE)
    second = encrypt_field(key, "Jane Roe", key_version=1, **WHERE)

    assert b"Jane" not in first
    assert first != second


@pytest.mark.parametrize("moved", [
    {"tenant": "globex"},
    {"owner": "doc-2"},
    {"field": "author"},
])
def test_ciphertext_moved_to_another_tenant_row_or_field_fails(key: bytes, moved: dict[str, str]) -> None:
    blob = encrypt_field(key, "Jane Roe", key_version=1, **WHERE)
    target = {**WHERE, **moved}

    with pytest.raises(CryptoError) as failure:
        decrypt_field(key, blob, **target)

    message = str(failure.value)
    assert repr(target["field"]) in message and repr(target["owner"]) in message
    assert "Jane" not in message


def test_tampered_blob_fails_for_every_byte_position(key: bytes) -> None:
    blob = encrypt_field(key, "secret value", key_version=3, **WHERE)

    for position in range(len(blob)):
        altered = bytearray(blob)
        altered[position] ^= 0x01
        with pytest.raises(CryptoError):
            decrypt_field(lambda version: key, bytes(altered), **WHERE)


def test_truncated_and_foreign_blobs_fail_clearly(key: bytes) -> None:
    blob = encrypt_field(key, "x", key_version=1, **WHERE)

    with pytest.raises(CryptoError, match="truncated"):
        decrypt_field(key, blob[:20], **WHERE)
    with pytest.raises(CryptoError, match="unknown ciphertext format 9"):
        decrypt_field(key, b"\x09" + blob[1:], **WHERE)


def test_wrong_key_fails(key: bytes) -> None:
    blob = encrypt_field(key, "x", key_version=1, **WHERE)

    with pytest.raises(CryptoError, match="authentication failed"):
        decrypt_field(random_key(), blob, **WHERE)


def test_key_version_is_read_from_the_blob_and_used_for_lookup() -> None:
    keys = {1: random_key(), 2: random_key()}
    old = encrypt_field(keys[1], "old", key_version=1, **WHERE)
    new = encrypt_field(keys[2], "new", key_version=2, **WHERE)
    asked: list[int] = []

    def lookup(version: int) -> bytes:
        asked.append(version)
        return keys[version]

    assert (blob_key_version(old), blob_key_version(new)) == (1, 2)
    assert decrypt_field(lookup, old, **WHERE) == b"old"
    assert decrypt_field(lookup, new, **WHERE) == b"new"
    assert asked == [1, 2]


def test_unknown_key_version_fails_clearly() -> None:
    blob = encrypt_field(random_key(), "x", key_version=7, **WHERE)

    with pytest.raises(CryptoError, match="no key version 7"):
        decrypt_field({1: random_key()}.__getitem__, blob, **WHERE)


def test_key_version_in_header_is_authenticated(key: bytes) -> None:
    blob = encrypt_field(key, "x", key_version=1, **WHERE)
    relabelled = blob[:1] + (2).to_bytes(4, "big") + blob[5:]

    assert blob_key_version(relabelled) == 2
    with pytest.raises(CryptoError):
        decrypt_field(lambda version: key, relabelled, **WHERE)


def test_keys_of_the_wrong_size_are_refused() -> None:
    with pytest.raises(CryptoError, match="32-byte"):
        encrypt_field(b"short", "x", key_version=1, **WHERE)
    with pytest.raises(CryptoError, match="key version"):
        encrypt_field(random_key(), "x", key_version=-1, **WHERE)


def test_associated_data_is_unambiguous() -> None:
    assert associated_data("ab", "c", "d") != associated_data("a", "bc", "d")
    assert associated_data("a", "b", "cd") != associated_data("a", "bc", "d")
    assert length_prefixed("ab", "c") != length_prefixed("a", "bc")


def test_random_keys_are_32_fresh_bytes() -> None:
    keys = {random_key() for _ in range(50)}

    assert len(keys) == 50
    assert all(len(k) == 32 for k in keys)


def test_hmac_sha256_matches_rfc4231_case_2() -> None:
    digest = hmac_sha256(b"Jefe", b"what do ya want for nothing?")

    assert digest.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_derived_keys_differ_per_purpose_and_are_stable(key: bytes) -> None:
    assert derive_key(key, "pseudonym") == derive_key(key, "pseudonym")
    assert derive_key(key, "pseudonym") != derive_key(key, "vault")
    assert len(derive_key(key, "pseudonym")) == 32
