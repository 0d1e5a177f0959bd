"""Reading sources: file checks and size limits before any parsing, and clear unsupported errors."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest
from corpus import loader_context, make_pdf, make_png, make_zip

from docveil.config import Settings
from docveil.errors import LimitExceededError, LoadError, UnsupportedFormatError
from docveil.stages.load.source import (
    content_hash,
    format_size,
    load_document,
    read_source,
    source_from_bytes,
)

MIB = 1024 * 1024


@pytest.fixture
def load_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def _assert_names_file(error: LoadError, name: str, reason: str) -> None:
    assert error.source == name
    assert reason in error.reason
    assert str(error).startswith(f"{name}: ")


def test_read_source_reads_the_file_and_sniffs_its_content(tmp_path: Path, load_settings: Settings) -> None:
    path = tmp_path / "scan.txt"
    path.write_bytes(make_pdf([["Hello"]]))
    source = read_source(path, load_settings)
    assert source.name == str(path)
    assert source.data == path.read_bytes()
    assert source.media_type == "application/pdf"


def test_missing_file_is_a_load_error_naming_it(tmp_path: Path, load_settings: Settings) -> None:
    path = tmp_path / "missing.txt"
    with pytest.raises(LoadError) as caught:
        read_source(path, load_settings)
    _assert_names_file(caught.value, str(path), "no such file")


def test_directory_is_not_a_regular_file(tmp_path: Path, load_settings: Settings) -> None:
    with pytest.raises(LoadError) as caught:
        read_source(tmp_path, load_settings)
    _assert_names_file(caught.value, str(tmp_path), "not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_refused_without_blocking_on_it(tmp_path: Path, load_settings: Settings) -> None:
    pipe = tmp_path / "pipe.txt"
    os.mkfifo(pipe)
    with pytest.raises(LoadError) as caught:
        read_source(pipe, load_settings)
    _assert_names_file(caught.value, str(pipe), "not a regular file")


def test_empty_file_is_refused(tmp_path: Path, load_settings: Settings) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(LoadError) as caught:
        read_source(path, load_settings)
    assert type(caught.value) is LoadError
    _assert_names_file(caught.value, str(path), "empty file")


def test_file_over_max_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"word " * 400)
    with pytest.raises(LimitExceededError) as caught:
        read_source(path, Settings(home=tmp_path, max_bytes=1000))
    _assert_names_file(caught.value, str(path), "file is 2.0 KiB, over the 1,000 bytes limit (max_bytes)")


def test_oversized_file_is_refused_from_its_size_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with open(path, "wb") as handle:
        handle.truncate(120 * MIB)  # sparse: costs no disk, but reading it would allocate 100 MiB
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceededError) as caught:
            read_source(path, Settings(home=tmp_path, max_bytes=100 * MIB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_names_file(caught.value, str(path), "file is 120.0 MiB, over the 100.0 MiB limit (max_bytes)")
    assert peak < MIB


def test_size_just_over_the_limit_is_shown_in_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "edge.txt"
    with open(path, "wb") as handle:
        handle.truncate(100 * MIB + 1)
    with pytest.raises(LimitExceededError) as caught:
        read_source(path, Settings(home=tmp_path, max_bytes=100 * MIB))
    assert "file is 104,857,601 bytes, over the 104,857,600 bytes limit (max_bytes)" in caught.value.reason


def test_file_at_exactly_max_bytes_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "exact.txt"
    path.write_bytes(b"x" * 1000)
    assert len(read_source(path, Settings(home=tmp_path, max_bytes=1000)).data) == 1000


def test_uploaded_bytes_get_the_same_checks(load_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(LoadError) as empty:
        source_from_bytes("upload.txt", b"", load_settings)
    _assert_names_file(empty.value, "upload.txt", "empty file")
    with pytest.raises(LimitExceededError) as big:
        source_from_bytes("upload.txt", b"x" * 2048, Settings(home=tmp_path, max_bytes=1024))
    _assert_names_file(big.value, "upload.txt", "file is 2.0 KiB, over the 1.0 KiB limit (max_bytes)")
    source = source_from_bytes("upload.bin", bytearray(b"plain words"), load_settings)
    assert (source.name, source.data, source.media_type) == ("upload.bin", b"plain words", "text/plain")


def test_binary_data_named_as_text_is_unsupported_and_says_what_it_looks_like(load_settings: Settings) -> None:
    context = loader_context(load_settings)
    source = source_from_bytes("photo.txt", make_png(), load_settings)
    with pytest.raises(UnsupportedFormatError) as caught:
        load_document(source, context)
    _assert_names_file(caught.value, "photo.txt", "binary content (looks like a PNG image), not text")


def test_unrecognised_binary_named_as_text_is_unsupported(load_settings: Settings) -> None:
    context = loader_context(load_settings)
    source = source_from_bytes("data.txt", bytes(range(256)) * 4, load_settings)
    with pytest.raises(UnsupportedFormatError) as caught:
        load_document(source, context)
    _assert_names_file(caught.value, "data.txt", "binary content of an unrecognised format, not text")


def test_known_format_without_a_loader_names_the_format(load_settings: Settings) -> None:
    context = loader_context(load_settings)
    source = source_from_bytes("bundle.zip", make_zip(), load_settings)
    with pytest.raises(UnsupportedFormatError) as caught:
        load_document(source, context)
    _assert_names_file(caught.value, "bundle.zip", "unsupported format: a ZIP archive (application/zip)")


def test_loader_is_chosen_by_content_not_by_name(load_settings: Settings) -> None:
    context = loader_context(load_settings)
    as_pdf = load_document(source_from_bytes("letter.txt", make_pdf([["Dear reader"]]), load_settings), context)
    assert as_pdf.media_type == "application/pdf"
    assert as_pdf.pages[0].text == "Dear reader"
    as_text = load_document(source_from_bytes("letter.pdf", b"Dear reader,\r\nhello", load_settings), context)
    assert as_text.media_type == "text/plain"
    assert as_text.pages[0].text == "Dear reader,\nhello"


def test_content_hash_is_the_sha256_of_the_raw_bytes() -> None:
    assert content_hash(b"abc") == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize(("size", "expected"), [
    (0, "0 bytes"), (1000, "1,000 bytes"), (1536, "1.5 KiB"), (120 * MIB, "120.0 MiB"), (3 * 1024 * MIB, "3.0 GiB"),
])
def test_sizes_are_written_for_people(size: int, expected: str) -> None:
    assert format_size(size) == expected


def test_what_storage_cannot_hold_is_replaced_one_character_for_one() -> None:
    from docveil.stages.load.source import storable_document
    from docveil.types import BBox, Document, Page

    boxes = (BBox(0, 0, 1, 1), BBox(1, 0, 2, 1), BBox(2, 0, 3, 1), BBox(3, 0, 4, 1))
    document = Document(source="a.txt", media_type="text/plain", content_hash="0" * 64,
                        pages=(Page(number=1, text="a\x00b\ud800", char_boxes=boxes),),
                        metadata={"title": "t\x00"})
    cleaned = storable_document(document)
    assert cleaned.pages[0].text == "a\ufffdb\ufffd" and cleaned.pages[0].char_boxes == boxes
    assert cleaned.metadata == {"title": "t\ufffd"}
    assert storable_document(cleaned) is cleaned
