"""Images through the engine and the command line: redacted OCR text is searchable, nothing of
the original pixels or text is encoded or stored, bad images are reported and skipped."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from imagedata import encoded, labels, photo
from PIL import Image
from synthetic import coverage, screenshots
from typer.testing import CliRunner

from docveil.engine import Engine
from docveil.interfaces.cli import app
from docveil.stages.detect import faces
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN
from docveil.types import Principal
from tests.plugins.recording_encoder import RecordingEncoderPlugin

ALICE = Principal("acme", "alice")
SHOT = screenshots(1, seed=5)[0]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bad_images(folder: Path) -> None:
    good_png = encoded(Image.new("RGB", (40, 30), "white"), "PNG")
    (folder / "cut.jpg").write_bytes(encoded(Image.effect_noise((128, 128), 50).convert("RGB"), "JPEG")[:1500])
    at = good_png.index(b"IDAT")
    crc_at = at + 4 + struct.unpack(">I", good_png[at - 4:at])[0]
    (folder / "crc.png").write_bytes(good_png[:crc_at] + bytes([good_png[crc_at] ^ 1]) + good_png[crc_at + 1:])
    (folder / "empty.png").write_bytes(b"")
    (folder / "bomb.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b""))
    (folder / "scan.pdf").write_bytes(good_png)


def test_screenshots_become_searchable_and_nothing_personal_is_encoded_or_stored(
        settings, db, model_stash, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    SHOT.image.save(folder / "ticket.png")
    _bad_images(folder)
    recorder = RecordingEncoderPlugin()
    with Engine(settings, database=db, stash=model_stash, plugins=[recorder]) as engine:
        report = engine.ingest([folder], ALICE)
        assert [Path(d.source).name for d in report.ingested] == ["ticket.png"]
        reasons = {Path(f.source).name: f.reason for f in report.failed}
        assert reasons == {
            "bomb.png": "image is 50,000 x 50,000 pixels (2,500,000,000), over the 100,000,000 pixel limit "
                        "(max_pixels)",
            "crc.png": "corrupt PNG image: bad checksum in chunk IDAT (damaged data)",
            "cut.jpg": "corrupt JPEG image: truncated data",
            "empty.png": "empty file",
            "scan.pdf": "the content is a PNG image but the name says .pdf; rename it to load it as an image",
        }
        hits = engine.search("customer confirm the refund billing question", ALICE, k=3)
        assert hits and Path(hits[0].source).name == "ticket.png" and hits[0].page == 1
        assert hits[0].bbox is not None and 0 <= hits[0].bbox.x0 < hits[0].bbox.x1 <= SHOT.image.width
        with engine.database.transaction("acme") as conn:
            documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
            chunks = "\n".join(r[0] for r in conn.execute("SELECT text FROM chunks"))
            manifest = conn.execute("SELECT manifest FROM documents").fetchone()[0]
        assert documents == 1
    seen = "\n".join(recorder.encoder.seen)
    # The tokens' hex digits differ every run; a value's last few digits are looked for outside them.
    words_seen = TOKEN_PATTERN.sub(" ", seen)
    assert "refund" in seen and "refund" in chunks
    for value in SHOT.planted:
        assert value not in seen and value not in chunks and value not in json.dumps(manifest)
        assert value.split("@")[0].split()[-1] not in words_seen
    regions = [r for r in manifest if r.get("kind") == "region"]
    assert {r["operator"] for r in regions} == {"fill"} and len(regions) >= len(SHOT.planted)


def faces_still_found(redacted: Image.Image, context) -> list:
    """Faces the detector still finds over the labelled faces of the redacted street photo
    (a hand elsewhere may look like a small face to it)."""
    truths = labels("shared:street_crossing.jpg")["faces"]
    left = faces.detect_faces(faces.get_model(context), np.asarray(redacted), 0.35)
    return [box for box in left if any(coverage(tuple(t), tuple(box[:4])) >= 0.5 for t in truths)]


def test_engine_redact_gives_the_redacted_pixels_regions_and_tenant_tokens(engine, tmp_path: Path) -> None:
    path = tmp_path / "crossing.jpg"
    photo("street_crossing.jpg").save(path)
    redacted = engine.redact(path, ALICE)
    page = redacted.pages[0]
    assert page.image is not None and page.image.pixels.size == (800, 564)
    assert sum(r.label == "FACE" for r in redacted.regions) >= 19
    assert len(faces_still_found(page.image.pixels, engine.context)) <= 1
    records = engine.audit_records(Principal("acme", "auditor", frozenset({"auditor"})), action="redact")
    assert records and records[-1].counts["regions"] == len(redacted.regions)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["jpg", "png", "webp", "tiff"])
def test_cli_redact_writes_the_image_blurred_and_without_exif_or_gps(suffix, settings, db, tmp_path: Path,
                                                                    image_context) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    exif[0x8825] = {1: "N", 2: (37.0, 46.0, 30.0), 3: "W", 4: (122.0, 25.0, 10.0)}
    source = tmp_path / "street.jpg"
    photo("street_crossing.jpg").save(source, exif=exif.tobytes())
    assert Image.open(source).getexif().get_ifd(0x8825), "the input carries GPS"
    out, manifest = tmp_path / f"out.{suffix}", tmp_path / "manifest.json"
    env = {"DOCVEIL_HOME": str(settings.home), "DOCVEIL_DATABASE": db.database, "DOCVEIL_LOAD_ENTRY_POINTS": "false",
           "DOCVEIL_TENANT": "acme", "DOCVEIL_USER": "alice"}
    result = CliRunner().invoke(app, ["redact", str(source), "-o", str(out), "--manifest", str(manifest)], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    written = Image.open(out)
    assert written.size == (800, 564)
    tags = written.getexif()
    assert 0x8825 not in tags and 0x010F not in tags and "exif" not in written.info
    assert len(faces_still_found(written.convert("RGB"), image_context)) <= 1
    records = json.loads(manifest.read_text())
    assert sum(r["label"] == "FACE" for r in records) >= 19 and all(r["kind"] == "region" for r in records)
