"""PDF pictures and scans: embedded images with their place on the page, scanned pages read by
OCR with boxes in PDF points, and refusal of pictures that cannot be decoded or are too large."""

from __future__ import annotations

import io
import os
import signal
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError
from docveil.types import BBox, Document
from tests.document_corpus import (
    PAGE_HEIGHT,
    PAGE_WIDTH,
    expect_load_error,
    face_photo,
    full_context,
    load_bytes,
    pdf_with_pictures,
    scanned_pdf,
    text_picture,
)
from tests.stages.load.corpus import _stream, _write_pdf, drawn_word

LINES = ["Patient record", "Contact Jane Roe today", "Phone 555-0100, room 12"]


@pytest.fixture
def context(tmp_path: Path) -> StageContext:
    return full_context(tmp_path / "home")


def load(context: StageContext, data: bytes, name: str = "doc.pdf") -> Document:
    return load_bytes(context, data, name)


def load_error(context: StageContext, data: bytes, name: str = "bad.pdf") -> LoadError:
    return expect_load_error(context, data, name)


def image_pdf(image_dict: bytes, image_data: bytes, *, with_text: bool = True) -> bytes:
    """One page with a line of text (or none: a scan) and one image XObject written byte by byte."""
    content = b"q 200 0 0 200 100 400 cm /Im1 Do Q" + (b" BT /F1 12 Tf 72 760 Td (Hello there) Tj ET" if with_text else b"")
    return _write_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> "
         b"/XObject << /Im1 6 0 R >> >> /Contents 5 0 R >>"),
        _stream(content),
        b"<< /Type /XObject /Subtype /Image " + image_dict + b" /Length %d >>\nstream\n%s\nendstream"
        % (len(image_data), image_data),
    ])


RGB_64 = b"/Width 64 /Height 64 /ColorSpace /DeviceRGB /BitsPerComponent 8"
PIXELS_64 = bytes(range(256)) * 48


def near(a: BBox, b: BBox, tolerance: float) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a.as_list(), b.as_list(), strict=True))


def test_embedded_picture_keeps_its_place_on_the_page(context: StageContext) -> None:
    page = load(context, pdf_with_pictures(LINES, [(face_photo(128), (300, 380, 200, 150))])).pages[0]
    assert page.text == "\n".join(LINES), "a photo without text adds none"
    [picture] = page.placed_images
    assert picture.kind == "embedded" and picture.text_start is None
    assert near(picture.bbox, BBox(300, 380, 500, 530), 0.5)
    assert picture.image.pixels.mode == "RGB" and picture.image.height == 128


def test_text_in_a_picture_follows_the_page_text_with_boxes_on_the_picture(context: StageContext) -> None:
    note = text_picture(["Call Maria Gonzalez", "tomorrow at noon"])
    area = BBox(72, 300, 72 + 450, 300 + 450 * note.height / note.width)
    page = load(context, pdf_with_pictures(LINES, [(note, (area.x0, area.y0, area.x1 - area.x0,
                                                           area.y1 - area.y0))])).pages[0]
    assert page.text.startswith("\n".join(LINES) + "\n\n")
    [picture] = page.placed_images
    assert page.text[picture.text_start:] == "Call Maria Gonzalez\ntomorrow at noon"
    start = page.text.index("Gonzalez")
    box = BBox.enclosing(page.char_boxes[start:start + len("Gonzalez")])
    assert area.x0 < box.x0 < box.x1 < area.x1 and area.y0 < box.y0 < box.y1 <= area.y1
    assert box.y0 > (area.y0 + area.y1) / 2, "the first line of the note is in the upper half"
    assert len(page.char_boxes) == len(page.text)


def test_pictures_inside_forms_and_turned_pictures_map_to_the_page(context: StageContext) -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=True)
    pdf.drawString(72, 760, "Pictures")
    pdf.beginForm("logo")
    pdf.drawImage(ImageReader(face_photo(64)), 0, 0, width=100, height=100)
    pdf.endForm()
    pdf.saveState()
    pdf.translate(200, 400)
    pdf.scale(2, 1)
    pdf.doForm("logo")
    pdf.restoreState()
    pdf.saveState()
    pdf.translate(300, 100)
    pdf.rotate(90)
    pdf.drawImage(ImageReader(face_photo(64)), 0, 0, width=100, height=50)
    pdf.restoreState()
    pdf.showPage()
    pdf.save()
    pictures = load(context, buffer.getvalue()).pages[0].placed_images
    assert near(pictures[0].bbox, BBox(200, 400, 400, 500), 0.5)
    assert near(pictures[1].bbox, BBox(250, 100, 300, 200), 0.5)


def test_scanned_pdf_is_read_by_ocr_with_boxes_in_points(context: StageContext) -> None:
    document = load(context, scanned_pdf([LINES, ["Second scanned page"]]))
    assert document.page_count == 2
    first = document.pages[0]
    assert first.text == "\n".join(LINES)
    assert len(first.char_boxes) == len(first.text)
    drawn = drawn_word(LINES, "Roe")
    start = first.text.index("Roe")
    box = BBox.enclosing(first.char_boxes[start:start + 3])
    assert abs(box.x0 - drawn.x0) < 3 and abs(box.x1 - drawn.x1) < 3
    assert box.y0 - 4 < drawn.baseline < box.y1
    [render] = first.placed_images
    assert render.kind == "render" and render.text_start == 0
    assert near(render.bbox, BBox(0, 0, PAGE_WIDTH, PAGE_HEIGHT), 1)
    assert document.pages[1].text == "Second scanned page"


