"""End to end on the real stack: loaders, Presidio, MiniLM, embedded PostgreSQL + pgvector."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from reportlab.pdfgen import canvas

from docveil.context import Stash
from docveil.engine import Engine
from docveil.errors import UnredactedContentError
from docveil.hookspecs import hookimpl
from docveil.interfaces.demo import sample_paths
from docveil.types import Acl, Principal, RedactedText
from tests.plugins.recording_encoder import RecordingEncoderPlugin

ALICE = Principal("acme", "alice", frozenset({"analyst"}))
PLANTED = ("Maria Gonzalez", "maria.gonzalez@example.org", "4111 1111 1111 1111", "Thomas Becker",
           "DE89 3704 0044 0532 0130 00", "219-09-9999", "Daniel Kowalski", "Luis Gonzalez")


def stored_text(engine: Engine, tenant: str) -> str:
    with engine.database.transaction(tenant) as conn:
        chunks = [r[0] for r in conn.execute("SELECT text FROM chunks")]
        manifests = [str(r[0]) for r in conn.execute("SELECT manifest FROM documents")]
        vault = [bytes(r[0]).hex() for r in conn.execute("SELECT value_enc FROM vault")]
    return "\n".join(chunks + manifests + vault)


def counts(engine: Engine, tenant: str) -> dict[str, int]:
    with engine.database.transaction(tenant) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("documents", "chunks", "vault", "document_subjects")}


def test_search_finds_a_person_whose_name_is_stored_nowhere(engine: Engine) -> None:
    report = engine.ingest(sample_paths(), ALICE)
    assert report.ok and len(report.ingested) == 4
    hits = engine.search("Maria Gonzalez", ALICE, k=3)
    assert Path(hits[0].source).name == "intake_note.txt"
    text = stored_text(engine, "acme")
    for value in PLANTED:
        assert value not in text
    assert "<PERSON_" in hits[0].text


def test_hits_carry_source_page_box_and_redacted_text(engine: Engine) -> None:
    engine.ingest(sample_paths(), ALICE)
    hits = engine.search("security deposit held by the landlord", ALICE, k=5)
    lease = [h for h in hits if h.source.endswith("lease_agreement.pdf")]
    assert lease and lease[0].page == 2
    box = lease[0].bbox
    assert box is not None and 0 < box.x0 < box.x1 <= 595 and 0 < box.y0 < box.y1 <= 842
    assert "5500 0000 0000 0004" not in lease[0].text
    for hit in hits:
        assert set(hit.as_dict()) >= {"source", "page", "score", "text", "bbox"}


def test_reingesting_the_same_content_is_idempotent(engine: Engine) -> None:
    first = engine.ingest(sample_paths(), ALICE)
    before = counts(engine, "acme")
    second = engine.ingest(sample_paths(), ALICE)
    assert all(d.duplicate for d in second.ingested)
    assert {d.document_id for d in second.ingested} == {d.document_id for d in first.ingested}
    assert counts(engine, "acme") == before


def _pdf(path: Path, pages: int, *, encrypt: str | None = None) -> bytes:
    pdf = canvas.Canvas(str(path), encrypt=encrypt)
    for number in range(pages):
        pdf.drawString(72, 720, f"Page {number + 1} of the report by Jane Roe.")
        pdf.showPage()
    pdf.save()
    return path.read_bytes()


def test_bad_files_are_reported_by_name_and_the_batch_goes_on(settings, db, model_stash, tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Quarterly report written by Jane Roe. Revenue grew by four percent.")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me from Jos\xe9 Mart\xednez".encode("latin-1"))
    (tmp_path / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    whole = _pdf(tmp_path / "whole.pdf", 2)
    (tmp_path / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    _pdf(tmp_path / "encrypted.pdf", 1, encrypt="secret")
    _pdf(tmp_path / "too_many_pages.pdf", 12)
    (tmp_path / "huge.txt").write_text("All work and no play. " * 2000)
    limited = settings.with_overrides(max_pages=10, max_bytes=20_000)
    with Engine(limited, database=db, stash=model_stash) as engine:
        report = engine.ingest([tmp_path], ALICE)
        assert sorted(Path(d.source).name for d in report.ingested) == ["good.txt", "whole.pdf"]
        failed = {Path(f.source).name: f.reason for f in report.failed}
        assert set(failed) == {"empty.txt", "binary.txt", "latin1.txt", "corrupt.pdf", "truncated.pdf",
                               "encrypted.pdf", "too_many_pages.pdf", "huge.txt"}
        assert "empty" in failed["empty.txt"]
        assert "UTF-8" in failed["latin1.txt"]
        assert "password" in failed["encrypted.pdf"] or "encrypted" in failed["encrypted.pdf"]
        assert "max_pages" in failed["too_many_pages.pdf"] and "max_bytes" in failed["huge.txt"]
        assert counts(engine, "acme")["documents"] == 2


class PoisonedVectors:
    """Wraps the real encoder but returns NaN vectors for text containing a marker, which
    PostgreSQL refuses half-way through storing the document."""

    @hookimpl
    def docveil_text_encoder(self, context):
        from docveil.stages.encode import text as default_encoder

        inner = default_encoder.docveil_text_encoder(context)

        class Encoder:
            name, dimension = inner.name, inner.dimension

            def encode(self, texts):
                vectors = inner.encode(texts)
                for i, t in enumerate(texts):
                    if "POISON" in t.text:
                        vectors[i] = np.nan
                return vectors

        return Encoder()


def test_a_document_is_stored_whole_or_not_at_all(settings, db, model_stash, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("Minutes of the meeting with Jane Roe about the budget.")
    bad = tmp_path / "bad.txt"
    bad.write_text("Jane Roe approved it. " * 60 + "POISON sentence at the end.")
    with Engine(settings, database=db, stash=model_stash, plugins=[PoisonedVectors()]) as engine:
        report = engine.ingest([good, bad], ALICE)
        assert [Path(d.source).name for d in report.ingested] == ["good.txt"]
        assert [Path(f.source).name for f in report.failed] == ["bad.txt"]
        with engine.database.transaction("acme") as conn:
            assert conn.execute("SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.id = c.document_id"
                                " WHERE d.id IS NULL").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
        result = engine.audit_verify(Principal("acme", "carol", frozenset({"auditor"})))
        assert result.ok, result.reason


class OverlapProbe:
    """Wraps the real encoder: encoding the first batch waits until detection of the second
    batch has begun, which only happens if the two steps run at the same time."""

    def __init__(self) -> None:
        import threading

        self.detections = 0
        self.second_detection = threading.Event()
        self.overlapped: list[bool] = []

    @hookimpl(hookwrapper=True)
    def docveil_detect_text(self, texts, context):
        self.detections += 1
        if self.detections == 2:
            self.second_detection.set()
        yield

    @hookimpl
    def docveil_text_encoder(self, context):
        from docveil.stages.encode import text as default_encoder

        inner, probe = default_encoder.docveil_text_encoder(context), self

        class Encoder:
            name, dimension = inner.name, inner.dimension

            def encode(self, texts):
                if not probe.overlapped:
                    probe.overlapped.append(probe.second_detection.wait(timeout=60))
                return inner.encode(texts)

        return Encoder()


def test_the_next_batch_is_detected_while_the_previous_one_is_encoded(settings, db, model_stash,
                                                                       tmp_path: Path) -> None:
    paths = []
    for number in range(3):
        paths.append(tmp_path / f"note{number}.txt")
        paths[-1].write_text(f"Note {number}: Jane Roe called about invoice {number} of the spring audit.")
    probe = OverlapProbe()
    with Engine(settings, database=db, stash=model_stash, plugins=[probe]) as engine:
        report = engine.ingest(paths, ALICE, batch_size=1)
    assert probe.overlapped == [True]
    assert sorted(Path(d.source).name for d in report.ingested) == ["note0.txt", "note1.txt", "note2.txt"]
    assert not report.failed


def test_a_copy_in_the_next_batch_is_a_duplicate_of_the_stored_document(engine: Engine, tmp_path: Path) -> None:
    """The next batch is checked for stored content while the batch before is still being
    written: the copy still comes back as a duplicate, with the stored document's id."""
    first, copy = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("Minutes: Jane Roe signed off the Q3 budget for the Leeds site.")
    copy.write_text(first.read_text())
    report = engine.ingest([first, copy], ALICE, batch_size=1)
    stored, duplicate = report.ingested
    assert not stored.duplicate and duplicate.duplicate
    assert duplicate.document_id == stored.document_id
    assert counts(engine, "acme")["documents"] == 1


