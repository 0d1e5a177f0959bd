"""The built-in redaction operators: a default plugin.

Each operator turns one detected value into its replacement; see ``docveil.protocols.Operator``.
``digest`` is the tenant-keyed HMAC of the normalised value, so no operator needs the key.
"""

from __future__ import annotations

from collections.abc import Mapping

from docveil.context import StageContext
from docveil.hookspecs import hookimpl
from docveil.protocols import Operator
from docveil.stages.redact.pseudonyms import token_for, type_label

MASK_CHAR = "*"
MASK_KEEP = 4
HASH_DIGEST_CHARS = 32
# Values whose last characters say too much (a birth year, a host) are always fully masked.
FULLY_MASKED_TYPES = frozenset({"DATE_OF_BIRTH", "IP_ADDRESS"})


def pseudonym(value: str, entity_type: str, digest: str) -> str:
    """``<PERSON_7f3a2c9e1b>``: the same value gets the same token within a tenant."""
    return token_for(entity_type, digest)


def label(value: str, entity_type: str, digest: str) -> str:
    """``<PERSON>``: only the type is kept."""
    return f"<{type_label(entity_type)}>"


def mask(value: str, entity_type: str, digest: str) -> str:
    """Same length, ``*`` for each character; number-like values keep their last 4 characters.

    A value is number-like (a card, a phone number, an IBAN) when it has at least 9 digits and
    digits are at least two thirds of its letters and digits; its separators are kept, so
    "4111 1111 1111 1111" becomes "**** **** **** 1111".
    """
    alnum = [ch for ch in value if ch.isalnum()]
    digits = sum(ch.isdigit() for ch in alnum)
    if entity_type in FULLY_MASKED_TYPES or digits < 9 or 3 * digits < 2 * len(alnum):
        return MASK_CHAR * len(value)
    kept = 0
    out = []
    for ch in reversed(value):
        if not ch.isalnum():
            out.append(ch)
        elif kept < MASK_KEEP:
            out.append(ch)
            kept += 1
        else:
            out.append(MASK_CHAR)
    return "".join(reversed(out))


def keyed_hash(value: str, entity_type: str, digest: str) -> str:
    """``<PERSON#`` + 32 hex characters of the keyed digest + ``>``: irreversible without the key."""
    return f"<{type_label(entity_type)}#{digest[:HASH_DIGEST_CHARS]}>"


def drop(value: str, entity_type: str, digest: str) -> str:
    """Nothing: the value is removed."""
    return ""


OPERATORS: Mapping[str, Operator] = {
    "pseudonym": pseudonym,
    "label": label,
    "mask": mask,
    "hash": keyed_hash,
    "drop": drop,
}


@hookimpl
def docveil_redaction_operators(context: StageContext) -> Mapping[str, Operator]:
    return dict(OPERATORS)
