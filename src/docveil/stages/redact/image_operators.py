"""Redaction operators for image regions: blur, pixelate, fill.

Each operator overwrites one box of an RGB ``uint8`` array in place, using only the pixels
inside the box. They are built to be irreversible: ``blur`` first averages the box down to a
grid of at most ``BLUR_CELLS`` cells across its short side (the detail below a cell is gone,
so no deconvolution or sharpening can bring it back), then blurs that grid with a Gaussian of
one cell (a quarter of the short side) and scales it back up smoothly. ``pixelate`` keeps a
mosaic of at most ``PIXELATE_CELLS`` cells across the short side, ``fill`` paints the box black.

Blur cost does not grow with the box: the heavy averaging happens on the small grid, and the
final pass works on a smooth image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from docveil.types import BBox

ImageOperator = Callable[[np.ndarray, tuple[int, int, int, int]], None]
"""``operator(pixels, (x0, y0, x1, y1))`` redacts the box of an (H, W, 3) uint8 array in place."""

BLUR_CELLS = 4
BLUR_WORK_SIDE = 64
PIXELATE_CELLS = 6
FILL_COLOUR = (0, 0, 0)


def _grid(width: int, height: int, cells: int) -> tuple[int, int]:
    """Grid size with at most ``cells`` cells across the short side, square cells."""
    cell = max(1.0, min(width, height) / cells)
    return max(1, round(width / cell)), max(1, round(height / cell))


def blur(pixels: np.ndarray, box: tuple[int, int, int, int]) -> None:
    import cv2

    x0, y0, x1, y1 = box
    crop = pixels[y0:y1, x0:x1]
    height, width = crop.shape[:2]
    if height == 0 or width == 0:
        return
    grid_w, grid_h = _grid(width, height, BLUR_CELLS)
    small = cv2.resize(crop, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    # Sigma of one cell on the grid: a quarter of the box's short side in pixels.
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=1.0, borderType=cv2.BORDER_REPLICATE)
    # A second pass (sigma a quarter of the short side) removes the kinks linear interpolation
    # leaves at cell edges; on a copy at most BLUR_WORK_SIDE pixels across, as it is smooth anyway.
    scale = min(1.0, BLUR_WORK_SIDE / min(width, height))
    work = (max(1, round(width * scale)), max(1, round(height * scale)))
    smooth = cv2.resize(small, work, interpolation=cv2.INTER_LINEAR)
    sigma = max(1.0, min(work) / BLUR_CELLS)
    smooth = cv2.GaussianBlur(smooth, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)
    pixels[y0:y1, x0:x1] = cv2.resize(smooth, (width, height), interpolation=cv2.INTER_CUBIC)


def pixelate(pixels: np.ndarray, box: tuple[int, int, int, int]) -> None:
    import cv2

    x0, y0, x1, y1 = box
    crop = pixels[y0:y1, x0:x1]
    height, width = crop.shape[:2]
    if height == 0 or width == 0:
        return
    grid_w, grid_h = _grid(width, height, PIXELATE_CELLS)
    small = cv2.resize(crop, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    pixels[y0:y1, x0:x1] = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def fill(pixels: np.ndarray, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = FILL_COLOUR


IMAGE_OPERATORS: Mapping[str, ImageOperator] = {"blur": blur, "pixelate": pixelate, "fill": fill}

# Applied in this order, so a filled box is never blurred over (and stays a clean box).
OPERATOR_ORDER = {"blur": 0, "pixelate": 1, "fill": 2}


def padded_box(box: BBox, padding: float, width: int, height: int) -> tuple[int, int, int, int]:
    """``box`` grown by ``padding`` times its size on every side (at least one pixel), rounded
    outwards and clipped to the image."""
    pad_x = max(1.0, (box.x1 - box.x0) * padding)
    pad_y = max(1.0, (box.y1 - box.y0) * padding)
    return (max(0, int(np.floor(box.x0 - pad_x))), max(0, int(np.floor(box.y0 - pad_y))),
            min(width, int(np.ceil(box.x1 + pad_x))), min(height, int(np.ceil(box.y1 + pad_y))))
