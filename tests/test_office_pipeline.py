"""End to end on the real stack for PDFs with pictures, scans, Word files and emails: personal
data in pictures, attachments and headers never reaches the encoder or the store, and bad
files of these kinds are reported while the batch goes on."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest

from docveil.context import Stash
from docveil.engine import Engine
from docveil.types import Principal
from tests.document_corpus import (
    docx,
    email_message,
    face_photo,
    pdf_with_pictures,
    scanned_pdf,
    text_picture,
    zip_bomb_docx,
)
from tests.plugins.recording_encoder import RecordingEncoderPlugin
from tests.stages.load.corpus import _stream, _write_pdf

ALICE = Principal("acme", "alice", frozenset({"analyst"}))
PLANTED = ("Maria Gonzalez", "maria.gonzalez@example.org", "212-555-0142", "Thomas Becker", "t.becker@example.com",
           "Daniel Kowalski")


def stored(engine: Engine, tenant: str = "acme") -> dict[str, object]:
    with engine.database.transaction(tenant) as conn:
        return {
            "text": "\n".join(r[0] for r in conn.execute("SELECT text FROM chunks"))
            + "\n".join(str(r[0]) for r in conn.execute("SELECT manifest FROM documents")),
            "documents": conn.execute("SELECT count(*) FROM documents").fetchone()[0],
            "chunks": conn.execute("SELECT count(*) FROM chunks").fetchone()[0],
        }


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_office_files(folder: Path) -> None:
    folder.mkdir()
    (folder / "letter.docx").write_bytes(docx(
        ["Dear Thomas Becker,", "please find the photographed note below."],
        header="Claims department", title="Letter to Thomas Becker", author="Daniel Kowalski",
        pictures=[text_picture(["Call Maria Gonzalez", "on 212-555-0142"])]))
    statement = pdf_with_pictures(["Statement given by Maria Gonzalez.", "Badge photo:"],
                                  [(face_photo(), (300, 400, 180, 180))])
    (folder / "mail.eml").write_bytes(email_message(
        subject="Statement of Maria Gonzalez", sender="Maria Gonzalez <maria.gonzalez@example.org>",
        to="Thomas Becker <t.becker@example.com>", body="Hello Thomas,\nmy statement is attached.\nMaria",
        attachments=[("Gonzalez_statement.pdf", statement, "application/pdf")]))
    (folder / "scan.pdf").write_bytes(scanned_pdf([["Scanned intake form", "Patient: Daniel Kowalski",
                                                    "Phone: 212-555-0142"]]))


@pytest.mark.slow
def test_personal_data_in_pictures_attachments_and_headers_is_never_stored(settings, db, tmp_path: Path) -> None:
    write_office_files(tmp_path / "docs")
    recorder = RecordingEncoderPlugin()
    with Engine(settings, database=db, stash=Stash(), plugins=[recorder]) as engine:
        report = engine.ingest([tmp_path / "docs"], ALICE)
        assert report.ok, report.failed
        assert sorted(Path(d.source).name for d in report.ingested) == ["letter.docx", "mail.eml", "scan.pdf"]
        content = stored(engine)
        for value in PLANTED:
            assert value not in content["text"]
        seen = "\n".join(recorder.encoder.seen)
        assert "Scanned intake form" in seen and "photographed note" in seen
        for value in PLANTED:
            assert value not in seen
        # The tokens are the tenant's pseudonyms: a query naming the person finds the email.
        hits = engine.search("statement of Maria Gonzalez", ALICE, k=3)
        assert any(Path(hit.source).name == "mail.eml" for hit in hits)
        mail = next(info for info in engine.documents(ALICE) if info.source.endswith("mail.eml"))
        assert mail.pages == 2 and "Gonzalez_statement.pdf (page 2)" in mail.metadata["attachments"]


def test_bad_office_files_are_reported_by_name_and_the_batch_goes_on(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "good.docx").write_bytes(docx(["Quarterly report by Jane Roe."]))
    (folder / "good.eml").write_bytes(email_message(subject="Budget", sender="a@example.org", to="b@example.org",
                                                    body="Revenue grew by four percent."))
    (folder / "bomb.docx").write_bytes(zip_bomb_docx(16 * 1024 * 1024))
    whole = docx(["A long letter."] * 40, pictures=[face_photo(64)])
    (folder / "truncated.docx").write_bytes(whole[: len(whole) // 2])
    (folder / "many.eml").write_bytes(email_message(
        subject="spam", sender="a@example.org", to="b@example.org", body="x",
        attachments=[(f"f{n}.txt", b"tiny", "text/plain") for n in range(500)]))
    (folder / "photo.pdf").write_bytes(png_bytes(face_photo(64)))
    broken_image = _write_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> "
         b"/XObject << /Im1 6 0 R >> >> /Contents 5 0 R >>"),
        _stream(b"q 200 0 0 200 100 400 cm /Im1 Do Q BT /F1 12 Tf 72 760 Td (Jane Roe) Tj ET"),
        b"<< /Type /XObject /Subtype /Image /Width 64 /Height 64 /ColorSpace /DeviceRGB /BitsPerComponent 8 "
        b"/Filter /FlateDecode /Length 50 >>\nstream\n" + zlib.compress(bytes(range(256)) * 48)[:50] + b"\nendstream",
    ])
    (folder / "broken_image.pdf").write_bytes(broken_image)
    report = engine.ingest([folder], ALICE)
    assert sorted(Path(d.source).name for d in report.ingested) == ["good.docx", "good.eml"]
    failed = {Path(f.source).name: f.reason for f in report.failed}
    assert failed == {
        "bomb.docx": "archive member compressed more than 100:1 (15.9 KiB to 16.0 MiB): a zip bomb",
        "truncated.docx": "corrupt Word document: not a readable ZIP archive (truncated or damaged)",
        "many.eml": "email has 500 attachments, over the 50 attachment limit (max_attachments)",
        "photo.pdf": "the content is a PNG image but the name says .pdf; rename it to load it as an image",
        "broken_image.pdf": "corrupt PDF: the data of image 1 on page 1 is truncated or damaged",
    }
    assert stored(engine)["documents"] == 2
    assert "Jane Roe" not in stored(engine)["text"]
