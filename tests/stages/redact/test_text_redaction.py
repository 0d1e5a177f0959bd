"""redact_text and redact_document: offsets, character boxes, manifest and vault entries."""

from __future__ import annotations

import pytest

from docveil.errors import ConfigError, DocveilError
from docveil.stages.redact.operators import OPERATORS
from docveil.stages.redact.pseudonyms import Pseudonymizer
from docveil.stages.redact.text import redact_document, redact_text
from docveil.types import BBox, Document, Finding, Page

PSEUDONYMIZER = Pseudonymizer(bytes(range(32)))
TEXT = "Call Jane Roe at (415) 555-0134 or jane@example.com. Jane Roe agreed."
#       0    5        14 17             31  35               51
PLANTED = ["Jane Roe", "(415) 555-0134", "jane@example.com"]


def span(value: str, entity_type: str, text: str = TEXT, occurrence: int = 0, score: float = 0.9) -> Finding:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(value, start + 1)
    return Finding(entity_type, start, start + len(value), score, "test-recognizer")


FINDINGS = [span("Jane Roe", "PERSON"), span("(415) 555-0134", "PHONE_NUMBER"),
            span("jane@example.com", "EMAIL_ADDRESS"), span("Jane Roe", "PERSON", occurrence=1)]


def redact(text: str, findings: list[Finding], operator_for=lambda _t: "pseudonym", operators=OPERATORS):
    return redact_text(text, findings, tenant="acme", pseudonymizer=PSEUDONYMIZER,
                       operators=operators, operator_for=operator_for)


def test_values_are_replaced_and_offsets_map_both_texts() -> None:
    redacted, records, _ = redact(TEXT, FINDINGS)
    jane = PSEUDONYMIZER.token("Jane Roe", "PERSON")
    phone = PSEUDONYMIZER.token("(415) 555-0134", "PHONE_NUMBER")
    email = PSEUDONYMIZER.token("jane@example.com", "EMAIL_ADDRESS")
    assert redacted.text == f"Call {jane} at {phone} or {email}. {jane} agreed."
    for record in records:
        replacement = redacted.text[record.redacted_start:record.redacted_end]
        assert replacement == PSEUDONYMIZER.token(TEXT[record.start:record.end], record.entity_type)
    assert [r.operator for r in records] == ["pseudonym"] * 4
    assert [r.recognizer for r in records] == ["test-recognizer"] * 4


def test_each_operator_is_chosen_per_entity_type() -> None:
    choice = {"PERSON": "label", "PHONE_NUMBER": "mask", "EMAIL_ADDRESS": "drop"}
    redacted, records, entries = redact(TEXT, FINDINGS, operator_for=choice.__getitem__)
    assert redacted.text == "Call <PERSON> at (***) ***-0134 or . <PERSON> agreed."
    assert [r.operator for r in records] == ["label", "mask", "drop", "label"]
    dropped = records[2]
    assert dropped.redacted_start == dropped.redacted_end
    assert entries == []  # only pseudonyms go to the vault


def test_vault_entries_are_one_per_distinct_value() -> None:
    # spaCy may call the same name a place elsewhere: still one subject, one vault entry.
    findings = [*FINDINGS, span("JANE ROE", "LOCATION", text=TEXT + " JANE ROE")]
    _, records, entries = redact(TEXT + " JANE ROE", findings)
    assert len(records) == 5
    assert sorted(e.entity_type for e in entries) == ["EMAIL_ADDRESS", "PERSON", "PHONE_NUMBER"]
    jane = next(e for e in entries if e.entity_type == "PERSON")
    assert (jane.value, jane.token) == ("Jane Roe", PSEUDONYMIZER.token("Jane Roe", "PERSON"))
    assert len({e.digest for e in entries}) == 3
    assert "Jane Roe" not in repr(entries)


def test_manifest_holds_no_values() -> None:
    _, records, _ = redact(TEXT, FINDINGS)
    for value in PLANTED:
        assert value not in repr(records)
        assert value not in str([r.as_dict() for r in records])


def test_an_unknown_operator_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"'blur'.*PERSON") as caught:
        redact(TEXT, FINDINGS, operator_for=lambda _t: "blur")
    assert "Jane" not in str(caught.value)


def test_an_operator_that_returns_no_text_is_a_plugin_error() -> None:
    with pytest.raises(DocveilError, match="'broken'"):
        redact(TEXT, FINDINGS, operator_for=lambda _t: "broken",
               operators={**OPERATORS, "broken": lambda value, entity_type, digest: None})


