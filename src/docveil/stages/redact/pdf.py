"""Write a redacted PDF: every page re-made from a redacted render plus an invisible text layer.

Nothing of the input file is copied. Each page is rendered by pdfium as it is displayed
(annotations and form fields left out: their text is not part of the loaded document, so it
was never checked), then painted over: the regions found in its pictures are redacted with
their image operators (blur, fill...), and the character boxes of every redacted text span are
filled black. The new page is that picture (JPEG) plus the REDACTED page text, invisible (text
render mode 3), each word fitted over where it was. So the output is searchable and
selectable, carries the pseudonym tokens, and holds no original text, metadata (no /Info, no
XMP), outline, link, attachment, script or font of the input.

Why a writer of our own rather than pypdfium2's or reportlab's: the invisible text must carry
any Unicode text (names in any script, tokens) and extract back exactly. Both libraries can
only write characters their font has glyphs for (pypdfium2 and reportlab dropped "山田" with
a Latin font here); a glyph-less CID font whose code is the UTF-16 code unit and whose
ToUnicode map is the identity (what tesseract's PDF output does) takes any text, and needs no
font program since it is never drawn. Writing the few objects by hand also guarantees that no
/Info or XMP entry appears: reportlab always writes an /Info dictionary.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pypdfium2 as pdfium

from docveil.config import Settings
from docveil.errors import DocveilError, LoadError
from docveil.stages import geometry
from docveil.stages.load.pdf import PDFIUM_LOCK
from docveil.stages.load.pdf_images import device_to_page
from docveil.stages.redact.image_operators import IMAGE_OPERATORS, OPERATOR_ORDER
from docveil.types import (
    Affine,
    BBox,
    Document,
    Page,
    RedactedDocument,
    RedactedPage,
    Source,
)

logger = logging.getLogger(__name__)

OUTPUT_DPI = 200
JPEG_QUALITY = 85
# Redacted text is covered a little beyond its boxes: loose character boxes hug the font's
# ascent and descent, OCR word boxes hug the ink.
TEXT_PADDING = 0.15
MIN_TEXT_PADDING_PT = 1.0
# The glyph-less font: every character is 500/1000 em wide and one em tall above the baseline.
_CHAR_WIDTH = 0.5


@dataclass(frozen=True)
class _Run:
    """A word of the redacted text and the page box it is laid over."""

    text: str
    box: BBox


def write_redacted_pdf(source: Source, document: Document, redacted: RedactedDocument, settings: Settings, *,
                       dpi: float = OUTPUT_DPI) -> bytes:
    """The redacted PDF of ``source``, as bytes: ``document`` is what was loaded from it (its
    character boxes say where each redacted value was drawn) and ``redacted`` its redaction."""
    if not hashlib.sha256(source.data).hexdigest() == document.content_hash == redacted.content_hash:
        raise DocveilError(f"{source.name}: the redacted document was not made from this file")
    if document.page_count != redacted.page_count:
        raise DocveilError(f"{source.name}: {document.page_count} pages loaded, {redacted.page_count} redacted")
    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(source.data)
        except pdfium.PdfiumError:
            raise LoadError(source.name, "corrupt PDF: not a readable PDF structure") from None
    try:
        with PDFIUM_LOCK:
            count = len(pdf)
        if count != redacted.page_count:
            raise DocveilError(f"{source.name}: {count} pages in the file, {redacted.page_count} redacted")
        pages = []
        for original, redacted_page in zip(document.pages, redacted.pages, strict=True):
            # pdfium is held for the render only; painting and encoding run without it.
            with PDFIUM_LOCK:
                render, to_page, scale, rotation = _render(pdf, redacted_page.number - 1, settings, dpi)
            pages.append(_redacted_page(render, to_page, rotation, scale, original, redacted_page, redacted,
                                        settings))
    finally:
        with PDFIUM_LOCK:
            pdf.close()
    return _serialise(pages)


def _render(pdf: pdfium.PdfDocument, index: int, settings: Settings, dpi: float
            ) -> tuple[np.ndarray, Affine, float, int]:
    """The page in its own (unturned) orientation, without annotations or form fields, at
    ``dpi`` or less (so that it stays within ``max_pixels``); the map from its pixels to page
    points; the scale; the page's rotation (kept as the output page's /Rotate)."""
    page = pdf[index]
    try:
        width, height = page.get_size()
        rotation = page.get_rotation()
        scale = dpi / 72.0
        if width * height * scale * scale > settings.max_pixels:
            scale = (settings.max_pixels / (width * height)) ** 0.5
        undo = (360 - rotation) % 360
        bitmap = page.render(scale=scale, rotation=undo, draw_annots=False, may_draw_forms=False)
        pixels = np.array(bitmap.to_pil().convert("RGB"), dtype=np.uint8)
        del bitmap  # freed now, while pdfium is held
        to_page = device_to_page(page, pixels.shape[1], pixels.shape[0], undo)
    finally:
        page.close()
    return pixels, to_page, scale, rotation


@dataclass(frozen=True)
class _OutputPage:
    box: BBox
    rotation: int
    jpeg: bytes
    pixel_size: tuple[int, int]
    runs: tuple[_Run, ...]


def _redacted_page(pixels: np.ndarray, to_page: Affine, rotation: int, scale: float, original: Page,
                   redacted_page: RedactedPage, document: RedactedDocument, settings: Settings) -> _OutputPage:
    """Paint the render and lay out its text. The output page has the input's page box and
    rotation, so page points (character boxes, picture places) mean the same in both."""
    from PIL import Image

    to_device = geometry.invert(to_page)
    records = [record for record in document.manifest if record.page == redacted_page.number]
    _redact_regions(pixels, redacted_page, to_device, settings)
    # Where each value was drawn: the loaded page's boxes of the replaced characters (a value
    # replaced by nothing has no characters left in the redacted text to point at it).
    original_boxes = _device_boxes(original.char_boxes, to_device)
    if original_boxes is not None:
        _fill_spans(pixels, original_boxes, [(r.start, r.end) for r in records],
                    pad_pixels=MIN_TEXT_PADDING_PT * scale)
    boxes = _device_boxes(redacted_page.char_boxes, to_device)
    spans = [(r.redacted_start, r.redacted_end) for r in records]
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    height, width = pixels.shape[:2]
    runs = [] if boxes is None else [
        _Run(text, geometry.map_box(to_page, box)) for text, box in _words(redacted_page.text.text, boxes, spans)]
    return _OutputPage(geometry.map_box(to_page, BBox(0, 0, width, height)), rotation, buffer.getvalue(),
                       (width, height), tuple(runs))


def _device_boxes(boxes: Sequence[BBox | None] | None, to_device: Affine) -> tuple[BBox | None, ...] | None:
    """Character boxes in render pixels (y down): the page as displayed, whatever its rotation."""
    if boxes is None:
        return None
    return tuple(None if box is None else geometry.map_box(to_device, box) for box in boxes)


def _redact_regions(pixels: np.ndarray, page: RedactedPage, to_device: Affine, settings: Settings) -> None:
    """Redact, in the render, every region redacted in the page's pictures, with its operator."""
    planned = []
    for placed in page.placed_images:
        if placed.to_page is None:
            continue
        to_render = geometry.then(placed.to_page, to_device)
        image = placed.image
        for record in image.regions:
            box = _pixel_box(geometry.map_box(to_render, _padded(record.box, settings.image_padding)), pixels)
            if box is not None:
                planned.append((record.operator, box))
    planned.sort(key=lambda item: OPERATOR_ORDER.get(item[0], 0))
    for operator, box in planned:
        IMAGE_OPERATORS[operator](pixels, box)


