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

# "stream", blanks a writer may leave, then the end of line pdfium accepts (CR LF, CR or LF).
_STREAM = re.compile(rb"(?<!end)stream[ \t\f\x00]*(?:\r\n|\r|\n)")
_IMAGE = re.compile(rb"/Subtype\s*/Image\b")
_DICTIONARY_WINDOW = 4096  # how far before "stream" its object starts, at most
_FEED = 1 << 16
_STEP = 1 << 20


def check_stream_inflation(source: Source, settings: Settings) -> None:
    """Raise ``LimitExceededError`` when the PDF's non-image Flate streams inflate past
    ``max_unpacked_bytes``; data that is no Flate stream is not counted."""
    data = memoryview(source.data)
    limit = settings.max_unpacked_bytes
    total = 0
    measured_to = 0  # "stream" inside data already measured is a byte of that data
    previous = 0  # a stream's dictionary is after the stream keyword before it
    for match in _STREAM.finditer(source.data):
        skip = match.start() < measured_to or _is_image(source.data, max(previous, measured_to), match.start())
        previous = match.end()
        if skip:
            continue
        inflated, measured_to = _inflated_size(data, match.end(), limit - total)
        total += inflated
        if total > limit:
            raise LimitExceededError(
                source.name, f"PDF streams unpack to more than {format_size(limit)} (max_unpacked_bytes): "
                             "a decompression bomb or an oversized document")


def _is_image(data: bytes, not_before: int, stream_at: int) -> bool:
    """Whether the dictionary before ``stream_at`` (from its object's "obj") is an image's."""
    window_start = max(not_before, stream_at - _DICTIONARY_WINDOW)
    object_at = data.rfind(b"obj", window_start, stream_at)
    return _IMAGE.search(data, object_at + 3 if object_at >= 0 else window_start, stream_at) is not None


def _inflated_size(data: memoryview, start: int, budget: int) -> tuple[int, int]:
    """How many bytes the zlib stream at ``start`` inflates to (counting stops past ``budget``;
    0 when no zlib stream starts there), and where its compressed data ends."""
    if len(data) - start < 2 or data[start] & 0x0F != 8 or (data[start] << 8 | data[start + 1]) % 31:
        return 0, start  # no zlib header (RFC 1950): not Flate data
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
    return inflated, position - len(pending) - len(inflater.unused_data)
