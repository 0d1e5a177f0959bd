"""Loader for Word documents (.docx): the text of the body, tables, headers, footers, footnotes,
endnotes and comments, and the pictures, as one page.

A .docx is a ZIP of XML parts. Before a single part is inflated, the archive is checked
against hostile packing (``check_archive``): member count, the sum of the sizes the members
declare (``max_unpacked_bytes``) and each large member's compression ratio; members are then
read with their declared size as a hard cap, so an archive that lies about sizes cannot
inflate further. XML parts are parsed by expat (which resolves no external entity and limits
entity amplification); a part that declares a DTD is refused outright, as Word never writes one.

Layout of the text: headers (each distinct one once), the body, footers, then footnotes,
endnotes and comments, separated by blank lines. Paragraphs end a line; in a table, cells are
separated by a tab and rows end a line. Deleted text of tracked changes and field codes are
left out, as Word shows neither. The core properties give ``metadata`` (title, subject,
author, last_modified_by, keywords, description).

Pictures in PNG, JPEG, GIF, BMP, TIFF or WebP are decoded (within ``max_pixels`` and the
document's pixel budget), OCR'd and kept as ``placed_images`` without a position (a .docx has
no fixed layout); their text follows the document text. A picture in one of these formats that
cannot be decoded fails the document, as in a PDF. Vector pictures (EMF, WMF, SVG) are not
read; ``metadata["pictures_not_read"]`` counts them.
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
import zipfile
import zlib
from pathlib import PurePath
from xml.etree import ElementTree

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError
from docveil.hookspecs import hookimpl
from docveil.stages.load.pictures import Picture, PixelBudget, attach_pictures
from docveil.stages.load.sniff import sniff_media_type
from docveil.stages.load.source import author_values, content_hash, format_size
from docveil.stages.load.text import check_char_count
from docveil.types import Document, Page, Source

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# A Word file has a few dozen parts; tens of thousands is an attack on the central directory.
MAX_MEMBERS = 10_000
# XML compresses 5-20x, rarely 50x; a zip bomb, 1000x. Small members may be as dense as they like.
MAX_RATIO = 100
RATIO_FREE_BYTES = 1 << 20

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_REL_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

_DOCUMENT = "word/document.xml"
_NOTES = ("word/footnotes.xml", "word/endnotes.xml", "word/comments.xml")
_CORE = "docProps/core.xml"
_CORE_FIELDS = {
    "{http://purl.org/dc/elements/1.1/}title": "title",
    "{http://purl.org/dc/elements/1.1/}subject": "subject",
    "{http://purl.org/dc/elements/1.1/}creator": "author",
    "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}lastModifiedBy": "last_modified_by",
    "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}keywords": "keywords",
    "{http://purl.org/dc/elements/1.1/}description": "description",
}
_RASTER_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/bmp", "image/tiff", "image/webp"})


@hookimpl
def docveil_load_document(source: Source, context: StageContext) -> Document | None:
    if source.media_type == MEDIA_TYPE:
        return load_docx(source, context)
    if source.media_type == "application/zip" and PurePath(source.name).suffix.lower() == ".docx":
        # Named .docx but not recognisable as one: say what is wrong with it.
        with _open_archive(source):
            pass
        raise LoadError(source.name, f"not a Word document: the archive has no {_DOCUMENT}")
    return None


def load_docx(source: Source, context: StageContext) -> Document:
    settings = context.settings
    with _open_archive(source) as archive:
        check_archive(archive, source.name, settings)
        names = set(archive.namelist())
        if _DOCUMENT not in names:
            raise LoadError(source.name, f"corrupt Word document: no {_DOCUMENT}")
        reader = _PartReader(archive, source.name)
        relations = reader.relations(_DOCUMENT)
        body, picture_ids = _part_text(reader.xml(_DOCUMENT))
        headers: list[str] = []
        footers: list[str] = []
        read: set[str] = {_DOCUMENT}  # each part once, however many relationships name it
        for kind, target in relations.values():
            if kind in ("header", "footer") and target in names and target not in read:
                read.add(target)
                text, _ = _part_text(reader.xml(target))
                group = headers if kind == "header" else footers
                if text and text not in group:
                    group.append(text)
        notes = [_part_text(reader.xml(name))[0] for name in _NOTES if name in names]
        text = "\n\n".join(part for part in (*headers, body, *footers, *notes) if part)
        check_char_count(source.name, len(text), settings)
        pictures, not_read = _pictures(reader, relations, picture_ids, names, source.name, context)
        metadata = _core_properties(reader, names)
    if not_read:
        metadata["pictures_not_read"] = str(not_read)
    text, _, placed = attach_pictures(text, None, pictures)
    check_char_count(source.name, len(text), settings)
    if not text.strip() and not placed:
        raise LoadError(source.name, "no text content")
    return Document(source=source.name, media_type=MEDIA_TYPE,
                    pages=(Page(number=1, text=text, char_boxes=None, placed_images=placed),),
                    content_hash=content_hash(source.data), metadata=metadata,
                    personal_values=author_values(metadata.get("author", ""), metadata.get("last_modified_by", "")))


def _open_archive(source: Source) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(source.data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise LoadError(source.name, "corrupt Word document: not a readable ZIP archive (truncated or damaged)") \
            from None


def check_archive(archive: zipfile.ZipFile, name: str, settings: Settings) -> None:
    """Refuse an archive that would inflate beyond the limits, from its directory alone."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise LimitExceededError(name, f"archive has {len(members):,} members, over the {MAX_MEMBERS:,} limit")
    total = 0
    for member in members:
        if member.flag_bits & 0x1:
            raise LoadError(name, "encrypted Word document (password required)")
        total += member.file_size
        if total > settings.max_unpacked_bytes:
            raise LimitExceededError(
                name, f"archive unpacks to more than {format_size(settings.max_unpacked_bytes)} "
                      "(max_unpacked_bytes): a zip bomb or an oversized document")
        if member.file_size > RATIO_FREE_BYTES and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise LimitExceededError(
                name, f"archive member compressed more than {MAX_RATIO}:1 ({format_size(member.compress_size)} "
                      f"to {format_size(member.file_size)}): a zip bomb")