def _padded(box: BBox, padding: float) -> BBox:
    """``box`` grown on every side by ``padding`` times its short side: a face grows as in the
    picture's own redaction, a line of text by a fraction of its height (not of its length,
    which would black out the words around a value)."""
    pad = max(1.0, padding * min(box.x1 - box.x0, box.y1 - box.y0))
    return BBox(box.x0 - pad, box.y0 - pad, box.x1 + pad, box.y1 + pad)


def _fill_spans(pixels: np.ndarray, boxes: Sequence[BBox | None], spans: Sequence[tuple[int, int]],
                pad_pixels: float) -> None:
    """Paint black over the characters of every redacted span, line by line."""
    for start, end in spans:
        for line in geometry.line_boxes(boxes[start:end]):
            pad = max(pad_pixels, (line.y1 - line.y0) * TEXT_PADDING)
            box = _pixel_box(BBox(line.x0 - pad, line.y0 - pad, line.x1 + pad, line.y1 + pad), pixels)
            if box is not None:
                x0, y0, x1, y1 = box
                pixels[y0:y1, x0:x1] = 0


def _pixel_box(box: BBox, pixels: np.ndarray) -> tuple[int, int, int, int] | None:
    """``box`` rounded outwards to whole pixels and clipped to the image; None if nothing is left."""
    height, width = pixels.shape[:2]
    x0, y0 = max(0, int(np.floor(box.x0))), max(0, int(np.floor(box.y0)))
    x1, y1 = min(width, int(np.ceil(box.x1))), min(height, int(np.ceil(box.y1)))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _words(text: str, boxes: Sequence[BBox | None], spans: Sequence[tuple[int, int]]) -> list[tuple[str, BBox]]:
    """The text cut into words with the box each covers (render pixels, y down). A replacement
    stays one word with what touches it (``**** 1111`` is drawn once over the card number: text
    drawn twice at one place is dropped by extractors). The words of a line share one bottom and
    height, so extraction keeps them on one line in order (OCR word boxes and replaced values
    differ in height from word to word)."""
    whole = {start: end for start, end in spans if end > start}
    words: list[tuple[str, BBox]] = []
    index = 0
    while index < len(text):
        if index not in whole and (text[index].isspace() or boxes[index] is None):
            index += 1
            continue
        start = index
        while index < len(text):
            if index in whole:
                index = whole[index]
                continue
            if index > start:
                previous, current = boxes[index - 1], boxes[index]
                if text[index].isspace() or current is None or (
                        previous is not None and not _follows(previous, current)):
                    break
            index += 1
        box = BBox.enclosing(boxes[start:index])
        word = " ".join(text[start:index].split())
        if box is not None and word:
            words.append((word, box))
    lines: list[list[tuple[str, BBox]]] = []
    for item in words:
        if lines and _follows(lines[-1][-1][1], item[1]):
            lines[-1].append(item)
        else:
            lines.append([item])
    out: list[tuple[str, BBox]] = []
    for line in lines:
        top, bottom = min(box.y0 for _, box in line), max(box.y1 for _, box in line)
        out.extend((word, BBox(box.x0, top, box.x1, bottom)) for word, box in line)
    return out


