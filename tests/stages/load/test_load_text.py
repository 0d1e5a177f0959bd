"""Plain text and Markdown: decoding, newlines, limits, and errors that name the file."""

from __future__ import annotations

import codecs
import hashlib
from pathlib import Path

import pytest
from corpus import loader_context, make_pdf

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError
from docveil.stages.load import text
from docveil.stages.load.source import load_document, read_source, source_from_bytes


@pytest.fixture
def context(tmp_path: Path) -> StageContext:
    return loader_context(Settings(home=tmp_path / "home"))


def _load(context: StageContext, name: str, data: bytes):
    return load_document(source_from_bytes(name, data, context.settings), context)


def test_text_file_loads_as_one_page_without_boxes(tmp_path: Path, context: StageContext) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(b"Call Jane Roe on Monday.\nThanks!\n")
    document = load_document(read_source(path, context.settings), context)
    assert document.source == str(path)
    assert document.media_type == "text/plain"
    assert document.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert document.page_count == 1
    page = document.pages[0]
    assert (page.number, page.text, page.char_boxes) == (1, "Call Jane Roe on Monday.\nThanks!\n", None)


def test_markdown_keeps_its_media_type_and_source_text(context: StageContext) -> None:
    markdown = "# Minutes\n\n- *Jane* presented\n- [link](http://example.org)\n"
    document = _load(context, "minutes.md", markdown.encode())
    assert document.media_type == "text/markdown"
    assert document.pages[0].text == markdown


def test_windows_and_old_mac_newlines_become_line_feeds(context: StageContext) -> None:
    document = _load(context, "crlf.txt", b"one\r\ntwo\rthree\n")
    assert document.pages[0].text == "one\ntwo\nthree\n"


def test_utf8_byte_order_mark_is_dropped(context: StageContext) -> None:
    document = _load(context, "bom.txt", codecs.BOM_UTF8 + "Grüße".encode())
    assert document.pages[0].text == "Grüße"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_decoded(context: StageContext, codec: str) -> None:
    bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE
    document = _load(context, "wide.txt", bom + "Zoë\r\nKraków".encode(codec))
    assert document.pages[0].text == "Zoë\nKraków"


def test_nul_characters_become_replacement_characters(context: StageContext) -> None:
    # UTF-16 may hold U+0000, which no PostgreSQL text can: it would fail the document at storage.
    document = _load(context, "notes.txt", "\ufeffHello world\x00 lease notes.".encode("utf-16-le"))
    assert document.pages[0].text == "Hello world\ufffd lease notes."


def test_latin1_text_is_refused_with_the_offset_of_the_first_bad_byte(context: StageContext) -> None:
    data = "Name: Jörg Secretname".encode("latin-1")
    with pytest.raises(LoadError) as caught:
        _load(context, "legacy.txt", data)
    assert caught.value.source == "legacy.txt"
    assert caught.value.reason == "not valid UTF-8 text (invalid byte at offset 7)"
    assert "Secretname" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_whitespace_only_text_has_no_content(context: StageContext) -> None:
    with pytest.raises(LoadError) as caught:
        _load(context, "blank.txt", b" \n\t\r\n  ")
    assert caught.value.source == "blank.txt"
    assert caught.value.reason == "no text content"


def test_text_over_max_chars_is_refused(tmp_path: Path) -> None:
    context = loader_context(Settings(home=tmp_path, max_chars=10))
    with pytest.raises(LimitExceededError) as caught:
        _load(context, "long.txt", ("é" * 11).encode())
    assert caught.value.source == "long.txt"
    assert caught.value.reason == "text has 11 characters, over the 10 character limit (max_chars)"


def test_text_loader_declines_other_media_types(context: StageContext) -> None:
    pdf_source = source_from_bytes("a.pdf", make_pdf([["x"]]), context.settings)
    html_source = source_from_bytes("a.html", b"<html><p>x</p></html>", context.settings)
    assert text.docveil_load_document(pdf_source, context) is None
    assert text.docveil_load_document(html_source, context) is None
