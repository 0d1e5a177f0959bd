"""Builds the documents the loading tests read: real PDFs (reportlab), images, raw PDF bytes.

Nothing binary is committed; every file is made on the spot.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import pluggy
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from docveil import hookspecs
from docveil.config import Settings
from docveil.context import StageContext
from docveil.stages.load import html, pdf, text

FONT = "Helvetica"
FONT_SIZE = 12
LEFT = 72.0
TOP = 760.0
LEADING = 16.0
PAGE_WIDTH, PAGE_HEIGHT = A4


@dataclass(frozen=True)
class DrawnWord:
    """Where reportlab drew a word: its advance box, baseline and font size."""

    page: int
    x0: float
    x1: float
    baseline: float
    size: float


def loader_context(settings: Settings) -> StageContext:
    """A context whose hooks are the three built-in loaders, registered as the engine does."""
    manager = pluggy.PluginManager("docveil")
    manager.add_hookspecs(hookspecs)
    for module in (text, html, pdf):
        manager.register(module, name=module.__name__)
    return StageContext(settings, manager.hook)


def make_pdf(pages: Sequence[Sequence[str]], *, title: str | None = None, author: str | None = None,
             encrypt: str | None = None) -> bytes:
    """One PDF page per item of ``pages``, one line of Helvetica 12 per string, from the top."""
    buffer = io.BytesIO()
    pdf_canvas = canvas.Canvas(buffer, pagesize=A4, encrypt=encrypt, invariant=True)
    if title:
        pdf_canvas.setTitle(title)
    if author:
        pdf_canvas.setAuthor(author)
    for lines in pages:
        pdf_canvas.setFont(FONT, FONT_SIZE)
        for number, line in enumerate(lines):
            pdf_canvas.drawString(LEFT, line_baseline(number), line)
        pdf_canvas.showPage()
    pdf_canvas.save()
    return buffer.getvalue()


def line_baseline(line_number: int) -> float:
    return TOP - LEADING * line_number


def drawn_word(lines: Sequence[str], word: str, page: int = 1) -> DrawnWord:
    """Where ``make_pdf`` drew the first occurrence of ``word`` in ``lines``."""
    for number, line in enumerate(lines):
        at = line.find(word)
        if at >= 0:
            x0 = LEFT + stringWidth(line[:at], FONT, FONT_SIZE)
            return DrawnWord(page, x0, x0 + stringWidth(word, FONT, FONT_SIZE), line_baseline(number), FONT_SIZE)
    raise ValueError("word not in lines")


def make_drawing_pdf(pages: int = 1) -> bytes:
    """Pages with shapes only: no text layer, like a scan."""
    buffer = io.BytesIO()
    pdf_canvas = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    for _ in range(pages):
        pdf_canvas.rect(100, 100, 300, 400, fill=1)
        pdf_canvas.showPage()
    pdf_canvas.save()
    return buffer.getvalue()


def make_many_page_pdf(page_count: int) -> bytes:
    """A valid PDF of ``page_count`` pages that share one content stream, written byte by byte
    (reportlab takes seconds for thousands of pages)."""
    content = b"BT /F1 12 Tf 72 760 Td (Many pages) Tj ET"
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(page_count))
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
            b" /Contents 4 0 R >>")
    return _write_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, page_count),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        _stream(content),
        *(page for _ in range(page_count)),
    ])


def make_raw_text_pdf(string: bytes) -> bytes:
    """One page showing ``string`` (raw character codes) in a font with no Unicode map, the way
    broken generators write windows-1252 quotes."""
    content = b"BT /F1 12 Tf 72 700 Td (" + string + b") Tj ET"
    return _write_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
        b" /Contents 5 0 R >>",
        _stream(content),
    ])


def _stream(content: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)


def _write_pdf(objects: Sequence[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def make_png(width: int = 32, height: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "inside an archive")
    return buffer.getvalue()


def lzw_encode(data: bytes, *, early_change: bool = True) -> bytes:
    """``data`` as PDF's LZWDecode reads it: a clear code first and whenever the table fills,
    codes of 9 to 12 bits, most significant bit first, the end code last (test fixtures)."""
    codes: list[tuple[int, int]] = []
    table: dict[bytes, int] = {}

    def width() -> int:
        return min(12, max(9, (len(table) + 258 - (0 if early_change else 1)).bit_length()))

    def clear() -> None:
        codes.append((256, width()))
        table.clear()

    clear()
    word = b""
    for value in data:
        grown = word + bytes([value])
        if len(grown) == 1 or grown in table:
            word = grown
            continue
        codes.append((word[0] if len(word) == 1 else table[word], width()))
        table[grown] = 258 + len(table)
        if len(table) + 258 >= 4093:
            clear()
        word = bytes([value])
    if word:
        codes.append((word[0] if len(word) == 1 else table[word], width()))
    codes.append((257, width()))
    bits, buffer, out = 0, 0, bytearray()
    for code, size in codes:
        buffer, bits = (buffer << size) | code, bits + size
        while bits >= 8:
            bits -= 8
            out.append((buffer >> bits) & 0xFF)
    if bits:
        out.append((buffer << (8 - bits)) & 0xFF)
    return bytes(out)


def run_length_encode(data: bytes) -> bytes:
    """``data`` as PDF's RunLengthDecode reads it: runs of one byte repeated, the rest as literal
    blocks of up to 128 bytes, 128 at the end (test fixtures)."""
    out, position = bytearray(), 0
    while position < len(data):
        run = 1
        while position + run < len(data) and run < 128 and data[position + run] == data[position]:
            run += 1
        if run > 1:
            out += bytes([257 - run, data[position]])
        else:
            out += bytes([0, data[position]])
        position += run
    return bytes(out + b"\x80")
