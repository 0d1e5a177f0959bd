"""Contrastive fine-tuning of the image model, with a tiny randomly initialised CLIP: it learns
the pairs it is given, saves a model picture search can load, sees only redacted pictures and
pseudonymised captions, and is for admins only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from docveil.config import Settings
from docveil.context import Stash
from docveil.engine import Engine
from docveil.errors import AccessDeniedError, ConfigError, UnredactedContentError
from docveil.stages.encode.devices import plan_device
from docveil.stages.encode.image import ClipImageEncoder, load_two_tower
from docveil.store.database import Database
from docveil.training import contrastive
from docveil.types import Principal, RedactedImage, RedactedText

ADMIN = Principal("acme", "root", frozenset({"admin", "auditor"}))
ALICE = Principal("acme", "alice")
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "black": (10, 10, 10)}


def pictures(folder: Path, per_colour: int = 4) -> list[tuple[Path, str]]:
    """Squares of one colour with a lighter patch somewhere, and the caption that names it."""
    rng = np.random.default_rng(1)
    pairs = []
    for name, rgb in COLOURS.items():
        for index in range(per_colour):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 12, (48, 48, 3)), 0, 255).astype(np.uint8)
            x, y = rng.integers(0, 32, 2)
            pixels[y:y + 16, x:x + 16] = np.clip(pixels[y:y + 16, x:x + 16] + 40, 0, 255)
            path = folder / f"{name}_{index}.png"
            Image.fromarray(pixels).save(path)
            pairs.append((path, f"a {name} picture"))
    return pairs


def accuracy(model: str | Path, pairs: list[tuple[Path, str]]) -> float:
    """Share of pictures whose nearest colour caption is their own."""
    encoder = ClipImageEncoder(str(model), plan_device("cpu", precision="float32"))
    names = list(COLOURS)
    captions = encoder.encode_texts([RedactedText(f"a {name} picture") for name in names])
    images = encoder.encode_images([RedactedImage(pixels=Image.open(path).convert("RGB"), width=48, height=48, page=1,
                                                  regions=(), text=RedactedText(""), char_boxes=())
                                    for path, _ in pairs])
    chosen = (images @ captions.T).argmax(axis=1)
    return float(np.mean([names[c] == text.split()[1] for c, (_, text) in zip(chosen, pairs, strict=True)]))


@pytest.fixture
def image_engine(settings: Settings, db: Database, model_stash: Stash, tiny_image_model: Path) -> Iterator[Engine]:
    with Engine(replace(settings, image_model=str(tiny_image_model), device="cpu"), database=db,
                stash=model_stash) as engine:
        yield engine


def test_fine_tuning_learns_the_pairs_and_saves_a_model_picture_search_loads(
        image_engine: Engine, tiny_image_model: Path, tmp_path: Path) -> None:
    pairs = pictures(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    epochs: list[tuple[int, float]] = []
    result = image_engine.finetune_image_model(
        [*pairs, (tmp_path / "broken.png", "a red picture"), (pairs[0][0], "  ")], ADMIN, tmp_path / "tuned",
        epochs=30, batch_size=8, learning_rate=3e-3, on_epoch=lambda epoch, loss: epochs.append((epoch, loss)))
    assert (result.pairs, result.epochs, result.steps) == (16, 30, 60)
    assert [epoch for epoch, _ in epochs] == list(range(1, 31)) and result.epoch_losses == tuple(loss for _, loss in epochs)
    assert result.epoch_losses[-1] < 0.8 * result.epoch_losses[0]
    assert [(Path(f.source).name, f.error) for f in result.failed] == [("broken.png", "LoadError"), ("red_0.png", "ValueError")]
    assert {p.name for p in result.output.iterdir()} >= {"config.json", "model.safetensors",
                                                          "preprocessor_config.json", "tokenizer.json"}
    assert not list(tmp_path.glob(".*partial"))
    before, after = accuracy(tiny_image_model, pairs), accuracy(result.output, pairs)
    assert after >= 0.9 and after > before, (before, after)
    record = image_engine.audit_records(ADMIN, action="model.train")[-1]
    assert record.counts == {"pairs": 16, "failed": 2, "epochs": 30, "steps": 60}
    assert str(tmp_path) not in json.dumps(record.as_dict())


def test_training_sees_only_redacted_pictures_and_pseudonymised_captions(
        image_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, list] = {}
    real_fit = contrastive.fit

    def recording_fit(model, pictures, texts, output, **options):
        seen["pictures"], seen["texts"] = list(pictures), list(texts)
        return real_fit(model, pictures, texts, output, **options)

    monkeypatch.setattr("docveil.engine.fit", recording_fit)
    pairs = [(path, f"{text} taken by Jane Roe") for path, text in pictures(tmp_path, per_colour=1)]
    image_engine.finetune_image_model(pairs, ADMIN, tmp_path / "tuned", epochs=1)
    assert all(isinstance(p, RedactedImage) for p in seen["pictures"]) and len(seen["pictures"]) == 4
    assert all(isinstance(t, RedactedText) and "Jane" not in t.text and "<PERSON_" in t.text for t in seen["texts"])


def test_only_admins_fine_tune_only_redacted_pairs_into_a_new_folder(image_engine: Engine, tmp_path: Path) -> None:
    pairs = pictures(tmp_path, per_colour=1)
    with pytest.raises(AccessDeniedError):
        image_engine.finetune_image_model(pairs, ALICE, tmp_path / "tuned")
    (tmp_path / "empty").mkdir()
    assert image_engine.finetune_image_model(pairs, ADMIN, tmp_path / "empty", epochs=1).output == tmp_path / "empty"
    assert (tmp_path / "empty" / "config.json").exists()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not an empty folder"):
        image_engine.finetune_image_model(pairs, ADMIN, tmp_path / "taken", epochs=1)
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
    with pytest.raises(ConfigError, match="at least 2 pairs"):
        image_engine.finetune_image_model(pairs[:1], ADMIN, tmp_path / "tuned", epochs=1)
    assert not (tmp_path / "tuned").exists()
    plan = plan_device("cpu")
    picture = RedactedImage(pixels=Image.new("RGB", (8, 8)), width=8, height=8, page=1, regions=(),
                            text=RedactedText(""), char_boxes=())
    with pytest.raises(UnredactedContentError):
        contrastive.fit("unused", [picture, picture], ["Jane Roe", "John Doe"], tmp_path / "x", plan=plan)  # type: ignore[list-item]
    with pytest.raises(UnredactedContentError):
        contrastive.fit("unused", [Image.new("RGB", (8, 8))] * 2, [RedactedText("a")] * 2, tmp_path / "x", plan=plan)  # type: ignore[list-item]


def test_without_ocr_fine_tuning_is_refused_before_any_work(settings: Settings, db: Database, model_stash: Stash,
                                                            tiny_image_model: Path, tmp_path: Path) -> None:
    configured = replace(settings, image_model=str(tiny_image_model), image_ocr=False)
    with Engine(configured, database=db, stash=model_stash) as engine, pytest.raises(ConfigError, match="image_ocr"):
        engine.finetune_image_model(pictures(tmp_path, per_colour=1), ADMIN, tmp_path / "tuned")


@pytest.mark.parametrize("kind", ["siglip", "siglip2"])
def test_siglip_models_train_with_their_sigmoid_loss(kind: str, tmp_path: Path) -> None:
    from tests.tiny_models import save_random_image_model

    model = save_random_image_model(tmp_path / kind, kind)
    pairs = pictures(tmp_path, per_colour=2)[:7]
    batch = [RedactedImage(pixels=Image.open(path).convert("RGB"), width=48, height=48, page=1, regions=(),
                           text=RedactedText(""), char_boxes=()) for path, _ in pairs]
    result = contrastive.fit(str(model), batch, [RedactedText(text) for _, text in pairs], tmp_path / "tuned",
                             plan=plan_device("cpu"), epochs=2, batch_size=3, learning_rate=1e-3)
    # 7 pairs in batches of 3: 3 + 3 + 1, and the batch of one joins the one before it.
    assert result.steps == 2 * 2 and all(np.isfinite(loss) for loss in result.epoch_losses)
    assert ClipImageEncoder(str(result.output), plan_device("cpu")).encode_images(batch[:1]).shape == (1, 16)


def test_a_run_that_fails_while_saving_leaves_no_folder(tiny_image_model: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from docveil.errors import EncoderError

    base = contrastive.load_two_tower(str(tiny_image_model))
    monkeypatch.setattr(base.tokenizer, "save_pretrained", lambda folder: (_ for _ in ()).throw(OSError("disk full")))
    pairs = pictures(tmp_path, per_colour=1)
    batch = [RedactedImage(pixels=Image.open(path).convert("RGB"), width=48, height=48, page=1, regions=(),
                           text=RedactedText(""), char_boxes=()) for path, _ in pairs]
    with pytest.raises(EncoderError, match=r"fine-tuning failed \(OSError\)"):
        contrastive.fit(base, batch, [RedactedText(text) for _, text in pairs], tmp_path / "tuned",
                        plan=plan_device("cpu"), epochs=1)
    assert not (tmp_path / "tuned").exists() and not list(tmp_path.glob(".*partial"))


def test_the_command_line_fine_tunes_from_a_csv_of_pairs(settings: Settings, db: Database,
                                                          tiny_image_model: Path, tmp_path: Path) -> None:
    from docveil.interfaces.cli import app
    from docveil.interfaces.cli_training import finetune_pictures  # noqa: F401  (registers the command)

    pairs = pictures(tmp_path, per_colour=1)
    csv = tmp_path / "pairs.csv"
    csv.write_text("Image, Text\n" + "".join(f"{path.name},{text}\n" for path, text in pairs) + ",a picture\n",
                   encoding="utf-8")
    env = {"DOCVEIL_HOME": str(settings.home), "DOCVEIL_DATABASE": db.database, "DOCVEIL_LOAD_ENTRY_POINTS": "false",
           "DOCVEIL_TENANT": "acme", "DOCVEIL_USER": "root", "DOCVEIL_IMAGE_MODEL": str(tiny_image_model)}
    runner = CliRunner()
    done = runner.invoke(app, ["finetune-pictures", str(csv), "-o", str(tmp_path / "tuned"), "--role", "admin",
                               "--epochs", "2", "--json"], env=env, catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    assert "left out row 6 of" in done.stderr and "no image" in done.stderr
    report = json.loads(done.stdout)
    assert (report["pairs"], report["epochs"], report["failed"]) == (4, 2, [])
    assert (tmp_path / "tuned" / "config.json").exists()
    (tmp_path / "bad.csv").write_text("picture,caption\nx.png,a\n", encoding="utf-8")
    refused = runner.invoke(app, ["finetune-pictures", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "t2"),
                                  "--role", "admin"], env=env, catch_exceptions=False)
    assert refused.exit_code == 1 and "columns image and text" in refused.stderr


def test_weight_decay_spares_biases_norms_and_the_temperature_which_stays_bounded(tiny_image_model: Path) -> None:
    import math

    import torch

    network = load_two_tower(str(tiny_image_model)).model
    decayed, plain = contrastive.parameter_groups(network, 0.1)
    names = {id(p): name for name, p in network.named_parameters()}
    assert (decayed["weight_decay"], plain["weight_decay"]) == (0.1, 0.0)
    assert {names[id(p)] for p in plain["params"]} >= {"logit_scale", "text_model.final_layer_norm.weight",
                                                       "vision_model.embeddings.class_embedding"}
    assert all(name.endswith("bias") or "norm" in name for name in map(names.get, map(id, plain["params"]))
               if name not in ("logit_scale", "vision_model.embeddings.class_embedding"))
    assert {names[id(p)] for p in decayed["params"]} >= {"visual_projection.weight", "text_projection.weight",
                                                         "text_model.embeddings.token_embedding.weight"}
    assert len(decayed["params"]) + len(plain["params"]) == len(list(network.parameters()))

    bound = contrastive._scale_bound(network)
    assert bound == pytest.approx(math.log(100))
    with torch.no_grad():
        network.logit_scale.fill_(7.0)
    contrastive.clamp_logit_scale(network, bound)
    assert network.logit_scale.item() == pytest.approx(math.log(100))
    # A model whose temperature starts above the bound keeps it.
    with torch.no_grad():
        network.logit_scale.fill_(5.0)
    assert contrastive._scale_bound(network) == pytest.approx(5.0)
