"""The redacted PDF: values gone from the text layer and the pixels, pictures redacted, no
metadata, same pages; written through the engine (real detectors, tesseract, PostgreSQL keys)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from docveil.engine import Engine
from docveil.errors import ConfigError, DocveilError
from docveil.stages.load.pdf import PDFIUM_LOCK
from docveil.stages.load.source import source_from_bytes
from docveil.stages.redact.pdf import write_redacted_pdf
from docveil.types import Principal, RedactedDocument
from tests.document_corpus import (
    FONT_SIZE,
    LEFT,
    PAGE_HEIGHT,
    face_photo,
    line_baseline,
    pdf_with_pictures,
    region_variance,
    scanned_pdf,
    text_picture,
)

ALICE = Principal("acme", "alice", frozenset({"analyst"}))
LINES = ["Intake note", "Patient Maria Gonzalez called from 212-555-0142.",
         "Email maria.gonzalez@example.org or card 4111 1111 1111 1111.", "Nothing else to report."]
PLANTED = ("Maria Gonzalez", "Gonzalez", "212-555-0142", "maria.gonzalez@example.org", "4111 1111 1111 1111")
PHOTO_BOX = (300.0, 380.0, 200.0, 200.0)  # x, y, width, height in points


def extracted(data: bytes) -> list[str]:
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(data)
        try:
            return [page.get_textpage().get_text_range() for page in pdf]
        finally:
            pdf.close()


def rendered(data: bytes, page: int = 0, scale: float = 2.0) -> Image.Image:
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(data)
        try:
            return pdf[page].render(scale=scale).to_pil().convert("RGB")
        finally:
            pdf.close()


def points_to_pixels(box: tuple[float, float, float, float], scale: float = 2.0) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return int(x * scale), int((PAGE_HEIGHT - y - h) * scale), int((x + w) * scale), int((PAGE_HEIGHT - y) * scale)


@pytest.fixture
def written(engine: Engine, tmp_path: Path) -> tuple[bytes, bytes, RedactedDocument]:
    original = pdf_with_pictures(LINES, [(face_photo(), PHOTO_BOX)], title="Intake of Maria Gonzalez",
                                 author="Thomas Becker", extra_pages=[["Second page, signed by Thomas Becker."]])
    (tmp_path / "intake.pdf").write_bytes(original)
    redacted = engine.redact_to_file(tmp_path / "intake.pdf", tmp_path / "out.pdf", ALICE)
    return original, (tmp_path / "out.pdf").read_bytes(), redacted


@pytest.fixture
def redacted_pdf(written: tuple[bytes, bytes, RedactedDocument]) -> tuple[bytes, bytes]:
    return written[0], written[1]


def test_redacted_pdf_text_has_tokens_and_none_of_the_values(redacted_pdf: tuple[bytes, bytes]) -> None:
    _, output = redacted_pdf
    text = "\n".join(extracted(output))
    for value in (*PLANTED, "Thomas Becker"):
        assert value not in text
    assert "<PERSON_" in text and "<PHONE_NUMBER_" in text and "<EMAIL_ADDRESS_" in text
    assert "Intake note" in text and "Nothing else to report." in text
    assert b"Gonzalez" not in output and b"Becker" not in output


def test_redacted_pdf_keeps_page_count_and_sizes(redacted_pdf: tuple[bytes, bytes]) -> None:
    original, output = redacted_pdf
    with PDFIUM_LOCK:
        before, after = pdfium.PdfDocument(original), pdfium.PdfDocument(output)
        try:
            assert len(after) == len(before) == 2
            for index in range(2):
                assert after[index].get_size() == pytest.approx(before[index].get_size(), abs=0.5)
        finally:
            before.close()
            after.close()


def test_redacted_pdf_has_no_metadata(redacted_pdf: tuple[bytes, bytes]) -> None:
    _, output = redacted_pdf
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(output)
        try:
            assert not any(pdf.get_metadata_dict().values())
        finally:
            pdf.close()
    assert b"/Info" not in output and b"/Metadata" not in output and b"<?xpacket" not in output
    assert b"Intake of" not in output


def test_values_are_painted_over_in_the_pixels(redacted_pdf: tuple[bytes, bytes]) -> None:
    original, output = redacted_pdf
    # Where "212-555-0142" was drawn: black now, and OCR of the output page cannot read it.
    from reportlab.pdfbase.pdfmetrics import stringWidth

    line = LINES[1]
    x0 = LEFT + stringWidth(line[:line.index("212-555")], "Helvetica", FONT_SIZE)
    x1 = x0 + stringWidth("212-555-0142", "Helvetica", FONT_SIZE)
    baseline = line_baseline(1)
    box = (int(x0 * 2) + 2, int((PAGE_HEIGHT - baseline - 6) * 2), int(x1 * 2) - 2, int((PAGE_HEIGHT - baseline) * 2))
    page = np.asarray(rendered(output).convert("L").crop(box))
    assert page.mean() < 40, "the phone number's box is painted black"
    before = np.asarray(rendered(original).convert("L").crop(box))
    assert before.mean() > 100


def test_face_in_the_pdf_is_blurred_in_the_output(written: tuple[bytes, bytes, RedactedDocument],
                                                  engine: Engine) -> None:
    original, output, redacted = written
    faces_found = [region for region in redacted.regions if region.label == "FACE"]
    assert len(faces_found) == 1 and faces_found[0].operator == "blur"
    face = faces_found[0].box  # page points
    assert PHOTO_BOX[0] <= face.x0 < face.x1 <= PHOTO_BOX[0] + PHOTO_BOX[2]
    face_pixels = points_to_pixels((face.x0, face.y0, face.x1 - face.x0, face.y1 - face.y0))
    # OCR may read texture in the photo as words and black them out (over-redaction by design):
    # the blur is judged on the pixels no such box (padded as redaction pads it) covers.
    pad = engine.settings.image_padding
    filled = [points_to_pixels((r.box.x0 - pad * (r.box.x1 - r.box.x0), r.box.y0 - pad * (r.box.y1 - r.box.y0),
                                (1 + 2 * pad) * (r.box.x1 - r.box.x0), (1 + 2 * pad) * (r.box.y1 - r.box.y0)))
              for r in redacted.regions if r.operator == "fill"]
    assert region_variance(rendered(output), face_pixels, filled) < \
        0.2 * region_variance(rendered(original), face_pixels, filled)
    box = points_to_pixels(PHOTO_BOX)
    from docveil.stages.detect.faces import docveil_detect_image_regions as detect_faces
    from docveil.stages.redact.image import page_image

    def faces(data: bytes) -> int:
        crop = rendered(data).crop(box)
        image = page_image(crop, engine.context, words=())
        return len(detect_faces(images=[image], context=engine.context)[0])

    assert faces(original) >= 1
    assert faces(output) == 0


def test_scanned_pdf_is_ocrd_redacted_and_searchable(engine: Engine, tmp_path: Path) -> None:
    source = tmp_path / "scan.pdf"
    source.write_bytes(scanned_pdf([LINES]))
    redacted = engine.redact_to_file(source, tmp_path / "scan-redacted.pdf", ALICE)
    assert redacted.manifest, "OCR text went through PII detection"
    text = extracted((tmp_path / "scan-redacted.pdf").read_bytes())[0]
    assert "Intake note" in text and "<PHONE_NUMBER_" in text
    for value in PLANTED:
        assert value not in text


def test_text_in_a_picture_is_redacted_in_the_pixels_and_joins_the_page_text(engine: Engine,
                                                                              tmp_path: Path) -> None:
    note = text_picture(["Call Maria Gonzalez", "at 212-555-0142 tomorrow"])
    picture_box = (72.0, 300.0, 450.0, 450.0 * note.height / note.width)
    source = tmp_path / "memo.pdf"
    source.write_bytes(pdf_with_pictures(["Memo with a photographed note below."], [(note, picture_box)]))
    redacted = engine.redact_to_file(source, tmp_path / "memo-redacted.pdf", ALICE)
    page = redacted.pages[0]
    assert "tomorrow" in page.text.text and "<PHONE_NUMBER_" in page.text.text
    assert "212-555-0142" not in page.text.text
    output = (tmp_path / "memo-redacted.pdf").read_bytes()
    assert "212-555-0142" not in extracted(output)[0] and "tomorrow" in extracted(output)[0]
    from docveil.stages.detect.ocr import tesseract

    x, y, w, h = picture_box
    crop = rendered(output, scale=3.0).crop((int(x * 3), int((PAGE_HEIGHT - y - h) * 3),
                                              int((x + w) * 3), int((PAGE_HEIGHT - y) * 3)))
    read = " ".join(word.text for word in tesseract(crop))
    assert "tomorrow" in read and "0142" not in read and "555" not in read


def test_a_pdf_can_only_be_written_from_a_pdf(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("Maria Gonzalez called.")
    with pytest.raises(ConfigError, match="only be written from a PDF"):
        engine.redact_to_file(tmp_path / "note.txt", tmp_path / "out.pdf", ALICE)
    assert not (tmp_path / "out.pdf").exists()


def test_writer_refuses_a_redaction_of_another_file(engine: Engine, tmp_path: Path) -> None:
    first = source_from_bytes("a.pdf", pdf_with_pictures(LINES, []), engine.settings)
    other = source_from_bytes("b.pdf", pdf_with_pictures(["Other"], []), engine.settings)
    document = engine.load(first)
    redacted = engine.redact(document, ALICE)
    with pytest.raises(DocveilError, match="not made from this file"):
        write_redacted_pdf(other, document, redacted, engine.settings)


def test_values_removed_by_the_drop_operator_are_painted_over_too(settings, db, model_stash, tmp_path: Path) -> None:
    source = tmp_path / "intake.pdf"
    source.write_bytes(pdf_with_pictures(LINES, []))
    dropping = settings.with_overrides(operators={"PHONE_NUMBER": "drop", "CREDIT_CARD": "mask"})
    with Engine(dropping, database=db, stash=model_stash) as engine:
        engine.redact_to_file(source, tmp_path / "out.pdf", ALICE)
    output = (tmp_path / "out.pdf").read_bytes()
    text = extracted(output)[0]
    assert "called from ." in text and "**** **** **** 1111" in text
    from docveil.stages.detect.ocr import tesseract

    read = " ".join(word.text for word in tesseract(rendered(output, scale=3.0)))
    assert "called from" in read and "0142" not in read and "4111" not in read


def test_command_line_writes_a_redacted_pdf_and_still_writes_text(settings, db, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from docveil.interfaces.cli import app

    env = {"DOCVEIL_HOME": str(settings.home), "DOCVEIL_DATABASE": db.database, "DOCVEIL_LOAD_ENTRY_POINTS": "false",
           "DOCVEIL_TENANT": "acme", "DOCVEIL_USER": "alice"}
    source = tmp_path / "intake.pdf"
    source.write_bytes(pdf_with_pictures(LINES, []))
    result = CliRunner().invoke(app, ["redact", str(source), "-o", str(tmp_path / "out.pdf"),
                                      "--manifest", str(tmp_path / "manifest.json")], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "wrote" in result.stderr
    text = extracted((tmp_path / "out.pdf").read_bytes())[0]
    assert "<PERSON_" in text and "Maria Gonzalez" not in text
    assert (tmp_path / "manifest.json").read_text().count("PHONE_NUMBER") == 1
    result = CliRunner().invoke(app, ["redact", str(source), "-o", str(tmp_path / "out.txt")], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0
    assert (tmp_path / "out.txt").read_text().startswith("Intake note\nPatient <PERSON_")
    result = CliRunner().invoke(app, ["redact", str(tmp_path / "out.txt"), "-o", str(tmp_path / "again.pdf")],
                                env=env, catch_exceptions=False)
    assert result.exit_code == 1 and "only be written from a PDF" in result.stderr
    assert "Traceback" not in result.stderr


def test_turned_page_is_written_as_it_is_displayed(engine: Engine, tmp_path: Path) -> None:
    source = tmp_path / "landscape.pdf"
    source.write_bytes(pdf_with_pictures(LINES, [], rotate=90))
    engine.redact_to_file(source, tmp_path / "out.pdf", ALICE)
    output = (tmp_path / "out.pdf").read_bytes()
    with PDFIUM_LOCK:
        before, after = pdfium.PdfDocument(source.read_bytes()), pdfium.PdfDocument(output)
        try:
            assert after[0].get_size() == pytest.approx(before[0].get_size(), abs=0.5)
            assert after[0].get_rotation() == before[0].get_rotation() == 90
        finally:
            before.close()
            after.close()
    text = extracted(output)[0]
    assert "Nothing else to report." in text and "<PHONE_NUMBER_" in text and "212-555-0142" not in text
