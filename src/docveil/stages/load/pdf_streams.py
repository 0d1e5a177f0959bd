"""A PDF's compressed streams, measured before pdfium inflates them.

pdfium inflates a page's content stream whole when it reads the page, with no limit: a few
kilobytes of Flate data can hold gigabytes of drawing operators (a decompression bomb). Every
Flate stream that is not an image is inflated here first, a block at a time and kept nowhere,
and their total is held to ``max_unpacked_bytes``. A stream's dictionary is read as PDF syntax
(comments, strings, nested dictionaries and arrays skipped), so only its own top-level
``/Subtype /Image`` makes it an image, and its ``/Filter`` says how to reach the Flate data
(``[/ASCIIHexDecode /FlateDecode]`` and ``/ASCII85Decode`` are undone first). An image counts
only for what it inflates to beyond its declared size (width x height x colour components x
depth, within ``max_pixels``): a real image never does, and a stream that only calls itself an
image, to be drawn as a page's content, is measured like any other. LZW and run-length streams
are measured the same way, by their decoded length alone (an LZW code stands for a string of
up to 4,096 bytes; a run-length pair for 128): LZW is read with early change (PDF's default)
and, when its codes do not read to the end that way, without it, and the longer count is
taken. Streams of an encrypted PDF cannot be measured before pdfium decrypts them and pass
unmeasured.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Sequence

from docveil.config import Settings
from docveil.errors import LimitExceededError
from docveil.stages.load.source import format_size
from docveil.types import Source

# "stream", blanks a writer may leave, then the end of line pdfium accepts (CR LF, CR or LF).
_STREAM = re.compile(rb"(?<!end)stream[ \t\f\x00]*(?:\r\n|\r|\n)")
# PDF syntax in a stream's dictionary: white space, comments, delimiters, strings, names, other tokens.
_TOKEN = re.compile(rb"[\x00\t\n\f\r ]+|%[^\r\n]*|<<|>>|[\[\]{}]|\(|<[0-9A-Fa-f\s]*>|/[^\x00\t\n\f\r ()<>\[\]{}/%]*"
                    rb"|[^\x00\t\n\f\r ()<>\[\]{}/%]+|.", re.DOTALL)
# "12 0 obj": where an object starts ("obj" inside a name such as /Xobj is no start).
_OBJECT = re.compile(rb"(?<![0-9A-Za-z])\d+[\x00\t\n\f\r ]+\d+[\x00\t\n\f\r ]+obj(?![0-9A-Za-z])")
_NOT_HEX = re.compile(rb"[^0-9A-Fa-f]+")
_SPACE = re.compile(rb"[\x00\t\n\f\r ]+")
_A85 = re.compile(rb"[!-uz]*")
_TEXT_FILTERS = {b"/ASCIIHexDecode": "hex", b"/AHx": "hex", b"/ASCII85Decode": "a85", b"/A85": "a85"}
_FLATE = (b"/FlateDecode", b"/Fl")
_LZW = (b"/LZWDecode", b"/LZW")
_RUN_LENGTH = (b"/RunLengthDecode", b"/RL")
_DICTIONARY_WINDOW = 4096  # how far before "stream" its object starts, at most
_FEED = 1 << 16
_STEP = 1 << 20


def check_stream_inflation(source: Source, settings: Settings) -> None:
    """Raise ``LimitExceededError`` when the PDF's non-image Flate, LZW and run-length streams
    unpack past ``max_unpacked_bytes``; data that is none of them is not counted."""
    data = memoryview(source.data)
    limit = settings.max_unpacked_bytes
    total = 0
    measured_to = 0  # "stream" inside data already measured is a byte of that data
    previous = 0  # a stream's dictionary is after the stream keyword before it
    image_pixels = 0  # declared by the images allowed for so far
    for match in _STREAM.finditer(source.data):
        if match.start() < measured_to:
            continue
        entries = _dictionary(source.data, max(previous, measured_to), match.start())
        previous = match.end()
        # An image may inflate to what its declared size holds; only more than that counts (a
        # stream called an image can still be drawn as a page's content).
        allowance = 0
        if entries.get(b"/Subtype") == b"/Image":
            pixels, allowance = _image_size(entries, settings.max_pixels)
            image_pixels += pixels
            if image_pixels > settings.max_document_pixels:  # more than a document may decode
                allowance = 0
        budget = limit - total + allowance
        decodings, packing = _filters(entries)
        if packing in _LZW or packing in _RUN_LENGTH:
            inflated, measured_to = _decoded_size(data, match.end(), budget, decodings, packing)
        else:
            inflated, measured_to = _inflated_size(data, match.end(), budget, decodings if packing in _FLATE else ())
        total += max(0, inflated - allowance)
        if total > limit:
            raise LimitExceededError(
                source.name, f"PDF streams unpack to more than {format_size(limit)} (max_unpacked_bytes): "
                             "a decompression bomb or an oversized document")


def _dictionary(data: bytes, not_before: int, stream_at: int) -> dict[bytes, bytes | list[bytes]]:
    """The top-level entries of the dictionary before ``stream_at`` (from its object's "obj"):
    a name's value as its token, an array's as its tokens; nested dictionaries are skipped."""
    window_start = max(not_before, stream_at - _DICTIONARY_WINDOW)
    starts = list(_OBJECT.finditer(data, window_start, stream_at))
    position = starts[-1].end() if starts else window_start
    entries: dict[bytes, bytes | list[bytes]] = {}
    depth = 0
    key: bytes | None = None
    array: list[bytes] | None = None
    while position < stream_at:
        token = _TOKEN.match(data, position, stream_at)
        if token is None:
            break
        position = token.end()
        text = token.group(0)
        if text[:1] in b"\x00\t\n\f\r %":
            continue
        if text == b"(":
            position = _string_end(data, position, stream_at)
            text = b"()"
        if text == b"<<":
            depth += 1
            if depth == 2 and array is None:
                key = None  # a nested dictionary is a value, skipped whole
            continue
        if text == b">>":
            depth -= 1
            if depth <= 0:
                break
            continue
        if depth != 1:
            continue
        if text == b"[":
            array = []
            continue
        if array is not None:
            if text == b"]":
                if key is not None:
                    entries[key] = array
                key, array = None, None
            else:
                array.append(text)
            continue
        if key is None:
            key = text if text.startswith(b"/") else None
        else:
            entries[key] = text
            key = None
    return entries


_COMPONENTS = {b"/DeviceGray": 1, b"/G": 1, b"/DeviceRGB": 3, b"/RGB": 3, b"/DeviceCMYK": 4, b"/CMYK": 4}


def _image_size(entries: dict[bytes, bytes | list[bytes]], max_pixels: int) -> tuple[int, int]:
    """The declared pixels of an image and the most it decodes to in bytes (its width, height,
    colour space and depth; a row's predictor byte included); (0, 0) past the pixel limit, or
    without a declared size."""
    try:
        width, height = int(entries[b"/Width"]), int(entries[b"/Height"])  # type: ignore[arg-type]
        bits = min(int(entries.get(b"/BitsPerComponent", b"8")), 16)  # type: ignore[arg-type]
    except (KeyError, ValueError, TypeError):
        return 0, 0
    if width <= 0 or height <= 0 or width * height > max_pixels:
        return 0, 0
    space = entries.get(b"/ColorSpace")
    components = _COMPONENTS.get(space, 4) if isinstance(space, bytes) else 4
    return width * height, height * ((width * components * max(bits, 1) + 7) // 8 + 1)


def _string_end(data: bytes, position: int, end: int) -> int:
    """Where the literal string opened before ``position`` ends (nested parentheses, escapes)."""
    depth = 1
    while position < end and depth:
        byte = data[position]
        if byte == 0x5C:  # a backslash escapes the next byte
            position += 1
        elif byte == 0x28:
            depth += 1
        elif byte == 0x29:
            depth -= 1
        position += 1
    return position


def _filters(entries: dict[bytes, bytes | list[bytes]]) -> tuple[list[str], bytes | None]:
    """The text decodings (hex, ASCII85) a stream's ``/Filter`` puts first, and the filter
    after them (None: none). Data with no Flate filter is measured only if it is zlib data."""
    filters = entries.get(b"/Filter", [])
    names = [filters] if isinstance(filters, bytes) else list(filters)
    decodings: list[str] = []
    for name in names:
        if name not in _TEXT_FILTERS:
            return decodings, name
        decodings.append(_TEXT_FILTERS[name])
    return decodings, None


def _stream_data(data: memoryview, start: int, decodings: Sequence[str]) -> tuple[bytes, int]:
    """The stream's data up to "endstream", hex or ASCII85 text decoded, and where it ends."""
    end = data.obj.find(b"endstream", start)  # type: ignore[attr-defined]
    end = len(data) if end < 0 else end
    packed = bytes(data[start:end])
    for decoding in decodings:
        packed = _decode_text(packed, decoding)
    return packed, end


def _decoded_size(data: memoryview, start: int, budget: int, decodings: Sequence[str],
                  packing: bytes) -> tuple[int, int]:
    """How many bytes the LZW or run-length stream at ``start`` decodes to (counting stops past
    ``budget``), and where its data ends."""
    packed, end = _stream_data(data, start, decodings)
    if packing in _RUN_LENGTH:
        return _run_length_size(packed, budget), end
    size, whole = _lzw_size(packed, budget, 1)
    if not whole:  # read as codes it was not written in: read it without early change as well
        size = max(size, _lzw_size(packed, budget, 0)[0])
    return size, end


def _run_length_size(packed: bytes, budget: int) -> int:
    """RunLengthDecode: a length byte below 128 copies that many bytes and one more, above 128
    repeats the next byte 257 minus it times, 128 ends the data."""
    size = position = 0
    while position < len(packed) and size <= budget:
        length = packed[position]
        if length == 128:
            break
        if length < 128:
            size, position = size + length + 1, position + length + 2
        else:
            size, position = size + 257 - length, position + 2
    return size


def _lzw_size(packed: bytes, budget: int, early_change: int) -> tuple[int, bool]:
    """LZWDecode's output length, from the lengths of its table's strings alone (counting stops
    past ``budget``), and whether the data read as codes to its end (False: a code named no
    string yet). Codes have 9 to 12 bits, most significant bit first; 256 clears the table,
    257 ends the data; each code after the first adds the previous string and one byte. With
    ``early_change`` (PDF's default) a code grows a bit one entry sooner."""
    lengths = [1] * 256 + [0, 0]
    size = buffer = bits = position = 0
    width, previous = 9, 0  # previous: the length of the last string (0 after a clear)
    while size <= budget:
        while bits < width:
            if position >= len(packed):
                return size, True
            buffer, bits, position = (buffer << 8) | packed[position], bits + 8, position + 1
        bits -= width
        code = buffer >> bits
        buffer &= (1 << bits) - 1
        if code == 256:
            del lengths[258:]
            width, previous = 9, 0
            continue
        if code == 257:
            return size, True
        if code < len(lengths):
            length = lengths[code]
        elif code == len(lengths) and previous:  # the entry this code itself adds
            length = previous + 1
        else:
            return size, False  # damaged data, or another code width: decoding stops here
        size += length
        if previous and len(lengths) < 4096:
            lengths.append(previous + 1)
        previous = length
        width = min(12, max(9, (len(lengths) + early_change).bit_length()))
    return size, True  # past the budget


def _inflated_size(data: memoryview, start: int, budget: int, decodings: Sequence[str] = ()) -> tuple[int, int]:
    """How many bytes the zlib stream at ``start`` inflates to (counting stops past ``budget``;
    0 when no zlib stream starts there), and where its compressed data ends. With
    ``decodings``, the stream's data (up to "endstream") is first decoded from hex or ASCII85
    text, which is never longer than the file but for ASCII85's "z" (four bytes each)."""
    if decodings:
        packed, end = _stream_data(data, start, decodings)
        return _inflated_size(memoryview(packed), 0, budget)[0], end
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


def _decode_text(packed: bytes, decoding: str) -> bytes:
    """Hex (to its ">") or ASCII85 (to its "~>") text as bytes, read as pdfium reads it: other
    bytes in hex are skipped, ASCII85 stops at the first byte that is none of its own."""
    if decoding == "hex":
        digits = _NOT_HEX.sub(b"", packed.split(b">", 1)[0])
        return binascii.unhexlify(digits + b"0" * (len(digits) % 2))
    text = _SPACE.sub(b"", packed.split(b"~>", 1)[0]).removeprefix(b"<~")
    text = text[:_A85.match(text).end()]  # type: ignore[union-attr]
    for end in (len(text), len(text) - 1):  # a last group of one character holds no byte
        try:
            return base64.a85decode(text[:end])
        except ValueError:
            continue
    return b""