def test_copies_in_one_batch_are_each_reported_as_duplicates_of_the_stored_one(engine: Engine,
                                                                                tmp_path: Path) -> None:
    text = "Minutes: Jane Roe signed off the Q3 budget for the Leeds site."
    paths = [tmp_path / name for name in ("a.txt", "b.txt", "c.txt")]
    for path in paths:
        path.write_text(text)
    report = engine.ingest(paths, ALICE)
    assert [(Path(d.source).name, d.duplicate) for d in report.ingested] == [
        ("a.txt", False), ("b.txt", True), ("c.txt", True)]
    assert len({d.document_id for d in report.ingested}) == 1
    assert counts(engine, "acme")["documents"] == 1


def test_a_copy_ingested_with_other_readers_reports_the_acl_it_keeps(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "memo.txt"
    path.write_text("Minutes: the Q3 budget for the Leeds site was approved.")
    engine.ingest([path], ALICE)
    narrower = engine.ingest([path], ALICE, acl=Acl(roles={"hr"})).ingested[0]
    same = engine.ingest([path], ALICE).ingested[0]
    assert narrower.duplicate and narrower.kept_acl == Acl()  # tenant-wide, as stored; not narrowed
    assert same.duplicate and same.kept_acl is None
    [info] = engine.documents(ALICE)
    assert info.acl == Acl()


@pytest.mark.parametrize("as_type", [str, Path])
def test_one_path_given_alone_is_that_file(engine: Engine, tmp_path: Path, monkeypatch, as_type) -> None:
    (tmp_path / "other.txt").write_text("A file beside it that must not be ingested.")
    (tmp_path / "notes.txt").write_text("Notes from the supplier meeting about the delivery dates.")
    monkeypatch.chdir(tmp_path)
    report = engine.ingest(as_type("notes.txt"), ALICE)
    assert [(d.source, d.duplicate) for d in report.ingested] == [("notes.txt", False)] and not report.failed


def test_a_file_name_that_is_not_utf8_is_stored_under_an_escaped_name(engine: Engine, tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path)
    with open(os.path.join(folder, b"caf\xe9 receipts.txt"), "wb") as out:
        out.write(b"Receipts for the catering order of the spring party.")
    (tmp_path / "plain.txt").write_text("Plain notes about the parking permits.")
    report = engine.ingest([tmp_path], ALICE)
    assert not report.failed
    assert sorted(Path(d.source).name for d in report.ingested) == ["caf\\xe9 receipts.txt", "plain.txt"]
    [hit] = engine.search("catering receipts spring party", ALICE, k=1)
    assert Path(hit.source).name == "caf\\xe9 receipts.txt"


def test_no_unredacted_text_reaches_the_encoder(settings, db) -> None:
    recorder = RecordingEncoderPlugin()
    with Engine(settings, database=db, stash=Stash(), plugins=[recorder]) as engine:
        engine.ingest(sample_paths(), ALICE)
        engine.search("Which doctor is treating Maria Gonzalez?", ALICE)
        engine.search("thomas.becker@example.com payroll", ALICE)
    seen = "\n".join(recorder.encoder.seen)
    assert seen
    for value in (*PLANTED, "thomas.becker@example.com"):
        assert value not in seen


def test_encoders_and_chunker_refuse_unredacted_content(engine: Engine) -> None:
    with pytest.raises(UnredactedContentError):
        engine.text_encoder.encode(["Maria Gonzalez has migraines"])  # type: ignore[list-item]
    document = engine.load(sample_paths()[0])
    with pytest.raises(UnredactedContentError):
        engine.chunk(document)  # type: ignore[arg-type]
    vectors = engine.text_encoder.encode([RedactedText("a redacted sentence")])
    assert vectors.shape == (1, engine.text_encoder.dimension)
    assert math.isclose(float(np.linalg.norm(vectors[0])), 1.0, rel_tol=1e-3)


def test_same_value_same_token_within_a_tenant_unlinkable_across_tenants(engine: Engine) -> None:
    note = next(p for p in sample_paths() if p.name == "intake_note.txt")
    other = Principal("globex", "gina")
    first = engine.redact(note, ALICE).text
    again = engine.redact(note, ALICE).text
    elsewhere = engine.redact(note, other).text
    assert first == again
    assert first != elsewhere
    assert "Maria Gonzalez" not in first and "Maria Gonzalez" not in elsewhere


def test_acl_limits_hits_and_k_results_are_k_visible_results(engine: Engine, tmp_path: Path) -> None:
    public, private = tmp_path / "public", tmp_path / "private"
    public.mkdir()
    private.mkdir()
    for i in range(6):
        (public / f"p{i}.txt").write_text(f"Office note {i}: the coffee machine on floor {i} is broken again.")
        (private / f"s{i}.txt").write_text(f"Board note {i}: the coffee machine budget for floor {i} is secret.")
    engine.ingest([public], ALICE)
    engine.ingest([private], ALICE, acl=Acl(users=frozenset({"bob"}), roles=frozenset()))
    bob = Principal("acme", "bob")
    alice_hits = engine.search("coffee machine budget", ALICE, k=5)
    assert len(alice_hits) == 5
    assert all("Board note" not in h.text for h in alice_hits)
    bob_hits = engine.search("coffee machine budget", bob, k=12)
    assert len(bob_hits) == 12
    assert any("Board note" in h.text for h in bob_hits)


def test_multi_page_pdf_hits_keep_their_page(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    pdf = canvas.Canvas(str(path))
    topics = ["volcanoes erupt with lava", "penguins live in Antarctica", "tax returns are due in April"]
    for topic in topics:
        pdf.drawString(72, 700, f"This page explains that {topic}.")
        pdf.showPage()
    pdf.save()
    engine.ingest([path], ALICE)
    for page, topic in enumerate(topics, 1):
        assert engine.search(topic, ALICE, k=1)[0].page == page


def test_people_of_an_email_are_redacted_wherever_it_names_them(engine: Engine, tmp_path: Path) -> None:
    # Made-up names a detector has no reason to know: the headers say who they are.
    cc, sender = ("Quillon", "Vantresca"), ("Ysolde", "Marrowby")
    attachment = b"Curriculum vitae\nReferences available on request.\n"
    message = (f"From: {' '.join(sender)} <ym@example.org>\r\nTo: hr@example.org\r\n"
               f"Cc: {' '.join(cc)} <qv@example.org>\r\nSubject: application\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
               f"Attached the CV of {' '.join(cc).upper()}.\r\nBest, {sender[0]}-{sender[1]}\r\n--B\r\n"
               f"Content-Type: text/plain\r\nContent-Disposition: attachment; filename={'_'.join(cc)}_CV.txt\r\n\r\n"
               ).encode() + attachment + b"\r\n--B--\r\n"
    path = tmp_path / f"{'.'.join(sender)}-application.eml"
    path.write_bytes(message)
    report = engine.ingest([path], ALICE)
    assert report.ok, report.failed
    [info] = engine.documents(ALICE)
    shown = stored_text(engine, "acme") + info.source + repr(dict(info.metadata))
    for first, last in (cc, sender):
        assert first not in shown and last not in shown and last.upper() not in shown
    assert "qv@example.org" not in shown and "ym@example.org" not in shown


def test_a_name_broken_by_invisible_characters_is_found_and_gets_the_names_token(engine: Engine) -> None:
    from docveil.types import Source

    def redacted(text: str) -> str:
        return engine.redact(Source("note.txt", text.encode(), "text/plain"), ALICE).pages[0].text.text

    plain = redacted("The contract was signed by Jonathan Smith on Monday.")
    hidden = redacted("The contract was signed by Jona\u200bthan Smi\u00adth on Monday.")
    assert "Jona" not in hidden and "Smi" not in hidden
    assert hidden == plain  # the same token: the invisible characters went with the name


def test_names_the_small_model_takes_for_firms_or_loses_at_a_line_end_are_redacted(engine: Engine) -> None:
    from docveil.types import Source

    def redacted(name: str, text: str) -> tuple[str, str]:
        document = engine.redact(Source(name, text.encode(), "text/plain"), ALICE)
        return document.redacted_source, document.pages[0].text.text

    # spaCy's small model labels "Ulrich Stavenhagen" an ORG and finds nothing in the rest.
    source, text = redacted("ulrich_stavenhagen_payslip.txt",
                            "Drafted for Ulrich Stavenhagen.\nPlease ask Marguerite\nOkonkwo-Bell, or write to "
                            "priscilla [at] example [dot] org.\nSubject: note about Ignatius Pembrook")
    shown = (source + text).lower()
    for value in ("stavenhagen", "okonkwo", "priscilla", "pembrook"):
        assert value not in shown
    _, plain = redacted("note.txt", "Marguerite Okonkwo-Bell wrote from priscilla@example.org.")
    # A name across a line break, and an address spelled out, get the tokens of their plain forms.
    assert plain.split()[0] in text and plain.split()[-1].rstrip(".") in text
    # An all lower-case file name is read with capitals; its person is named nowhere else.
    for name in ("laura_belzovenra_medical.txt", "wrenfield_tobias.txt"):  # the second: surname first
        source, _ = redacted(name, "Results are within the normal range.")
        assert "belzovenra" not in source.lower() and "wrenfield" not in source.lower() and source.endswith(".txt")


def test_the_columns_of_a_pdf_table_are_read_under_their_headers(engine: Engine, tmp_path: Path) -> None:
    # Cells drawn at column positions: pdfium reads a row as one line, the cells apart by wide
    # gaps; an empty cell leaves no gap of its own. Below the table, an aligned form.
    pdf = canvas.Canvas(str(tmp_path / "payroll.pdf"), pagesize=(620, 400))
    rows = [("Employee", "Date of birth", "Account number", "Sort code"),
            ("Ref 114", "1985-03-14", "31926819", "20-00-00"),
            ("Ref 115", "", "55779911", "40-11-22"),
            ("Ref 116", "", "", "10-20-30"),
            ("", "", "66778899", ""),  # one cell filled: no gap on its line at all
            ("Ref 117", "1990-07-01", "44128890", "")]
    for row_number, row in enumerate(rows):
        for column, cell in enumerate(row):
            pdf.drawString(30 + 140 * column, 350 - 18 * row_number, cell)
    pdf.drawString(30, 230, "Name:")
    pdf.drawString(160, 230, "Jane Roe")
    pdf.drawString(30, 212, "Employee Number:")
    pdf.drawString(160, 212, "4 of 12")
    pdf.drawString(30, 150, "Payments are made monthly, on the last working day.")
    pdf.save()
    text = engine.redact(tmp_path / "payroll.pdf", ALICE).text
    for value in ("1985-03-14", "31926819", "20-00-00", "55779911", "40-11-22", "10-20-30", "66778899", "1990-07-01",
                  "44128890"):
        assert value not in text, value
    assert "Ref 114" in text and "Payments are made monthly, on the last working day." in text
    assert "Jane Roe" not in text and "Employee Number:" in text  # a form's labels are no column header


def test_names_in_the_cells_of_a_word_table_are_redacted(engine: Engine) -> None:
    from docveil.types import Source
    from tests.document_corpus import docx

    # The small model finds none of these names in this table (it calls one role a person).
    data = docx(["Review panel"], table=[["Name", "Role"], ["Stavenhagen, Ulrich", "Chair"],
                                         ["Marguerite Okonkwo-Bell", "Reviewer"], ["Ulrich Stavenhagen", "Owner"]])
    text = engine.redact(Source("panel.docx", data, "application/octet-stream"), ALICE).text
    assert "Stavenhagen" not in text and "Okonkwo" not in text and "Ulrich" not in text and "Chair" in text
