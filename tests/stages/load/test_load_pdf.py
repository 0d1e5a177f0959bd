"""PDF: text per page with aligned character boxes, limits checked before extraction, and
clear errors for encrypted, corrupt and truncated files."""

from __future__ import annotations

import base64
import io
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from corpus import (
    FONT_SIZE,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    loader_context,
    lzw_encode,
    make_drawing_pdf,
    make_many_page_pdf,
    make_pdf,
    make_raw_text_pdf,
    run_length_encode,
)
from corpus import _write_pdf as write_pdf
from corpus import drawn_word as find_drawn_word
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError
from docveil.stages.load import pdf
from docveil.stages.load.source import load_document, read_source, source_from_bytes
from docveil.types import BBox, Document

PAGE_ONE = ["Patient record", "Contact Jane Roe today", "Phone 555-0100, room 12"]
PAGE_TWO = ["Second page", "Signed by Richard Miles"]


@pytest.fixture
def context(tmp_path: Path) -> StageContext:
    return loader_context(Settings(home=tmp_path / "home"))


def _load(context: StageContext, data: bytes, name: str = "doc.pdf") -> Document:
    return load_document(source_from_bytes(name, data, context.settings), context)


def _load_error(context: StageContext, data: bytes, name: str = "bad.pdf") -> LoadError:
    with pytest.raises(LoadError) as caught:
        _load(context, data, name)
    assert caught.value.source == name
    assert str(caught.value).startswith(f"{name}: ")
    return caught.value


def _word_box(document: Document, page_number: int, word: str) -> BBox:
    page = document.pages[page_number - 1]
    start = page.text.index(word)
    box = BBox.enclosing(page.char_boxes[start:start + len(word)])
    assert box is not None
    return box


def test_pdf_pages_keep_their_text_and_numbers(context: StageContext) -> None:
    data = make_pdf([PAGE_ONE, PAGE_TWO, ["Third page"]])
    document = _load(context, data)
    assert document.media_type == "application/pdf"
    assert [page.number for page in document.pages] == [1, 2, 3]
    assert document.pages[0].text == "\n".join(PAGE_ONE)
    assert document.pages[1].text == "\n".join(PAGE_TWO)
    assert document.pages[2].text == "Third page"


def test_every_character_has_exactly_one_box_slot(context: StageContext) -> None:
    document = _load(context, make_pdf([PAGE_ONE, PAGE_TWO]))
    for page in document.pages:
        assert page.char_boxes is not None
        assert len(page.char_boxes) == len(page.text)
        assert "\r" not in page.text
        for char, box in zip(page.text, page.char_boxes, strict=True):
            if char == "\n":
                assert box is None  # pdfium inferred the line break: nothing drawn there
            else:
                assert box is not None
                assert 0 <= box.x0 <= box.x1 <= PAGE_WIDTH and 0 <= box.y0 < box.y1 <= PAGE_HEIGHT


def test_word_box_lies_where_the_word_was_drawn(context: StageContext) -> None:
    document = _load(context, make_pdf([PAGE_ONE, PAGE_TWO]))
    for page_number, lines, word in ((1, PAGE_ONE, "Roe"), (1, PAGE_ONE, "555-0100"), (2, PAGE_TWO, "Miles")):
        drawn = find_drawn_word(lines, word, page_number)
        box = _word_box(document, page_number, word)
        assert box.x0 == pytest.approx(drawn.x0, abs=0.5)
        assert box.x1 == pytest.approx(drawn.x1, abs=0.5)
        assert box.y0 < drawn.baseline < box.y1
        assert 0.8 * FONT_SIZE < box.y1 - box.y0 < 1.5 * FONT_SIZE


def test_page_size_comes_from_the_page(context: StageContext) -> None:
    page = _load(context, make_pdf([PAGE_ONE])).pages[0]
    assert page.width == pytest.approx(PAGE_WIDTH, abs=0.01)
    assert page.height == pytest.approx(PAGE_HEIGHT, abs=0.01)


