"""Frozen dataclasses that cross stage boundaries.

Un-redacted content (``Document``) and redacted content (``RedactedDocument``, ``Chunk``,
``RedactedText``) are distinct types: encoders and stores accept only the latter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class BBox:
    """An axis-aligned box on a page: PDF points for PDFs (origin bottom-left), pixels for images."""

    x0: float
    y0: float
    x1: float
    y1: float

    def union(self, other: BBox) -> BBox:
        return BBox(min(self.x0, other.x0), min(self.y0, other.y0),
                    max(self.x1, other.x1), max(self.y1, other.y1))

    def as_list(self) -> list[float]:
        return [self.x0, self.y0, self.x1, self.y1]

    @staticmethod
    def enclosing(boxes: Sequence[BBox | None]) -> BBox | None:
        result: BBox | None = None
        for box in boxes:
            if box is not None:
                result = box if result is None else result.union(box)
        return result


@dataclass(frozen=True)
class Principal:
    """Who is asking: every read and write is done for a principal."""

    tenant: str
    user: str
    roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.tenant or not self.user:
            raise ValueError("a Principal needs a tenant and a user")
        check_name(self.tenant, "the tenant")
        check_name(self.user, "the user")
        object.__setattr__(self, "roles", _names(self.roles, "roles"))


@dataclass(frozen=True)
class Source:
    """Raw input handed to loaders: its name, bytes and sniffed media type."""

    name: str
    data: bytes = field(repr=False)  # NOT redacted
    media_type: str


@dataclass(frozen=True)
class OcrWord:
    """One word read from an image: its text (NOT redacted), pixel box and confidence (0-100).

    Words with the same ``line`` sit on one text line; ``block`` groups lines into paragraphs.
    """

    text: str = field(repr=False)
    box: BBox
    confidence: float
    line: int = 0
    block: int = 0


@dataclass(frozen=True)
class PageImage:
    """The pixels of one image page, NOT redacted: a ``PIL.Image.Image`` in RGB mode with EXIF
    orientation applied and no metadata. ``words`` is its OCR (None when OCR did not run).
    Treat ``pixels`` as read-only."""

    pixels: Any = field(repr=False, compare=False)
    width: int
    height: int
    words: tuple[OcrWord, ...] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Region:
    """A detected image region that holds personal data: a pixel box (origin top-left), never
    the content. ``label`` is ``FACE``, ``LICENSE_PLATE`` or a text entity type."""

    label: str
    box: BBox
    score: float
    detector: str


Affine = tuple[float, float, float, float, float, float]
"""``(a, b, c, d, e, f)``: maps ``(x, y)`` to ``(a*x + c*y + e, b*x + d*y + f)``."""


@dataclass(frozen=True)
class PlacedImage:
    """An image drawn on a page (a picture in a PDF or a Word file, or the render of a scanned
    PDF page), NOT redacted. ``to_page`` maps its pixel coordinates (origin top-left) to page
    coordinates and ``bbox`` is the page box it covers; both None where the format has no
    layout. ``kind`` is ``"embedded"``, or ``"render"`` for a whole-page render whose OCR text
    is already the page's text."""

    image: PageImage = field(repr=False)
    index: int
    kind: str = "embedded"
    to_page: Affine | None = None
    bbox: BBox | None = None
    text_start: int | None = None
    """Where the image's OCR text (``ocr.page_text`` of its words) starts in the page text;
    None when it is not part of it (no text read, or a text layer already covers the image)."""


