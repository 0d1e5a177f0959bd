from __future__ import annotations

from itertools import pairwise

import pytest

from docveil.stages.chunk import chunk_page, sentence_spans
from docveil.types import BBox, RedactedPage, RedactedText


def page(text: str, boxes: bool = False) -> RedactedPage:
    char_boxes = tuple(BBox(i, 0, i + 1, 10) for i in range(len(text))) if boxes else None
    return RedactedPage(number=3, text=RedactedText(text), char_boxes=char_boxes)


@pytest.mark.parametrize(("text", "expected"), [
    ("One. Two! Three?", ["One.", "Two!", "Three?"]),
    ("He met <PERSON_7f3a2c9e1b>. She left.", ["He met <PERSON_7f3a2c9e1b>.", "She left."]),
    ("Title\n\nBody text here", ["Title", "Body text here"]),
    ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
    ("Items:\n- first\n- second", ["Items:", "- first", "- second"]),
    ("Version 2.5 is out", ["Version 2.5 is out"]),
    ("   ", []),
])
def test_sentences_split_at_boundaries(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in sentence_spans(text)] == expected


def test_chunks_respect_size_and_keep_sentences_whole() -> None:
    sentences = [f"Sentence number {i} talks about topic {i}." for i in range(40)]
    text = " ".join(sentences)
    chunks = chunk_page(page(text), size=200, overlap=0, first_ordinal=0)
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk.text.text) <= 200
        assert chunk.text.text.endswith(".")
        assert chunk.text.text == text[chunk.start:chunk.end]
    assert " ".join(c.text.text for c in chunks) == text


def test_overlap_repeats_trailing_sentences() -> None:
    text = " ".join(f"Fact {i} is here." for i in range(30))
    no_overlap = chunk_page(page(text), size=120, overlap=0, first_ordinal=0)
    overlapped = chunk_page(page(text), size=120, overlap=40, first_ordinal=0)
    assert len(overlapped) > len(no_overlap)
    for first, second in pairwise(overlapped):
        assert second.start < first.end, "consecutive chunks should share their boundary sentences"


def test_long_sentence_is_split_at_whitespace() -> None:
    text = "word " * 500
    chunks = chunk_page(page(text.strip()), size=100, overlap=0, first_ordinal=5)
    assert all(len(c.text.text) <= 100 for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(5, 5 + len(chunks)))
    assert all(not c.text.text.startswith(" ") and not c.text.text.endswith(" ") for c in chunks)


def test_chunk_keeps_page_and_enclosing_box() -> None:
    text = "First sentence. Second sentence."
    (chunk,) = chunk_page(page(text, boxes=True), size=800, overlap=0, first_ordinal=0)
    assert chunk.page == 3
    assert chunk.bbox == BBox(0, 0, len(text), 10)


def test_a_long_line_of_table_cells_is_split_at_a_tab_not_inside_a_token() -> None:
    # A PDF table row: cells apart by tabs, no space anywhere.
    tokens = [f"<PERSON_{index:08x}>" for index in range(40)]
    text = "\t".join(tokens)
    chunks = chunk_page(page(text), size=100, overlap=0, first_ordinal=0)
    assert len(chunks) > 1
    assert [piece for chunk in chunks for piece in chunk.text.text.split("\t")] == tokens