def test_document_metadata_is_read(context: StageContext) -> None:
    document = _load(context, make_pdf([PAGE_ONE], title="Quarterly report", author="Jane Roe"))
    assert document.metadata["title"] == "Quarterly report"
    assert document.metadata["author"] == "Jane Roe"
    assert document.personal_values == (("PERSON", "Jane Roe"),)
    assert document.metadata["producer"].startswith("ReportLab")
    assert set(document.metadata) <= {"title", "author", "subject", "creator", "producer"}


def test_an_author_placeholder_is_no_personal_value(context: StageContext) -> None:
    for placeholder in ("anonymous", "Microsoft Office User"):
        document = _load(context, make_pdf([PAGE_ONE], author=placeholder))
        assert document.metadata["author"] == placeholder and document.personal_values == ()


def test_metadata_in_broken_utf16_is_kept_with_replacement_characters(context: StageContext) -> None:
    data = make_pdf([PAGE_ONE], title="Quarterly report", author="Jane Roe")
    # UTF-16BE with a lone high surrogate before "A", same length so the xref offsets hold.
    data = data.replace(b"/Title (Quarterly report)", b"/Title <FEFFD8000041>    ")
    document = _load(context, data)
    assert document.metadata["title"] == "\ufffdA"
    assert document.metadata["author"] == "Jane Roe" and "Jane Roe" in document.pages[0].text


def test_pdf_named_as_text_loads_as_pdf(tmp_path: Path, context: StageContext) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(make_pdf([PAGE_ONE]))
    document = load_document(read_source(path, context.settings), context)
    assert document.media_type == "application/pdf"
    assert document.pages[0].text.startswith("Patient record\n")
    assert document.pages[0].char_boxes is not None


def test_text_named_as_pdf_loads_as_text(context: StageContext) -> None:
    document = _load(context, b"Just some text that someone saved as .pdf\n", name="fake.pdf")
    assert document.media_type == "text/plain"
    assert document.pages[0].char_boxes is None


def test_encrypted_pdf_needs_a_password(context: StageContext) -> None:
    buffer = io.BytesIO()
    locked = canvas.Canvas(buffer, encrypt="secret")
    locked.drawString(72, 720, "Confidential salary list")
    locked.showPage()
    locked.save()
    error = _load_error(context, buffer.getvalue(), "locked.pdf")
    assert error.reason == "encrypted PDF (password required)"


def test_pdf_with_only_an_owner_password_loads(context: StageContext) -> None:
    buffer = io.BytesIO()
    restricted = canvas.Canvas(buffer, encrypt=StandardEncryption("", ownerPassword="owner", canModify=0))
    restricted.drawString(72, 720, "Readable by anyone")
    restricted.showPage()
    restricted.save()
    assert _load(context, buffer.getvalue()).pages[0].text == "Readable by anyone"


def test_garbage_after_the_pdf_header_is_corrupt(context: StageContext) -> None:
    data = b"%PDF-1.7\n" + b"this is not a pdf body " * 50 + b"\n%%EOF\n"
    error = _load_error(context, data)
    assert error.reason == "corrupt PDF: not a readable PDF structure"


