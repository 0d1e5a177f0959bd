"""Frozen dataclasses that cross stage boundaries.

Un-redacted content (``Document``) and redacted content (``RedactedDocument``, ``Chunk``,
``RedactedText``) are distinct types: encoders and stores accept only the latter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
        object.__setattr__(self, "roles", frozenset(self.roles))


@dataclass(frozen=True)
class Source:
    """Raw input handed to loaders: its name, bytes and sniffed media type."""

    name: str
    data: bytes
    media_type: str


@dataclass(frozen=True)
class Page:
    """One page of a loaded document; ``char_boxes`` has one entry per character of ``text``."""

    number: int
    text: str
    char_boxes: tuple[BBox | None, ...] | None = None
    width: float | None = None
    height: float | None = None


@dataclass(frozen=True)
class Document:
    """A loaded, NOT yet redacted document. Never reaches an encoder or a store."""

    source: str
    media_type: str
    pages: tuple[Page, ...]
    content_hash: str
    metadata: Mapping[str, str] = field(default_factory=dict)

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
class RedactedPage:
    number: int
    text: RedactedText
    char_boxes: tuple[BBox | None, ...] | None = None
    width: float | None = None
    height: float | None = None


@dataclass(frozen=True)
class RedactedDocument:
    """A document after redaction: redacted pages, a value-free manifest, and vault entries."""

    source: str
    media_type: str
    pages: tuple[RedactedPage, ...]
    content_hash: str
    tenant: str
    manifest: tuple[RedactionRecord, ...]
    pseudonyms: tuple[PseudonymEntry, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def text(self) -> str:
        return "\n\n".join(page.text.text for page in self.pages)


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
class IngestedDocument:
    document_id: str
    source: str
    pages: int
    chunks: int
    findings: int
    duplicate: bool = False


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


@dataclass(frozen=True)
class Acl:
    """Who may read a document within its tenant. ``"*"`` in roles means every principal."""

    users: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset({"*"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "users", frozenset(self.users))
        object.__setattr__(self, "roles", frozenset(self.roles))
        if not self.users and not self.roles:
            raise ValueError("an Acl must allow at least one user or role")

    def allows(self, principal: Principal) -> bool:
        return principal.user in self.users or bool(self.roles & (principal.roles | {"*"}))


TENANT_WIDE = Acl()
