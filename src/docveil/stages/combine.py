"""How the results of several stage plugins are combined, shared by the engine and the stages
that run detection themselves (images)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from docveil.context import StageContext
from docveil.protocols import Operator
from docveil.stages.detect.overlaps import resolve_overlaps
from docveil.types import Finding


def detect_texts(texts: Sequence[str], context: StageContext) -> list[list[Finding]]:
    """Findings of every ``docveil_detect_text`` plugin, merged per text, overlaps resolved."""
    if not texts:
        return []
    merged: list[list[Finding]] = [[] for _ in texts]
    for per_detector in context.hook.docveil_detect_text(texts=list(texts), context=context):
        for index, findings in enumerate(per_detector):
            merged[index].extend(findings)
    return [resolve_overlaps([_trimmed(f, text) for f in findings])
            for text, findings in zip(texts, merged, strict=True)]


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