# Parts Word names itself; any other part name comes from the document and may name a person.
_STANDARD_PART = re.compile(r"(?:word/(?:document|styles|numbering|settings|footnotes|endnotes|comments|"
                            r"fontTable|webSettings|(?:header|footer)\d*)\.xml|docProps/(?:core|app)\.xml|"
                            r"\[Content_Types\]\.xml|(?:word/)?_rels/[\w.]+\.rels|word/media/image\d+\.\w{1,5})")


def _described(part: str) -> str:
    """A part as an error names it: by its path when Word names parts so, otherwise by its kind."""
    if _STANDARD_PART.fullmatch(part):
        return f"part {part}"
    return "a picture" if part.startswith("word/media/") else "a part"


class _PartReader:
    """Reads parts of a checked archive, never more than each declares."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.archive = archive
        self.name = name

    def bytes(self, part: str) -> bytes:
        info = self.archive.getinfo(part)
        try:
            with self.archive.open(info) as member:
                data = member.read(info.file_size + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            # zlib and CRC errors: a truncated or damaged member.
            raise LoadError(self.name, f"corrupt Word document: {_described(part)} cannot be read (damaged data)") from None
        if len(data) > info.file_size:
            raise LoadError(self.name, f"corrupt Word document: {_described(part)} is larger than its declared size")
        return data

    def xml(self, part: str) -> ElementTree.Element:
        data = self.bytes(part)
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            raise LoadError(self.name, f"corrupt Word document: {_described(part)} declares a DTD, which Word never writes")
        try:
            return ElementTree.fromstring(data)
        except ElementTree.ParseError as exc:
            line, column = exc.position
            raise LoadError(self.name, f"corrupt Word document: {_described(part)} is not well-formed XML "
                                       f"(line {line}, column {column})") from None

    def relations(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (kind, archive path) of ``part``'s internal relationships."""
        folder, base = posixpath.split(part)
        rels = posixpath.join(folder, "_rels", base + ".rels")
        if rels not in self.archive.namelist():
            return {}
        found = {}
        for relation in self.xml(rels).iter(f"{_REL}Relationship"):
            if relation.get("TargetMode") == "External":
                continue  # a link to the outside world: nothing to read, nothing fetched
            kind = relation.get("Type", "").removeprefix(_REL_TYPE)
            target = posixpath.normpath(posixpath.join(folder, relation.get("Target", "")))
            found[relation.get("Id", "")] = (kind, target.lstrip("/"))
        return found


