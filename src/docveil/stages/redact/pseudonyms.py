"""Keyed, per-tenant pseudonyms: the same value gets the same token, across documents.

A digest is ``HMAC-SHA256(tenant key, namespace + "\\x1f" + normalised value)``. Without the
tenant's key a token cannot be linked to a value (no dictionary attack) nor to the token of
another tenant for the same value.

Namespaces decide which entity types share digests. Types that a detector can confuse for one
another share one, so a value keeps its digest whichever of them it was detected as:

- ``name``: PERSON, LOCATION, ORGANIZATION, NRP (spaCy may tag "JOHN SMITH" as a place)
- ``passport``: PASSPORT, US_PASSPORT and any other ``*_PASSPORT``
- ``driver_license``: DRIVER_LICENSE, US_DRIVER_LICENSE and any other ``*_DRIVER_LICENSE``
- every other type is its own namespace (its name), so equal strings of unrelated kinds
  (a licence number and an employee ID) are not linked by their tokens.

Normalisation makes formatting variants equal: Unicode NFKC, case folding and collapsed
whitespace for every type; identifiers (phone, card, IBAN, SSN, passport, licence numbers) also
lose spaces, dashes, dots, slashes and parentheses; phone numbers become E.164 where they parse
(national numbers are read as US numbers).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

import phonenumbers
from cryptography.hazmat.primitives import hashes, hmac

from docveil.errors import ConfigError
from docveil.stages.detect.obfuscated_email import email_address

KEY_BYTES = 32
TOKEN_DIGEST_CHARS = 10
DEFAULT_PHONE_REGION = "US"

TOKEN_PATTERN: re.Pattern[str] = re.compile(r"<([A-Z][A-Z0-9_]*)_([0-9a-f]{10})>")
"""A pseudonym token in text; group 1 is the entity type, group 2 the short digest."""

NAME_TYPES = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP"})
IDENTIFIER_TYPES = frozenset({
    "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "US_ITIN", "US_BANK_NUMBER",
    "PASSPORT", "US_PASSPORT", "DRIVER_LICENSE", "US_DRIVER_LICENSE", "NATIONAL_ID", "BANK_ACCOUNT",
    "RECORD_ID", "LICENSE_PLATE",
})
_SEPARATORS = re.compile(r"[\s\-./()]+")
# A name written as one word of capitalised parts of three letters or more ("UlrichStavenhagen",
# not "McDonald" or "DeShawn").
_CAMEL_HUMP = re.compile(r"[A-Z\u00c0-\u00d6\u00d8-\u00de][a-z\u00df-\u00f6\u00f8-\u00ff]{2,}")
_CAMEL_CASE = re.compile(rf"(?:{_CAMEL_HUMP.pattern}){{2,}}")
_WHITESPACE = re.compile(r"\s+")
# Characters that show nothing but split a word for a detector: "Ther\u200besa", "Kowal\u00adski".
INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")


def namespace(entity_type: str) -> str:
    """The digest namespace of an entity type (see the module docstring)."""
    if entity_type in NAME_TYPES:
        return "name"
    if entity_type.endswith("PASSPORT"):
        return "passport"
    if entity_type.endswith("DRIVER_LICENSE"):
        return "driver_license"
    return entity_type


def normalise(value: str, entity_type: str | None = None) -> str:
    """The canonical form of ``value``: what two formatting variants of it have in common."""
    value = INVISIBLE.sub("", unicodedata.normalize("NFKC", value))
    if entity_type == "PERSON" and _CAMEL_CASE.fullmatch(value.strip()):  # "UlrichStavenhagen" is Ulrich Stavenhagen
        value = " ".join(_CAMEL_HUMP.findall(value))
    text = _WHITESPACE.sub(" ", value.casefold()).strip()
    if entity_type is None:
        return text
    if entity_type == "PHONE_NUMBER":
        return _phone(text)
    if entity_type == "EMAIL_ADDRESS":  # "jane [at] example [dot] org" is jane@example.org
        return email_address(text)
    if entity_type == "PERSON":  # "Roe, Jane" is Jane Roe
        return given_first(text) or text
    if entity_type in IDENTIFIER_TYPES or namespace(entity_type) in ("passport", "driver_license"):
        return _SEPARATORS.sub("", text)
    return text


def given_first(name: str) -> str | None:
    """A name written "Surname, Given" in the usual order ("Roe, Jane" is "Jane Roe"); None for
    a name written otherwise."""
    if name.count(",") != 1:
        return None
    surname, given = (part.strip() for part in name.split(","))
    return f"{given} {surname}" if given and surname else None


def _phone(text: str) -> str:
    try:
        number = phonenumbers.parse(text, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return _SEPARATORS.sub("", text)


class Pseudonymizer:
    """Digests values under one tenant's pseudonym key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
            raise ConfigError(f"a pseudonym key must be {KEY_BYTES} bytes")
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "Pseudonymizer(key=<hidden>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Pseudonymizer holds a key and cannot be pickled")

    def normalise(self, value: str, entity_type: str | None = None) -> str:
        """See :func:`normalise`."""
        return normalise(value, entity_type)

    def digest(self, value: str, entity_type: str) -> str:
        """Hex HMAC-SHA256 of the normalised value in the entity type's namespace."""
        mac = hmac.HMAC(self._key, hashes.SHA256())
        mac.update(namespace(entity_type).encode("utf-8") + b"\x1f"
                   + normalise(value, entity_type).encode("utf-8"))
        return mac.finalize().hex()

    def token(self, value: str, entity_type: str) -> str:
        """The pseudonym token of ``value``."""
        return token_for(entity_type, self.digest(value, entity_type))


def type_label(entity_type: str) -> str:
    """``entity_type`` as it appears in tokens: upper case letters, digits and underscores."""
    label = re.sub(r"[^A-Z0-9_]", "_", entity_type.upper())
    return label if label[:1].isalpha() else f"X{label}"


def token_for(entity_type: str, digest: str) -> str:
    """``<PERSON_7f3a2c9e1b>``: the type label and the first 10 hex characters of the digest."""
    return f"<{type_label(entity_type)}_{digest[:TOKEN_DIGEST_CHARS]}>"


def subject_key(entity_type: str, digest: str) -> tuple[str, str]:
    """What every token of one subject has in common, whichever label of its namespace it
    carries (``<PERSON_1239ef8040>``, ``<LOCATION_1239ef8040>``): short digest, namespace."""
    return digest[:TOKEN_DIGEST_CHARS], namespace(type_label(entity_type))


def remove_tokens(text: str, subjects: Collection[tuple[str, str]]) -> str:
    """``text`` with the tokens of ``subjects`` (:func:`subject_key`) reduced to their label."""
    return TOKEN_PATTERN.sub(lambda m: f"<{m[1]}>" if (m[2], namespace(m[1])) in subjects else m[0], text)
