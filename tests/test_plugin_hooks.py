"""Every hook is documented with its exact signature and exercised here through the engine."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from docveil import hookdocs
from docveil.context import Stash
from docveil.engine import Engine
from docveil.errors import AccessDeniedError
from docveil.plugins import make_plugin_manager
from docveil.types import Principal
from tests.plugins import hook_probes, kms_plugin
from tests.plugins.recording_encoder import RecordingEncoderPlugin

ALICE = Principal("acme", "alice")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugin_hooks.md"


def test_hook_reference_is_generated_from_the_specs() -> None:
    assert DOCS.read_text(encoding="utf-8") == hookdocs.render(), \
        "docs/plugin_hooks.md is stale: python -m docveil.hookdocs > docs/plugin_hooks.md"
    for name, fn in hookdocs.hook_functions():
        assert f"`{hookdocs.signature_of(fn)}`" in DOCS.read_text(encoding="utf-8")
        assert fn.__doc__ and ("Broadcast" in fn.__doc__ or "Stops at first non-None" in fn.__doc__), \
            f"{name}: the docstring must say how results combine"


def test_every_hook_has_a_test_here() -> None:
    tests = {name for name, _ in inspect.getmembers(sys.modules[__name__], inspect.isfunction)}
    for name, _ in hookdocs.hook_functions():
        assert f"test_{name}" in tests, f"hook {name} has no test in {Path(__file__).name}"


def engine_with(settings, db, *plugins, stash: Stash | None = None) -> Engine:
    return Engine(settings, database=db, plugins=plugins, stash=stash if stash is not None else Stash())


def test_docveil_warm_up(settings, db, model_stash) -> None:
    probe = hook_probes.WarmUpProbe()
    with engine_with(settings, db, probe, stash=model_stash) as engine:
        engine.warm_up()
    assert probe.calls == 1


def test_docveil_load_document(settings, db, model_stash, tmp_path: Path) -> None:
    path = tmp_path / "minutes.note"
    path.write_text("## first page about apples\n## second page about pears\n")
    with engine_with(settings, db, hook_probes.NoteLoader(), stash=model_stash) as engine:
        document = engine.load(path)
        assert document.media_type == "text/x-note"
        assert [p.text for p in document.pages] == ["first page about apples", "second page about pears"]
        report = engine.ingest([path], ALICE)
        assert report.ok and report.ingested[0].pages == 2
        assert engine.search("pears", ALICE, k=1)[0].page == 2


def test_docveil_text_recognizers(settings, db, tmp_path: Path) -> None:
    path = tmp_path / "ticket.txt"
    path.write_text("Please look at TCK-4821 before Friday.")
    with engine_with(settings, db, hook_probes.TicketRecognizer()) as engine:
        redacted = engine.redact(path, ALICE)
    assert "TCK-4821" not in redacted.text and "<TICKET_ID_" in redacted.text


def test_a_plugin_adds_a_national_number_format(settings, db) -> None:
    with engine_with(settings, db, hook_probes.PortugueseCardRecognizer()) as engine:
        texts = ["Cartão de Cidadão 00000000 0 ZZ4", "Cartão de Cidadão 12345678 9 ZZ2"]  # the second fails its check
        valid, invalid = ([(text[f.start:f.end], f.entity_type) for f in found]
                          for text, found in zip(texts, engine.detect(texts), strict=True))
    assert ("00000000 0 ZZ4", "NATIONAL_ID") in valid
    assert not any(entity_type == "NATIONAL_ID" for _, entity_type in invalid)


def test_docveil_detect_text(settings, db, model_stash, tmp_path: Path) -> None:
    path = tmp_path / "plan.txt"
    path.write_text("Operation BLUEBIRD starts on Monday.")
    with engine_with(settings, db, hook_probes.CodewordDetector(), stash=model_stash) as engine:
        redacted = engine.redact(path, ALICE)
    assert "BLUEBIRD" not in redacted.text
    assert [r.recognizer for r in redacted.manifest] == ["CodewordDetector"]


def test_docveil_redaction_operators(settings, db, model_stash, tmp_path: Path) -> None:
    path = tmp_path / "memo.txt"
    path.write_text("The memo was written by Jonathan Smith yesterday.")
    custom = settings.with_overrides(operators={"PERSON": "initials"})
    with Engine(custom, database=db, plugins=[hook_probes.InitialsOperator()], stash=model_stash) as engine:
        redacted = engine.redact(path, ALICE)
    assert "written by J.S. yesterday" in redacted.text
    assert redacted.manifest[0].operator == "initials"


def test_docveil_chunk_document(settings, db, model_stash, tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("A sentence about the weather. " * 100)
    with engine_with(settings, db, hook_probes.PagePerChunk(), stash=model_stash) as engine:
        assert engine.ingest([path], ALICE).ingested[0].chunks == 1


def test_docveil_text_encoder(settings, db, tmp_path: Path) -> None:
    recorder = RecordingEncoderPlugin()
    path = tmp_path / "a.txt"
    path.write_text("Invoices are due at the end of the month.")
    with engine_with(settings, db, recorder) as engine:
        engine.ingest([path], ALICE)
        engine.search("when are invoices due", ALICE)
    assert recorder.encoder.seen == ["Invoices are due at the end of the month.", "when are invoices due"]


def test_docveil_image_encoder(settings, db, model_stash, tmp_path: Path) -> None:
    for colour in ("red", "blue", "green"):
        Image.new("RGB", (64, 48), colour).save(tmp_path / f"{colour}.png")
    with engine_with(settings, db, hook_probes.ColourLayoutEncoder(), stash=model_stash) as engine:
        report = engine.ingest(sorted(tmp_path.iterdir()), ALICE)
        assert [d.images for d in report.ingested] == [1, 1, 1]
        blue = engine.search_images("blue", ALICE, k=3)
        assert len(blue) == 3 and Path(blue[0].source).name == "blue.png"
        nearest = engine.search_images(None, ALICE, k=1, image=tmp_path / "green.png")
    assert Path(nearest[0].source).name == "green.png" and nearest[0].score > 0.999


def test_docveil_key_provider(settings, db, model_stash, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Contract signed by Jonathan Smith.")
    with engine_with(settings, db, kms_plugin, stash=model_stash) as engine:
        engine.ingest([path], ALICE)
        assert engine.search("Jonathan Smith contract", ALICE, k=1)
        with engine.database.transaction("acme") as conn:
            kek_ids = {row[0] for row in conn.execute("SELECT kek_id FROM tenant_keys")}
    assert kek_ids == {kms_plugin.KEY_ID}


def test_docveil_authorize(settings, db, model_stash) -> None:
    sink = hook_probes.CollectingSink()
    with engine_with(settings, db, hook_probes.NoSearchOnSundays(), sink, stash=model_stash) as engine:
        with pytest.raises(AccessDeniedError):
            engine.search("anything", Principal("acme", "mallory"))
        assert engine.search("anything", ALICE) == []
    assert [(r["action"], r["outcome"]) for r in sink.records if r["action"] != "keys.create"] == [
        ("deny", "denied"), ("search", "ok")]


def test_docveil_audit_record(settings, db, model_stash, tmp_path: Path) -> None:
    sink = hook_probes.CollectingSink()
    good = tmp_path / "good.txt"
    good.write_text("Quarterly numbers look fine.")
    with engine_with(settings, db, sink, stash=model_stash) as engine:
        engine.ingest([good], ALICE)
    actions = [r["action"] for r in sink.records]
    assert actions[-1] == "ingest" and set(actions[:-1]) == {"keys.create"}  # the tenant's first action
    assert [r["seq"] for r in sink.records] == list(range(1, len(actions) + 1)) and sink.records[-1]["hash"]


def test_docveil_register_commands(settings) -> None:
    cli = typer.Typer()

    @cli.command("version")
    def version() -> None:
        typer.echo("0")

    make_plugin_manager(settings, [hook_probes.HelloCommand()]).hook.docveil_register_commands(cli=cli)
    result = CliRunner().invoke(cli, ["hello"])
    assert result.exit_code == 0 and "hello from a plugin" in result.stdout


def test_docveil_answer(settings, db, model_stash, tmp_path: Path) -> None:
    path = tmp_path / "lease.txt"
    path.write_text("The lease was signed by Jonathan Smith in May.")
    echo = settings.with_overrides(answerer="echo")
    with Engine(echo, database=db, plugins=[hook_probes.EchoAnswerer()], stash=model_stash) as engine:
        engine.ingest([path], ALICE)
        answer = engine.ask("Who is Jonathan Smith?", ALICE)
    assert answer.model == "echo-1" and not answer.extractive
    assert answer.text == f"You asked: {answer.redacted_question}"
    assert "Jonathan Smith" not in answer.text and "<PERSON_" in answer.text
    assert answer.citations and answer.citations[0].source == str(path)


def _white_png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (200, 100), "white").save(path)
    return path


def test_docveil_ocr_image(settings, db, model_stash, tmp_path: Path) -> None:
    path = _white_png(tmp_path / "memo.png")
    plugins = (hook_probes.FixedWordsOcr(), hook_probes.CodewordDetector())
    with engine_with(settings, db, *plugins, stash=model_stash) as engine:
        assert engine.load(path).pages[0].text == "Operation BLUEBIRD"
        redacted = engine.redact(path, ALICE)
    assert "BLUEBIRD" not in redacted.text and "Operation" in redacted.text
    assert [(r.label, r.box.as_list()) for r in redacted.regions] == [("CODEWORD", [100, 10, 180, 30])]
    assert redacted.pages[0].image.pixels.getpixel((140, 20)) == (0, 0, 0), "the word is filled in the pixels"


def test_docveil_detect_image_regions(settings, db, model_stash, tmp_path: Path) -> None:
    path = _white_png(tmp_path / "slide.png")
    with engine_with(settings, db, hook_probes.CornerLogoDetector(), stash=model_stash) as engine:
        redacted = engine.redact(path, ALICE)
    assert [(r.label, r.detector, r.operator) for r in redacted.regions] == [("LOGO", "CornerLogoDetector", "fill")]
    assert redacted.pages[0].image.pixels.getpixel((5, 5)) == (0, 0, 0)
    assert redacted.pages[0].image.pixels.getpixel((60, 60)) == (255, 255, 255)
