"""Email addresses written to dodge harvesters: ``jane [at] example [dot] org``,
``jane(at)example.org``, ``jane at example dot org``, ``jane dot roe at example dot org``, and
defanged in security reports: ``jane.roe@contoso[.]com``, ``jane[@]contoso.com``.

``email_address`` gives the address they stand for, so the pseudonym of the written-out form
is the pseudonym of the address itself; the recognizer lives in ``recognizers``.
"""

from __future__ import annotations

import re

_OPEN, _CLOSE = r"[\[({<]", r"[\])}>]"
# "[at]", "(at)", " at " (spaced, any case) or "@"; the same for "dot" and ".".
# Defanged as in security reports too: "[@]", "[.]", "(.)".
_AT = rf"(?:[ \t]*{_OPEN}[ \t]*(?i:at|@)[ \t]*{_CLOSE}[ \t]*|[ \t]+(?i:at)[ \t]+|@)"
_SPELLED_DOT_PATTERN = rf"(?:[ \t]*{_OPEN}[ \t]*(?i:dot|\.)[ \t]*{_CLOSE}[ \t]*|[ \t]+(?i:dot)[ \t]+)"
_DOT = rf"(?:{_SPELLED_DOT_PATTERN}|\.)"
# Bounded as in RFC 5321 (64 for the local part, 63 per label): unbounded repeats backtrack over
# every "-" of a long hyphenated run, worse than quadratically in Presidio's regex engine.
_LOCAL = r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9])?"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

# The local part may spell its dots out too ("jane dot roe at example dot org"); only spelled
# ones join its parts, so a written "." is read one way only (no backtracking between them).
OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.@%+-]){_LOCAL}(?:{_SPELLED_DOT_PATTERN}{_LOCAL}){{0,4}}{_AT}{_LABEL}(?:{_DOT}{_LABEL})+(?![\w@])")
"""An address with "at" or "dot" spelled out; what it matches is checked by ``is_obfuscated``."""

_SPELLED_AT = re.compile(_AT)
_SPELLED_DOT = re.compile(_DOT)


# Runs of blanks as one, before the searches below: "[ \t]*" tried at each blank of a long run
# would take a time quadratic in its length.
_BLANKS = re.compile(r"[ \t]+")


def email_address(written: str) -> str:
    """The address ``written`` stands for: its spelled-out "at" and "dot" as ``@`` and ``.``;
    text that is no address comes back as it is."""
    written = _BLANKS.sub(" ", written)
    at = _SPELLED_AT.search(written)
    if at is None:
        return written
    return f"{_SPELLED_DOT.sub('.', written[:at.start()])}@{_SPELLED_DOT.sub('.', written[at.end():])}"


def is_obfuscated(written: str) -> bool:
    """Whether ``written`` hides an address: an "at" in brackets, or a "dot" spelled out. A
    plain address is Presidio's; "works at example.com" is no address."""
    written = _BLANKS.sub(" ", written)
    at = _SPELLED_AT.search(written)
    if at is None:
        return False
    if re.search(_OPEN, at.group(0)):
        return True
    return any(dot.group(0) != "." for dot in _SPELLED_DOT.finditer(written))  # local part too
