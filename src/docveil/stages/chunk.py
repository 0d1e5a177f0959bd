"""Chunking of redacted text on sentence boundaries, keeping page and bounding box."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from docveil.context import StageContext
from docveil.hookspecs import hookimpl
from docveil.types import BBox, Chunk, RedactedDocument, RedactedPage, RedactedText

# A sentence ends at . ! ? (optionally closed by quotes or brackets) before whitespace, or at a
# blank line. Pseudonym tokens contain no whitespace, so they are never split.
_BOUNDARY = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")
_WHITESPACE = re.compile(r"\s")


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed; empty sentences skipped."""
    position = 0
    for match in _BOUNDARY.finditer(text):
        yield from _trimmed(text, position, match.start())
        position = match.end()
    yield from _trimmed(text, position, len(text))


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def _bounded(text: str, spans: Iterator[tuple[int, int]], size: int) -> Iterator[tuple[int, int]]:
    """Split sentences longer than ``size`` at whitespace (or hard, if there is none)."""
    for start, end in spans:
        while end - start > size:
            # The last white space of any kind: a PDF table's cells are apart by tabs.
            gaps = list(_WHITESPACE.finditer(text, start + size // 2, start + size))
            cut = gaps[-1].start() if gaps else start + size
            yield from _trimmed(text, start, cut)
            start = cut
        yield from _trimmed(text, start, end)


def chunk_page(page: RedactedPage, size: int, overlap: int, first_ordinal: int) -> list[Chunk]:
    text = page.text.text
    sentences = list(_bounded(text, sentence_spans(text), size))
    chunks: list[Chunk] = []
    window: list[tuple[int, int]] = []
    for span in sentences:
        if window and span[1] - window[0][0] > size:
            chunks.append(_make_chunk(page, window, first_ordinal + len(chunks)))
            window = _overlap_tail(window, overlap)
            if window and span[1] - window[0][0] > size:
                window = []
        window.append(span)
    if window:
        chunks.append(_make_chunk(page, window, first_ordinal + len(chunks)))
    return chunks


def _overlap_tail(window: list[tuple[int, int]], overlap: int) -> list[tuple[int, int]]:
    tail: list[tuple[int, int]] = []
    for span in reversed(window[1:]):
        if window[-1][1] - span[0] > overlap:
            break
        tail.insert(0, span)
    return tail


def _make_chunk(page: RedactedPage, window: list[tuple[int, int]], ordinal: int) -> Chunk:
    start, end = window[0][0], window[-1][1]
    bbox: BBox | None = None
    if page.char_boxes is not None:
        bbox = BBox.enclosing(page.char_boxes[start:end])
    return Chunk(ordinal=ordinal, text=RedactedText(page.text.text[start:end]), page=page.number,
                 start=start, end=end, bbox=bbox)


def chunk_document(document: RedactedDocument, size: int, overlap: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for page in document.pages:
        chunks.extend(chunk_page(page, size, overlap, len(chunks)))
    return chunks


@hookimpl(trylast=True)
def docveil_chunk_document(document: RedactedDocument, context: StageContext) -> Sequence[Chunk]:
    settings = context.settings
    return chunk_document(document, settings.chunk_size, settings.chunk_overlap)
