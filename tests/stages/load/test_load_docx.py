"""Word documents: text of every part in reading order, pictures OCR'd, metadata, and refusal
of zip bombs, damaged archives and hostile XML, each with a clear reason."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError
from docveil.stages.load.docx import MEDIA_TYPE
from docveil.types import Document
from tests.document_corpus import (
    docx,
    expect_load_error,
    face_photo,
    full_context,
    load_bytes,
    text_picture,
    zip_bomb_docx,
)


@pytest.fixture
def context(tmp_path: Path) -> StageContext:
    return full_context(tmp_path / "home")


def load(context: StageContext, data: bytes, name: str = "letter.docx") -> Document:
    return load_bytes(context, data, name)


def load_error(context: StageContext, data: bytes, name: str = "bad.docx") -> LoadError:
    return expect_load_error(context, data, name)


def rewrite(data: bytes, part: str, content: bytes) -> bytes:
    """``data`` with one part replaced."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, content if info.filename == part else source.read(info.filename))
    return out.getvalue()


def test_body_table_header_and_footer_are_read_in_order(context: StageContext) -> None:
    data = docx(["Dear Ms Roe,", "your claim was approved."], table=[["Name", "Phone"], ["Jane Roe", "555-0100"]],
                header="ACME Insurance", footer="Page footer text")
    document = load(context, data)
    assert document.media_type == MEDIA_TYPE and document.page_count == 1
    page = document.pages[0]
    assert page.text == ("ACME Insurance\n\nDear Ms Roe,\nyour claim was approved.\nName\tPhone\n"
                         "Jane Roe\t555-0100\n\nPage footer text")
    assert page.char_boxes is None


def test_empty_table_cells_keep_their_column(context: StageContext) -> None:
    table = [["Name", "Phone", "DOB"], ["Jane Roe", "", "1985-03-14"], ["", "555-0100", ""]]
    text = load(context, docx(["Staff"], table=table)).pages[0].text
    assert text == "Staff\nName\tPhone\tDOB\nJane Roe\t\t1985-03-14\n\t555-0100\t"


def test_core_properties_become_metadata(context: StageContext) -> None:
    document = load(context, docx(["Body"], title="Claim 42", author="Jane Roe"))
    assert document.metadata == {"title": "Claim 42", "author": "Jane Roe"}
    assert document.personal_values == (("PERSON", "Jane Roe"),)  # redacted wherever the text names her


def test_docx_is_recognised_by_content_whatever_its_name(context: StageContext) -> None:
    assert load(context, docx(["Quarterly figures"]), "report.bin").media_type == MEDIA_TYPE


def test_text_in_a_picture_joins_the_document_text(context: StageContext) -> None:
    document = load(context, docx(["Scanned note attached."],
                                  pictures=[text_picture(["Call Maria Gonzalez", "tomorrow at noon"])]))
    page = document.pages[0]
    assert page.text.startswith("Scanned note attached.\n\n")
    assert "Maria Gonzalez" in page.text and "tomorrow" in page.text
    [picture] = page.placed_images
    assert picture.to_page is None and picture.bbox is None
    assert page.text[picture.text_start:].startswith("Call Maria")


def test_a_photo_is_kept_as_a_picture_to_redact(context: StageContext) -> None:
    page = load(context, docx(["Badge photo below."], pictures=[face_photo(128)])).pages[0]
    [picture] = page.placed_images
    assert (picture.image.width, picture.image.height) == (128, 128)
    assert picture.image.pixels.mode == "RGB"


def test_a_gif_picture_is_read_like_the_others(context: StageContext) -> None:
    gif = io.BytesIO()
    text_picture(["Call Maria Gonzalez", "tomorrow at noon"]).save(gif, format="GIF")
    data = rewrite(docx(["Scanned note attached."], pictures=[face_photo(32)]), "word/media/image1.png", gif.getvalue())
    page = load(context, data).pages[0]
    assert "Maria Gonzalez" in page.text
    [picture] = page.placed_images
    assert picture.image.pixels.mode == "RGB"


def test_vector_pictures_are_counted_as_not_read(context: StageContext) -> None:
    data = docx(["Logo below."], pictures=[face_photo(32)])
    data = rewrite(data, "word/media/image1.png", b"\x01\x00\x00\x00" + b"\x00" * 36 + b" EMF" + b"\x00" * 60)
    document = load(context, data)
    assert document.metadata["pictures_not_read"] == "1"
    assert document.pages[0].placed_images == ()