@dataclass(frozen=True)
class Page:
    """One page of a loaded document; ``char_boxes`` has one entry per character of ``text``.

    An image page carries ``image``; its ``text`` is the OCR text and its ``char_boxes`` are
    pixel boxes."""

    number: int
    text: str = field(repr=False)  # NOT redacted
    char_boxes: tuple[BBox | None, ...] | None = field(default=None, repr=False)
    width: float | None = None
    height: float | None = None
    image: PageImage | None = field(default=None, repr=False, compare=False)
    placed_images: tuple[PlacedImage, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class Document:
    """A loaded, NOT yet redacted document. Never reaches an encoder or a store."""

    source: str
    media_type: str
    pages: tuple[Page, ...]
    content_hash: str
    metadata: Mapping[str, str] = field(default_factory=dict, repr=False)  # NOT redacted
    personal_values: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # NOT redacted
    """(entity type, value) pairs the loader knows to be personal data, such as the names and
    addresses in an email's From and Cc or a Word file's author: redacted wherever the document
    names them, whatever the detectors find."""

    @property
    def page_count(self) -> int:
        return len(self.pages)


@dataclass(frozen=True)
class Finding:
    """A detected PII span in one page's text. Holds positions, never the value."""

    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str
    page: int = 1


@dataclass(frozen=True)
class RedactionRecord:
    """One line of the redaction manifest: what was replaced, where, by whom. No values."""

    entity_type: str
    page: int
    start: int
    end: int
    redacted_start: int
    redacted_end: int
    recognizer: str
    score: float
    operator: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type, "page": self.page,
            "start": self.start, "end": self.end,
            "redacted_start": self.redacted_start, "redacted_end": self.redacted_end,
            "recognizer": self.recognizer, "score": round(self.score, 4),
            "operator": self.operator,
        }


@dataclass(frozen=True)
class PseudonymEntry:
    """A pseudonym and the value it stands for; the value is only ever stored encrypted."""

    token: str
    digest: str
    entity_type: str
    value: str = field(repr=False)


@dataclass(frozen=True)
class RedactedText:
    """Text that went through redaction. The only text type encoders and stores accept."""

    text: str


@dataclass(frozen=True)
class RegionRecord:
    """One line of an image's redaction manifest: which box was redacted, why, how. No pixels."""

    label: str
    page: int
    box: BBox
    detector: str
    score: float
    operator: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "region", "label": self.label, "page": self.page,
            "box": [round(v, 1) for v in self.box.as_list()], "detector": self.detector,
            "score": round(self.score, 4), "operator": self.operator,
        }


