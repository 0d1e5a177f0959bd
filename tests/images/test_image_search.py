"""Image search through the engine, with a tiny randomly initialised CLIP model: pictures are
embedded only after redaction, found by picture and by text, within the tenant and the ACL,
and a picture the encoder fails on fails its document only."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from imagedata import encoded, photo
from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas
from synthetic import screenshots

from docveil.config import Settings
from docveil.context import StageContext, Stash
from docveil.engine import Engine
from docveil.errors import ConfigError, EncoderError, LoadError, StoreError
from docveil.hookspecs import hookimpl
from docveil.stages.encode import image as default_image_encoder
from docveil.store.database import Database
from docveil.types import Acl, Principal, RedactedImage, RedactedText

ALICE = Principal("acme", "alice")
BOB = Principal("acme", "bob")
GINA = Principal("globex", "gina")
AUDITOR = Principal("acme", "audra", frozenset({"auditor"}))
SHOT = screenshots(1, seed=5)[0]
FAIL_HEIGHT = 77  # the failing encoder below refuses pictures this tall


class RecordingImageEncoder:
    """The real image encoder, recording what it is given; fails on pictures FAIL_HEIGHT tall."""

    def __init__(self, inner: default_image_encoder.ClipImageEncoder) -> None:
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self.images: list[object] = []
        self.texts: list[object] = []

    def encode_images(self, images: Sequence[RedactedImage]) -> np.ndarray:
        self.images.extend(images)
        if any(getattr(image, "height", 0) == FAIL_HEIGHT for image in images):
            raise EncoderError("the model cannot read this picture")
        return self.inner.encode_images(images)

    def encode_texts(self, texts: Sequence[RedactedText]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.encode_texts(texts)


class RecordingImagePlugin:
    def __init__(self) -> None:
        self.encoder: RecordingImageEncoder | None = None

    @hookimpl
    def docveil_image_encoder(self, context: StageContext) -> RecordingImageEncoder:
        if self.encoder is None:
            inner = default_image_encoder.docveil_image_encoder(context)
            assert inner is not None
            self.encoder = RecordingImageEncoder(inner)
        return self.encoder


@pytest.fixture
def image_settings(settings: Settings, tiny_image_model: Path) -> Settings:
    return replace(settings, image_model=str(tiny_image_model))


@pytest.fixture
def recorder() -> RecordingImagePlugin:
    return RecordingImagePlugin()


@pytest.fixture
def image_engine(image_settings: Settings, db: Database, model_stash: Stash,
                 recorder: RecordingImagePlugin) -> Iterator[Engine]:
    with Engine(image_settings, database=db, stash=model_stash, plugins=[recorder]) as engine:
        yield engine


def pdf_with_picture(path: Path, picture: Image.Image, pages: int = 1, per_page: int = 1) -> Path:
    pdf = canvas.Canvas(str(path), pagesize=(400, 300))
    for page in range(pages):
        pdf.drawString(40, 260, f"Site inspection {page + 1}, north gate: the barrier arm is bent.")
        for slot in range(per_page):
            shade = Image.new("RGB", picture.size, (40 * page, 60 * slot, 90))
            pdf.drawImage(ImageReader(Image.blend(picture, shade, 0.3)), 40 + 180 * slot, 40, width=160, height=120)
        pdf.showPage()
    pdf.save()
    return path


def picture_rows(engine: Engine, tenant: str) -> list[tuple]:
    with engine.database.transaction(tenant) as conn:
        return conn.execute("SELECT document_id::text, page, kind, width, height FROM images ORDER BY id").fetchall()


def test_pictures_are_embedded_after_redaction_and_found_by_picture_and_by_text(
        image_engine: Engine, recorder: RecordingImagePlugin, tmp_path: Path) -> None:
    crossing = tmp_path / "crossing.jpg"
    photo("street_crossing.jpg").save(crossing)
    ticket = tmp_path / "ticket.png"
    SHOT.image.save(ticket)
    inspection = pdf_with_picture(tmp_path / "inspection.pdf", photo("car_wa_leaf.jpg").resize((320, 240)))
    note = tmp_path / "note.txt"
    note.write_text("Gate barrier repaired on Monday.", encoding="utf-8")

    report = image_engine.ingest([crossing, ticket, inspection, note], ALICE)
    assert report.ok
    assert {Path(d.source).name: d.images for d in report.ingested} == {
        "crossing.jpg": 1, "ticket.png": 1, "inspection.pdf": 1, "note.txt": 0}
    rows = picture_rows(image_engine, "acme")
    assert sorted((page, kind) for _, page, kind, _, _ in rows) == [(1, "embedded"), (1, "page"), (1, "page")]

    # What reached the encoder is the redacted picture: faces and personal text filled.
    encoder = recorder.encoder
    assert encoder is not None and all(isinstance(image, RedactedImage) for image in encoder.images)
    seen_crossing = next(image for image in encoder.images if image.pixels.size == (800, 564))
    assert sum(region.label == "FACE" for region in seen_crossing.regions) >= 19
    assert not np.array_equal(np.asarray(seen_crossing.pixels), np.asarray(photo("street_crossing.jpg")))
    redacted = image_engine.redact(crossing, ALICE).pages[0].image
    assert redacted is not None and np.array_equal(np.asarray(seen_crossing.pixels), np.asarray(redacted.pixels))
    seen_ticket = next(image for image in encoder.images if image.pixels.size == SHOT.image.size)
    assert sum(region.label != "FACE" for region in seen_ticket.regions) >= len(SHOT.planted)

    # The same photo as the query: it is redacted the same way, so its own picture comes first.
    by_picture = image_engine.search_images(None, ALICE, k=3, image=crossing.read_bytes())
    assert Path(by_picture[0].source).name == "crossing.jpg" and len(by_picture) == 3
    assert by_picture[0].score > 0.999 and by_picture[0].kind == "page" and by_picture[0].page == 1
    assert by_picture[0].score >= by_picture[1].score >= by_picture[2].score
    inspection_hit = next(h for h in by_picture if Path(h.source).name == "inspection.pdf")
    assert inspection_hit.kind == "embedded" and inspection_hit.bbox is not None
    assert 30 <= inspection_hit.bbox.x0 < inspection_hit.bbox.x1 <= 210

    by_text = image_engine.search_images("Jane Roe waiting at the crossing", ALICE, k=2)
    assert len(by_text) == 2 and by_text[0].score >= by_text[1].score
    assert encoder.texts and all(isinstance(t, RedactedText) and "Jane Roe" not in t.text for t in encoder.texts)

    records = image_engine.audit_records(AUDITOR, action="search")
    assert [r.extra.get("query") for r in records[-2:]] == ["image", "text"]
    assert all(r.extra.get("index") == "images" and r.counts["hits"] in (2, 3) for r in records[-2:])
    assert "Jane" not in json.dumps([r.as_dict() for r in records])


def test_every_picture_of_every_page_is_stored_once_in_order(image_engine: Engine, tmp_path: Path) -> None:
    survey = pdf_with_picture(tmp_path / "survey.pdf", photo("car_wa_leaf.jpg").resize((160, 120)), pages=3, per_page=2)
    report = image_engine.ingest(survey, ALICE)
    assert report.ok and not report.ingested[0].duplicate and report.ingested[0].images == 6
    with image_engine.database.transaction("acme") as conn:
        rows = conn.execute("SELECT ordinal, page, kind FROM images ORDER BY ordinal").fetchall()
    assert rows == [(0, 1, "embedded"), (1, 1, "embedded"), (2, 2, "embedded"), (3, 2, "embedded"),
                    (4, 3, "embedded"), (5, 3, "embedded")]


def test_image_search_sees_the_tenant_and_the_acl_only(image_engine: Engine, tmp_path: Path) -> None:
    crossing = tmp_path / "crossing.jpg"
    photo("street_crossing.jpg").save(crossing)
    stored = image_engine.ingest(crossing, ALICE, acl=Acl(users={"alice"})).ingested[0]
    query = crossing.read_bytes()
    assert [h.document_id for h in image_engine.search_images(None, ALICE, image=query)] == [stored.document_id]
    assert image_engine.search_images(None, BOB, image=query) == []
    assert image_engine.search_images("a street", GINA) == []
    with image_engine.database.transaction("globex") as conn:
        assert conn.execute("SELECT count(*) FROM images").fetchone()[0] == 0

    image_engine.set_acl(stored.document_id, Acl(), ALICE)
    assert [h.image_id for h in image_engine.search_images("a street", BOB)] != []
    image_engine.delete_document(stored.document_id, ALICE)
    assert picture_rows(image_engine, "acme") == []
    assert image_engine.search_images("a street", ALICE) == []


def test_a_query_picture_that_cannot_be_loaded_is_a_clear_error_and_audited(image_engine: Engine) -> None:
    with pytest.raises(LoadError, match="query picture"):
        image_engine.search_images(None, ALICE, image=b"%PDF-1.4 not a picture")
    last = image_engine.audit_records(AUDITOR, action="search")[-1]
    assert (last.outcome, last.extra.get("error")) == ("error", "LoadError")
    with pytest.raises(EncoderError, match="cannot read this picture"):
        image_engine.search_images(None, ALICE, image=encoded(Image.new("RGB", (90, FAIL_HEIGHT), "white"), "PNG"))
    last = image_engine.audit_records(AUDITOR, action="search")[-1]
    assert (last.outcome, last.extra.get("error")) == ("error", "EncoderError")


def test_without_ocr_pictures_are_not_embedded(image_settings: Settings, db: Database, model_stash: Stash,
                                               tmp_path: Path) -> None:
    # Text written in a picture is found by OCR only: unread, it would reach the encoder as it is.
    SHOT.image.save(tmp_path / "ticket.png")
    with Engine(replace(image_settings, image_ocr=False), database=db, stash=model_stash) as engine:
        assert engine.ingest(tmp_path / "ticket.png", ALICE).ingested[0].images == 0


def test_a_picture_the_encoder_fails_on_fails_its_document_only(image_engine: Engine, tmp_path: Path) -> None:
    for name, height in (("first.png", 60), ("broken.png", FAIL_HEIGHT), ("last.png", 50)):
        (tmp_path / name).write_bytes(encoded(Image.effect_noise((90, height), 40).convert("RGB"), "PNG"))
    report = image_engine.ingest(sorted(tmp_path.iterdir()), ALICE)
    assert sorted(Path(d.source).name for d in report.ingested) == ["first.png", "last.png"]
    assert [(Path(f.source).name, f.reason) for f in report.failed] == [
        ("broken.png", "the model cannot read this picture")]
    assert sorted(height for *_, height in picture_rows(image_engine, "acme")) == [50, 60]
    with image_engine.database.transaction("acme") as conn:
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 2


def test_without_an_image_model_pictures_are_not_embedded_and_image_search_says_what_to_set(
        engine: Engine, tmp_path: Path) -> None:
    crossing = tmp_path / "crossing.jpg"
    photo("street_crossing.jpg").resize((200, 141)).save(crossing)
    assert engine.image_encoder is None
    assert engine.ingest(crossing, ALICE).ingested[0].images == 0
    with pytest.raises(ConfigError, match="set image_model"):
        engine.search_images("a street", ALICE)
    with pytest.raises(ValueError, match="not both or neither"):
        engine.search_images(None, ALICE)
    with pytest.raises(ValueError, match="not both or neither"):
        engine.search_images("a street", ALICE, image=crossing)


def test_a_database_keeps_the_dimension_of_its_first_image_model(db: Database) -> None:
    db.ensure_image_vectors("clip-small", 16)
    db.ensure_image_vectors("clip-small", 16)
    with pytest.raises(StoreError, match=r"16-dimensional image vectors from clip-small.*gives 512.*image_model"):
        db.ensure_image_vectors("clip-large", 512)


def test_the_command_line_searches_pictures_by_text_and_by_picture(settings: Settings, db: Database,
                                                                   tiny_image_model: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from docveil.interfaces.cli import app

    env = {"DOCVEIL_HOME": str(settings.home), "DOCVEIL_DATABASE": db.database, "DOCVEIL_LOAD_ENTRY_POINTS": "false",
           "DOCVEIL_TENANT": "acme", "DOCVEIL_USER": "alice", "COLUMNS": "120", "DOCVEIL_IMAGE_MODEL": str(tiny_image_model)}

    def run(*args: str, image_model: bool = True):
        return CliRunner().invoke(app, list(args), env=env if image_model else {**env, "DOCVEIL_IMAGE_MODEL": ""},
                                  catch_exceptions=False)

    crossing = tmp_path / "crossing.jpg"
    photo("street_crossing.jpg").resize((400, 282)).save(crossing)
    SHOT.image.save(tmp_path / "ticket.png")
    ingested = run("ingest", str(crossing), str(tmp_path / "ticket.png"), "--json")
    assert ingested.exit_code == 0, ingested.stderr
    assert [d["images"] for d in json.loads(ingested.stdout)["ingested"]] == [1, 1]

    by_picture = run("search", "--image", str(crossing), "-k", "2", "--json")
    assert by_picture.exit_code == 0, by_picture.stderr
    hits = json.loads(by_picture.stdout)
    assert [Path(h["source"]).name for h in hits][:1] == ["crossing.jpg"] and hits[0]["kind"] == "page"
    assert set(hits[0]) == {"document_id", "image_id", "source", "page", "kind", "bbox", "width", "height", "score"}

    by_text = run("search", "people crossing a street", "--pictures", "-k", "1", "--json")
    assert by_text.exit_code == 0 and len(json.loads(by_text.stdout)) == 1
    table = run("search", "people crossing a street", "--pictures")
    assert table.exit_code == 0 and "400x282" in table.stdout and "page" in table.stdout

    both = run("search", "a street", "--image", str(crossing))
    assert both.exit_code != 0 and "not both" in both.stderr
    unset = run("search", "a street", "--pictures", image_model=False)
    assert unset.exit_code == 1 and "image_model" in unset.stderr and "Traceback" not in unset.stderr


def test_pictures_are_partitioned_by_tenant_and_a_partition_cannot_be_read_around_the_policy(
        image_engine: Engine, tmp_path: Path) -> None:
    import re

    import psycopg
    from psycopg import sql

    for name, colour in (("red.png", "red"), ("blue.png", "blue")):
        Image.new("RGB", (64, 48), colour).save(tmp_path / name)
    image_engine.ingest(tmp_path / "red.png", ALICE)
    image_engine.ingest(tmp_path / "blue.png", GINA)
    with image_engine.database.admin() as conn:
        partitions = conn.execute("SELECT count(*) FROM pg_partition_tree('images') WHERE isleaf").fetchone()[0]
        indexed = conn.execute("SELECT count(*) FROM pg_partition_tree('images_embedding_hnsw') WHERE isleaf"
                               ).fetchone()[0]
        partition = conn.execute("SELECT tableoid::regclass::text FROM images WHERE tenant_id = 'acme'").fetchone()[0]
    assert partitions == indexed == 16
    with image_engine.database.transaction("globex") as conn:
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (COSTS OFF) SELECT id FROM images WHERE tenant_id = 'globex'"
            " ORDER BY embedding <=> %s::vector LIMIT 3", [str([0.1] * 16)]))
        assert len(set(re.findall(r" on (images_p\d+)", plan))) == 1, plan
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql.SQL("SELECT id FROM {}").format(sql.Identifier(partition)))


def test_text_search_fuses_the_nearest_pictures_into_the_ranking(
        image_engine: Engine, recorder: RecordingImagePlugin, settings: Settings, db: Database,
        model_stash: Stash, tmp_path: Path) -> None:
    # One chunk per page (pictures without text), so each picture ranks its page's only chunk.
    documents = []
    for number, colour in enumerate(("red", "teal", "gold", "navy", "plum")):
        picture = Image.merge("RGB", [Image.linear_gradient("L").rotate(40 * number)] * 3)
        picture = Image.blend(picture, Image.new("RGB", picture.size, colour), 0.5).resize((160, 120))
        pdf = canvas.Canvas(str(tmp_path / f"site{number}.pdf"), pagesize=(400, 300))
        pdf.drawString(40, 260, f"Site {number}: the north gate barrier was inspected on Monday.")
        pdf.drawImage(ImageReader(picture), 40, 40, width=160, height=120)
        pdf.showPage()
        pdf.save()
        acl = {"acl": Acl(users={"alice"})} if number == 4 else {}
        documents.append(image_engine.ingest(tmp_path / f"site{number}.pdf", ALICE, **acl).ingested[0])
    assert [(d.chunks, d.images) for d in documents] == [(1, 1)] * 5
    query = "Jane Roe at the gate barrier"

    with Engine(settings, database=db, stash=model_stash) as text_only:
        for principal, visible in ((ALICE, 5), (BOB, 4)):
            fused = image_engine.search(query, principal, k=20)
            plain = {hit.chunk_id: hit.score for hit in text_only.search(query, principal, k=20)}
            ranks = {hit.document_id: rank
                     for rank, hit in enumerate(image_engine.search_images(query, principal, k=20), 1)}
            assert len(fused) == len(plain) == len(ranks) == visible
            # Each chunk gains exactly the reciprocal rank of its page's picture.
            assert {hit.chunk_id: hit.score - plain[hit.chunk_id] for hit in fused} == pytest.approx(
                {hit.chunk_id: 1 / (60 + ranks[hit.document_id]) for hit in fused}, abs=1e-9)
            assert [hit.score for hit in fused] == sorted((hit.score for hit in fused), reverse=True)
    assert image_engine.search(query, GINA) == []

    assert recorder.encoder is not None and recorder.encoder.texts
    assert all("Jane Roe" not in text.text for text in recorder.encoder.texts)
    searches = image_engine.audit_records(AUDITOR, action="search")
    assert [r.extra.get("index") for r in searches if r.counts.get("hits") == 5] == ["chunks+images", None, "images"]


def test_a_page_ranks_one_chunk_by_its_nearest_picture_and_a_page_without_text_takes_no_rank(
        image_settings: Settings, db: Database, model_stash: Stash, settings: Settings, tmp_path: Path) -> None:
    def gradient(angle: int, colour: str) -> ImageReader:
        picture = Image.merge("RGB", [Image.linear_gradient("L").rotate(angle)] * 3)
        return ImageReader(Image.blend(picture, Image.new("RGB", picture.size, colour), 0.5).resize((160, 120)))

    # survey.pdf: page 1 holds three chunks (one about the gate) and two pictures, page 2 one
    # chunk and one picture; blank.png is a picture without any text; site.pdf one of each.
    pdf = canvas.Canvas(str(tmp_path / "survey.pdf"), pagesize=(600, 400))
    for line, text in enumerate([
            "The cafeteria menu lists soup, bread and apples for the whole week.",
            "Lunch is served from noon; the soup changes every day.",
            "Site survey: the north gate barrier arm is bent and the gate does not close.",
            "The barrier must be repaired before the gate inspection on Monday.",
            "Quarterly revenue grew in every region, led by the retail division.",
            "The finance committee approved the budget for the next two years."]):
        pdf.drawString(30, 380 - 14 * line, text)
    pdf.drawImage(gradient(0, "red"), 30, 40, width=160, height=120)
    pdf.drawImage(gradient(90, "teal"), 300, 40, width=160, height=120)
    pdf.showPage()
    pdf.drawString(30, 380, "Appendix: opening hours of the visitor centre.")
    pdf.drawImage(gradient(180, "gold"), 30, 40, width=160, height=120)
    pdf.showPage()
    pdf.save()
    Image.merge("RGB", [Image.linear_gradient("L").rotate(270)] * 3).save(tmp_path / "blank.png")
    site = canvas.Canvas(str(tmp_path / "site.pdf"), pagesize=(400, 300))
    site.drawString(40, 260, "Site visit notes: fences and signs are in order.")
    site.drawImage(gradient(45, "navy"), 40, 40, width=160, height=120)
    site.showPage()
    site.save()

    small_chunks = replace(image_settings, chunk_size=200, chunk_overlap=0)
    query = "Jane Roe at the gate barrier"
    with Engine(small_chunks, database=db, stash=model_stash) as engine, \
            Engine(settings, database=db, stash=model_stash) as text_only:
        report = engine.ingest([tmp_path / "survey.pdf", tmp_path / "blank.png", tmp_path / "site.pdf"], ALICE)
        assert report.ok and [(Path(d.source).name, d.images) for d in report.ingested] == [
            ("survey.pdf", 3), ("blank.png", 1), ("site.pdf", 1)]
        assert report.ingested[1].chunks == 0
        with engine.database.transaction("acme") as conn:
            chunks = {row[0]: (row[1], row[2], row[3]) for row in conn.execute(
                "SELECT id, document_id::text, page, text FROM chunks")}
        gate = [chunk for chunk, (_, page, text) in chunks.items() if page == 1 and "barrier" in text]
        assert len(gate) == 1 and sum(page == 1 for _, page, _ in chunks.values()) >= 3

        # Pages in the order of their nearest picture; those with text get ranks 1, 2, 3.
        pages: list[tuple[str, int]] = []
        for hit in engine.search_images(query, ALICE, k=20):
            if (hit.document_id, hit.page) not in pages:
                pages.append((hit.document_id, hit.page))
        assert len(pages) == 4
        survey = report.ingested[0].document_id

        def chosen(document: str, page: int) -> int:
            if (document, page) == (survey, 1):
                return gate[0]  # of the page's three chunks, the one nearest to the query
            return next(chunk for chunk, (d, p, _) in chunks.items() if (d, p) == (document, page))

        ranked = [chosen(*page) for page in pages if page[0] != report.ingested[1].document_id]
        fused = {hit.chunk_id: hit.score for hit in engine.search(query, ALICE, k=50)}
        plain = {hit.chunk_id: hit.score for hit in text_only.search(query, ALICE, k=50)}
        assert set(fused) == set(plain) == set(chunks)
        expected = dict.fromkeys(chunks, 0.0) | {chunk: 1 / (60 + rank) for rank, chunk in enumerate(ranked, 1)}
        assert {chunk: fused[chunk] - plain[chunk] for chunk in chunks} == pytest.approx(expected, abs=1e-9)


def test_a_failing_image_model_fails_the_text_search_and_is_audited(
        image_engine: Engine, recorder: RecordingImagePlugin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("Gate barrier repaired on Monday.", encoding="utf-8")
    image_engine.ingest(tmp_path / "note.txt", ALICE)
    assert image_engine.image_encoder is recorder.encoder and recorder.encoder is not None

    def broken(texts: Sequence[RedactedText]) -> np.ndarray:
        raise RuntimeError("CUDA error: device-side assert triggered")

    monkeypatch.setattr(recorder.encoder, "encode_texts", broken)
    with pytest.raises(EncoderError, match="RuntimeError"):
        image_engine.search("gate barrier", ALICE)
    last = image_engine.audit_records(AUDITOR, action="search")[-1]
    assert (last.outcome, last.extra.get("error")) == ("error", "EncoderError")
    # Without OCR no picture is embedded, so none is ranked: the image model is not asked.
    with Engine(replace(image_engine.settings, image_ocr=False), database=image_engine.database,
                stash=image_engine.context.stash, plugins=[recorder]) as without_ocr:
        assert [hit.text for hit in without_ocr.search("gate barrier", ALICE)] == ["Gate barrier repaired on Monday."]
    assert [r.extra.get("index") for r in image_engine.audit_records(AUDITOR, action="search")[-1:]] == [None]