def test_truncated_pdf_is_corrupt(context: StageContext) -> None:
    data = make_pdf([PAGE_ONE, PAGE_TWO])
    error = _load_error(context, data[: len(data) // 2], "cut.pdf")
    assert error.reason == "corrupt PDF: truncated (no end-of-file marker)"


def test_pdf_missing_only_its_tail_is_not_silently_loaded(context: StageContext) -> None:
    data = make_pdf([PAGE_ONE, PAGE_TWO])
    error = _load_error(context, data[:-8], "cut.pdf")
    assert error.reason.startswith("corrupt PDF")


def test_pdf_with_no_pages_is_corrupt(context: StageContext) -> None:
    empty = pdfium.PdfDocument.new()
    buffer = io.BytesIO()
    empty.save(buffer)
    empty.close()
    error = _load_error(context, buffer.getvalue(), "nopages.pdf")
    assert error.reason == "corrupt PDF: no pages"


def test_pdf_over_max_pages_is_refused(tmp_path: Path) -> None:
    context = loader_context(Settings(home=tmp_path, max_pages=10))
    data = make_pdf([[f"Page {number}"] for number in range(1, 31)])
    error = _load_error(context, data, "long.pdf")
    assert isinstance(error, LimitExceededError)
    assert error.reason == "PDF has 30 pages, over the 10 page limit (max_pages)"


def test_pdf_with_thousands_of_pages_is_refused_before_extraction(
        context: StageContext, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_many_page_pdf(5000)
    opened: list[int] = []
    original = pdfium.PdfDocument.__getitem__
    monkeypatch.setattr(pdfium.PdfDocument, "__getitem__",
                        lambda self, index: opened.append(index) or original(self, index))
    error = _load_error(context, data, "huge.pdf")
    assert isinstance(error, LimitExceededError)
    assert error.reason == "PDF has 5,000 pages, over the 2,000 page limit (max_pages)"
    assert opened == [], "no page may be opened before the page limit is checked"


def test_page_limit_is_inclusive(tmp_path: Path) -> None:
    context = loader_context(Settings(home=tmp_path, max_pages=3))
    assert _load(context, make_many_page_pdf(3)).page_count == 3


def test_pdf_text_over_max_chars_is_refused(tmp_path: Path) -> None:
    context = loader_context(Settings(home=tmp_path, max_chars=50))
    error = _load_error(context, make_pdf([PAGE_ONE, PAGE_TWO]), "wordy.pdf")
    assert isinstance(error, LimitExceededError)
    assert error.reason == "text has at least 61 characters, over the 50 character limit (max_chars)"


def test_pdf_with_no_text_even_after_ocr_and_no_pictures_is_refused(context: StageContext) -> None:
    error = _load_error(context, make_drawing_pdf(pages=2), "shapes.pdf")
    assert error.reason == "no text content: no text layer, OCR read no text, and no pictures"


def test_pages_without_text_are_kept_when_others_have_text(context: StageContext) -> None:
    document = _load(context, make_pdf([PAGE_ONE, [], PAGE_TWO]))
    assert [page.number for page in document.pages] == [1, 2, 3]
    assert document.pages[1].text == "" and document.pages[1].char_boxes == ()


def test_control_codes_are_dropped_and_windows_1252_quotes_recovered(context: StageContext) -> None:
    page = _load(context, make_raw_text_pdf(b"\x93Hi\x94 \x02x\x03")).pages[0]
    assert page.text == "\u201cHi\u201d x"
    assert page.char_boxes is not None and len(page.char_boxes) == len(page.text)
    assert all(box is not None for box in page.char_boxes)


def test_hyphen_at_a_line_end_is_kept_with_its_box(context: StageContext) -> None:
    page = _load(context, make_pdf([["Ask Jane Smith-", "Jones today"]])).pages[0]
    # pdfium joins a word hyphenated across lines; the hyphen glyph stays, so it can be redacted.
    assert page.text == "Ask Jane Smith-Jones today"
    assert page.char_boxes[page.text.index("-")] is not None


def test_hundred_page_pdf_loads_every_page_with_aligned_boxes(context: StageContext) -> None:
    lines = [f"Line {number}: Jane Roe, 12 Main Street, Springfield, phone 555-0100." for number in range(45)]
    data = make_pdf([lines] * 100)
    document = _load(context, data)
    assert document.page_count == 100
    assert sum(len(page.text) for page in document.pages) > 250_000
    assert all(page.char_boxes is not None and len(page.char_boxes) == len(page.text) for page in document.pages)


def test_concurrent_loads_get_their_own_results_and_errors(context: StageContext) -> None:
    # pdfium keeps global state (its last error, for one): unserialised threads mix up results.
    buffer = io.BytesIO()
    locked = canvas.Canvas(buffer, encrypt="secret")
    locked.drawString(72, 720, "locked")
    locked.showPage()
    locked.save()
    inputs = [
        (buffer.getvalue(), "encrypted PDF (password required)"),
        (b"%PDF-1.7\n" + b"junk " * 2000 + b"\n%%EOF\n", "corrupt PDF: not a readable PDF structure"),
        (make_pdf([PAGE_ONE, PAGE_TWO]), "\n".join(PAGE_TWO)),
    ]

    def outcome(job: int) -> tuple[str, str]:
        data, expected = inputs[job % len(inputs)]
        try:
            return _load(context, data).pages[1].text, expected
        except LoadError as error:
            return error.reason, expected

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(outcome, range(900)))
    assert [got for got, expected in results if got != expected] == []


def test_pdf_loader_declines_other_media_types(context: StageContext) -> None:
    source = source_from_bytes("a.txt", b"plain words", context.settings)
    assert pdf.docveil_load_document(source, context) is None


def _flate_pdf(content: bytes, image: bytes = b"", end_of_line: bytes = b"\n") -> bytes:
    """One page drawing ``content`` (Flate-compressed; ``end_of_line`` after its "stream"), and a
    Flate gray image of ``image``'s bytes."""
    packed = zlib.compress(content, 9)
    side = int(len(image) ** 0.5)
    picture = zlib.compress(image, 9)
    return write_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> "
         b"/XObject << /Im1 6 0 R >> >> /Contents 5 0 R >>"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream%s%s\nendstream" % (len(packed), end_of_line, packed),
        (b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
         b"/Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (side, side, len(picture), picture)),
    ])


@pytest.mark.parametrize("end_of_line", [b"\n", b"\r\n", b"\r", b" \n", b"\t\r\n"], ids=repr)
def test_content_streams_inflating_past_max_unpacked_bytes_are_refused_before_pdfium(
        tmp_path: Path, end_of_line: bytes) -> None:
    context = loader_context(Settings(home=tmp_path / "home", max_unpacked_bytes=1024 * 1024))
    text = b"BT /F1 12 Tf 72 720 Td (Lease notes) Tj ET\n"
    bomb = _flate_pdf(text + b" " * (2 * 1024 * 1024), end_of_line=end_of_line)
    assert len(bomb) < 10_000
    with pytest.raises(LimitExceededError) as caught:
        _load(context, bomb)
    assert caught.value.reason == ("PDF streams unpack to more than 1.0 MiB (max_unpacked_bytes): "
                                   "a decompression bomb or an oversized document")
    # Images are decoded within the pixel limits instead: a large one does not count.
    document = _load(context, _flate_pdf(text, image=b"\x80" * (1500 * 1500)))
    assert document.pages[0].text == "Lease notes"


def _bomb_pdf(dictionary: bytes, packed: bytes, before: bytes = b"") -> bytes:
    """One page whose content stream, with ``dictionary``'s entries, holds ``packed``."""
    return write_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
         b"/Contents 5 0 R >>"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        before + b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(packed), dictionary, packed),
    ])


