"""How the results of several stage plugins are combined, shared by the engine and the stages
that run detection themselves (images)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import replace

from docveil.context import StageContext
from docveil.protocols import Operator
from docveil.stages.detect.overlaps import SpanIndex, resolve_overlaps
from docveil.stages.redact.pseudonyms import INVISIBLE, TOKEN_PATTERN, normalise
from docveil.types import Finding


def detect_texts(texts: Sequence[str], context: StageContext) -> list[list[Finding]]:
    """Findings of every ``docveil_detect_text`` plugin, merged per text, overlaps resolved.

    Detectors read each text without its invisible characters (a zero-width space or a soft
    hyphen inside a name hides it from them); findings come back in the text's own offsets. A
    finding whose whole text is a term of ``Settings.allow_list`` is dropped before overlaps are
    resolved, so another finding over the same words may still count. Nothing inside one of
    docveil's own tokens is a finding."""
    if not texts:
        return []
    readable = [_without_invisible(text) for text in texts]
    merged: list[list[Finding]] = [[] for _ in texts]
    for per_detector in context.hook.docveil_detect_text(texts=[text for text, _ in readable], context=context):
        for index, findings in enumerate(per_detector):
            merged[index].extend(findings)
    allowed = _allowed(context.settings.allow_list)
    return [[_placed(f, origin) for f in resolve_overlaps(_kept(findings, text, allowed), text)]
            for (text, origin), findings in zip(readable, merged, strict=True)]


def _kept(findings: list[Finding], text: str, allowed: frozenset[str]) -> list[Finding]:
    """``findings`` trimmed, without allowed terms and without what lies inside one of docveil's
    own tokens (the digits of "<PERSON_0612345678>" are no phone number)."""
    tokens = SpanIndex(match.span() for match in TOKEN_PATTERN.finditer(text))
    trimmed = (_trimmed(finding, text) for finding in findings)
    return [finding for finding in trimmed
            if not tokens.holds(finding.start, finding.end)
            and not (allowed and normalise(text[finding.start:finding.end]) in allowed)]


@functools.lru_cache(maxsize=8)
def _allowed(terms: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalise(term) for term in terms)


def _without_invisible(text: str) -> tuple[str, list[int] | None]:
    """``text`` without invisible characters, and where each remaining one was (None: unchanged)."""
    if INVISIBLE.search(text) is None:
        return text, None
    origin = [index for index, character in enumerate(text) if not INVISIBLE.fullmatch(character)]
    return "".join(text[index] for index in origin), origin


def _placed(finding: Finding, origin: list[int] | None) -> Finding:
    if origin is None:
        return finding
    return replace(finding, start=origin[finding.start], end=origin[finding.end - 1] + 1)


_NAMES = frozenset({"PERSON", "LOCATION"})
_POSSESSIVE = re.compile(r"['\u2019]s?$")


def _trimmed(finding: Finding, text: str) -> Finding:
    """Without the white space a detector took in at either end ("Jane Roe\n": replacing it
    would join two lines), and without a possessive ("Jane Roe's" would get another token than
    "Jane Roe")."""
    start, end = finding.start, finding.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if finding.entity_type in _NAMES:
        possessive = _POSSESSIVE.search(text, start, end)
        if possessive is not None and possessive.start() > start:
            end = possessive.start()
    return finding if (start, end) == (finding.start, finding.end) else replace(finding, start=start, end=end)


def redaction_operators(context: StageContext) -> dict[str, Operator]:
    """Every plugin's named operators; a later registration wins over an earlier one."""
    combined: dict[str, Operator] = {}
    for mapping in reversed(context.hook.docveil_redaction_operators(context=context)):
        combined.update(mapping)
    return combined
