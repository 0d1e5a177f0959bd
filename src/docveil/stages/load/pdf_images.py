"""Pictures of a PDF page: the images it draws, and renders of pages that must be OCR'd.

Callers hold ``PDFIUM_LOCK`` around every function here; what comes out is plain PIL images
and maps, usable without pdfium.

An embedded image is taken as pdfium draws it (its mask applied, turned and flipped by its
matrix, so a scan stored sideways reads upright), at about its native resolution. Its pixels
map to the page through the affine ``to_page``, composed through any form XObjects it sits in.
An image that pdfium cannot decode fails the whole document: a picture that cannot be looked
at cannot be redacted, and must not be passed over in silence.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from docveil.config import Settings
from docveil.errors import LoadError
from docveil.stages import geometry
from docveil.stages.load.pictures import PixelBudget
from docveil.types import Affine, BBox

# Below this many pixels on a side an image holds no face or line of text worth finding
# (rules, bullets, spacer images); it is still drawn in a redacted PDF, as part of the page.
MIN_IMAGE_SIDE = 16
# Filters pdfium decodes in full when asked for the image data; for these the decoded length
# shows whether the stream is complete (pdfium pads a truncated Flate stream with black).
_SIMPLE_FILTERS = frozenset({"FlateDecode", "Fl", "LZWDecode", "LZW", "RunLengthDecode", "RL",
                             "ASCII85Decode", "A85", "ASCIIHexDecode", "AHx"})


@dataclass(frozen=True)
class ExtractedImage:
    """An image drawn on a page, decoded: RGB pixels and where they sit on the page."""

    pixels: Any
    index: int
    to_page: Affine
    bbox: BBox


def page_images(page: pdfium.PdfPage, page_number: int, budget: PixelBudget) -> list[ExtractedImage]:
    """Every image the page draws (inside form XObjects too) that is large enough to matter."""
    found: list[ExtractedImage] = []
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)):
        width, height = obj.get_px_size()
        if width < MIN_IMAGE_SIDE or height < MIN_IMAGE_SIDE:
            continue
        index = len(found) + 1
        what = f"image {index} on page {page_number}"
        budget.count_image()
        budget.check(width, height, what)
        _check_decodes(obj, width, height, budget.name, what)
        try:
            bitmap = obj.get_bitmap(render=True)
        except pdfium.PdfiumError:
            raise LoadError(budget.name, f"corrupt PDF: {what} cannot be decoded") from None
        pixels = _rgb(bitmap.to_pil())
        del bitmap  # freed now, while pdfium is held
        # Turned images render larger than their native size: the render is what is held.
        budget.take(pixels.width, pixels.height, what)
        to_page = geometry.then(geometry.box_to_box(pixels.width, pixels.height, BBox(*obj.get_bounds())),
                                _container_matrix(obj))
        found.append(ExtractedImage(pixels=pixels, index=index, to_page=to_page,
                                    bbox=geometry.map_box(to_page, BBox(0, 0, pixels.width, pixels.height))))
    return found


def check_images_decode(page: pdfium.PdfPage, page_number: int, name: str, settings: Settings) -> None:
    """For a page read through its render: refuse it when an image it draws is damaged (the
    render would show it padded with black). Images over ``max_pixels`` are not decoded to check."""
    index = 0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)):
        width, height = obj.get_px_size()
        if width < MIN_IMAGE_SIDE or height < MIN_IMAGE_SIDE:
            continue
        index += 1
        if width * height <= settings.max_pixels:
            _check_decodes(obj, width, height, name, f"image {index} on page {page_number}")


def render_page(page: pdfium.PdfPage, dpi: float, settings: Settings) -> tuple[Any, Affine]:
    """The page as displayed (its rotation applied) at ``dpi`` or less, so that it stays within
    ``max_pixels``, and the map from its pixels to page points."""
    width, height = page.get_size()
    scale = dpi / 72.0
    if width * height * scale * scale > settings.max_pixels:
        scale = math.sqrt(settings.max_pixels / (width * height))
    # Annotations and form fields are not part of the document (their text is not read).
    image = _rgb(page.render(scale=scale, draw_annots=False, may_draw_forms=False).to_pil())
    return image, device_to_page(page, image.width, image.height)


def device_to_page(page: pdfium.PdfPage, width: int, height: int, rotation: int = 0) -> Affine:
    """The map from the pixels of a ``width`` × ``height`` render to page points; ``rotation``
    is the one the render was asked for (degrees, on top of the page's own)."""
    x, y = ctypes.c_double(), ctypes.c_double()

    def point(device_x: int, device_y: int) -> tuple[float, float]:
        pdfium_c.FPDF_DeviceToPage(page.raw, 0, 0, width, height, rotation // 90 % 4, device_x, device_y,
                                   ctypes.byref(x), ctypes.byref(y))
        return x.value, y.value

    ox, oy = point(0, 0)
    rx, ry = point(width, 0)
    dx, dy = point(0, height)
    return ((rx - ox) / width, (ry - oy) / width, (dx - ox) / height, (dy - oy) / height, ox, oy)


def _container_matrix(obj: pdfium.PdfObject) -> Affine:
    """The map from the space an object is drawn in to the page: the matrices of the form
    XObjects around it, innermost first."""
    matrix = geometry.IDENTITY
    container = obj.container
    while container is not None:
        m = container.get_matrix()
        matrix = geometry.then(matrix, (m.a, m.b, m.c, m.d, m.e, m.f))
        container = container.container
    return matrix


def _check_decodes(obj: pdfium.PdfImage, width: int, height: int, name: str, what: str) -> None:
    """Refuse an image whose data is damaged: pdfium cannot decode it, or (for filters it
    decodes in full) the decoded data is shorter than the image."""
    try:
        obj.get_bitmap(render=False)  # dropped at once, so pdfium frees it while the lock is held
    except pdfium.PdfiumError:
        raise LoadError(name, f"corrupt PDF: {what} cannot be decoded") from None
    filters = obj.get_filters()
    if not all(f in _SIMPLE_FILTERS for f in filters):
        return
    try:
        bits = obj.get_metadata().bits_per_pixel
    except pdfium.PdfiumError:
        return
    expected = (width * bits + 7) // 8 * height
    if bits and len(obj.get_data(decode_simple=True)) < expected:
        raise LoadError(name, f"corrupt PDF: the data of {what} is truncated or damaged")


def _rgb(image: Any) -> Any:
    """RGB, with transparency flattened onto white (as the page shows it)."""
    from docveil.stages.redact.image import rgb_without_metadata

    return rgb_without_metadata(image)