_CONTENT = b"BT /F1 12 Tf 72 720 Td (Lease notes) Tj ET\n" + b" " * (2 * 1024 * 1024)


@pytest.mark.parametrize(("dictionary", "packed", "before"), [
    (b"/Filter /FlateDecode", zlib.compress(_CONTENT, 9), b"% /Subtype /Image\n"),  # a comment
    (b"/Note /Subtype /Image 1 /Filter /FlateDecode", zlib.compress(_CONTENT, 9), b""),  # another key's value
    (b"/Filter [/ASCIIHexDecode /FlateDecode]", zlib.compress(_CONTENT, 9).hex().encode() + b">", b""),
    (b"/Filter [/ASCII85Decode /FlateDecode]", base64.a85encode(zlib.compress(_CONTENT, 9)) + b"~>", b""),
    # Drawn as the page's content, whatever it calls itself: its declared 1 x 1 pixel allows 2 bytes.
    (b"/Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /Filter /FlateDecode",
     zlib.compress(_CONTENT, 9), b""),
    # ... and a declared size past the document pixel limit (here 10,000) allows nothing.
    (b"/Subtype /Image /Width 100 /Height 101 /ColorSpace /DeviceCMYK /BitsPerComponent 16 /Filter /FlateDecode",
     zlib.compress(_CONTENT, 9), b""),
    # Read as pdfium reads them: a stray byte in hex is skipped, ASCII85 stops at a foreign byte.
    (b"/Filter [/ASCIIHexDecode /FlateDecode]", b"x" + zlib.compress(_CONTENT, 9).hex().encode() + b">", b""),
    (b"/Filter [/ASCII85Decode /FlateDecode]", base64.a85encode(zlib.compress(_CONTENT, 9)) + b"v~>", b""),
    # "obj" inside a name is no object start.
    (b"/Xobj 1 /Filter [/ASCIIHexDecode /FlateDecode]", zlib.compress(_CONTENT, 9).hex().encode() + b">", b""),
], ids=["comment", "dictionary value", "hex", "ascii85", "called an image", "image past the document limit",
        "hex with a stray byte", "ascii85 ending in a foreign byte", "obj in a name"])
