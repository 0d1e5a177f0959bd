"""redact_fields: personal data in a document's name and metadata gets the text's tokens."""

from __future__ import annotations

from docveil.stages.redact.fields import field_texts, redact_fields
from docveil.stages.redact.operators import OPERATORS
from docveil.stages.redact.pseudonyms import Pseudonymizer
from docveil.types import Document, Finding, Page, PseudonymEntry, RedactedDocument

PSEUDONYMIZER = Pseudonymizer(bytes(range(32)))
KOWALSKI = PSEUDONYMIZER.token("Daniel Kowalski", "PERSON")
BECKER = PSEUDONYMIZER.token("Thomas Becker", "PERSON")


def document(source: str, metadata: dict[str, str] | None = None) -> Document:
    return Document(source, "text/plain", (Page(1, "text"),), "hash", metadata or {})


def redacted_with(*values: str) -> RedactedDocument:
    """The page redaction's result, holding vault entries for ``values`` found in the text."""
    entries = tuple(PseudonymEntry(PSEUDONYMIZER.token(v, "PERSON"), PSEUDONYMIZER.digest(v, "PERSON"), "PERSON", v)
                    for v in values)
    return RedactedDocument("ignored", "text/plain", (), "hash", "acme", (), pseudonyms=entries)


def person(text: str, value: str) -> Finding:
    start = text.index(value)
    return Finding("PERSON", start, start + len(value), 0.85, "test")


def redact(doc: Document, redacted: RedactedDocument, findings: list[list[Finding]]) -> RedactedDocument:
    return redact_fields(redacted, doc, findings, pseudonymizer=PSEUDONYMIZER, operators=OPERATORS,
                         operator_for=lambda _type: "pseudonym")


def test_a_name_the_text_holds_is_found_in_the_file_path_in_any_case_and_with_underscores() -> None:
    doc = document("/srv/clients/DANIEL_KOWALSKI/lease_daniel_kowalski.pdf")
    out = redact(doc, redacted_with("Daniel Kowalski"), [[] for _ in field_texts(doc)])
    assert out.redacted_source == f"/srv/clients/{KOWALSKI}/lease_{KOWALSKI}.pdf"


def test_detectors_read_the_file_name_only_without_its_extension() -> None:
    doc = document("/data/initech0/Thomas_Becker.md")
    [name_text] = field_texts(doc)
    assert name_text == "Thomas Becker   "
    out = redact(doc, redacted_with(), [[person(name_text, "Thomas Becker")]])
    assert out.redacted_source == f"/data/initech0/{BECKER}.md"
    assert [e.value for e in out.pseudonyms] == ["Thomas Becker"]


def test_metadata_values_are_redacted_and_new_values_join_the_vault_entries() -> None:
    doc = document("summary.pdf", {"author": "Thomas Becker", "title": "Lease of Daniel Kowalski", "pages": "3"})
    texts = field_texts(doc)
    findings = [[], [person(texts[1], "Thomas Becker")], [], [], []]  # the last: "summary" read as "Summary"
    out = redact(doc, redacted_with("Daniel Kowalski"), findings)
    assert out.redacted_source == "summary.pdf"
    assert dict(out.metadata) == {"author": BECKER, "title": f"Lease of {KOWALSKI}", "pages": "3"}
    assert sorted(e.value for e in out.pseudonyms) == ["Daniel Kowalski", "Thomas Becker"]


def test_a_value_is_matched_on_whole_words_only() -> None:
    doc = document("annals_of_anna.txt", {"title": "Annabel and Anna"})
    out = redact(doc, redacted_with("Anna"), [[] for _ in field_texts(doc)])
    anna = PSEUDONYMIZER.token("Anna", "PERSON")
    assert out.redacted_source == f"annals_of_{anna}.txt"
    assert out.metadata["title"] == f"Annabel and {anna}"


def test_a_spaced_dash_in_a_file_name_reads_as_a_comma_so_a_name_ends_there() -> None:
    assert field_texts(document("Jane Roe - contract – 2024.pdf"))[0] == "Jane Roe , contract , 2024    "
    assert field_texts(document("doc-07.txt")) == ["doc 07    ", "Doc 07    "]
    assert field_texts(document("Lavinia.Throckmorton-references.txt"))[0] == "Lavinia Throckmorton references    "


