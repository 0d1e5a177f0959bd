"""Loader for PDF: the text layer of each page, with one box per character, through pypdfium2.

Text is built character by character from pdfium's character list, so ``char_boxes`` lines up
with ``text`` by construction (pdfium's own page text can drop or add characters relative to
that list). Boxes are pdfium's loose character boxes: PDF points, origin bottom-left, in the
page's unrotated space, as tall as the font's ascent and descent, so a union of them covers a
word completely. Characters pdfium generates (the spaces and line breaks it infers from the
layout) have no box. Line breaks are ``\\n``.

A page without a usable text layer (none, or mostly characters of a broken font map) is a
scan: it is rendered at ``OCR_DPI`` and read by the OCR plugin, and its text gets the word
boxes mapped back to PDF points. The page keeps its render as a ``PlacedImage`` of kind
``"render"`` (for the face and plate detectors), at ``KEPT_RENDER_DPI``. Other pages keep the
pictures they draw (``pdf_images``), whose OCR text follows the page text (``pictures``).

pdfium is not thread-safe: all calls into it hold ``PDFIUM_LOCK``. It is held page by page,
not across OCR, so other threads' loads go on while a scan is read. Pages are finished (their
OCR) on a few shared worker threads, one page per worker ahead of the page being checked, so
the pages of a scan are read side by side.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import re
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError
from docveil.hookspecs import hookimpl
from docveil.stages import geometry
from docveil.stages.detect.ocr import ocr_image, page_text
from docveil.stages.load.pdf_images import (
    ExtractedImage,
    PixelBudget,
    check_images_decode,
    page_images,
    render_page,
)
from docveil.stages.load.pdf_streams import check_stream_inflation
from docveil.stages.load.pictures import Picture, attach_pictures
from docveil.stages.load.source import author_values, content_hash
from docveil.stages.load.text import check_char_count
from docveil.types import Affine, BBox, Document, Page, PageImage, PlacedImage, Source

MEDIA_TYPE = "application/pdf"

# pdfium keeps global state (its last error, caches): two threads inside it at once crash or
# swap results. Every module that calls pdfium holds this lock while it does.
PDFIUM_LOCK = threading.Lock()

# Scanned pages are read at OCR_DPI; the page keeps its render at KEPT_RENDER_DPI for the
# face and plate detectors (a quarter of the pixels to hold).
OCR_DPI = 200
KEPT_RENDER_DPI = 100
# Threads finishing pages (OCR of scans and pictures), shared by all loads; each holds its own
# OCR model.
PAGE_WORKERS = min(8, os.cpu_count() or 1)

# Spec: the end-of-file marker ends the file; readers accept it within the last 1024 bytes.
_EOF_WINDOW = 1024

_OPEN_ERRORS = {
    pdfium_c.FPDF_ERR_PASSWORD: "encrypted PDF (password required)",
    pdfium_c.FPDF_ERR_SECURITY: "encrypted PDF (unsupported security handler)",
    pdfium_c.FPDF_ERR_FORMAT: "corrupt PDF: not a readable PDF structure",
    pdfium_c.FPDF_ERR_FILE: "corrupt PDF: the data cannot be read",
    pdfium_c.FPDF_ERR_PAGE: "corrupt PDF: a page is missing or damaged",
}

_METADATA_KEYS = ("Title", "Author", "Subject", "Creator", "Producer")

# pdfium marks a hyphen it joined across a line end with U+0002.
_PDFIUM_HYPHEN = 0x02
# Control characters: pdfium leaves some out of its own page text, and none belong in ours.
_DROPPED_CODES = (frozenset(range(0x20)) - {0x09, 0x0A, 0x0D}) | frozenset(range(0x7F, 0xA0)) | {0xFFFE, 0xFFFF}
# Fonts with a broken Unicode map often give windows-1252 codes for quotes and dashes
# (0x93 for a left double quote): read those as windows-1252 rather than lose them.
_CP1252_REPAIRS = {code: ord(bytes([code]).decode("cp1252")) for code in range(0x80, 0xA0)
                   if code not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
# The only characters pdfium generates: spaces and line breaks inferred from the layout.
_WHITESPACE_CODES = frozenset({0x20, 0x0A, 0x0D})
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@hookimpl
def docveil_load_document(source: Source, context: StageContext) -> Document | None:
    if source.media_type != MEDIA_TYPE:
        return None
    return load_pdf(source, context)


def load_pdf(source: Source, context: StageContext) -> Document:
    """Read every page: its text layer, or the OCR of its render where it has none, and its
    pictures; raise ``LoadError`` for PDFs that cannot be read."""
    settings = context.settings
    if b"%%EOF" not in source.data.rstrip(b"\x00 \t\r\n\f")[-_EOF_WINDOW:]:
        # pdfium repairs a cut-off file silently; loading half a document is worse than an error.
        raise LoadError(source.name, "corrupt PDF: truncated (no end-of-file marker)")
    check_stream_inflation(source, settings)
    budget = PixelBudget(source.name, settings)
    pages = []
    total_chars = 0
    pictures = False
    # Pages are finished (OCR of scans and pictures) on the page workers, up to one page per
    # worker ahead of the page being checked; they are taken back in order.
    finishing: deque[tuple[_ReadPage, Future[Page]]] = deque()
    workers = _page_workers()
    try:
        with _open(source) as pdf:
            with PDFIUM_LOCK:
                page_count = len(pdf)
                if page_count > settings.max_pages:
                    raise LimitExceededError(
                        source.name,
                        f"PDF has {page_count:,} pages, over the {settings.max_pages:,} page limit (max_pages)")
                metadata = _metadata(pdf)
            for index in range(page_count):
                # The lock is held page by page: OCR runs outside it, so other loads go on meanwhile.
                with PDFIUM_LOCK:
                    read = _read_page(pdf, index, source.name, settings, budget)
                total_chars += len(read.text)
                # Checked page by page, so a huge document stops at the page that crosses the limit.
                check_char_count(source.name, total_chars, settings, at_least=index + 1 < page_count)
                finishing.append((read, workers.submit(_finish_page, read, context)))
                pictures = pictures or read.draws_pictures
                while finishing and (len(finishing) > PAGE_WORKERS or index + 1 == page_count):
                    done, page = finishing[0][0], finishing.popleft()[1].result()
                    total_chars += len(page.text) - len(done.text)
                    check_char_count(source.name, total_chars, settings, at_least=done.number < page_count)
                    pages.append(page)
    finally:
        for _, future in finishing:  # a page failed or a limit was crossed: the rest is not needed
            future.cancel()
    if not pictures and not any(page.text.strip() for page in pages):
        reason = "OCR read no text" if settings.image_ocr else "OCR is off (image_ocr)"
        raise LoadError(source.name, f"no text content: no text layer, {reason}, and no pictures")
    return Document(
        source=source.name,
        media_type=MEDIA_TYPE,
        pages=tuple(pages),
        content_hash=content_hash(source.data),
        metadata=metadata,
        personal_values=author_values(metadata.get("author", "")),
    )


@contextmanager
def _open(source: Source) -> Iterator[pdfium.PdfDocument]:
    """The open document; takes ``PDFIUM_LOCK`` to open and to close it, not in between."""
    with PDFIUM_LOCK:
        # Opened through the raw call: pypdfium2's wrapper reports a stale error code for a PDF
        # that parses but has no pages. pdfium reads the bytes in place; ``source`` keeps them alive.
        raw = pdfium_c.FPDF_LoadMemDocument64(source.data, len(source.data), None)
        if not raw:
            code = pdfium_c.FPDF_GetLastError()
            raise LoadError(source.name, _OPEN_ERRORS.get(code, f"corrupt PDF: pdfium error {code}"))
        pdf = pdfium.PdfDocument(raw)
        if len(pdf) < 1:
            pdf.close()
            raise LoadError(source.name, "corrupt PDF: no pages")
    try:
        yield pdf
    finally:
        with PDFIUM_LOCK:
            pdf.close()


def _metadata(pdf: pdfium.PdfDocument) -> dict[str, str]:
    metadata = {}
    for key in _METADATA_KEYS:
        value = _meta_text(pdf, key).replace("\x00", "").strip()
        if value:
            metadata[key.lower()] = value
    return metadata


def _meta_text(pdf: pdfium.PdfDocument, key: str) -> str:
    """An Info value; broken UTF-16 (a lone surrogate) becomes U+FFFD instead of failing the file."""
    tag = key.encode("ascii") + b"\x00"
    size = pdfium_c.FPDF_GetMetaText(pdf, tag, None, 0)
    buffer = ctypes.create_string_buffer(size)
    pdfium_c.FPDF_GetMetaText(pdf, tag, buffer, size)
    return buffer.raw[:max(size - 2, 0)].decode("utf-16-le", "replace")


@dataclass
class _ReadPage:
    """What a page gave while pdfium was held: its text layer and pictures, or its render."""

    number: int
    text: str
    boxes: tuple[BBox | None, ...]
    width: float
    height: float
    images: list[ExtractedImage]
    render: tuple[Any, Affine] | None = None
    draws_pictures: bool = False


def _read_page(pdf: pdfium.PdfDocument, index: int, name: str, settings: Settings,
               budget: PixelBudget) -> _ReadPage:
    number = index + 1
    try:
        page = pdf[index]
    except pdfium.PdfiumError:
        raise LoadError(name, f"corrupt PDF: page {number} cannot be read") from None
    try:
        width, height = page.get_size()
        try:
            textpage = page.get_textpage()
        except pdfium.PdfiumError:
            raise LoadError(name, f"corrupt PDF: the text of page {number} cannot be read") from None
        try:
            text, boxes = _page_chars(textpage.raw, max(pdfium_c.FPDFText_CountChars(textpage.raw), 0))
        finally:
            textpage.close()
        text, boxes = tab_stops(text, boxes)
        read = _ReadPage(number, text, boxes, width, height, [])
        if needs_ocr(text) and settings.image_ocr:
            # A scan: the render is the page, pictures and all.
            check_images_decode(page, number, name, settings)
            image, to_page = render_page(page, OCR_DPI, settings)
            kept = KEPT_RENDER_DPI / OCR_DPI
            budget.take(round(image.width * kept), round(image.height * kept), f"the render of page {number}")
            read.text, read.boxes, read.render = "", (), (image, to_page)
            read.draws_pictures = any(True for _ in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)))
        else:
            read.images = page_images(page, number, budget)
            read.draws_pictures = bool(read.images)
        return read
    finally:
        page.close()


def needs_ocr(text: str) -> bool:
    """Whether a text layer is unusable: empty, or mostly characters a broken font map gives
    (U+FFFD, private-use code points)."""
    visible = [ch for ch in text if not ch.isspace()]
    if not visible:
        return True
    broken = sum(1 for ch in visible if ch == "\ufffd" or 0xE000 <= ord(ch) <= 0xF8FF)
    return broken * 2 > len(visible)


@functools.cache
def _page_workers() -> ThreadPoolExecutor:
    """Threads that finish pages, shared by all loads (tesseract releases the GIL while it reads)."""
    return ThreadPoolExecutor(max_workers=PAGE_WORKERS, thread_name_prefix="docveil-pdf-pages")


# A forked child has none of its parent's threads: it starts workers of its own.
os.register_at_fork(after_in_child=_page_workers.cache_clear)


def _finish_page(read: _ReadPage, context: StageContext) -> Page:
    """OCR (outside pdfium's lock) and the page with its text and pictures."""
    from docveil.stages.redact.image import page_image

    if read.render is not None:
        return _scanned_page(read, *read.render, context)
    pictures = [Picture(page_image(image.pixels, context), image.to_page, image.bbox) for image in read.images]
    text, boxes, placed = attach_pictures(read.text, read.boxes, pictures)
    return Page(number=read.number, text=text, char_boxes=boxes, width=read.width, height=read.height,
                placed_images=placed)


def _scanned_page(read: _ReadPage, render: Any, to_page: Affine, context: StageContext) -> Page:
    words = ocr_image(render, context)
    text, pixel_boxes = page_text(words)
    boxes = tuple(None if box is None else geometry.map_box(to_page, box) for box in pixel_boxes)
    # Faces and plates are found just as well at a lower resolution; the page keeps that.
    factor = KEPT_RENDER_DPI / OCR_DPI
    kept = render.resize((max(1, round(render.width * factor)), max(1, round(render.height * factor))))
    scale_x, scale_y = kept.width / render.width, kept.height / render.height
    kept_words = tuple(replace(word, box=BBox(word.box.x0 * scale_x, word.box.y0 * scale_y,
                                              word.box.x1 * scale_x, word.box.y1 * scale_y)) for word in words)
    kept_to_page = geometry.then((1 / scale_x, 0.0, 0.0, 1 / scale_y, 0.0, 0.0), to_page)
    image = PageImage(pixels=kept, width=kept.width, height=kept.height, words=kept_words)
    placed = PlacedImage(image=image, index=0, kind="render", to_page=kept_to_page,
                         bbox=geometry.map_box(kept_to_page, BBox(0, 0, kept.width, kept.height)),
                         text_start=0 if text else None)
    return Page(number=read.number, text=text, char_boxes=boxes, width=read.width, height=read.height,
                placed_images=(placed,))


def tab_stops(text: str, boxes: Sequence[BBox | None]) -> tuple[str, tuple[BBox | None, ...]]:
    """``text`` with each space pdfium inserted for a wide gap on a line (more than the height of
    the characters around it: table cells, tab stops) written as a tab, and ``boxes`` to match.

    pdfium reads a table row as one line with single spaces between its cells; as tabs they are
    cells again, which the column reader (``stages.detect.columns``) reads under their header.
    An empty cell leaves no gap of its own, so the rows of a run of such lines are lined up
    with the columns of its fullest row: a tab (without a box) is added for each column a row
    skips. A space a document holds itself, and a word gap, stay spaces."""
    chars = list(text)
    for index in range(1, len(text) - 1):
        if text[index] != " " or boxes[index] is not None:
            continue
        before, after = boxes[index - 1], boxes[index + 1]
        if before is None or after is None:
            continue
        height = max(before.y1 - before.y0, after.y1 - after.y0)
        same_line = min(before.y1, after.y1) - max(before.y0, after.y0) > height / 2
        if height > 0 and same_line and after.x0 - before.x1 > height:
            chars[index] = "\t"
    if "\t" not in chars:
        return text, tuple(boxes)
    return _lined_up("".join(chars), boxes)


def _lined_up(text: str, boxes: Sequence[BBox | None]) -> tuple[str, tuple[BBox | None, ...]]:
    """Rows of each run of lines with tabs given a tab for every column they skip."""
    lines: list[tuple[int, int]] = []
    position = 0
    for piece in text.split("\n"):
        lines.append((position, position + len(piece)))
        position += len(piece) + 1
    skipped: dict[int, int] = {}  # text index -> tabs to add before it
    run: list[tuple[int, int]] = []
    for start, end in [*lines, (len(text), len(text))]:
        if run and _next_line(boxes, run[-1], (start, end)) and (
                "\t" in text[start:end] or _one_cell(text, boxes, run, (start, end))):
            run.append((start, end))
            continue
        if len(run) >= 2:
            skipped.update(_skipped_columns(text, boxes, run))
        run = [(start, end)] if "\t" in text[start:end] else []
    if len(run) >= 2:
        skipped.update(_skipped_columns(text, boxes, run))
    if not skipped:
        return text, tuple(boxes)
    out_text: list[str] = []
    out_boxes: list[BBox | None] = []
    for index, char in enumerate(text):
        extra = skipped.get(index, 0)
        out_text.extend("\t" * extra)
        out_boxes.extend([None] * extra)
        out_text.append(char)
        out_boxes.append(boxes[index])
    extra = skipped.get(len(text), 0)  # the last line's missing cells
    return "".join(out_text) + "\t" * extra, (*out_boxes, *[None] * extra)


def _one_cell(text: str, boxes: Sequence[BBox | None], run: list[tuple[int, int]], line: tuple[int, int]) -> bool:
    """Whether ``line`` (no tab) is a row of the table ``run`` with one cell filled: it stands
    within one of the run's columns ("Ref 116" with the rest of its row empty), not across them
    as a sentence below a table does."""
    cells = _cells(text, boxes, *line)
    widest = max((_cells(text, boxes, *row) for row in run), key=len)
    if len(cells) != 1 or len(widest) < 2:
        return False
    _, left, right = cells[0]
    starts = [x0 for _, x0, _ in widest]
    column = sum(x0 <= (left + right) / 2 for x0 in starts) - 1
    return column >= 0 and (column + 1 == len(starts) or right < starts[column + 1])


def _next_line(boxes: Sequence[BBox | None], above: tuple[int, int], below: tuple[int, int]) -> bool:
    """Whether ``below`` follows ``above`` closely, as the rows of one table do (no more than
    a line's height of space between them)."""
    upper = [box for box in boxes[above[0]:above[1]] if box is not None]
    lower = [box for box in boxes[below[0]:below[1]] if box is not None]
    if not upper or not lower:
        return False
    height = max(box.y1 - box.y0 for box in upper)
    return min(box.y0 for box in upper) - max(box.y1 for box in lower) <= height


def _skipped_columns(text: str, boxes: Sequence[BBox | None], run: list[tuple[int, int]]) -> dict[int, int]:
    """For the rows of one run: where to add tabs (text index -> count) so that each cell stands
    in the column of the fullest row whose span holds its centre."""
    rows = [_cells(text, boxes, start, end) for start, end in run]
    widest = max(rows, key=len)
    starts = [x0 for _, x0, _ in widest]
    added: dict[int, int] = {}
    for (_, end), row in zip(run, rows, strict=True):
        if len(row) == len(widest) or not row:
            continue
        columns = [sum(x0 <= (left + right) / 2 for x0 in starts) - 1 for _, left, right in row]
        if columns[0] < 0 or any(b <= a for a, b in itertools.pairwise(columns)):
            continue  # does not line up: left as it is
        previous = -1
        for (index, _, _), column in zip(row, columns, strict=True):
            if column - previous > 1:
                added[index] = column - previous - 1
            previous = column
        if previous < len(starts) - 1:
            added[end] = added.get(end, 0) + len(starts) - 1 - previous
    return added


def _cells(text: str, boxes: Sequence[BBox | None], start: int, end: int) -> list[tuple[int, float, float]]:
    """(index of its first character, left, right) of each cell of a line; cells without a box
    are left out."""
    cells = []
    position = start
    for piece in text[start:end].split("\t"):
        placed = [box for box in boxes[position:position + len(piece)] if box is not None]
        if placed:
            first = position + next(i for i, box in enumerate(boxes[position:position + len(piece)]) if box is not None)
            cells.append((first, min(b.x0 for b in placed), max(b.x1 for b in placed)))
        position += len(piece) + 1
    return cells


def _page_chars(textpage: object, count: int) -> tuple[str, tuple[BBox | None, ...]]:
    """The page text and one box per character of it, from pdfium's character list.

    ``\r\n`` and a lone ``\r`` become one ``\n``; a lone surrogate becomes U+FFFD.
    """
    get_unicode = pdfium_c.FPDFText_GetUnicode
    get_box = pdfium_c.FPDFText_GetLooseCharBox
    is_generated = pdfium_c.FPDFText_IsGenerated
    is_hyphen = pdfium_c.FPDFText_IsHyphen
    rect = pdfium_c.FS_RECTF()
    rect_ref = ctypes.byref(rect)
    chars: list[str] = []
    boxes: list[BBox | None] = []
    pending_cr = False
    cr_box: BBox | None = None
    for index in range(count):
        code = get_unicode(textpage, index)
        if code in _DROPPED_CODES:
            if code in _CP1252_REPAIRS:
                code = _CP1252_REPAIRS[code]
            elif code == _PDFIUM_HYPHEN and is_hyphen(textpage, index):
                code = 0x2D
            else:
                continue
        if code in _WHITESPACE_CODES and is_generated(textpage, index):
            box = None
        elif get_box(textpage, index, rect_ref):
            box = BBox(rect.left, rect.bottom, rect.right, rect.top)
        else:
            box = None
        if pending_cr:
            pending_cr = False
            if code == 0x0A:
                chars.append("\n")
                boxes.append(box if box is not None else cr_box)
                continue
            chars.append("\n")
            boxes.append(cr_box)
        if code == 0x0D:
            pending_cr, cr_box = True, box
            continue
        if 0xDC00 <= code <= 0xDFFF and chars and "\ud800" <= chars[-1] <= "\udbff":
            # A UTF-16 surrogate pair from a 16-bit wchar_t build: one character, one box.
            high = ord(chars[-1])
            chars[-1] = chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))
            boxes[-1] = BBox.enclosing((boxes[-1], box))
            continue
        chars.append(chr(code) if code <= 0x10FFFF else "\ufffd")
        boxes.append(box)
    if pending_cr:
        chars.append("\n")
        boxes.append(cr_box)
    return _LONE_SURROGATE.sub("\ufffd", "".join(chars)), tuple(boxes)
