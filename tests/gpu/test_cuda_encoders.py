"""The CUDA paths of the encoders: float16 weights, large batches, the same vectors as on CPU.

Skipped without a CUDA device (the same code runs on CPU in tests/stages/encode). These tests
need only torch, transformers, sentence-transformers and docveil's encoder modules, so they
also run on a GPU machine without the rest of docveil's dependencies:
``PYTHONPATH=src python -m pytest --noconftest -m gpu tests/gpu`` (the text model from
``DOCVEIL_TEXT_MODEL`` when the packaged one is not installed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from docveil.config import DEFAULT_TEXT_MODEL
from docveil.errors import ConfigError
from docveil.stages.encode.devices import CUDA_BATCH_SIZE, plan_device
from docveil.stages.encode.image import ClipImageEncoder
from docveil.stages.encode.text import SentenceTransformerEncoder
from docveil.training.contrastive import fit
from docveil.types import RedactedImage, RedactedText
from tests.tiny_models import save_random_image_model

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TOPICS = ("invoice", "lease", "payroll", "support ticket", "insurance claim", "court filing")


def texts(n: int) -> list[RedactedText]:
    return [RedactedText(f"Document {i} about the {TOPICS[i % 6]} of <PERSON_{i:010x}>: "
                         + " ".join(TOPICS[(i * j) % 6] for j in range(i % 40))) for i in range(n)]


def pictures(n: int) -> list[RedactedImage]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        pixels = Image.fromarray(rng.integers(0, 256, (48 + i % 50, 64, 3), dtype=np.uint8))
        out.append(RedactedImage(pixels=pixels, width=64, height=pixels.height, page=1, regions=(),
                                 text=RedactedText(""), char_boxes=()))
    return out


def test_the_default_plan_on_a_gpu_is_float16_in_large_batches() -> None:
    plan = plan_device("auto")
    assert (plan.device, plan.dtype, plan.batch_size, plan.half) == ("cuda", "float16", CUDA_BATCH_SIZE, True)
    assert plan_device("cuda:0", 64, "float32").device == "cuda:0"
    with pytest.raises(ConfigError, match="bfloat16 is for CPUs"):
        plan_device("cuda", precision="bfloat16")


def test_text_encoder_in_float16_on_cuda_gives_the_cpu_vectors() -> None:
    model = os.environ.get("DOCVEIL_TEXT_MODEL", DEFAULT_TEXT_MODEL)
    gpu = SentenceTransformerEncoder(model, plan_device("cuda"))
    cpu = SentenceTransformerEncoder(model, plan_device("cpu", precision="float32"))
    parameter = next(gpu.model.parameters())
    assert parameter.device.type == "cuda" and parameter.dtype == torch.float16
    batch = texts(CUDA_BATCH_SIZE + 44)  # two batches
    a, b = gpu.encode(batch), cpu.encode(batch)
    assert a.dtype == np.float32 and a.shape == b.shape == (len(batch), cpu.dimension)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=2e-3)
    assert float(np.sum(a * b, axis=1).min()) > 0.999


def test_image_encoder_in_float16_on_cuda_gives_the_cpu_vectors(tmp_path: Path) -> None:
    folder = save_random_image_model(tmp_path / "clip")
    gpu = ClipImageEncoder(str(folder), plan_device("cuda"))
    cpu = ClipImageEncoder(str(folder), plan_device("cpu", precision="float32"))
    batch = pictures(CUDA_BATCH_SIZE + 20)
    a, b = gpu.encode_images(batch), cpu.encode_images(batch)
    assert a.dtype == np.float32 and a.shape == b.shape == (len(batch), 16)
    assert float(np.sum(a * b, axis=1).min()) > 0.99
    queries = [RedactedText("a scanned invoice"), RedactedText("red car at the gate")]
    assert float(np.sum(gpu.encode_texts(queries) * cpu.encode_texts(queries), axis=1).min()) > 0.99


def test_contrastive_fine_tuning_trains_on_cuda(tmp_path: Path) -> None:
    folder = save_random_image_model(tmp_path / "clip")
    batch = pictures(32)
    captions = [RedactedText(f"a {('red', 'blue')[i % 2]} picture") for i in range(32)]
    result = fit(str(folder), batch, captions, tmp_path / "tuned", plan=plan_device("cuda"), epochs=3,
                 batch_size=16, learning_rate=1e-3)
    assert result.steps == 6 and all(np.isfinite(loss) for loss in result.epoch_losses)
    assert ClipImageEncoder(str(result.output), plan_device("cuda")).encode_images(batch[:2]).shape == (2, 16)