def test_names_joined_by_dashes_or_dots_and_letters_that_change_length_in_lower_case_are_found() -> None:
    doc = document("/in/Weißenburg/İzmir/Lavinia.Throckmorton-references.txt",
                   {"keywords": "lease, LAVINIA THROCKMORTON, Hauptstraße"})
    out = redact(doc, redacted_with("Lavinia Throckmorton"), [[] for _ in field_texts(doc)])
    lavinia = PSEUDONYMIZER.token("Lavinia Throckmorton", "PERSON")
    assert out.redacted_source == f"/in/Weißenburg/İzmir/{lavinia}-references.txt"
    assert out.metadata["keywords"] == f"lease, {lavinia}, Hauptstraße"


def test_values_the_loader_knows_are_redacted_in_fields_without_any_detector() -> None:
    doc = Document("cc_percival_hawthorne.eml", "message/rfc822", (Page(1, "text"),), "hash",
                   {"cc": "Percival Hawthorne <p.h@example.org>"},
                   personal_values=(("PERSON", "Percival Hawthorne"), ("EMAIL_ADDRESS", "p.h@example.org")))
    out = redact(doc, redacted_with(), [[] for _ in field_texts(doc)])
    person_token = PSEUDONYMIZER.token("Percival Hawthorne", "PERSON")
    email_token = PSEUDONYMIZER.token("p.h@example.org", "EMAIL_ADDRESS")
    assert out.redacted_source == f"cc_{person_token}.eml"
    assert out.metadata["cc"] == f"{person_token} <{email_token}>"


def test_an_all_lower_case_file_name_is_read_also_with_capitals_a_mixed_one_as_it_is() -> None:
    assert field_texts(document("/x/laura_belzovenra-medical.txt")) == [
        "laura belzovenra medical    ", "Laura Belzovenra Medical    "]
    assert field_texts(document("/x/ßtraße_é.md"))[-1] == "ßtraße É   "  # "ß" would become "SS": left
    assert field_texts(document("/x/laura_Belzovenra.txt")) == ["laura Belzovenra    "]


def test_from_a_file_name_read_with_capitals_only_persons_holding_a_given_name_are_kept() -> None:
    doc = document("/srv/hr_memo_laura_belzovenra_berlin.md")
    _, capitals = field_texts(doc)
    found = [person(capitals, "Hr Memo"), person(capitals, "Laura Belzovenra"),
             Finding("LOCATION", capitals.index("Berlin"), capitals.index("Berlin") + 6, 0.85, "test")]
    out = redact(doc, redacted_with(), [[], found])
    laura = PSEUDONYMIZER.token("laura belzovenra", "PERSON")
    assert out.redacted_source == f"/srv/hr_memo_{laura}_berlin.md"


def test_what_the_plain_reading_of_a_lower_case_name_finds_stands() -> None:
    doc = document("/srv/stavenhagen_cv.pdf")
    plain, _ = field_texts(doc)
    out = redact(doc, redacted_with(), [[person(plain, "stavenhagen")], []])
    assert out.redacted_source == f"/srv/{PSEUDONYMIZER.token('stavenhagen', 'PERSON')}_cv.pdf"


def test_in_a_file_name_read_with_capitals_a_known_name_decides_where_the_name_ends() -> None:
    doc = document("/x/rosalind_thackeray_contract.txt")
    _, capitals = field_texts(doc)
    out = redact(doc, redacted_with("Rosalind Thackeray"), [[], [person(capitals, "Rosalind Thackeray Contract")]])
    assert out.redacted_source == f"/x/{PSEUDONYMIZER.token('Rosalind Thackeray', 'PERSON')}_contract.txt"
    # A known first name alone does not: the surname would stay in clear.
    out = redact(doc, redacted_with("Rosalind"), [[], [person(capitals, "Rosalind Thackeray Contract")]])
    assert "thackeray" not in out.redacted_source