def test_the_pages_of_a_scan_read_side_by_side_come_back_in_order(context: StageContext) -> None:
    from docveil.stages.load import pdf

    words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo")
    pages = [[f"Scanned page {word}", f"Reference {word} {number}"]
             for number, word in enumerate(words[:pdf.PAGE_WORKERS + 3], 1)]
    document = load(context, scanned_pdf(pages, dpi=150))
    assert [page.number for page in document.pages] == list(range(1, len(pages) + 1))
    assert [page.text for page in document.pages] == ["\n".join(lines) for lines in pages]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reads_scans_after_its_parent_did(context: StageContext) -> None:
    data = scanned_pdf([["Scanned before the fork"], ["and after it"]], dpi=150)
    expected = [page.text for page in load(context, data).pages]  # the parent's page workers exist now
    pid = os.fork()
    if pid == 0:  # the child: workers of its own, or it would wait forever
        code = 1
        try:
            signal.alarm(60)
            code = 0 if [page.text for page in load(context, data).pages] == expected else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def test_text_read_from_scans_over_max_chars_is_refused(tmp_path: Path) -> None:
    context = full_context(tmp_path / "home", max_chars=60)
    pages = [[f"Scanned page number {number} of the intake form"] for number in range(1, 7)]
    error = expect_load_error(context, scanned_pdf(pages, dpi=150), "scan.pdf")
    assert isinstance(error, LimitExceededError)
    assert error.reason.startswith("text has at least ") and "(max_chars)" in error.reason


def test_corrupt_image_data_fails_the_pdf(context: StageContext) -> None:
    broken = image_pdf(RGB_64 + b" /Filter /DCTDecode", b"\xff\xd8\xff" + b"not a jpeg" * 20)
    assert load_error(context, broken).reason == "corrupt PDF: image 1 on page 1 cannot be decoded"


@pytest.mark.parametrize("with_text", [True, False], ids=["text-page", "scanned-page"])
def test_truncated_image_stream_fails_the_pdf(context: StageContext, with_text: bool) -> None:
    # A scanned page is read through its render, where pdfium pads the image with black.
    truncated = image_pdf(RGB_64 + b" /Filter /FlateDecode", zlib.compress(PIXELS_64)[:60], with_text=with_text)
    assert load_error(context, truncated).reason == "corrupt PDF: the data of image 1 on page 1 is truncated or damaged"
    short = image_pdf(RGB_64, PIXELS_64[:100], with_text=with_text)
    assert load_error(context, short).reason == "corrupt PDF: the data of image 1 on page 1 is truncated or damaged"
    whole = image_pdf(RGB_64 + b" /Filter /FlateDecode", zlib.compress(PIXELS_64), with_text=with_text)
    assert load(context, whole).pages[0].placed_images


def test_image_over_max_pixels_is_refused_before_decoding(context: StageContext) -> None:
    huge = image_pdf(b"/Width 60000 /Height 60000 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode",
                     zlib.compress(PIXELS_64))
    error = load_error(context, huge)
    assert isinstance(error, LimitExceededError)
    assert error.reason == ("image 1 on page 1 is 60,000 x 60,000 pixels (3,600,000,000), over the "
                            "100,000,000 pixel limit (max_pixels)")


def test_picture_count_and_document_pixels_are_limited(tmp_path: Path) -> None:
    pictures = [(face_photo(64), (72 + 80 * n, 300, 64, 64)) for n in range(4)]
    data = pdf_with_pictures(LINES, pictures)
    error = load_error(full_context(tmp_path / "home", max_images=3), data)
    assert isinstance(error, LimitExceededError)
    assert error.reason == "more than 3 pictures, over the picture limit (max_images)"
    error = load_error(full_context(tmp_path / "home", max_document_pixels=3 * 64 * 64), data)
    assert "max_document_pixels" in error.reason


def test_rules_and_bullets_are_not_pictures(context: StageContext) -> None:
    from PIL import Image

    rule = Image.new("RGB", (600, 4), "black")
    page = load(context, pdf_with_pictures(LINES, [(rule, (72, 500, 450, 3))])).pages[0]
    assert page.placed_images == ()


def test_a_picture_only_pdf_without_text_still_loads(context: StageContext) -> None:
    document = load(context, pdf_with_pictures([], [(face_photo(128), (100, 400, 200, 200))]))
    [page] = document.pages
    assert page.text == "" and page.placed_images[0].kind == "render"


def test_concurrent_loads_of_scans_and_text_pdfs_keep_their_own_results(context: StageContext) -> None:
    scan = scanned_pdf([["Scanned words only"]], dpi=150)
    text = pdf_with_pictures(LINES, [(face_photo(64), (300, 300, 64, 64))])

    def outcome(job: int) -> str:
        return load(context, scan if job % 2 else text).pages[0].text

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(outcome, range(8)))
    assert results == ["\n".join(LINES), "Scanned words only"] * 4
