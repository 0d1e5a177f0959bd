"""Media-type sniffing: content first, the file name only for text.

A file's extension is a claim, its bytes are the fact. Binary formats are recognised by their
signature wherever they come from (a PDF named ``.txt`` is a PDF). Text is recognised by the
absence of binary bytes, and only then does the extension choose between plain text,
Markdown and HTML. A file named ``.pdf`` that holds text is therefore text. (The image loader
alone refuses an image whose name promises another kind of document; see ``load.image``.)
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import PurePath

OCTET_STREAM = "application/octet-stream"
EMAIL = "message/rfc822"

# How much of the head of a file the text heuristics look at.
_SAMPLE_BYTES = 8192
# Acrobat accepts the %PDF- header anywhere in the first 1024 bytes, and so does pdfium.
_PDF_HEADER_WINDOW = 1024
# Share of control bytes above which content is taken for binary.
_MAX_CONTROL_RATIO = 0.10

# Byte-order marks and the codec that decodes (and drops) each.
TEXT_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Signatures at offset 0 that are long and specific enough to trust alone.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),
    (b"MM\x00+", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"PK\x07\x08", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"\x28\xb5\x2f\xfd", "application/zstd"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"\x7fELF", "application/x-elf"),
    (b"\xca\xfe\xba\xbe", "application/java-vm"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (b"{\\rtf", "application/rtf"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
)

_ZIP_KINDS: tuple[tuple[str, str], ...] = (
    ("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)

_DESCRIPTIONS: dict[str, str] = {
    "application/pdf": "a PDF document",
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "image/gif": "a GIF image",
    "image/webp": "a WebP image",
    "image/tiff": "a TIFF image",
    "image/bmp": "a BMP image",
    "image/heic": "a HEIC image",
    "image/avif": "an AVIF image",
    "image/svg+xml": "an SVG image",
    "image/vnd.microsoft.icon": "an icon image",
    "application/zip": "a ZIP archive",
    "application/gzip": "a gzip archive",
    "application/x-bzip2": "a bzip2 archive",
    "application/x-xz": "an xz archive",
    "application/zstd": "a zstd archive",
    "application/x-7z-compressed": "a 7-Zip archive",
    "application/vnd.rar": "a RAR archive",
    "application/x-elf": "an ELF executable",
    "application/x-msdownload": "a Windows executable",
    "application/java-vm": "a Java class file",
    "application/x-ole-storage": "a legacy Microsoft Office (OLE) file",
    "application/vnd.sqlite3": "an SQLite database",
    "application/rtf": "an RTF document",
    "application/epub+zip": "an EPUB book",
    "application/vnd.oasis.opendocument.text": "an OpenDocument text",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "a Word (.docx) document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "an Excel (.xlsx) workbook",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "a PowerPoint (.pptx) deck",
    "audio/ogg": "an Ogg audio file",
    "audio/flac": "a FLAC audio file",
    "audio/mpeg": "an MP3 audio file",
    "audio/wav": "a WAV audio file",
    "video/mp4": "an MP4/QuickTime video",
    "video/x-msvideo": "an AVI video",
    "text/plain": "plain text",
    "text/markdown": "Markdown text",
    "text/html": "an HTML page",
    "message/rfc822": "an email message",
}

_TEXT_SUFFIXES: dict[str, str] = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "text/html",
}

_HEADER = re.compile(r"([!-9;-~]+):")
_MAIL_HEADERS = frozenset({"from", "to", "cc", "subject", "date", "mime-version", "message-id", "received",
                           "return-path", "delivered-to", "reply-to", "content-type", "x-mailer"})
_ONLY_MAIL_HEADERS = frozenset({"from", "mime-version", "message-id", "received", "return-path", "delivered-to"})

# Bytes that do not occur in text: C0 controls other than \t \n \v \f \r and ESC, plus DEL.
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)) + b"\x7f"


def sniff_media_type(data: bytes, name: str) -> str:
    """The media type of ``data``: by signature, then text heuristics, then ``name``'s extension.

    Returns ``application/octet-stream`` for binary content of no known format.
    """
    if not data:
        return OCTET_STREAM
    binary = _binary_type(data)
    if binary is not None:
        return binary
    head = _text_head(data)
    if head is None:
        return OCTET_STREAM
    markup = _markup_type(head)
    if markup is not None:
        return markup
    if _is_email(head, named_eml=PurePath(name).suffix.lower() == ".eml"):
        return EMAIL
    return _TEXT_SUFFIXES.get(PurePath(name).suffix.lower(), "text/plain")


def describe_media_type(media_type: str) -> str:
    """Words for a media type, for error messages: ``"a PNG image"``."""
    if media_type in _DESCRIPTIONS:
        return _DESCRIPTIONS[media_type]
    return "an unrecognised binary format" if media_type == OCTET_STREAM else f"{media_type} content"


def is_text_media_type(media_type: str) -> bool:
    return media_type.startswith("text/")


def _binary_type(data: bytes) -> str | None:
    pdf_at = data.find(b"%PDF-", 0, _PDF_HEADER_WINDOW)
    # A later header counts only behind binary junk (e.g. a mail or MacBinary wrapper), so a
    # text file that merely talks about "%PDF-" stays text.
    if pdf_at == 0 or (pdf_at > 0 and (not data[:pdf_at].strip() or _looks_binary(data[:pdf_at]))):
        return "application/pdf"
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return _refine_zip(data) if media_type == "application/zip" else media_type
    if data[:4] == b"RIFF" and len(data) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(data[8:12])
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"):
            return "image/heic"
        return "image/avif" if brand in (b"avif", b"avis") else "video/mp4"
    if _is_bmp(data):
        return "image/bmp"
    if data[:3] == b"BZh" and data[3:4].isdigit() and data[4:10] == b"1AY&SY":
        return "application/x-bzip2"
    if data[:3] == b"ID3" and data[3:4] in (b"\x02", b"\x03", b"\x04"):
        return "audio/mpeg"
    if _is_windows_executable(data):
        return "application/x-msdownload"
    return None


def _refine_zip(data: bytes) -> str:
    """Office documents and EPUBs are ZIP archives; their member names tell them apart."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                with archive.open("mimetype") as member:  # inflate no more than its first bytes
                    declared = member.read(100).decode("ascii", "replace").strip()
                if declared in _DESCRIPTIONS:
                    return declared
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, NotImplementedError):
        return "application/zip"
    if "[Content_Types].xml" in names:
        for prefix, media_type in _ZIP_KINDS:
            if any(member.startswith(prefix) for member in names):
                return media_type
    return "application/zip"


