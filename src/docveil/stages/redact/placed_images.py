"""Redact the pictures placed on pages (PDF images, scanned-page renders, Word pictures).

The page text, picture text included (see ``stages.load.pictures``), has been redacted as
text already; here each picture's pixels are redacted: the regions the image detectors find
(faces, plates), the words of its own OCR text that hold personal data, and any text of the
page drawn over it that holds personal data (an invisible OCR layer over a scan). Every region
is redacted with the image operator its label calls for (``Settings.image_operators``).

The document's ``regions`` gain one record per region, its box mapped onto the page (PDF
points) where the picture's place is known, in picture pixels otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from docveil.context import StageContext
from docveil.stages import geometry
from docveil.stages.detect.ocr import page_text
from docveil.stages.detect.overlaps import resolve_overlaps
from docveil.stages.detect.regions import detect_image_regions, text_regions
from docveil.stages.redact.image import redact_pixels
from docveil.types import (
    BBox,
    Document,
    Finding,
    Page,
    PlacedImage,
    RedactedDocument,
    RedactedImage,
    RedactedPage,
    RedactedPlacedImage,
    RedactedText,
    RedactionRecord,
    Region,
    RegionRecord,
)


def redact_placed_images(document: Document, redacted: RedactedDocument, findings: Sequence[Sequence[Finding]],
                         context: StageContext) -> RedactedDocument:
    """``redacted`` with the pictures of ``document``'s pages redacted; ``findings[i]`` are
    the findings in ``document.pages[i].text``."""
    placed = [(index, image) for index, page in enumerate(document.pages) for image in page.placed_images]
    if not placed:
        return redacted
    detected = iter(detect_image_regions([image.image for _, image in placed], context))
    manifests: dict[int, list[RedactionRecord]] = {}
    for record in redacted.manifest:
        manifests.setdefault(record.page, []).append(record)
    pages = list(redacted.pages)
    records: list[RegionRecord] = []
    for index, page in enumerate(document.pages):
        if not page.placed_images:
            continue
        resolved = resolve_overlaps(list(findings[index]))
        out_page = pages[index]
        done = []
        for image in page.placed_images:
            regions = [*next(detected), *_text_regions(page, image, resolved)]
            pixels, image_records = redact_pixels(image.image.pixels, regions, context, page=page.number)
            text, boxes = _redacted_text(page, image, out_page, manifests.get(page.number, []))
            done.append(RedactedPlacedImage(
                image=RedactedImage(pixels=pixels, width=image.image.width, height=image.image.height,
                                    page=page.number, regions=tuple(image_records), text=RedactedText(text),
                                    char_boxes=boxes),
                index=image.index, kind=image.kind, to_page=image.to_page, bbox=image.bbox))
            records.extend(record if image.to_page is None else
                           replace(record, box=geometry.map_box(image.to_page, record.box))
                           for record in image_records)
        pages[index] = replace(out_page, placed_images=tuple(done))
    return replace(redacted, pages=tuple(pages), regions=(*redacted.regions, *records))


def _text_regions(page: Page, image: PlacedImage, findings: Sequence[Finding]) -> list[Region]:
    """Pixel regions of ``image`` for the findings that fall in its OCR text or on its area."""
    regions: list[Region] = []
    span = _span(image)
    if span is not None:
        start, end = span
        words = image.image.words or ()
        own_text, _ = page_text(words)
        inside = [replace(f, start=max(f.start, start) - start, end=min(f.end, end) - start)
                  for f in findings if f.start < end and start < f.end]
        regions.extend(text_regions(words, own_text, inside))
    if image.to_page is not None and image.bbox is not None and page.char_boxes:
        to_pixels = geometry.invert(image.to_page)
        for finding in findings:
            if span is not None and span[0] <= finding.start and finding.end <= span[1]:
                continue  # found in the picture's own text: its words are covered above
            for line in geometry.line_boxes(page.char_boxes[finding.start:finding.end]):
                if _overlaps(line, image.bbox):
                    regions.append(Region(finding.entity_type, geometry.map_box(to_pixels, line), finding.score,
                                          finding.recognizer))
    return regions


def _span(image: PlacedImage) -> tuple[int, int] | None:
    if image.text_start is None:
        return None
    text, _ = page_text(image.image.words or ())
    return image.text_start, image.text_start + len(text)


def _overlaps(a: BBox, b: BBox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _redacted_text(page: Page, image: PlacedImage, out_page: RedactedPage,
                   manifest: Sequence[RedactionRecord]) -> tuple[str, tuple[BBox | None, ...]]:
    """The redacted text of the picture (its slice of the redacted page text) with pixel boxes."""
    span = _span(image)
    if span is None:
        return "", ()
    start, end = (_redacted_offset(position, manifest) for position in span)
    text = out_page.text.text[start:end]
    page_boxes = out_page.char_boxes[start:end] if out_page.char_boxes is not None else (None,) * len(text)
    if image.to_page is None:
        # No layout: the words' own pixel boxes, where the text is unchanged in length.
        _, own_boxes = page_text(image.image.words or ())
        return text, tuple(own_boxes) if len(own_boxes) == len(text) else (None,) * len(text)
    to_pixels = geometry.invert(image.to_page)
    return text, tuple(None if box is None else geometry.map_box(to_pixels, box) for box in page_boxes)


def _redacted_offset(position: int, manifest: Sequence[RedactionRecord]) -> int:
    """Where ``position`` of the original page text lands in the redacted text."""
    shift = 0
    for record in manifest:
        if record.end <= position:
            shift += (record.redacted_end - record.redacted_start) - (record.end - record.start)
        elif record.start < position:
            return record.redacted_end  # inside a replaced value: after its replacement
    return position + shift
