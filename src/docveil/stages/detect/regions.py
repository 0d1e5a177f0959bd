"""Regions to redact in images: the detector plugins' regions, and the pixel boxes of PII
found in an image's OCR text."""

from __future__ import annotations

from collections.abc import Sequence

from docveil.context import StageContext
from docveil.errors import PluginError
from docveil.types import BBox, Finding, OcrWord, PageImage, Region


def detect_image_regions(images: Sequence[PageImage], context: StageContext) -> list[list[Region]]:
    """The regions of every ``docveil_detect_image_regions`` plugin, merged per image."""
    merged: list[list[Region]] = [[] for _ in images]
    if not images:
        return merged
    for per_detector in context.hook.docveil_detect_image_regions(images=list(images), context=context):
        if len(per_detector) != len(images):
            raise PluginError(f"docveil_detect_image_regions returned {len(per_detector)} lists of regions "
                              f"for {len(images)} images")
        for index, regions in enumerate(per_detector):
            for region in regions:
                if not isinstance(region, Region):
                    raise PluginError("docveil_detect_image_regions must return docveil.types.Region objects, "
                                      f"got {type(region).__name__}")
            merged[index].extend(regions)
    return merged


def word_spans(words: Sequence[OcrWord], text: str) -> list[tuple[int, int]]:
    """Where each word sits in ``text`` as laid out by ``ocr.page_text`` (words in order)."""
    spans = []
    cursor = 0
    for word in words:
        start = text.index(word.text, cursor)
        spans.append((start, start + len(word.text)))
        cursor = start + len(word.text)
    return spans


def text_regions(words: Sequence[OcrWord], text: str, findings: Sequence[Finding]) -> list[Region]:
    """One region per finding and text line: the union of the boxes of the words the finding
    touches on that line (a finding that wraps onto a second line gets a box on each)."""
    spans = word_spans(words, text)
    regions: list[Region] = []
    for finding in findings:
        lines: dict[int, BBox] = {}
        for word, (start, end) in zip(words, spans, strict=True):
            if start < finding.end and finding.start < end:
                lines[word.line] = lines[word.line].union(word.box) if word.line in lines else word.box
        regions.extend(Region(finding.entity_type, box, finding.score, finding.recognizer)
                       for box in lines.values())
    return regions
