"""Redact images: blur, pixelate or fill every detected region, redact the OCR text, and
write a value-free manifest.

``redact_image`` is the whole stage for one picture (a photo, a screenshot, an image embedded
in a PDF, a rendered scan): OCR, region detection by every image detector plugin, PII
detection in the OCR text by every text detector plugin, then redaction of pixels and text.
The engine runs the same steps batched over documents (``redact_image_document``).

Output pixels are a new RGB image built from the redacted array: no EXIF, XMP, ICC profile,
GPS or any other metadata of the input can survive into it.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from docveil.context import StageContext
from docveil.errors import ConfigError, DocveilError
from docveil.files import write_whole
from docveil.protocols import Operator
from docveil.stages.combine import detect_texts, redaction_operators
from docveil.stages.detect.ocr import ocr_image, page_text
from docveil.stages.detect.overlaps import resolve_overlaps
from docveil.stages.detect.regions import detect_image_regions, text_regions
from docveil.stages.redact.image_operators import (
    IMAGE_OPERATORS,
    OPERATOR_ORDER,
    padded_box,
)
from docveil.stages.redact.pseudonyms import KEY_BYTES, Pseudonymizer
from docveil.stages.redact.text import PSEUDONYM_OPERATOR, redact_document
from docveil.types import (
    Document,
    Finding,
    OcrWord,
    Page,
    PageImage,
    PseudonymEntry,
    RedactedDocument,
    RedactedImage,
    RedactedPage,
    RedactionRecord,
    Region,
    RegionRecord,
)

logger = logging.getLogger(__name__)

# The formats ``encode_image`` writes, by the names PIL knows them under.
OUTPUT_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "tif": "TIFF", "tiff": "TIFF",
                  "bmp": "BMP", "gif": "GIF"}


def rgb_without_metadata(image: Any) -> Any:
    """A new RGB ``PIL.Image.Image`` with the pixels of ``image`` as displayed (EXIF orientation
    applied, transparency flattened onto white) and nothing else: no EXIF, XMP, ICC, text chunks."""
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    elif image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = float(array.max()) or 1.0
        image = Image.fromarray((array * (255.0 / top)).clip(0, 255).astype(np.uint8))
    return Image.fromarray(np.asarray(image.convert("RGB"), dtype=np.uint8).copy(), mode="RGB")


def page_image(image: Any, context: StageContext, *, words: Sequence[OcrWord] | None = None) -> PageImage:
    """``image`` as an un-redacted ``PageImage``, OCR run now unless ``words`` are given or OCR
    is off (``settings.image_ocr``)."""
    pixels = rgb_without_metadata(image)
    if words is None and context.settings.image_ocr:
        words = ocr_image(pixels, context)
    return PageImage(pixels=pixels, width=pixels.width, height=pixels.height,
                     words=tuple(words) if words is not None else None)


def redact_image(image: Any, context: StageContext, *, pseudonymizer: Pseudonymizer | None,
                 page: int = 1, words: Sequence[OcrWord] | None = None) -> RedactedImage:
    """Detect and redact everything personal in one ``PIL.Image.Image``.

    ``pseudonymizer`` is the tenant's (so OCR text gets the same tokens as the tenant's other
    documents); without one, values in the OCR text that would get a pseudonym get a type label
    (``<EMAIL_ADDRESS>``) instead and no vault entries are made. ``page`` is written into the
    manifest. ``words``: OCR already done for this image (skips OCR).
    """
    prepared = page_image(image, context, words=words)
    text, _ = page_text(prepared.words or ())
    findings = detect_texts([text], context)[0] if text.strip() else []
    regions = detect_image_regions([prepared], context)[0]
    operator_for: Callable[[str], str] = context.settings.operator_for
    if pseudonymizer is None:
        # A throwaway key: digests are computed but no pseudonym is ever shown or stored.
        pseudonymizer = Pseudonymizer(os.urandom(KEY_BYTES))
        operator_for = _labels_instead_of_pseudonyms(operator_for)
    return redact_page_image(prepared, findings, regions, context, page=page, pseudonymizer=pseudonymizer,
                             operators=redaction_operators(context), operator_for=operator_for)


def redact_page_image(
    image: PageImage,
    findings: Sequence[Finding],
    regions: Sequence[Region],
    context: StageContext,
    *,
    page: int,
    pseudonymizer: Pseudonymizer,
    operators: Mapping[str, Operator],
    operator_for: Callable[[str], str],
    text: str | None = None,
) -> RedactedImage:
    """Redact one image given what was found in it: ``findings`` in its OCR text (as laid out
    by ``ocr.page_text``) and ``regions`` from the image detectors. ``text``: the page's text
    when it is not that layout itself but a same-length view of it (known values)."""
    words = image.words or ()
    laid_out, boxes = page_text(words)
    if text is None:
        text = laid_out
    elif len(text) != len(laid_out):  # findings would land on other characters than they name
        raise DocveilError(f"page {page}: its text ({len(text)} characters) is not the layout of its OCR "
                           f"words ({len(laid_out)} characters)")
    ocr_page = Page(number=page, text=text, char_boxes=boxes, width=image.width, height=image.height)
    # The text is redacted exactly as a text page would be; the tenant is bound in the pseudonymizer.
    redacted = redact_document(
        Document(source="image", media_type="image", pages=(ocr_page,), content_hash=""), [findings],
        tenant="image", pseudonymizer=pseudonymizer, operators=operators, operator_for=operator_for)
    all_regions = [*regions, *text_regions(words, laid_out, resolve_overlaps(findings))]
    pixels, records = redact_pixels(image.pixels, all_regions, context, page=page)
    text_page = redacted.pages[0]
    return RedactedImage(pixels=pixels, width=image.width, height=image.height, page=page,
                         regions=tuple(records), text=text_page.text,
                         char_boxes=text_page.char_boxes or (), manifest=redacted.manifest,
                         pseudonyms=redacted.pseudonyms)


def redact_pixels(image: Any, regions: Sequence[Region], context: StageContext, *,
                  page: int = 1) -> tuple[Any, list[RegionRecord]]:
    """A redacted copy of ``image`` (RGB, no metadata) and the manifest of what was redacted."""
    from PIL import Image

    settings = context.settings
    pixels = np.array(image.convert("RGB"), dtype=np.uint8)
    height, width = pixels.shape[:2]
    planned = []
    for region in regions:
        name = settings.image_operator_for(region.label)
        if name not in IMAGE_OPERATORS:
            raise ConfigError(f"unknown image redaction operator {name!r} (for {region.label}); "
                              f"known operators: {', '.join(sorted(IMAGE_OPERATORS))}")
        box = padded_box(region.box, settings.image_padding, width, height)
        if box[2] > box[0] and box[3] > box[1]:
            planned.append((region, name, box))
    for _, name, box in sorted(planned, key=lambda item: OPERATOR_ORDER[item[1]]):
        IMAGE_OPERATORS[name](pixels, box)
    records = [RegionRecord(label=region.label, page=page, box=region.box, detector=region.detector,
                            score=float(region.score), operator=name) for region, name, _ in planned]
    return Image.fromarray(pixels, mode="RGB"), records


def redact_image_document(
    document: Document,
    findings: Sequence[Sequence[Finding]],
    regions: Sequence[Sequence[Region]],
    context: StageContext,
    *,
    tenant: str,
    pseudonymizer: Pseudonymizer,
    operators: Mapping[str, Operator],
    operator_for: Callable[[str], str],
) -> RedactedDocument:
    """Redact a document with image pages: ``findings[i]`` are in ``pages[i].text``,
    ``regions[j]`` are those of the j-th page that has an image. Text pages are redacted as text."""
    pages: list[RedactedPage] = []
    manifest: list[RedactionRecord] = []
    records: list[RegionRecord] = []
    vault: dict[str, PseudonymEntry] = {}
    image_regions = iter(regions)
    for page, page_findings in zip(document.pages, findings, strict=True):
        if page.image is None:
            single = redact_document(
                Document(document.source, document.media_type, (page,), document.content_hash), [page_findings],
                tenant=tenant, pseudonymizer=pseudonymizer, operators=operators, operator_for=operator_for)
            pages.extend(single.pages)
            manifest.extend(single.manifest)
            entries: Sequence[PseudonymEntry] = single.pseudonyms
        else:
            redacted = redact_page_image(page.image, page_findings, next(image_regions), context,
                                         page=page.number, pseudonymizer=pseudonymizer, operators=operators,
                                         operator_for=operator_for, text=page.text)
            pages.append(RedactedPage(number=page.number, text=redacted.text, char_boxes=redacted.char_boxes,
                                      width=page.width, height=page.height, image=redacted))
            manifest.extend(redacted.manifest)
            records.extend(redacted.regions)
            entries = redacted.pseudonyms
        for entry in entries:
            vault.setdefault(entry.digest, entry)
    return RedactedDocument(
        source=document.source, media_type=document.media_type, pages=tuple(pages),
        content_hash=document.content_hash, tenant=tenant, manifest=tuple(manifest),
        pseudonyms=tuple(vault.values()), regions=tuple(records))


def encode_image(image: RedactedImage, fmt: str = "png") -> bytes:
    """The redacted pixels encoded as ``fmt`` (png, jpeg, webp, tiff, bmp), with no metadata."""
    try:
        pil_format = OUTPUT_FORMATS[fmt.lower().lstrip(".")]
    except KeyError:
        raise ConfigError(f"cannot write images as {fmt!r}; choose one of {', '.join(sorted(OUTPUT_FORMATS))}") \
            from None
    buffer = io.BytesIO()
    options: dict[str, Any] = {"quality": 92} if pil_format in ("JPEG", "WEBP") else {}
    # Saved from a metadata-free image with no exif/icc/pnginfo arguments: nothing to carry over.
    image.pixels.save(buffer, format=pil_format, **options)
    return buffer.getvalue()


def save_redacted_images(document: RedactedDocument, path: str | os.PathLike[str]) -> None:
    """Write the redacted image pages of ``document`` to ``path`` in the format its suffix names,
    with no metadata; several pages need a TIFF (one frame each)."""
    images = [page.image for page in document.pages if page.image is not None]
    suffix = Path(path).suffix.lower().lstrip(".")
    if not images:
        raise ConfigError(f"{document.source} has no image pages to write as .{suffix}; write its text instead")
    if len(images) > 1 and OUTPUT_FORMATS.get(suffix) != "TIFF":
        raise ConfigError(f"{document.source} has {len(images)} image pages: write them to a .tiff file")
    if len(images) == 1:
        write_whole(path, encode_image(images[0], suffix))
        return
    first, *rest = (image.pixels for image in images)
    buffer = io.BytesIO()
    first.save(buffer, format="TIFF", save_all=True, append_images=rest, compression="tiff_deflate")
    write_whole(path, buffer.getvalue())


def _labels_instead_of_pseudonyms(operator_for: Callable[[str], str]) -> Callable[[str], str]:
    def choose(entity_type: str) -> str:
        name = operator_for(entity_type)
        return "label" if name == PSEUDONYM_OPERATOR else name
    return choose
