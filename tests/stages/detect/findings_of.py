"""What the detectors find in one text, as (entity type, value) pairs."""

from __future__ import annotations

from docveil.context import StageContext
from docveil.stages.detect.pii_text import analyze_texts


def found(text: str, context: StageContext) -> set[tuple[str, str]]:
    return {(f.entity_type, text[f.start:f.end]) for f in analyze_texts([text], context)[0]}
