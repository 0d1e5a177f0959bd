"""Loader for images (PNG, JPEG, WebP, TIFF, BMP, GIF): one page per image, one per TIFF frame.

Each page carries the pixels (``Page.image``: RGB, EXIF orientation applied, every piece of
metadata dropped) and, as its text, what OCR reads in it, with one pixel box per character.

The pixel count is checked on the size the header declares, before a single pixel is decoded:
the format's own reader is constructed directly (it reads the header only), so PIL's global
decompression-bomb limit plays no part and ``max_pixels`` alone decides. A TIFF's frame count
is checked against ``max_pages`` and every frame's size before any frame is decoded. Damaged
files (truncated data, bad checksums) are refused rather than half decoded.

An image behind a name that promises another kind of document (``scan.pdf``, ``notes.docx``) is
refused: the name is wrong and the sender probably meant something else. Behind a text name it
is left to the usual "binary content, not text" error.
"""

from __future__ import annotations

import importlib
import io
import logging
import zlib
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError, MissingDependencyError
from docveil.hookspecs import hookimpl
from docveil.stages.detect.ocr import page_text
from docveil.stages.load.sniff import describe_media_type
from docveil.stages.load.source import _TEXT_SUFFIXES, content_hash
from docveil.stages.load.text import check_char_count
from docveil.types import Document, Page, Source

logger = logging.getLogger(__name__)

# media type -> (PIL plugin module, image file class): the readers used, and the only ones.
READERS: dict[str, tuple[str, str]] = {
    "image/png": ("PIL.PngImagePlugin", "PngImageFile"),
    "image/jpeg": ("PIL.JpegImagePlugin", "JpegImageFile"),
    "image/webp": ("PIL.WebPImagePlugin", "WebPImageFile"),
    "image/tiff": ("PIL.TiffImagePlugin", "TiffImageFile"),
    "image/bmp": ("PIL.BmpImagePlugin", "BmpImageFile"),
    "image/gif": ("PIL.GifImagePlugin", "GifImageFile"),
}
MEDIA_TYPES = frozenset(READERS)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_MAX_CHUNK = 2**31 - 1

# Names that promise a document of another kind; text names are handled by the source checks.
_OTHER_DOCUMENT_SUFFIXES = frozenset({
    ".pdf", ".doc", ".docx", ".odt", ".rtf", ".msg", ".xls", ".xlsx", ".ods", ".ppt", ".pptx",
    ".odp", ".epub", ".zip",
})


@hookimpl
def docveil_load_document(source: Source, context: StageContext) -> Document | None:
    if source.media_type not in MEDIA_TYPES:
        return None
    suffix = PurePath(source.name).suffix.lower()
    if suffix in _TEXT_SUFFIXES:
        return None
    if suffix in _OTHER_DOCUMENT_SUFFIXES:
        raise LoadError(source.name, f"the content is {describe_media_type(source.media_type)} but the name "
                                     f"says {suffix}; rename it to load it as an image")
    return load_image(source, context)


def load_image(source: Source, context: StageContext) -> Document:
    """Decode, check and OCR every frame of an image source."""
    from docveil.stages.redact.image import page_image

    frames = decode_frames(source, context.settings)
    pages = []
    total_chars = 0
    for number, frame in enumerate(frames, 1):
        image = page_image(frame, context)
        text, boxes = page_text(image.words or ())
        total_chars += len(text)
        check_char_count(source.name, total_chars, context.settings)
        pages.append(Page(number=number, text=text, char_boxes=boxes, width=image.width, height=image.height,
                          image=image))
    return Document(source=source.name, media_type=source.media_type, pages=tuple(pages),
                    content_hash=content_hash(source.data), metadata={"format": source.media_type.split("/")[1]})


def decode_frames(source: Source, settings: Settings, *, first_only: bool = False) -> list[Any]:
    """The decoded frames (PIL images, metadata still attached) of an image source, after the
    frame count and every frame's declared size passed the limits: each frame ``max_pixels``,
    all of them together ``max_document_pixels``. With ``first_only``, only the first frame is
    checked and decoded (a picture in a document shows that one)."""
    kind = describe_media_type(source.media_type).removeprefix("a ").removeprefix("an ")
    if source.media_type == "image/png":
        check_png_chunks(source)
    image = open_image(source)
    frame_count = getattr(image, "n_frames", 1) if source.media_type == "image/tiff" and not first_only else 1
    if frame_count > settings.max_pages:
        raise LimitExceededError(source.name, f"TIFF has {frame_count:,} frames, over the {settings.max_pages:,} "
                                              "page limit (max_pages)")
    pixels = 0
    for index in range(frame_count):
        _seek(image, index, source.name, kind)
        check_pixels(source.name, image.size, settings)
        pixels += image.size[0] * image.size[1]
        if pixels > settings.max_document_pixels:
            raise LimitExceededError(source.name, f"frames hold more than {settings.max_document_pixels:,} pixels "
                                                  "in all, over the document pixel limit (max_document_pixels)")
    if source.media_type == "image/png":
        check_png_rows(source)
    frames = []
    for index in range(frame_count):
        _seek(image, index, source.name, kind)
        try:
            image.load()
            frames.append(image.copy())
        except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
            raise LoadError(source.name, f"corrupt {kind}: {_damage(exc)}") from None
    return frames


