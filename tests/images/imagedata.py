"""Real photos for the image tests, skipped where absent, and their hand-checked labels."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest
from PIL import Image

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "photos"
LABELS = Path(__file__).resolve().parents[2] / "benchmarks" / "labels" / "photos.json"


def photo(name: str) -> Image.Image:
    """A shared test photo, or a skip when this machine has none."""
    path = PHOTOS / name
    if not path.exists():
        pytest.skip(f"shared test photo {name} is not on this machine ({PHOTOS})")
    return Image.open(path)


def package_photo(name: str) -> Image.Image:
    """A sample photo from the insightface package, or a skip when it is not installed."""
    spec = importlib.util.find_spec("insightface")
    path = Path(spec.origin).parent / "data" / "images" / name if spec and spec.origin else None
    if path is None or not path.exists():
        pytest.skip(f"insightface's sample photo {name} is not installed (pip install insightface)")
    return Image.open(path)


def labels(spec: str) -> dict[str, list[list[float]]]:
    return json.loads(LABELS.read_text())["images"][spec]


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
