"""A value found anywhere in a document, or known to its loader, is redacted everywhere in it."""

from __future__ import annotations

from docveil.stages.redact.known_values import (
    find_known,
    known_values,
    resolved,
    restore_originals,
    with_known_values,
)
from docveil.stages.redact.operators import OPERATORS
from docveil.stages.redact.pseudonyms import Pseudonymizer
from docveil.stages.redact.text import redact_document
from docveil.types import Document, Finding, Page

PSEUDONYMIZER = Pseudonymizer(bytes(range(32)))


def token(value: str, entity_type: str = "PERSON") -> str:
    return PSEUDONYMIZER.token(value, entity_type)


def redact(document: Document, findings: list[list[Finding]]) -> list[str]:
    viewed, all_findings = with_known_values(document, findings)
    redacted = redact_document(viewed, all_findings, tenant="acme", pseudonymizer=PSEUDONYMIZER,
                               operators=OPERATORS, operator_for=lambda _type: "pseudonym")
    return [page.text.text for page in restore_originals(redacted, document).pages]


def found(text: str, value: str, entity_type: str = "PERSON") -> Finding:
    start = text.index(value)
    return Finding(entity_type, start, start + len(value), 0.85, "test")


def test_a_name_found_on_one_page_is_redacted_on_the_others_in_capitals_and_in_file_names() -> None:
    cv = "Curriculum vitae\nName: Cornelius Fairbanks\nSkills: Split and merge files."
    message = "Attachment 1: Cornelius_Fairbanks_CV.pdf (page 2)\nRegards, CORNELIUS FAIRBANKS\nsplit it"
    document = Document("mail.eml", "message/rfc822", (Page(1, message), Page(2, cv)), "hash")
    # The detector found the name on page 2 only, and took "Split" for a name there.
    pages = redact(document, [[], [found(cv, "Cornelius Fairbanks"), found(cv, "Split")]])
    name = token("Cornelius Fairbanks")
    assert pages[0] == f"Attachment 1: {name}_CV.pdf (page 2)\nRegards, {name}\nsplit it"
    assert pages[1] == f"Curriculum vitae\nName: {name}\nSkills: {token('Split')} and merge files."


def test_values_the_loader_knows_are_redacted_without_any_detector() -> None:
    text = "From: Percival Hawthorne <p.h@example.org>\nCc: Seraphina Blackwood\n\nRegards, Percival"
    document = Document("mail.eml", "message/rfc822", (Page(1, text),), "hash",
                        personal_values=(("PERSON", "Percival Hawthorne"), ("EMAIL_ADDRESS", "p.h@example.org"),
                                         ("PERSON", "Seraphina Blackwood")))
    [page] = redact(document, [[]])
    assert page == (f"From: {token('Percival Hawthorne')} <{token('p.h@example.org', 'EMAIL_ADDRESS')}>\n"
                    f"Cc: {token('Seraphina Blackwood')}\n\nRegards, Percival")


def test_matches_are_whole_words_with_their_offsets_in_the_original_text() -> None:
    known = known_values([("PERSON", "Tobias Wrenfield"), ("LOCATION", "Weißenburg")])
    text = "WEISSENBURG: x_Tobias.Wrenfieldy, tobias-wrenfield; Weißenburg"
    matches = find_known(text, known, single_words_any_case=False)
    assert [text[m.finding.start:m.finding.end] for m in matches] == ["tobias-wrenfield", "Weißenburg"]
    assert resolved(text, [], matches)[0] == "WEISSENBURG: x_Tobias.Wrenfieldy, tobias wrenfield; Weißenburg"
    anywhere = find_known(text, known, single_words_any_case=True)
    assert sorted(text[m.finding.start:m.finding.end] for m in anywhere) == [
        "WEISSENBURG", "Weißenburg", "tobias-wrenfield"]


def test_a_name_inside_an_email_address_leaves_the_address_whole() -> None:
    text = "Reply to Ingrid Holm, sent to ingrid.holm@example.no on Monday."
    document = Document("letter.txt", "text/plain", (Page(1, text),), "hash")
    [page] = redact(document, [[found(text, "Ingrid Holm"), found(text, "ingrid.holm@example.no", "EMAIL_ADDRESS")]])
    assert page == (f"Reply to {token('Ingrid Holm')}, sent to {token('ingrid.holm@example.no', 'EMAIL_ADDRESS')} "
                    "on Monday.")


def test_a_known_value_that_overlaps_a_detected_span_without_holding_it_gives_way() -> None:
    text = "From: Anna Smith\n\nRegards, Anna Smith-Jones"
    at = text.index("Smith-Jones")
    document = Document("mail.eml", "message/rfc822", (Page(1, text),), "hash")
    [page] = redact(document, [[found(text, "Anna Smith"), Finding("PERSON", at, at + 11, 0.85, "test")]])
    # "Anna Smith" from the header must not free the "-Jones" of the detected "Smith-Jones".
    assert page == f"From: {token('Anna Smith')}\n\nRegards, Anna {token('Smith-Jones')}"


def test_an_image_page_reads_known_values_through_the_view_too(settings) -> None:
    from PIL import Image

    from docveil.context import StageContext
    from docveil.plugins import make_plugin_manager
    from docveil.stages.detect.ocr import page_text
    from docveil.stages.redact.image import redact_image_document
    from docveil.types import BBox, OcrWord, PageImage

    context = StageContext(settings, make_plugin_manager(settings).hook)
    words = (OcrWord("Cornelius", BBox(0, 0, 50, 10), 90, 0), OcrWord("Fairbanks", BBox(55, 0, 100, 10), 90, 0),
             OcrWord("CORNELIUS_FAIRBANKS", BBox(0, 20, 100, 30), 90, 1))
    text, boxes = page_text(words)
    image = PageImage(pixels=Image.new("RGB", (120, 40), "white"), width=120, height=40, words=words)
    document = Document("scan.png", "image/png", (Page(1, text, boxes, 120, 40, image=image),), "hash")
    viewed, findings = with_known_values(document, [[found(text, "Cornelius Fairbanks")]])
    redacted = restore_originals(redact_image_document(
        viewed, findings, [[]], context, tenant="acme", pseudonymizer=PSEUDONYMIZER, operators=OPERATORS,
        operator_for=lambda _type: "pseudonym"), document)
    name = token("Cornelius Fairbanks")
    assert redacted.pages[0].text.text == f"{name}\n{name}"
    assert [e.value for e in redacted.pseudonyms] == ["Cornelius Fairbanks"]


def test_a_known_value_keeps_its_value_out_of_its_repr() -> None:
    assert "Roe" not in repr(known_values([("PERSON", "Jane Roe")]))


def test_an_image_page_whose_text_is_not_its_ocr_layout_is_refused(settings) -> None:
    import pytest
    from PIL import Image

    from docveil.context import StageContext
    from docveil.errors import DocveilError
    from docveil.plugins import make_plugin_manager
    from docveil.stages.redact.image import redact_page_image
    from docveil.types import BBox, OcrWord, PageImage

    context = StageContext(settings, make_plugin_manager(settings).hook)
    image = PageImage(pixels=Image.new("RGB", (60, 20), "white"), width=60, height=20,
                      words=(OcrWord("Jane", BBox(0, 0, 20, 10), 90, 0), OcrWord("Roe", BBox(25, 0, 40, 10), 90, 0)))
    with pytest.raises(DocveilError, match="is not the layout of its OCR words"):
        redact_page_image(image, [], [], context, page=1, pseudonymizer=PSEUDONYMIZER, operators=OPERATORS,
                          operator_for=lambda _type: "pseudonym", text="Jane Roe, MD")
