"""Loader for PDF: the text layer of each page, with one box per character, through pypdfium2.

Text is built character by character from pdfium's character list, so ``char_boxes`` lines up
with ``text`` by construction (pdfium's own page text can drop or add characters relative to
that list). Boxes are pdfium's loose character boxes: PDF points, origin bottom-left, in the
page's unrotated space, as tall as the font's ascent and descent, so a union of them covers a
word completely. Characters pdfium generates (the spaces and line breaks it infers from the
layout) have no box. Line breaks are ``\\n``.

pdfium is not thread-safe: all calls into it hold ``PDFIUM_LOCK``.
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError
from docveil.hookspecs import hookimpl
from docveil.stages.load.source import content_hash
from docveil.stages.load.text import check_char_count
from docveil.types import BBox, Document, Page, Source

MEDIA_TYPE = "application/pdf"

# pdfium keeps global state (its last error, caches): two threads inside it at once crash or
# swap results. Every module that calls pdfium holds this lock while it does.
PDFIUM_LOCK = threading.Lock()

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
_DROPPED_CODES = (frozenset(range(0x00, 0x20)) - {0x09, 0x0A, 0x0D}) | frozenset(range(0x7F, 0xA0)) | {0xFFFE, 0xFFFF}
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
    return load_pdf(source, context.settings)


def load_pdf(source: Source, settings: Settings) -> Document:
    """Read the text layer of every page; raise ``LoadError`` for PDFs that cannot be read."""
    if b"%%EOF" not in source.data.rstrip(b"\x00 \t\r\n\f")[-_EOF_WINDOW:]:
        # pdfium repairs a cut-off file silently; loading half a document is worse than an error.
        raise LoadError(source.name, "corrupt PDF: truncated (no end-of-file marker)")
    with PDFIUM_LOCK, _open(source) as pdf:
        page_count = len(pdf)
        if page_count > settings.max_pages:
            raise LimitExceededError(
                source.name,
                f"PDF has {page_count:,} pages, over the {settings.max_pages:,} page limit (max_pages)")
        metadata = _metadata(pdf)
        pages = _text_pages(pdf, source.name, settings)
    if not any(page.text.strip() for page in pages):
        # Where OCR will come in: render the pages without a text layer and read them.
        raise LoadError(source.name, "no text layer (scanned PDF?); OCR is not enabled")
    return Document(
        source=source.name,
        media_type=MEDIA_TYPE,
        pages=tuple(pages),
        content_hash=content_hash(source.data),
        metadata=metadata,
    )


@contextmanager
def _open(source: Source) -> Iterator[pdfium.PdfDocument]:
    # Opened through the raw call: pypdfium2's wrapper reports a stale error code for a PDF
    # that parses but has no pages. pdfium reads the bytes in place; ``source`` keeps them alive.
    raw = pdfium_c.FPDF_LoadMemDocument64(source.data, len(source.data), None)
    if not raw:
        code = pdfium_c.FPDF_GetLastError()
        raise LoadError(source.name, _OPEN_ERRORS.get(code, f"corrupt PDF: pdfium error {code}"))
    pdf = pdfium.PdfDocument(raw)
    try:
        if len(pdf) < 1:
            raise LoadError(source.name, "corrupt PDF: no pages")
        yield pdf
    finally:
        pdf.close()


def _metadata(pdf: pdfium.PdfDocument) -> dict[str, str]:
    metadata = {}
    for key in _METADATA_KEYS:
        value = pdf.get_metadata_value(key).replace("\x00", "").strip()
        if value:
            metadata[key.lower()] = value
    return metadata


def _text_pages(pdf: pdfium.PdfDocument, name: str, settings: Settings) -> list[Page]:
    pages = []
    total_chars = 0
    for index in range(len(pdf)):
        try:
            page = pdf[index]
        except pdfium.PdfiumError:
            raise LoadError(name, f"corrupt PDF: page {index + 1} cannot be read") from None
        try:
            width, height = page.get_size()
            try:
                textpage = page.get_textpage()
            except pdfium.PdfiumError:
                raise LoadError(name, f"corrupt PDF: the text of page {index + 1} cannot be read") from None
            try:
                text, boxes = _page_chars(textpage.raw, max(pdfium_c.FPDFText_CountChars(textpage.raw), 0))
            finally:
                textpage.close()
        finally:
            page.close()
        total_chars += len(text)
        # Checked page by page, so a huge document stops at the page that crosses the limit.
        check_char_count(name, total_chars, settings, at_least=index + 1 < len(pdf))
        pages.append(Page(number=index + 1, text=text, char_boxes=boxes, width=width, height=height))
    return pages


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