def _is_bmp(data: bytes) -> bool:
    # "BM" alone would catch text that starts with those letters: also check the header sizes.
    if len(data) < 26 or data[:2] != b"BM" or data[6:10] != b"\x00\x00\x00\x00":
        return False
    return int.from_bytes(data[14:18], "little") in (12, 16, 40, 52, 56, 64, 108, 124)


def _is_windows_executable(data: bytes) -> bool:
    if len(data) < 64 or data[:2] != b"MZ":
        return False
    offset = int.from_bytes(data[60:64], "little")
    return data[offset:offset + 4] == b"PE\x00\x00"


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > _MAX_CONTROL_RATIO * len(sample)


def _text_head(data: bytes) -> str | None:
    """The start of the text, decoded leniently for markup checks; None if it is not text."""
    sample = data[:_SAMPLE_BYTES]
    for bom, encoding in TEXT_BOMS:
        if sample.startswith(bom):
            # UTF-16/32 are full of NUL bytes: judge their decoded characters instead.
            head = sample.decode(encoding, errors="replace")
            controls = sum(1 for ch in head if ord(ch) < 32 and ch not in "\t\n\v\f\r\x1b")
            return None if controls > _MAX_CONTROL_RATIO * max(len(head), 1) else head
    if _looks_binary(sample):
        return None
    # latin-1 maps every byte, so markup tags read the same whatever the real encoding is.
    return sample.decode("latin-1")


def _markup_type(head: str) -> str | None:
    """HTML or SVG, recognised by an unmistakable opening; fragments are left to the extension."""
    text = head.lstrip("\ufeff \t\r\n\f").lower()
    while True:
        if text.startswith("<!--"):
            end = text.find("-->")
            if end < 0:
                return None
            text = text[end + 3:].lstrip(" \t\r\n\f")
        elif text.startswith("<?xml"):
            end = text.find("?>")
            if end < 0:
                return None
            text = text[end + 2:].lstrip(" \t\r\n\f")
        else:
            break
    if text.startswith("<!doctype html") or _starts_with_tag(text, "html"):
        return "text/html"
    if text.startswith("<!doctype svg") or _starts_with_tag(text, "svg"):
        return "image/svg+xml"
    return None


def _is_email(head: str, *, named_eml: bool) -> bool:
    """An RFC 822 header block opens the text: every line up to the first blank one is a header
    (or a folded continuation), with at least two headers that mail carries and one that only
    mail carries (so a note that starts with "Subject:" stays text). Behind a ``.eml`` name any
    header block will do; text without one stays text whatever its name."""
    names: set[str] = set()
    lines = head.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    if len(lines) < 2 or not _HEADER.match(lines[0]):
        return False
    for line in lines[:-1]:  # the last line may be cut off by the sample
        if not line:
            break
        if line[0] in " \t":
            continue
        match = _HEADER.match(line)
        if match is None:
            return False
        names.add(match.group(1).lower())
    if named_eml:
        return bool(names)
    return len(names & _MAIL_HEADERS) >= 2 and bool(names & _ONLY_MAIL_HEADERS)


def _starts_with_tag(text: str, tag: str) -> bool:
    opening = "<" + tag
    return text.startswith(opening) and text[len(opening):len(opening) + 1] in (">", " ", "\t", "\n", "\r", "\f", "/")
