"""A PDF's compressed streams, measured before pdfium inflates them.

pdfium inflates a page's content stream whole when it reads the page, with no limit: a few
kilobytes of Flate data can hold gigabytes of drawing operators (a decompression bomb). Every
Flate stream that is not an image is inflated here first, a block at a time and kept nowhere,
and their total is held to ``max_unpacked_bytes``. Images are left out: they are decoded one at
a time within the pixel limits. Streams of an encrypted PDF cannot be measured before pdfium
decrypts them and pass unmeasured.
"""

from __future__ import annotations

import re
import zlib

from docveil.config import Settings
from docveil.errors import LimitExceededError
from docveil.stages.load.source import format_size
from docveil.types import Source

_STREAM = re.compile(rb"(?<!end)stream\r?\n")
_IMAGE = re.compile(rb"/Subtype\s*/Image\b")
_OBJECT = re.compile(rb"\d\s+\d+\s+obj\b")
_DICTIONARY_WINDOW = 4096  # how far before "stream" its object starts, at most
_FEED = 1 << 16
_STEP = 1 << 20


def check_stream_inflation(source: Source, settings: Settings) -> None:
    """Raise ``LimitExceededError`` when the PDF's non-image Flate streams inflate past
    ``max_unpacked_bytes``; data that is no Flate stream is not counted."""
    data = memoryview(source.data)
    limit = settings.max_unpacked_bytes
    total = 0
    for match in _STREAM.finditer(source.data):
        if _is_image(source.data, match.start()):
            continue
        total += _inflated_size(data, match.end(), limit - total)
        if total > limit:
            raise LimitExceededError(
                source.name, f"PDF streams unpack to more than {format_size(limit)} (max_unpacked_bytes): "
                             "a decompression bomb or an oversized document")


def _is_image(data: bytes, stream_at: int) -> bool:
    window = data[max(0, stream_at - _DICTIONARY_WINDOW):stream_at]
    objects = list(_OBJECT.finditer(window))
    dictionary = window[objects[-1].end():] if objects else window
    return _IMAGE.search(dictionary) is not None


def _inflated_size(data: memoryview, start: int, budget: int) -> int:
    """How many bytes the zlib stream at ``start`` inflates to (counting stops past ``budget``):
    0 when no zlib stream starts there."""
    inflater = zlib.decompressobj()
    inflated = 0
    position = start
    pending: bytes | memoryview = b""
    try:
        while inflated <= budget and not inflater.eof:
            if not pending:
                if position >= len(data):
                    break
                pending = data[position:position + _FEED]
                position += len(pending)
            inflated += len(inflater.decompress(pending, _STEP))
            pending = inflater.unconsumed_tail
    except zlib.error:
        pass  # not Flate data (nothing inflated), or damaged where pdfium stops too
    return inflated
