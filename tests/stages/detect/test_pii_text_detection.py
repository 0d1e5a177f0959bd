"""Batched detection with the real analyzer: batching, caching, plugins, long texts, and the
planted PII of a synthetic document."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from presidio_analyzer import Pattern, PatternRecognizer

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import ConfigError, DocveilError, PluginError
from docveil.hookspecs import hookimpl
from docveil.plugins import make_plugin_manager
from docveil.stages.detect import pii_text
from docveil.stages.detect.pii_text import ANALYZER, analyze_texts
from docveil.stages.redact.operators import OPERATORS
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN, Pseudonymizer
from docveil.stages.redact.text import redact_document
from docveil.types import Document, Page

PAGE_ONE = """CONFIDENTIAL - HR FILE

Employee: Jane Roe
Date of birth: 14 March 1985
Home address: 1600 Pennsylvania Avenue NW, Washington, DC 20500
Email: jane.roe@example.com    Phone: (415) 555-0134
SSN: 219-09-9999
Salary account IBAN DE89 3704 0044 0532 0130 00, corporate card 4111 1111 1111 1111.
Passport number X12345678. Last VPN login from 192.168.1.20.
Profile: https://hr.example.com/employees/jane-roe
"""
PAGE_TWO = """PERFORMANCE REVIEW
Jane Roe joined the Berlin office in 2019. Her manager, Carlos Mendes, rated her work as
excellent. Reach her at +1 415 555 0134 or JANE.ROE@EXAMPLE.COM.
Summary: strong year, promotion recommended.
"""
PLANTED = [
    "Jane Roe", "14 March 1985", "1600 Pennsylvania Avenue NW", "jane.roe@example.com",
    "(415) 555-0134", "219-09-9999", "DE89 3704 0044 0532 0130 00", "4111 1111 1111 1111",
    "X12345678", "192.168.1.20", "https://hr.example.com/employees/jane-roe", "Carlos Mendes",
    "+1 415 555 0134", "JANE.ROE@EXAMPLE.COM", "Berlin",
]


class TicketRecognizers:
    """A plugin contributing one recognizer, counting how often it is asked."""

    def __init__(self, recognizers: list[object] | None = None) -> None:
        self.calls = 0
        self.recognizers = recognizers if recognizers is not None else [PatternRecognizer(
            supported_entity="TICKET_ID", name="TicketRecognizer",
            patterns=[Pattern("ticket", r"\bTCK-\d{4}\b", 0.9)])]

    @hookimpl
    def docveil_text_recognizers(self, context: StageContext) -> list[object]:
        self.calls += 1
        return self.recognizers


def _context(settings: Settings, *plugins: object) -> StageContext:
    return StageContext(settings, hook=make_plugin_manager(settings, extra_plugins=plugins).hook)


def test_batch_detection_equals_detection_one_text_at_a_time(detect_context: StageContext) -> None:
    texts = [PAGE_ONE, "", PAGE_TWO, "   ", "Call Jane Roe at (555) 123-4567.", "no personal data here"]
    batched = analyze_texts(texts, detect_context)
    assert batched == [analyze_texts([text], detect_context)[0] for text in texts]
    assert batched[1] == batched[3] == batched[5] == []
    assert all(f.page == 1 and f.recognizer for findings in batched for f in findings)


def test_findings_are_sorted_and_do_not_overlap(detect_context: StageContext) -> None:
    findings = analyze_texts([PAGE_ONE + PAGE_TWO], detect_context)[0]
    assert findings == sorted(findings, key=lambda f: f.start)
    assert all(a.end <= b.start for a, b in pairwise(findings))


def test_analyzer_is_built_once_per_context_and_asks_plugins_once(settings: Settings) -> None:
    plugin = TicketRecognizers()
    context = _context(settings, plugin)
    assert context.stash.peek(ANALYZER) is None  # nothing loads before first use
    context.hook.docveil_warm_up(context=context)
    analyzer = context.stash.peek(ANALYZER)
    assert analyzer is not None
    text = "Ticket TCK-1234 was opened by Jane Roe."
    for _ in range(3):
        findings = analyze_texts([text], context)[0]
    assert plugin.calls == 1
    assert context.stash.peek(ANALYZER) is analyzer
    assert ("TICKET_ID", "TCK-1234") in {(f.entity_type, text[f.start:f.end]) for f in findings}
    assert "TICKET_ID" in analyzer.entities

    other = _context(settings, plugin)
    analyze_texts([text], other)
    assert plugin.calls == 2
    assert other.stash.peek(ANALYZER) is not analyzer


def test_a_plugin_returning_something_else_than_a_recognizer_is_named(settings: Settings) -> None:
    context = _context(settings, TicketRecognizers(recognizers=["not a recognizer"]))
    with pytest.raises(PluginError, match=r"EntityRecognizer.*str"):
        analyze_texts(["text"], context)


class QuotingRecognizer(PatternRecognizer):
    """A broken plugin recognizer whose error message quotes the text it was given."""

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        raise ValueError(f"cannot parse {text!r}")


def test_a_failing_recognizer_is_reported_without_the_text(settings: Settings) -> None:
    broken = QuotingRecognizer(supported_entity="TICKET_ID", patterns=[Pattern("t", r"TCK", 0.5)])
    context = _context(settings, TicketRecognizers(recognizers=[broken]))
    with pytest.raises(DocveilError, match="ValueError") as caught:
        analyze_texts(["Jane Roe, 219-09-9999"], context)
    assert "Jane" not in str(caught.value) and caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_an_entity_type_no_recognizer_detects_is_a_config_error(settings: Settings) -> None:
    context = _context(settings.with_overrides(entities=("PERSON", "SHOE_SIZE")))
    with pytest.raises(ConfigError, match="SHOE_SIZE"):
        analyze_texts(["text"], context)


def test_a_language_without_a_packaged_model_is_a_config_error(settings: Settings) -> None:
    context = _context(settings.with_overrides(language="de"))
    with pytest.raises(ConfigError, match="'de'"):
        analyze_texts(["Text"], context)


def test_long_texts_are_cut_into_segments_without_losing_findings(
        detect_context: StageContext, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "\n".join([PAGE_ONE, PAGE_TWO] * 3)
    whole = analyze_texts([text], detect_context)[0]
    monkeypatch.setattr(pii_text, "MAX_SEGMENT_CHARS", 400)
    monkeypatch.setattr(pii_text, "SEGMENT_OVERLAP", 120)
    assert len(list(pii_text._segments(text))) > 5
    assert analyze_texts([text], detect_context)[0] == whole


def test_batches_for_the_nlp_pipeline_are_bounded_in_characters_and_count(monkeypatch: pytest.MonkeyPatch) -> None:
    # spaCy holds a whole batch at once: sixteen long segments together took 3.8 GB for 1 M characters.
    monkeypatch.setattr(pii_text, "MAX_SEGMENT_CHARS", 10)
    segments = ["a" * 4, "b" * 4, "c" * 3, "d" * 10, "e", "f", "g", "h" * 12]
    batches = [list(batch) for batch in pii_text._batches(segments, 3)]
    assert batches == [["a" * 4, "b" * 4], ["c" * 3], ["d" * 10], ["e", "f", "g"], ["h" * 12]]
    assert list(pii_text._batches([], 3)) == []


def test_planted_pii_of_a_synthetic_document_is_redacted_with_consistent_pseudonyms(
        detect_context: StageContext, tmp_path: Path) -> None:
    document = Document(source=str(tmp_path / "hr.txt"), media_type="text/plain",
                        pages=(Page(1, PAGE_ONE), Page(2, PAGE_TWO)), content_hash="0" * 64)
    findings = analyze_texts([page.text for page in document.pages], detect_context)
    pseudonymizer = Pseudonymizer(bytes(32))
    redacted = redact_document(document, findings, tenant="acme", pseudonymizer=pseudonymizer,
                               operators=OPERATORS, operator_for=detect_context.settings.operator_for)
    for value in PLANTED:
        assert value not in redacted.text, value
        assert value not in repr(redacted.manifest)
    # One subject, one token: on both pages, and whatever the formatting.
    for value, entity_type in [("Jane Roe", "PERSON"), ("jane.roe@example.com", "EMAIL_ADDRESS"),
                               ("(415) 555-0134", "PHONE_NUMBER")]:
        token = pseudonymizer.token(value, entity_type)
        assert all(token in page.text.text for page in redacted.pages), value
    tokens = {m.group(0) for m in TOKEN_PATTERN.finditer(redacted.text)}
    assert tokens == {entry.token for entry in redacted.pseudonyms}
    assert "CONFIDENTIAL - HR FILE" in redacted.text and "PERFORMANCE REVIEW" in redacted.text


@pytest.mark.parametrize(("text", "value"), [
    ("Payment to account DE89 3704 0044\n0532 0130 00 by Friday.", "DE89 3704 0044\n0532 0130 00"),
    ("Charged to card 4111 1111\n1111 1111 yesterday.", "4111 1111\n1111 1111"),
])
def test_a_number_wrapped_across_a_line_break_is_still_found(detect_context, text: str, value: str) -> None:
    findings = analyze_texts([text], detect_context)[0]
    start = text.index(value)
    assert any(f.start <= start and f.end >= start + len(value) for f in findings), findings


def test_the_dependency_parser_does_not_run(detect_context: StageContext) -> None:
    """No recognizer reads the parse: the analyzer's spaCy pipeline skips it."""
    nlp = pii_text.get_analyzer(detect_context).engine.analyzer_engine.nlp_engine.nlp["en"]
    assert "parser" not in nlp.pipe_names
    assert {"tagger", "lemmatizer", "ner"} <= set(nlp.pipe_names)