@dataclass(frozen=True)
class RedactedImage:
    """An image after redaction; the only image type encoders and stores accept.

    ``pixels`` is a new ``PIL.Image.Image`` (RGB, no metadata) with every region in ``regions``
    blurred, pixelated or filled; encode it with ``docveil.stages.redact.image.encode_image``.
    ``text`` is the redacted OCR text; ``char_boxes`` has one pixel box per character of it.
    ``manifest`` and ``pseudonyms`` are those of the text, as for a text page."""

    pixels: Any = field(repr=False, compare=False)
    width: int
    height: int
    page: int
    regions: tuple[RegionRecord, ...]
    text: RedactedText
    char_boxes: tuple[BBox | None, ...]
    manifest: tuple[RedactionRecord, ...] = ()
    pseudonyms: tuple[PseudonymEntry, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class RedactedPlacedImage:
    """A ``PlacedImage`` after redaction: the same placement, redacted pixels and text."""

    image: RedactedImage = field(repr=False)
    index: int
    kind: str = "embedded"
    to_page: Affine | None = None
    bbox: BBox | None = None


@dataclass(frozen=True)
class RedactedPage:
    number: int
    text: RedactedText
    char_boxes: tuple[BBox | None, ...] | None = None
    width: float | None = None
    height: float | None = None
    image: RedactedImage | None = field(default=None, repr=False, compare=False)
    placed_images: tuple[RedactedPlacedImage, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class RedactedDocument:
    """A document after redaction: redacted pages, a value-free manifest, and vault entries.

    ``source`` is the name the document was loaded under, as given. ``redacted_source`` and
    ``metadata`` are its name and metadata values with personal data redacted
    (``stages.redact.fields``): what is stored and shown to readers; empty until then."""

    source: str
    media_type: str
    pages: tuple[RedactedPage, ...]
    content_hash: str
    tenant: str
    manifest: tuple[RedactionRecord, ...]
    pseudonyms: tuple[PseudonymEntry, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict, repr=False)
    regions: tuple[RegionRecord, ...] = ()
    redacted_source: str = ""

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def text(self) -> str:
        return "\n\n".join(page.text.text for page in self.pages)

    def pictures(self) -> tuple[Picture, ...]:
        """Every redacted picture, page by page: the page's own image (an image file, a photo),
        then the pictures placed on it (scanned-page renders, embedded pictures)."""
        found: list[Picture] = []
        for page in self.pages:
            if page.image is not None:
                found.append(Picture(len(found), page.number, "page", None, page.image))
            for placed in page.placed_images:
                found.append(Picture(len(found), page.number, placed.kind, placed.bbox, placed.image))
        return tuple(found)


@dataclass(frozen=True)
class Chunk:
    """A piece of redacted text with its page and box, ready to encode and store."""

    ordinal: int
    text: RedactedText
    page: int
    start: int
    end: int
    bbox: BBox | None = None


@dataclass(frozen=True)
class Picture:
    """A redacted picture of a document, as image search indexes it.

    ``kind`` is ``page`` for an image file or a photo, ``render`` for a scanned PDF page, or
    the kind of a picture placed on a page (``embedded``); ``bbox`` is its place on the page in
    page units, when it has one."""

    ordinal: int
    page: int
    kind: str
    bbox: BBox | None
    image: RedactedImage = field(repr=False, compare=False)


@dataclass(frozen=True)
class Hit:
    """One search result: where it comes from and the redacted text."""

    document_id: str
    chunk_id: int
    source: str
    page: int
    bbox: BBox | None
    score: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id, "chunk_id": self.chunk_id,
            "source": self.source, "page": self.page,
            "bbox": self.bbox.as_list() if self.bbox else None,
            "score": round(self.score, 6), "text": self.text,
        }


@dataclass(frozen=True)
class ImageHit:
    """One image search result: which picture of which document, where, and how close
    (cosine similarity). The pixels are not stored; ``redact`` the source to see them."""

    document_id: str
    image_id: int
    source: str
    page: int
    kind: str
    bbox: BBox | None
    width: int
    height: int
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id, "image_id": self.image_id, "source": self.source,
            "page": self.page, "kind": self.kind, "bbox": self.bbox.as_list() if self.bbox else None,
            "width": self.width, "height": self.height, "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class IngestedDocument:
    document_id: str
    source: str
    pages: int
    chunks: int
    findings: int
    duplicate: bool = False
    images: int = 0
    """Pictures embedded for image search (0 without an image encoder)."""
    kept_acl: Acl | None = None
    """For a duplicate stored with other readers than the ingest asked: the ACL it keeps.
    Ingesting the same content again changes no ACL (``Engine.set_acl`` does)."""


@dataclass(frozen=True)
class DocumentInfo:
    """A stored document as its readers see it (metadata decrypted)."""

    document_id: str
    source: str
    media_type: str
    pages: int
    chunks: int
    findings: int
    owner: str
    acl: Acl
    metadata: Mapping[str, str]
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id, "source": self.source, "media_type": self.media_type,
            "pages": self.pages, "chunks": self.chunks, "findings": self.findings, "owner": self.owner,
            "acl": {"users": sorted(self.acl.users), "roles": sorted(self.acl.roles)},
            "metadata": dict(self.metadata), "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Failure:
    """A source that could not be processed, and why (no personal data in ``reason``)."""

    source: str
    reason: str
    error: str


@dataclass(frozen=True)
class IngestReport:
    ingested: tuple[IngestedDocument, ...]
    failed: tuple[Failure, ...]

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True, init=False)
class Acl:
    """Who may read a document within its tenant. ``"*"`` in roles means every principal.

    ``Acl()`` is tenant-wide; ``Acl(users={"bob"})`` is Bob alone (roles default to none once
    users are named); ``Acl(users={"bob"}, roles={"hr"})`` is Bob and the ``hr`` role."""

    users: frozenset[str]
    roles: frozenset[str]

    def __init__(self, users: Iterable[str] = (), roles: Iterable[str] | None = None) -> None:
        users = _names(users, "users")
        roles = (frozenset() if users else frozenset({"*"})) if roles is None else _names(roles, "roles")
        if not users and not roles:
            raise ValueError("an ACL must allow at least one user or role")
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "roles", roles)

    def allows(self, principal: Principal) -> bool:
        return principal.user in self.users or bool(self.roles & (principal.roles | {"*"}))