def test_a_bomb_disguised_in_its_dictionary_or_filters_is_refused(
        tmp_path: Path, dictionary: bytes, packed: bytes, before: bytes) -> None:
    context = loader_context(Settings(home=tmp_path / "home", max_unpacked_bytes=1024 * 1024,
                                      max_document_pixels=10_000))
    bomb = _bomb_pdf(dictionary, packed, before)
    assert len(bomb) < 50_000
    with pytest.raises(LimitExceededError, match="max_unpacked_bytes"):
        _load(context, bomb)
    # The same page, small, loads: the filters are read, not refused.
    small = _CONTENT[:44]
    packed_small = {b"hex": zlib.compress(small).hex().encode() + b">",
                    b"a85": base64.a85encode(zlib.compress(small)) + b"~>"}
    kind = b"hex" if b"ASCIIHex" in dictionary else b"a85" if b"ASCII85" in dictionary else None
    if kind is not None and b"Xobj" not in dictionary:
        assert _load(context, _bomb_pdf(dictionary, packed_small[kind])).pages[0].text == "Lease notes"


@pytest.mark.parametrize(("dictionary", "pack"), [
    (b"/Filter /LZWDecode", lzw_encode),
    (b"/Filter /LZWDecode /DecodeParms << /EarlyChange 0 >>", lambda data: lzw_encode(data, early_change=False)),
    (b"/Filter [/ASCIIHexDecode /LZWDecode]", lambda data: lzw_encode(data).hex().encode() + b">"),
    (b"/Filter /RunLengthDecode", run_length_encode),
], ids=["lzw", "lzw without early change", "hex then lzw", "run length"])
def test_lzw_and_run_length_streams_are_measured_like_flate(tmp_path: Path, dictionary: bytes, pack) -> None:
    context = loader_context(Settings(home=tmp_path / "home", max_unpacked_bytes=1024 * 1024))
    bomb = _bomb_pdf(dictionary, pack(_CONTENT))
    assert len(bomb) < 50_000
    with pytest.raises(LimitExceededError, match="max_unpacked_bytes"):
        _load(context, bomb)
    # The same page within the limit loads, read by pdfium through the same filters.
    page = _CONTENT[:44] + b" " * 1000 + b"BT /F1 12 Tf 72 700 Td (Second line) Tj ET\n"
    assert _load(context, _bomb_pdf(dictionary, pack(page))).pages[0].text == "Lease notes\nSecond line"