def test_a_damaged_picture_fails_the_document(context: StageContext) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, format="PNG")
    damaged = bytearray(buffer.getvalue())
    damaged[60] ^= 0xFF
    data = rewrite(docx(["Photo below."], pictures=[face_photo(32)]), "word/media/image1.png", bytes(damaged))
    error = load_error(context, data)
    assert error.reason.startswith("picture 1 of the Word document: corrupt PNG image")


def test_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    context = full_context(tmp_path / "home", max_unpacked_bytes=8 * 1024 * 1024)
    bomb = zip_bomb_docx(32 * 1024 * 1024)
    assert len(bomb) < 100_000
    error = load_error(context, bomb, "bomb.docx")
    assert isinstance(error, LimitExceededError)
    assert "max_unpacked_bytes" in error.reason and "zip bomb" in error.reason


def test_member_compressed_beyond_any_document_is_refused(context: StageContext) -> None:
    error = load_error(context, zip_bomb_docx(16 * 1024 * 1024), "dense.docx")
    assert isinstance(error, LimitExceededError)
    assert "compressed more than 100:1" in error.reason


def test_truncated_docx_is_corrupt(context: StageContext) -> None:
    data = docx(["A long letter."] * 50, pictures=[face_photo(64)])
    error = load_error(context, data[: len(data) // 2], "cut.docx")
    assert error.reason == "corrupt Word document: not a readable ZIP archive (truncated or damaged)"


def test_damaged_part_is_corrupt(context: StageContext) -> None:
    data = bytearray(docx(["Some text that fills the compressed stream of the body part."] * 20))
    at = data.find(b"word/document.xml") + len("word/document.xml") + 40
    data[at:at + 20] = bytes(20)
    error = load_error(context, bytes(data))
    assert error.reason == "corrupt Word document: part word/document.xml cannot be read (damaged data)"


def test_xml_with_a_dtd_is_refused(context: StageContext) -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
              b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
              b'<w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>')
    error = load_error(context, rewrite(docx(["x"]), "word/document.xml", laughs))
    assert error.reason == "corrupt Word document: part word/document.xml declares a DTD, which Word never writes"


def test_malformed_xml_is_corrupt(context: StageContext) -> None:
    error = load_error(context, rewrite(docx(["x"]), "word/document.xml", b"<w:document><w:body>"))
    assert error.reason.startswith("corrupt Word document: part word/document.xml is not well-formed XML")


def test_a_part_named_by_the_document_is_not_quoted_in_errors(context: StageContext) -> None:
    source, out = zipfile.ZipFile(io.BytesIO(docx(["x"], header="ACME"))), io.BytesIO()
    odd = "word/Rupert Greenhalgh letterhead.xml"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename).replace(b'Target="header1.xml"', b'Target="Rupert Greenhalgh letterhead.xml"')
            target.writestr(odd if info.filename == "word/header1.xml" else info.filename,
                            b"<w:hdr>" if info.filename == "word/header1.xml" else data)
    error = load_error(context, out.getvalue())
    assert error.reason.startswith("corrupt Word document: a part is not well-formed XML")
    assert "Rupert" not in str(error)


def test_zip_named_docx_without_a_body_says_so(context: StageContext) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not a word file")
    error = load_error(context, buffer.getvalue(), "fake.docx")
    assert error.reason == "not a Word document: the archive has no word/document.xml"


def test_deeply_nested_tables_do_not_exhaust_the_stack(context: StageContext) -> None:
    depth = 5000
    nested = "<w:tbl><w:tr><w:tc>" * depth + "<w:p><w:r><w:t>deep</w:t></w:r></w:p>" + "</w:tc></w:tr></w:tbl>" * depth
    body = (f'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            f"{nested}</w:body></w:document>").encode()
    assert load(context, rewrite(docx(["x"]), "word/document.xml", body)).pages[0].text == "deep"


def test_a_part_named_by_many_relationships_is_read_once(context: StageContext, monkeypatch) -> None:
    from docveil.stages.load import docx as loader

    data = docx(["Body text."], header="ACME Insurance")
    rels = "".join(f'<Relationship Id="rIdH{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                   f'relationships/header" Target="{"document.xml" if i % 2 else "header1.xml"}"/>'
                   for i in range(400))
    data = rewrite(data, "word/_rels/document.xml.rels",
                   ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                    f'package/2006/relationships">{rels}</Relationships>').encode())
    parsed = []
    real = loader._part_text
    monkeypatch.setattr(loader, "_part_text", lambda root: parsed.append(root) or real(root))
    assert load(context, data).pages[0].text == "ACME Insurance\n\nBody text."
    assert len(parsed) == 2  # the body and the header, once each