def _part_text(root: ElementTree.Element) -> tuple[str, list[str]]:
    """The visible text of a WordprocessingML part and the relationship ids of its pictures,
    in document order. Walks with an explicit stack: nesting depth is up to the file."""
    out: list[str] = []
    pictures: list[str] = []
    cells = 0
    stack: list[tuple[ElementTree.Element, bool]] = [(root, True)]
    while stack:
        element, entering = stack.pop()
        tag = element.tag
        if entering:
            if tag == _MC_FALLBACK:
                continue  # the same content again, for older readers
            if tag == f"{_W}t" and element.text:
                out.append(element.text)
            elif tag == f"{_W}tab":
                out.append("\t")
            elif tag in (f"{_W}br", f"{_W}cr"):
                out.append("\n")
            elif tag == f"{_W}noBreakHyphen":
                out.append("-")
            elif tag == f"{_A}blip" and element.get(f"{_R}embed"):
                pictures.append(element.get(f"{_R}embed", ""))
            elif tag == f"{_W}tc":
                cells += 1
            stack.append((element, False))
            stack.extend((child, True) for child in reversed(element))
            continue
        if tag == f"{_W}p":
            out.append(" " if cells else "\n")
        elif tag == f"{_W}tc":  # every cell ends with a tab, an empty one too: columns stay in line
            cells -= 1
            _strip_end(out)
            out.append("\t")
        elif tag == f"{_W}tr":
            _strip_end(out)
            if out and out[-1] == "\t":
                out.pop()
            out.append("\n")
    lines = "".join(out).split("\n")
    return "\n".join(line.rstrip(" ") for line in lines).strip("\n"), pictures


def _strip_end(out: list[str]) -> None:
    while out and out[-1] == " ":
        out.pop()


def _pictures(reader: _PartReader, relations: dict[str, tuple[str, str]], picture_ids: list[str], names: set[str],
              name: str, context: StageContext) -> tuple[list[Picture], int]:
    from docveil.stages.load.image import decode_frames
    from docveil.stages.redact.image import page_image

    budget = PixelBudget(name, context.settings)
    pictures = []
    not_read = 0
    seen: set[str] = set()
    for relation_id in picture_ids:
        kind, target = relations.get(relation_id, ("", ""))
        if kind != "image" or target not in names or target in seen:
            continue
        seen.add(target)
        number = len(seen)
        data = reader.bytes(target)
        media_type = sniff_media_type(data, target)
        if media_type not in _RASTER_TYPES:
            not_read += 1
            continue
        budget.count_image()
        try:
            frame = decode_frames(Source(name=name, data=data, media_type=media_type), context.settings,
                                  first_only=True)[0]
        except LoadError as exc:
            error = type(exc)(name, f"picture {number} of the Word document: {exc.reason}")
            raise error from None
        budget.take(frame.width, frame.height, f"picture {number}")
        pictures.append(Picture(page_image(frame, context)))
    return pictures, not_read


def _core_properties(reader: _PartReader, names: set[str]) -> dict[str, str]:
    if _CORE not in names:
        return {}
    metadata = {}
    for element in reader.xml(_CORE):
        key = _CORE_FIELDS.get(element.tag)
        value = (element.text or "").strip()
        if key and value:
            metadata[key] = value
    return metadata