def test_overlapping_findings_are_resolved_before_replacing() -> None:
    findings = [span("Jane Roe", "PERSON", score=0.85), Finding("LOCATION", 10, 13, 0.5, "x")]  # "Roe"
    redacted, records, _ = redact(TEXT, findings)
    assert [r.entity_type for r in records] == ["PERSON"]
    assert "Roe" not in redacted.text.split(" at ")[0]


def test_a_finding_outside_the_text_is_refused() -> None:
    with pytest.raises(DocveilError, match="outside the text"):
        redact("short", [Finding("PERSON", 2, 40, 0.9, "r")])


def test_text_without_findings_is_unchanged() -> None:
    redacted, records, entries = redact(TEXT, [])
    assert (redacted.text, records, entries) == (TEXT, [], [])


def _boxed_page(number: int, text: str) -> Page:
    """A synthetic PDF-like page: character i sits in box [10i, 0, 10i + 8, 12]."""
    boxes = tuple(None if ch == "\n" else BBox(10.0 * i, 0.0, 10.0 * i + 8, 12.0) for i, ch in enumerate(text))
    return Page(number=number, text=text, char_boxes=boxes, width=800.0, height=600.0)


def test_document_pages_keep_their_character_boxes_aligned() -> None:
    page_one = _boxed_page(1, TEXT)
    page_two = Page(number=2, text="Mail jane@example.com\nthanks")  # no boxes: a text page
    document = Document("mail.pdf", "application/pdf", (page_one, page_two), "f" * 64, {"author": "x"})
    findings = [FINDINGS, [span("jane@example.com", "EMAIL_ADDRESS", text=page_two.text)]]
    choice = {"PERSON": "pseudonym", "PHONE_NUMBER": "mask", "EMAIL_ADDRESS": "drop"}

    redacted = redact_document(document, findings, tenant="acme", pseudonymizer=PSEUDONYMIZER,
                               operators=OPERATORS, operator_for=choice.__getitem__)

    first = redacted.pages[0]
    assert len(first.char_boxes) == len(first.text.text)
    assert (first.width, first.height) == (800.0, 600.0)
    cursor = 0
    for record in redacted.manifest[:4]:
        # unchanged characters before the replacement keep their own box
        shift = record.redacted_start - record.start
        for i in range(cursor, record.start):
            assert first.char_boxes[i + shift] == page_one.char_boxes[i]
        # every replacement character gets the box enclosing the replaced characters
        enclosing = BBox(10.0 * record.start, 0.0, 10.0 * (record.end - 1) + 8, 12.0)
        assert set(first.char_boxes[record.redacted_start:record.redacted_end]) <= {enclosing}
        cursor = record.end
    tail = len(TEXT) - cursor
    assert first.char_boxes[-tail:] == page_one.char_boxes[-tail:]

    assert redacted.pages[1].char_boxes is None
    assert redacted.pages[1].text.text == "Mail \nthanks"
    assert [r.page for r in redacted.manifest] == [1, 1, 1, 1, 2]
    assert [e.token for e in redacted.pseudonyms] == [PSEUDONYMIZER.token("Jane Roe", "PERSON")]
    assert (redacted.tenant, redacted.source, redacted.content_hash) == ("acme", "mail.pdf", "f" * 64)
    for value in PLANTED:
        assert value not in redacted.text
        assert value not in repr(redacted.manifest)
        assert value not in repr(redacted)


def test_findings_for_a_different_number_of_pages_are_refused() -> None:
    document = Document("a.txt", "text/plain", (Page(1, TEXT),), "0" * 64)
    with pytest.raises(DocveilError, match=r"a\.txt: 2 lists of findings for 1 pages"):
        redact_document(document, [[], []], tenant="acme", pseudonymizer=PSEUDONYMIZER,
                        operators=OPERATORS, operator_for=lambda _t: "pseudonym")


def test_char_boxes_that_do_not_match_the_text_are_refused() -> None:
    page = Page(1, TEXT, char_boxes=(BBox(0, 0, 1, 1),))
    document = Document("b.pdf", "application/pdf", (page,), "0" * 64)
    with pytest.raises(DocveilError, match=r"b\.pdf: page 1 has 1 character boxes"):
        redact_document(document, [FINDINGS], tenant="acme", pseudonymizer=PSEUDONYMIZER,
                        operators=OPERATORS, operator_for=lambda _t: "pseudonym")