def open_image(source: Source) -> Any:
    """The format's reader on ``source.data``: header parsed, no pixel decoded yet."""
    module_name, class_name = READERS[source.media_type]
    try:
        reader = getattr(importlib.import_module(module_name), class_name)
    except ImportError:
        raise MissingDependencyError("loading images", "'docveil[images]'") from None
    kind = describe_media_type(source.media_type).removeprefix("a ").removeprefix("an ")
    _quiet_pillow()
    from PIL import Image

    try:
        return reader(io.BytesIO(source.data), source.name)
    except Image.DecompressionBombError:  # WebP's reader checks the declared size itself
        raise LimitExceededError(source.name, f"{kind} declares more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} "
                                              "pixels, which its reader refuses to decode (max_pixels)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError) as exc:
        raise LoadError(source.name, f"corrupt {kind}: {_damage(exc)}") from None


def _quiet_pillow() -> None:
    """Pillow logs the values of an image's metadata tags at DEBUG (a TIFF's Artist, its
    description): held at INFO, unless the application chose a level for it."""
    pillow_log = logging.getLogger("PIL")
    if pillow_log.level == logging.NOTSET:
        pillow_log.setLevel(logging.INFO)


def check_png_chunks(source: Source) -> None:
    """Verify every chunk's CRC up to IEND: PIL checks only the header's, and decodes damaged
    pixel data silently."""
    for _ in _png_chunks(source):
        pass


def _png_chunks(source: Source) -> Iterator[tuple[bytes, bytes]]:
    """Every chunk's type and data up to IEND, each checked: within the file, CRC intact."""
    data = source.data
    offset = len(_PNG_SIGNATURE)
    while True:
        if offset + 8 > len(data):
            raise LoadError(source.name, "corrupt PNG image: truncated data")
        length = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8]
        end = offset + 8 + length + 4
        if length > _PNG_MAX_CHUNK or end > len(data):
            raise LoadError(source.name, "corrupt PNG image: truncated data")
        stored = int.from_bytes(data[end - 4:end], "big")
        if zlib.crc32(data[offset + 4:end - 4]) != stored:
            name = kind.decode("ascii") if kind.isalpha() else "?"
            raise LoadError(source.name, f"corrupt PNG image: bad checksum in chunk {name} (damaged data)")
        if kind == b"IEND":
            return
        yield kind, data[offset + 8:end - 4]
        offset = end


# Channels by PNG colour type, and the Adam7 passes (x, y, step x, step y) of an interlaced image.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_STEP = 1 << 20


def check_png_rows(source: Source) -> None:
    """Refuse a PNG whose pixel data ends before its last row: PIL stops where the compressed
    stream ends and leaves the rest of the image black. Counts the inflated bytes, a megabyte
    at a time; call it once the declared size passed ``max_pixels``."""
    data = source.data
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    depth, color, interlace = data[24], data[25], data[28]
    bits = depth * _PNG_CHANNELS.get(color, 0)
    if not bits:
        return  # PIL has refused it already
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    expected = 0
    for x, y, step_x, step_y in passes:
        columns, rows = -(-(width - x) // step_x), -(-(height - y) // step_y)
        if columns > 0 and rows > 0:
            expected += rows * (1 + (columns * bits + 7) // 8)
    inflater, inflated = zlib.decompressobj(), 0
    try:
        for kind, chunk in _png_chunks(source):
            while kind == b"IDAT" and chunk and inflated < expected:
                inflated += len(inflater.decompress(chunk, _INFLATE_STEP))
                chunk = inflater.unconsumed_tail
    except zlib.error:
        raise LoadError(source.name, "corrupt PNG image: the data cannot be decoded") from None
    if inflated < expected:
        raise LoadError(source.name, "corrupt PNG image: truncated data (the pixel data ends before the last row)")


def check_pixels(name: str, size: tuple[int, int], settings: Settings) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise LoadError(name, f"corrupt image: declared size {width} x {height}")
    if width * height > settings.max_pixels:
        raise LimitExceededError(name, f"image is {width:,} x {height:,} pixels ({width * height:,}), over the "
                                       f"{settings.max_pixels:,} pixel limit (max_pixels)")


def _seek(image: Any, index: int, name: str, kind: str) -> None:
    try:
        image.seek(index)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise LoadError(name, f"corrupt {kind}: frame {index + 1} cannot be read ({_damage(exc)})") from None


def _damage(exc: BaseException) -> str:
    """What is wrong, in our words: PIL's messages may quote bytes of the file."""
    message = str(exc).lower()
    if "truncated" in message or isinstance(exc, EOFError) or "premature end" in message:
        return "truncated data"
    if "crc" in message or "checksum" in message:
        return "bad checksum (damaged data)"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode it"
    return "the data cannot be decoded"
