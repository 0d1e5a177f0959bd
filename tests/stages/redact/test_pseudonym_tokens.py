"""Keyed pseudonyms: stable across formatting variants, unlinkable across tenants."""

from __future__ import annotations

import hashlib
import hmac
import pickle

import pytest

from docveil.errors import ConfigError
from docveil.stages.redact.pseudonyms import (
    TOKEN_PATTERN,
    Pseudonymizer,
    normalise,
    token_for,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


@pytest.mark.parametrize(("entity_type", "variants"), [
    ("PERSON", ["Jane Roe", "  JANE   roe ", "jane\u00a0Roe", "\uff2a\uff41\uff4e\uff45 Roe", "Jane\nRoe",
                "Roe, Jane", "JaneRoe"]),
    ("EMAIL_ADDRESS", ["jane.roe@example.com", "Jane.Roe@Example.COM ", "jane.roe [at] example [dot] com", "jane dot roe at example dot com",
                       "jane.roe(AT)example.com", "jane.roe at example dot com", "jane.roe@example{dot}com",
                       "jane.roe@example[.]com", "jane.roe[@]example.com"]),
    ("PHONE_NUMBER", ["(415) 555-0134", "415.555.0134", "+1 415 555 0134", "415-555-0134", "+14155550134"]),
    ("CREDIT_CARD", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111"]),
    ("IBAN_CODE", ["DE89 3704 0044 0532 0130 00", "de89370400440532013000", "DE89-3704-0044-0532-0130-00"]),
    ("US_SSN", ["219-09-9999", "219 09 9999", "219099999"]),
    ("PASSPORT", ["X12345678", "x 1234 5678"]),
])
def test_formatting_variants_get_the_same_token(entity_type: str, variants: list[str]) -> None:
    pseudonymizer = Pseudonymizer(KEY_A)
    assert len({pseudonymizer.token(value, entity_type) for value in variants}) == 1


@pytest.mark.parametrize(("entity_type", "a", "b"), [
    ("PERSON", "Jane Roe", "Jane Rowe"),
    ("PHONE_NUMBER", "(415) 555-0134", "(415) 555-0135"),
    ("CREDIT_CARD", "4111 1111 1111 1111", "4012 8888 8888 1881"),
])
def test_different_values_get_different_tokens(entity_type: str, a: str, b: str) -> None:
    pseudonymizer = Pseudonymizer(KEY_A)
    assert pseudonymizer.token(a, entity_type) != pseudonymizer.token(b, entity_type)


def test_tokens_of_different_tenants_cannot_be_linked() -> None:
    a, b = Pseudonymizer(KEY_A), Pseudonymizer(KEY_B)
    for value, entity_type in [("Jane Roe", "PERSON"), ("4111 1111 1111 1111", "CREDIT_CARD")]:
        assert a.digest(value, entity_type) != b.digest(value, entity_type)
        assert a.token(value, entity_type)[-11:] != b.token(value, entity_type)[-11:]


def test_digest_is_the_keyed_hmac_of_the_normalised_value_and_namespace() -> None:
    expected = hmac.new(KEY_A, b"name\x1fjane roe", hashlib.sha256).hexdigest()
    assert Pseudonymizer(KEY_A).digest(" Jane  ROE", "PERSON") == expected
    unkeyed = hashlib.sha256(b"jane roe").hexdigest()
    assert expected != unkeyed


def test_name_like_types_share_digests_other_types_do_not() -> None:
    p = Pseudonymizer(KEY_A)
    assert p.digest("John Smith", "PERSON") == p.digest("JOHN SMITH", "LOCATION") == \
        p.digest("John Smith", "ORGANIZATION")
    assert p.digest("X12345678", "PASSPORT") == p.digest("X12345678", "US_PASSPORT")
    assert p.digest("D1234567", "DRIVER_LICENSE") == p.digest("D1234567", "US_DRIVER_LICENSE")
    assert p.digest("D1234567", "DRIVER_LICENSE") != p.digest("D1234567", "PASSPORT")
    assert p.digest("jane", "PERSON") != p.digest("jane", "EMPLOYEE_ID")


def test_token_shape_and_pattern() -> None:
    digest = Pseudonymizer(KEY_A).digest("Jane Roe", "PERSON")
    token = token_for("PERSON", digest)
    assert token == f"<PERSON_{digest[:10]}>"
    match = TOKEN_PATTERN.fullmatch(token)
    assert match is not None and match.groups() == ("PERSON", digest[:10])
    text = f"{token_for('US_SSN', digest)} and {token_for('EMAIL_ADDRESS', digest)}, not <PERSON_XYZ>"
    assert [m.group(1) for m in TOKEN_PATTERN.finditer(text)] == ["US_SSN", "EMAIL_ADDRESS"]
    assert TOKEN_PATTERN.fullmatch(token_for("employee id", digest)).group(1) == "EMPLOYEE_ID"


def test_normalise_is_nfkc_casefolded_and_collapses_whitespace() -> None:
    assert normalise("  Stra\u00dfe \t Nr.\n5 ") == "strasse nr. 5"
    assert Pseudonymizer(KEY_A).normalise("\uff21BC  Def") == "abc def"
    assert normalise("+49 (30) 1234-567", "IBAN_CODE") == "+49301234567"


@pytest.mark.parametrize("key", [b"", b"short", bytes(31), bytes(33), "0" * 32])
def test_a_key_that_is_not_32_bytes_is_refused(key: object) -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        Pseudonymizer(key)  # type: ignore[arg-type]


def test_the_key_is_not_shown_nor_pickled() -> None:
    pseudonymizer = Pseudonymizer(b"K" * 32)
    assert "KKKK" not in repr(pseudonymizer)
    with pytest.raises(TypeError):
        pickle.dumps(pseudonymizer)