@pytest.mark.parametrize(("text", "name"), [
    ("# Meeting minutes\n\n- **Name:** Isabel Gonzalez\n- **Email:** isabel@example.org\n", "Isabel Gonzalez"),
    ("CUSTOMER SUPPORT CASE\n\nName: Sofia Fischer\nDate of birth: 24 March 1986\n", "Sofia Fischer"),
    ("Patient: Dr. Ludwig van der Berg\nWard: 4\n", "Ludwig van der Berg"),
    ("The request was signed by Marcus Thompson and countersigned by the branch manager.", "Marcus Thompson"),
])
def test_names_in_form_fields_and_after_signed_by_are_found(detect_context, text: str, name: str) -> None:
    findings = analyze_texts([text], detect_context)[0]
    start = text.index(name)
    assert any(f.entity_type == "PERSON" and f.start <= start and f.end >= start + len(name)
               for f in findings), [(text[f.start:f.end], f.entity_type) for f in findings]


@pytest.mark.parametrize("text", [
    "The project name: Apollo Mission is on track for the spring release.",
    "Approved by the Board Of Directors in March.",
    "Name:\nDate of birth: unknown\n",
])
def test_labels_outside_a_form_field_name_nobody(detect_context, text: str) -> None:
    from docveil.stages.detect.recognizers import LabelledNameRecognizer

    assert LabelledNameRecognizer().analyze(text, ["PERSON"], None) == []