def _follows(previous: BBox, box: BBox) -> bool:
    """``box`` continues the word of ``previous``: same line, not behind it."""
    return geometry.same_line(previous, box) and box.x0 >= previous.x0 - 0.5


# Serialisation


def _serialise(pages: Sequence[_OutputPage]) -> bytes:
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in once the page tree exists
    pages_id = add(b"")
    to_unicode = add(_stream(_TO_UNICODE_CMAP))
    descriptor = add(b"<< /Type /FontDescriptor /FontName /GlyphLessFont /Flags 5 /FontBBox [0 0 500 1000] "
                     b"/ItalicAngle 0 /Ascent 1000 /Descent 0 /CapHeight 1000 /StemV 80 >>")
    cid_font = add(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /GlyphLessFont "
                   b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
                   b"/FontDescriptor %d 0 R /DW 500 /CIDToGIDMap /Identity >>" % descriptor)
    font = add(b"<< /Type /Font /Subtype /Type0 /BaseFont /GlyphLessFont /Encoding /Identity-H "
               b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (cid_font, to_unicode))
    kids = []
    for page in pages:
        width_px, height_px = page.pixel_size
        image = add(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                    b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream"
                    % (width_px, height_px, len(page.jpeg), page.jpeg))
        content = add(_stream(_content(page), compress=True))
        box = page.box
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [%s %s %s %s] /Rotate %d /Contents %d 0 R "
                        b"/Resources << /XObject << /Im0 %d 0 R >> /Font << /F0 %d 0 R >> >> >>"
                        % (pages_id, _num(box.x0), _num(box.y0), _num(box.x1), _num(box.y1), page.rotation,
                           content, image, font)))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids), len(kids))
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    # The file identifier is a digest of the (redacted) body: stable, and derived from nothing else.
    digest = hashlib.md5(bytes(out), usedforsecurity=False).hexdigest().encode()
    out += b"trailer\n<< /Size %d /Root %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, catalog, digest, digest, xref)
    return bytes(out)


def _content(page: _OutputPage) -> bytes:
    box = page.box
    lines = [b"q %s 0 0 %s %s %s cm /Im0 Do Q" % (_num(box.x1 - box.x0), _num(box.y1 - box.y0), _num(box.x0),
                                                   _num(box.y0))]
    if page.runs:
        lines.append(b"BT 3 Tr")
        for run in page.runs:
            encoded = run.text.encode("utf-16-be")
            size = max(run.box.y1 - run.box.y0, 1.0)
            natural = len(encoded) // 2 * _CHAR_WIDTH * size
            stretch = max((run.box.x1 - run.box.x0) / natural * 100.0, 1.0) if natural else 100.0
            lines.append(b"/F0 %s Tf %s Tz 1 0 0 1 %s %s Tm <%s> Tj" % (
                _num(size), _num(stretch), _num(run.box.x0), _num(run.box.y0), encoded.hex().upper().encode()))
        lines.append(b"ET")
    return b"\n".join(lines)


def _stream(data: bytes, *, compress: bool = False) -> bytes:
    if compress:
        data = zlib.compress(data)
        return b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data)
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


def _num(value: float) -> bytes:
    return (b"%.3f" % value).rstrip(b"0").rstrip(b".") or b"0"


def _identity_cmap() -> bytes:
    # bfrange entries may not cross a change of the high byte: 256 ranges, at most 100 a block.
    ranges = [b"<%02X00> <%02XFF> <%02X00>" % (high, high, high) for high in range(256)]
    blocks = []
    for start in range(0, len(ranges), 100):
        chunk = ranges[start:start + 100]
        blocks.append(b"%d beginbfrange\n%s\nendbfrange" % (len(chunk), b"\n".join(chunk)))
    return (b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
            + b"\n".join(blocks)
            + b"\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend")


_TO_UNICODE_CMAP = _identity_cmap()
