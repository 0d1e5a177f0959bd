"""Affine maps between an image's pixels and a page (PDF matrix convention) and boxes through them."""

from __future__ import annotations

from collections.abc import Sequence

from docveil.types import Affine, BBox

IDENTITY: Affine = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def then(first: Affine, second: Affine) -> Affine:
    """The map that applies ``first``, then ``second`` (the PDF product ``first × second``)."""
    a1, b1, c1, d1, e1, f1 = first
    a2, b2, c2, d2, e2, f2 = second
    return (a1 * a2 + b1 * c2, a1 * b2 + b1 * d2,
            c1 * a2 + d1 * c2, c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2, e1 * b2 + f1 * d2 + f2)


def invert(affine: Affine) -> Affine:
    a, b, c, d, e, f = affine
    det = a * d - b * c
    if det == 0:
        raise ValueError("a degenerate map has no inverse")
    return (d / det, -b / det, -c / det, a / det, (c * f - d * e) / det, (b * e - a * f) / det)


def apply(affine: Affine, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = affine
    return a * x + c * y + e, b * x + d * y + f


def map_box(affine: Affine, box: BBox) -> BBox:
    """The axis-aligned box that covers ``box`` once mapped (all four corners)."""
    corners = [apply(affine, x, y) for x in (box.x0, box.x1) for y in (box.y0, box.y1)]
    xs = [x for x, _ in corners]
    ys = [y for _, y in corners]
    return BBox(min(xs), min(ys), max(xs), max(ys))


def box_to_box(width: float, height: float, target: BBox) -> Affine:
    """Pixels of a ``width`` × ``height`` image (origin top-left) onto ``target`` in a space
    whose y axis points up (PDF points)."""
    return ((target.x1 - target.x0) / width, 0.0, 0.0, -(target.y1 - target.y0) / height, target.x0, target.y1)


def line_boxes(boxes: Sequence[BBox | None]) -> list[BBox]:
    """Boxes of consecutive characters merged while they share a line (overlap vertically by
    more than half the smaller height)."""
    lines: list[BBox] = []
    for box in boxes:
        if box is None:
            continue
        if lines and same_line(lines[-1], box):
            lines[-1] = lines[-1].union(box)
        else:
            lines.append(box)
    return lines


def same_line(a: BBox, b: BBox) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    return overlap > 0.5 * min(a.y1 - a.y0, b.y1 - b.y0)