def test_a_finding_never_takes_in_the_line_break_after_a_name(detect_context: StageContext) -> None:
    from docveil.stages.combine import detect_texts

    text = "Name: Jonathan Pemberton\nEmail: jp@example.com\n"
    findings = detect_texts([text], detect_context)[0]
    assert "Jonathan Pemberton" in [text[f.start:f.end] for f in findings]
    assert all(text[f.start:f.end] == text[f.start:f.end].strip() for f in findings)
    redacted = redact_document(Document("form.txt", "text/plain", (Page(1, text),), "h"), [findings], tenant="t",
                               pseudonymizer=Pseudonymizer(bytes(32)), operators=OPERATORS,
                               operator_for=lambda _type: "pseudonym")
    assert redacted.pages[0].text.text.count("\n") == 2


def test_a_possessive_is_not_part_of_the_name(detect_context: StageContext) -> None:
    from docveil.stages.combine import detect_texts

    text = "What is Mark Lindqvist's salary, and did James' manager approve it?"
    names = [text[f.start:f.end] for f in detect_texts([text], detect_context)[0] if f.entity_type == "PERSON"]
    assert "Mark Lindqvist" in names and not any(name.endswith(("'s", "'")) for name in names)


def test_nothing_inside_docveil_tokens_is_found_again(detect_context: StageContext) -> None:
    from docveil.stages.combine import detect_texts

    # Digests of digits only read as phone numbers to a phone recognizer; tokens open lines
    # like chat speakers do.
    text = ("Tel: <PERSON_0612345678>\n<USERNAME_0123456789> wrote: see <PHONE_NUMBER_4155550134>\n"
            "Dear <PERSON_9a58ee8571>,\n-- <PERSON_2024031299>\n")
    tokens = [m.span() for m in TOKEN_PATTERN.finditer(text)]
    found = detect_texts([text], detect_context)[0]
    assert not [f for f in found if any(s <= f.start and f.end <= e for s, e in tokens)]
