"""Media types come from the content; the name only picks the flavour of text."""

from __future__ import annotations

import codecs
import gzip
import io
import random
import zipfile

import pytest
from corpus import make_pdf, make_png, make_zip
from PIL import Image

from docveil.stages.load.sniff import describe_media_type, sniff_media_type

# Fixed noise: random bytes may begin with a magic number or a byte-order mark by chance.
_NOISE = random.Random(7).randbytes(128)


def _image(format_name: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, format=format_name)
    return buffer.getvalue()


def _docx_like() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def _epub_like() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("OEBPS/content.opf", "<package/>")
    return buffer.getvalue()


@pytest.mark.parametrize(("data", "name", "expected"), [
    pytest.param(make_pdf([["hello"]]), "report.pdf", "application/pdf", id="pdf"),
    pytest.param(make_pdf([["hello"]]), "notes.txt", "application/pdf", id="pdf-named-txt"),
    pytest.param(b"\n  " + make_pdf([["hello"]]), "x.bin", "application/pdf", id="pdf-after-whitespace"),
    pytest.param(make_png(), "photo.txt", "image/png", id="png-named-txt"),
    pytest.param(_image("JPEG"), "a.jpg", "image/jpeg", id="jpeg"),
    pytest.param(_image("GIF"), "a", "image/gif", id="gif"),
    pytest.param(_image("WEBP"), "a.webp", "image/webp", id="webp"),
    pytest.param(_image("TIFF"), "a.md", "image/tiff", id="tiff-named-md"),
    pytest.param(_image("BMP"), "a.txt", "image/bmp", id="bmp"),
    pytest.param(make_zip(), "a.zip", "application/zip", id="zip"),
    pytest.param(_docx_like(), "a.txt",
                 "application/vnd.openxmlformats-officedocument.wordprocessingml.document", id="docx"),
    pytest.param(_epub_like(), "a.zip", "application/epub+zip", id="epub"),
    pytest.param(gzip.compress(b"hello"), "a.txt", "application/gzip", id="gzip"),
    pytest.param(b"\x7fELF\x02\x01\x01" + bytes(57), "a.txt", "application/x-elf", id="elf"),
    pytest.param(b"{\\rtf1\\ansi Hello}", "a.txt", "application/rtf", id="rtf"),
    pytest.param(_NOISE[:64] + b"\x00" * 8 + _NOISE[64:], "data.txt", "application/octet-stream",
                 id="unknown-binary"),
])
def test_binary_formats_are_recognised_by_content_whatever_the_name(data: bytes, name: str, expected: str) -> None:
    assert sniff_media_type(data, name) == expected


@pytest.mark.parametrize(("data", "name", "expected"), [
    pytest.param(b"plain words", "a.txt", "text/plain", id="txt"),
    pytest.param(b"plain words", "no-extension", "text/plain", id="no-extension"),
    pytest.param(b"# Title\n\ntext", "README.md", "text/markdown", id="markdown"),
    pytest.param(b"# Title", "NOTES.MARKDOWN", "text/markdown", id="markdown-upper-case"),
    pytest.param(b"<p>fragment</p>", "page.htm", "text/html", id="html-fragment-by-extension"),
    pytest.param(b"<!DOCTYPE html><p>x</p>", "page.txt", "text/html", id="doctype-named-txt"),
    pytest.param(codecs.BOM_UTF8 + b"\r\n  <HTML lang=en><body>x", "x", "text/html", id="bom-whitespace-html"),
    pytest.param(b"<!-- generated -->\n<?xml version='1.0'?><!doctype html>", "x", "text/html", id="comment-prolog"),
    pytest.param(b'<div align="center">\n\n# Project\n', "README.md", "text/markdown", id="markdown-with-html"),
    pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "a.txt", "image/svg+xml", id="svg"),
    pytest.param(b"BMW annual report 2024, page one", "bmw.txt", "text/plain", id="starts-with-BM"),
    pytest.param(b"About PDF files.\nThey start with %PDF-1.7.\n", "about.txt", "text/plain", id="mentions-pdf"),
    pytest.param(b"This is not a PDF at all.\n", "fake.pdf", "text/plain", id="text-named-pdf"),
    pytest.param("Grüße aus Köln".encode("latin-1"), "a.txt", "text/plain", id="latin-1-is-text"),
    pytest.param(codecs.BOM_UTF16_LE + "Hello, UTF-16".encode("utf-16-le"), "a.txt", "text/plain", id="utf-16-le"),
    pytest.param(codecs.BOM_UTF16_BE + "# Hi".encode("utf-16-be"), "a.md", "text/markdown", id="utf-16-be-md"),
    pytest.param(b"\x1b[31mred\x1b[0m log line\n", "app.log", "text/plain", id="ansi-log"),
])
def test_text_is_recognised_and_the_extension_picks_its_kind(data: bytes, name: str, expected: str) -> None:
    assert sniff_media_type(data, name) == expected


def test_utf16_without_a_byte_order_mark_counts_as_binary() -> None:
    assert sniff_media_type("Hello, UTF-16".encode("utf-16-le"), "a.txt") == "application/octet-stream"


def test_text_dense_with_control_characters_counts_as_binary() -> None:
    assert sniff_media_type(b"\x01\x02\x03\x04abc\x05\x06\x07\x08" * 50, "a.txt") == "application/octet-stream"


def test_media_types_are_described_in_words() -> None:
    assert describe_media_type("image/png") == "a PNG image"
    assert describe_media_type("application/zip") == "a ZIP archive"
    assert describe_media_type("application/octet-stream") == "an unrecognised binary format"
    assert describe_media_type("application/x-unheard-of") == "application/x-unheard-of content"


def test_a_huge_mimetype_member_is_not_inflated_to_tell_the_kind() -> None:
    import tracemalloc

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", b"application/epub+zip" + b" " * (256 * 1024 * 1024))
    assert len(buffer.getvalue()) < 1024 * 1024
    tracemalloc.start()
    try:
        kind = sniff_media_type(buffer.getvalue(), "book.epub")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert kind == "application/epub+zip"
    assert peak < 16 * 1024 * 1024  # the member is 256 MiB inflated
