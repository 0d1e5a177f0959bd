"""docveil plugin: faces found by an InsightFace SCRFD ONNX model, next to docveil's CenterFace.

The model is not shipped: InsightFace's pretrained weights are for non-commercial research
only. Point ``DOCVEIL_SCRFD_MODEL`` at an SCRFD ``.onnx`` file you may use. Without it the
plugin stays idle (and says so once in the log); with a path that does not hold a model it
fails with a ``ConfigError``. Regions are labelled ``FACE`` (detector ``scrfd``) and merged
with every other detector's; the session is created once per engine, CUDA first when
onnxruntime has it and the engine's ``device`` setting allows it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from docveil import hookimpl
from docveil.context import StageContext, StashKey
from docveil.errors import ConfigError
from docveil.stages.detect.faces import providers
from docveil.types import BBox, PageImage, Region

logger = logging.getLogger(__name__)

MODEL_ENV = "DOCVEIL_SCRFD_MODEL"
THRESHOLD_ENV = "DOCVEIL_SCRFD_THRESHOLD"
DETECTOR = "scrfd"
INPUT_SIZE = (640, 640)
DEFAULT_THRESHOLD = 0.5


@dataclass
class Scrfd:
    """A loaded SCRFD detector, or none when no model is configured."""

    model: Any | None
    threshold: float


_MODEL: StashKey[Scrfd] = StashKey("docveil_scrfd:model")


def model_path() -> Path | None:
    raw = os.environ.get(MODEL_ENV, "").strip()
    return Path(raw).expanduser() if raw else None


def load(context: StageContext) -> Scrfd:
    threshold = float(os.environ.get(THRESHOLD_ENV, DEFAULT_THRESHOLD))
    path = model_path()
    if path is None:
        logger.info("docveil-scrfd is installed but %s is not set: it detects nothing", MODEL_ENV)
        return Scrfd(None, threshold)
    if not path.is_file():
        raise ConfigError(f"{MODEL_ENV} names {path}, which is not a file: point it at an SCRFD .onnx model")
    import onnxruntime
    from insightface.model_zoo.scrfd import SCRFD

    from docveil.stages.runtimes import quiet

    quiet(onnxruntime)
    try:
        session = onnxruntime.InferenceSession(str(path), providers=providers(context.settings.device))
        model = SCRFD(model_file=str(path), session=session)
        model.prepare(0, input_size=INPUT_SIZE, det_thresh=threshold)
    except Exception as exc:  # onnxruntime and insightface raise many kinds
        raise ConfigError(f"{MODEL_ENV}: {path} is not an SCRFD model onnxruntime can run "
                          f"({type(exc).__name__})") from None
    logger.info("SCRFD face detector ready on %s", session.get_providers()[0])
    return Scrfd(model, threshold)


def get(context: StageContext) -> Scrfd:
    return context.stash.get(_MODEL, lambda: load(context))


def detect(detector: Scrfd, rgb: np.ndarray) -> list[Region]:
    """Face regions in an RGB image (SCRFD wants BGR, letterboxed to its input size)."""
    if detector.model is None:
        return []
    boxes, _ = detector.model.detect(np.ascontiguousarray(rgb[:, :, ::-1]), input_size=INPUT_SIZE,
                                     det_thresh=detector.threshold)
    return [Region("FACE", BBox(*map(float, box[:4])), float(box[4]), DETECTOR) for box in boxes]


@hookimpl
def docveil_warm_up(context: StageContext) -> None:
    get(context)


@hookimpl
def docveil_detect_image_regions(images: Sequence[PageImage], context: StageContext) -> list[list[Region]]:
    detector = get(context)
    return [detect(detector, np.asarray(image.pixels)) for image in images]