MAX_NAME_CHARS = 256
"""The longest tenant, user or role name: what the audit log records of a principal."""


def _names(values: Iterable[str], what: str) -> frozenset[str]:
    """A set of user or role names; a bare string is refused (it would become its letters)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a collection of names, not a single string: use {{{values!r}}}")
    names = frozenset(values)
    if not all(isinstance(name, str) and name for name in names):
        raise TypeError(f"{what} must be non-empty strings")
    for name in names:
        check_name(name, f"a name in {what}")
    return names


def check_name(name: str, what: str) -> None:
    """Raises ValueError unless ``name`` can name a tenant, user or role (see ``MAX_NAME_CHARS``)."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a string")
    if len(name) > MAX_NAME_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"{what} must be at most {MAX_NAME_CHARS} characters, without control characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (a lone surrogate)") from None


TENANT_WIDE = Acl()


@dataclass(frozen=True)
class Citation:
    """A retrieved passage an answer draws on: where it is, never its text. ``number`` is the
    mark ``[n]`` the answer's text uses for it."""

    document_id: str
    chunk_id: int
    source: str
    page: int
    bbox: BBox | None
    number: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number, "document_id": self.document_id, "chunk_id": self.chunk_id,
            "source": self.source, "page": self.page, "bbox": self.bbox.as_list() if self.bbox else None,
        }


@dataclass(frozen=True)
class Answer:
    """The answer to a question over the documents a principal may read.

    ``text`` went through the output guard (``guarded`` values it redacted); pseudonym tokens in
    it are resolved (``reidentified``) only for principals with the ``reidentify`` role.
    ``citations`` are the passages the text cites as ``[n]``, or every passage the answerer was
    given when it cites none. ``extractive`` is True when the text quotes passages instead of
    being written by a language model. ``redacted_question`` is the question as the answerer
    saw it (personal data replaced by the tenant's tokens).
    """

    text: str
    citations: tuple[Citation, ...]
    model: str
    extractive: bool
    redacted_question: str
    guarded: int = 0
    reidentified: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text, "citations": [c.as_dict() for c in self.citations],
            "model": self.model, "extractive": self.extractive,
            "redacted_question": self.redacted_question, "guarded": self.guarded,
            "reidentified": self.reidentified,
        }


@dataclass(frozen=True)
class AnswerDelta:
    """A streamed piece of an answer, already guarded; the pieces add up to ``Answer.text``."""

    text: str


@dataclass(frozen=True)
class Passage:
    """A retrieved, redacted passage handed to an answerer; ``number`` is its mark ``[n]``.

    No file name: names of files can themselves be personal data."""

    number: int
    text: RedactedText
    page: int


@dataclass(frozen=True)
class AnswerRequest:
    """What an answerer receives: only redacted content (question, passages, image)."""

    question: RedactedText
    passages: tuple[Passage, ...]
    image: RedactedImage | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.question, RedactedText) or not all(
                isinstance(p.text, RedactedText) for p in self.passages):
            raise TypeError("an AnswerRequest takes only RedactedText (redact it first)")
        if self.image is not None and not isinstance(self.image, RedactedImage):
            raise TypeError("an AnswerRequest takes only a RedactedImage (redact it first)")


@dataclass(frozen=True)
class Generation:
    """An answerer's reply: the model that writes it and its text as a stream of pieces."""

    model: str
    pieces: Iterator[str] = field(repr=False, compare=False)
    extractive: bool = False
