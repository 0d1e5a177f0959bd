"""Pictures on a page (PDF, Word): their OCR text joins the page text, after it.

Each picture's text (``ocr.page_text`` of its words) follows the page's own text after a blank
line, so PII in a picture is detected, redacted and chunked like any other text of the page.
Where the picture's place on the page is known, its characters get the word boxes mapped onto
the page (PDF points), so chunks of picture text point at the picture.

A picture that a text layer already covers (a scan with an invisible OCR layer, a photo with
a caption drawn over it) adds no text: its words are on the page already, and reading them
twice would only duplicate them in the index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from docveil.config import Settings
from docveil.errors import LimitExceededError
from docveil.stages import geometry
from docveil.stages.detect.ocr import page_text
from docveil.types import Affine, BBox, PageImage, PlacedImage

# A text layer with at least this many characters inside a picture covers it.
COVERED_CHARS = 20
SEPARATOR = "\n\n"


class PixelBudget:
    """Decoded pixels a document may hold (``max_document_pixels``) and pictures it may have
    (``max_images``); each picture is also held to ``max_pixels``. Inside ``shared_budget``
    (an email and its attachments) the counts also go to the enclosing document's budget."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.pixels = 0
        self.images = 0
        self._outer = _OUTER_BUDGET.get()

    def check(self, width: int, height: int, what: str) -> None:
        """Refuse one picture over ``max_pixels`` (before it is decoded, on its declared size)."""
        if width * height > self.settings.max_pixels:
            raise LimitExceededError(
                self.name, f"{what} is {width:,} x {height:,} pixels ({width * height:,}), over the "
                           f"{self.settings.max_pixels:,} pixel limit (max_pixels)")

    def take(self, width: int, height: int, what: str) -> None:
        """Count a decoded picture the document will hold."""
        self.check(width, height, what)
        self.pixels += width * height
        if self.pixels > self.settings.max_document_pixels:
            raise LimitExceededError(
                self.name, f"pictures hold more than {self.settings.max_document_pixels:,} pixels in all, "
                           "over the document pixel limit (max_document_pixels)")
        if self._outer is not None:
            self._outer.take(width, height, what)

    def count_image(self) -> None:
        self.images += 1
        if self.images > self.settings.max_images:
            raise LimitExceededError(
                self.name, f"more than {self.settings.max_images:,} pictures, over the picture limit (max_images)")
        if self._outer is not None:
            self._outer.count_image()


_OUTER_BUDGET: ContextVar[PixelBudget | None] = ContextVar("docveil_outer_pixel_budget", default=None)


@contextmanager
def shared_budget(budget: PixelBudget) -> Iterator[PixelBudget]:
    """Make documents loaded inside (attachments) count against ``budget`` too."""
    token = _OUTER_BUDGET.set(budget)
    try:
        yield budget
    finally:
        _OUTER_BUDGET.reset(token)


@dataclass(frozen=True)
class Picture:
    """A decoded picture and, where known, where it sits on the page."""

    image: PageImage
    to_page: Affine | None = None
    bbox: BBox | None = None


def attach_pictures(text: str, boxes: tuple[BBox | None, ...] | None, pictures: Sequence[Picture]
                    ) -> tuple[str, tuple[BBox | None, ...] | None, tuple[PlacedImage, ...]]:
    """The page text and boxes with the pictures' OCR text appended, and the placed pictures."""
    parts = [text]
    length = len(text)
    all_boxes = list(boxes) if boxes is not None else None
    placed = []
    for index, picture in enumerate(pictures, 1):
        picture_text, picture_boxes = page_text(picture.image.words or ())
        start: int | None = None
        if picture_text.strip() and not _covered(boxes, picture.bbox):
            separator = SEPARATOR if length else ""
            start = length + len(separator)
            parts.extend((separator, picture_text))
            length = start + len(picture_text)
            if all_boxes is not None:
                all_boxes.extend([None] * len(separator))
                all_boxes.extend(_mapped(box, picture.to_page) for box in picture_boxes)
        placed.append(PlacedImage(image=picture.image, index=index, kind="embedded", to_page=picture.to_page,
                                  bbox=picture.bbox, text_start=start))
    return "".join(parts), (tuple(all_boxes) if all_boxes is not None else None), tuple(placed)


def _mapped(box: BBox | None, to_page: Affine | None) -> BBox | None:
    if box is None or to_page is None:
        return None
    return geometry.map_box(to_page, box)


def _covered(boxes: tuple[BBox | None, ...] | None, area: BBox | None) -> bool:
    if not boxes or area is None:
        return False
    inside = 0
    for box in boxes:
        if box is not None and area.x0 <= (box.x0 + box.x1) / 2 <= area.x1 and area.y0 <= (box.y0 + box.y1) / 2 <= area.y1:
            inside += 1
            if inside >= COVERED_CHARS:
                return True
    return False
