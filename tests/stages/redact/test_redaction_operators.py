"""The built-in operators, and the plugin hook that provides them."""

from __future__ import annotations

import pytest

from docveil.config import Settings
from docveil.context import StageContext
from docveil.plugins import make_plugin_manager
from docveil.protocols import Operator
from docveil.stages.redact.operators import OPERATORS
from docveil.stages.redact.pseudonyms import Pseudonymizer

PSEUDONYMIZER = Pseudonymizer(bytes(range(32)))


def apply(name: str, value: str, entity_type: str) -> str:
    return OPERATORS[name](value, entity_type, PSEUDONYMIZER.digest(value, entity_type))


@pytest.mark.parametrize(("name", "value", "entity_type", "expected"), [
    ("label", "Jane Roe", "PERSON", "<PERSON>"),
    ("label", "219-09-9999", "US_SSN", "<US_SSN>"),
    ("mask", "4111 1111 1111 1111", "CREDIT_CARD", "**** **** **** 1111"),
    ("mask", "(415) 555-0134", "PHONE_NUMBER", "(***) ***-0134"),
    ("mask", "219-09-9999", "US_SSN", "***-**-9999"),
    ("mask", "DE89 3704 0044 0532 0130 00", "IBAN_CODE", "**** **** **** **** **30 00"),
    ("mask", "Jane Roe", "PERSON", "********"),
    ("mask", "jane.roe@example.com", "EMAIL_ADDRESS", "********************"),
    ("mask", "14.03.1985", "DATE_OF_BIRTH", "**********"),
    ("mask", "192.168.100.200", "IP_ADDRESS", "***************"),
    ("mask", "1234", "PHONE_NUMBER", "****"),
    ("drop", "Jane Roe", "PERSON", ""),
])
def test_operator_output(name: str, value: str, entity_type: str, expected: str) -> None:
    assert apply(name, value, entity_type) == expected


def test_pseudonym_is_the_token_of_the_digest() -> None:
    assert apply("pseudonym", "Jane Roe", "PERSON") == PSEUDONYMIZER.token("Jane Roe", "PERSON")
    assert apply("pseudonym", "JANE  ROE", "PERSON") == apply("pseudonym", "Jane Roe", "PERSON")


def test_hash_is_keyed_and_carries_32_hex_characters() -> None:
    digest = PSEUDONYMIZER.digest("Jane Roe", "PERSON")
    assert apply("hash", "Jane Roe", "PERSON") == f"<PERSON#{digest[:32]}>"
    other_tenant = Pseudonymizer(bytes(32)).digest("Jane Roe", "PERSON")
    assert OPERATORS["hash"]("Jane Roe", "PERSON", other_tenant) != apply("hash", "Jane Roe", "PERSON")


def test_operators_never_echo_the_value() -> None:
    for name in OPERATORS:
        assert "Roe" not in apply(name, "Jane Roe", "PERSON")


def test_the_default_plugin_provides_every_operator(tmp_path) -> None:
    settings = Settings(home=tmp_path, load_entry_points=False)
    pm = make_plugin_manager(settings)
    merged: dict[str, Operator] = {}
    for mapping in pm.hook.docveil_redaction_operators(context=StageContext(settings, hook=pm.hook)):
        merged.update(mapping)
    assert {"pseudonym", "label", "mask", "hash", "drop"} <= set(merged)
    assert all(isinstance(operator, Operator) for operator in merged.values())
