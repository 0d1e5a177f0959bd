"""Request and response bodies of the HTTP API: what /openapi.json documents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from docveil.types import (
    Answer,
    Citation,
    DocumentInfo,
    Failure,
    Hit,
    ImageHit,
    IngestedDocument,
    Principal,
    check_name,
)


def storable(value: str) -> bool:
    """Whether PostgreSQL text, and so every record, can hold ``value``: no NUL, and valid
    Unicode (a lone surrogate has no UTF-8 form)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable(value: str) -> str:
    # Refused as invalid input here instead of failing later in the database or the audit log.
    if not storable(value):
        raise ValueError("must not contain NUL characters or lone surrogates")
    return value


# Every string a request carries (bodies, form fields, query parameters). The schema says "no
# NUL" with ``not``, which combines with a field's own pattern. A pattern put on an alias of
# Text is checked but missing from the schema (it comes after the validator): such an alias
# names its constraints first, then STORABLE, as SubjectValue does.
NO_NUL_SCHEMA = {"not": {"pattern": r"\x00"}}
# Holds a character that is not white space as Python's str.strip sees it (the engine's test):
# plain \S differs between regex engines (U+001C-U+001F, U+0085, U+FEFF).
NOT_BLANK = r"[^\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
STORABLE = AfterValidator(_storable)
Text = Annotated[str, STORABLE, Field(json_schema_extra=NO_NUL_SCHEMA)]


def _name(value: str) -> str:
    check_name(value, "a user or role name")
    return value


# A user or role name in an ACL: no control characters (the pattern, which a validator inside
# the annotation would keep out of the schema), valid Unicode, what a Principal accepts.
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"),
                 AfterValidator(_storable), AfterValidator(_name)]


def _json_integer(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer; strict validation alone would refuse it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]


class _Request(BaseModel):
    """A request body: unknown fields are an error (the schema says additionalProperties false),
    and JSON types are taken as they are (no 0 for false, no "5" for 5)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Model(BaseModel):
    """A response body, built field by field from docveil's types."""


# Errors


class FieldError(_Model):
    location: list[str | int] = Field(description="Where in the request: source (body, query, path, header), then the field.")
    message: str


class ErrorDetail(_Model):
    type: str = Field(description="A stable machine-readable kind, e.g. access_denied, load_error, not_found.")
    message: str = Field(description="What went wrong and what to do; never personal data.")
    fields: list[FieldError] | None = Field(default=None, description="For validation errors: each bad field.")


class ErrorResponse(_Model):
    error: ErrorDetail


# Health and identity


class Health(_Model):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]


class Liveness(_Model):
    status: Literal["ok"]


class Me(_Model):
    tenant: str
    user: str
    roles: list[str]
    authenticated_by: Literal["api_key", "jwt"]
    key_id: str | None = Field(default=None, description="The API key's id, when authenticated by one.")

    @classmethod
    def of(cls, principal: Principal, method: Literal["api_key", "jwt"], key_id: str | None) -> Me:
        return cls(tenant=principal.tenant, user=principal.user, roles=sorted(principal.roles),
                   authenticated_by=method, key_id=key_id)


# Documents


class AclBody(_Request):
    """Who may read a document; at least one user or role."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"anyOf": [
        {"required": ["users"], "properties": {"users": {"minItems": 1}}},
        {"required": ["roles"], "properties": {"roles": {"minItems": 1}}},
    ]})
    users: list[Name] = Field(default_factory=list, max_length=1000, description="Users allowed to read.")
    roles: list[Name] = Field(default_factory=list, max_length=1000,
                              description="Roles allowed to read; '*' means everyone in the tenant.")

    @model_validator(mode="after")
    def _not_empty(self) -> AclBody:
        if not self.users and not self.roles:
            raise ValueError("an ACL must allow at least one user or role")
        return self


class IngestedItem(_Model):
    document_id: str = Field(description="Empty for a duplicate that another upload stored at the same moment.")
    source: str
    pages: int
    chunks: int
    findings: int
    duplicate: bool
    images: int = Field(description="Pictures embedded for picture search (0 without an image model).")
    kept_acl: AclBody | None = Field(
        default=None, description="For a duplicate stored before with other readers than this upload asked: the "
                                  "ACL it keeps (an upload changes no ACL; PUT /v1/documents/{id}/acl does).")

    @classmethod
    def of(cls, item: IngestedDocument) -> IngestedItem:
        kept = None if item.kept_acl is None else AclBody(users=sorted(item.kept_acl.users),
                                                          roles=sorted(item.kept_acl.roles))
        return cls(document_id=item.document_id, source=item.source, pages=item.pages, chunks=item.chunks,
                   findings=item.findings, duplicate=item.duplicate, images=item.images, kept_acl=kept)


class FailedItem(_Model):
    source: str = Field(description="The uploaded file's name.")
    reason: str
    error: str = Field(description="The error class, e.g. UnsupportedFormatError.")

    @classmethod
    def of(cls, failure: Failure) -> FailedItem:
        return cls(source=failure.source, reason=failure.reason, error=failure.error)


class IngestResult(_Model):
    ingested: list[IngestedItem]
    failed: list[FailedItem]


class DocumentItem(_Model):
    document_id: str
    source: str
    media_type: str
    pages: int
    chunks: int
    findings: int
    owner: str
    acl: AclBody
    metadata: dict[str, str]
    created_at: str

    @classmethod
    def of(cls, info: DocumentInfo) -> DocumentItem:
        return cls(document_id=info.document_id, source=info.source, media_type=info.media_type, pages=info.pages,
                   chunks=info.chunks, findings=info.findings, owner=info.owner,
                   acl=AclBody(users=sorted(info.acl.users), roles=sorted(info.acl.roles)),
                   metadata={str(k): str(v) for k, v in info.metadata.items()}, created_at=info.created_at)


class DocumentList(_Model):
    documents: list[DocumentItem]


class AclResult(_Model):
    document_id: str
    acl: AclBody


# Redact


class RedactedPageItem(_Model):
    number: int
    text: str


class RedactResult(_Model):
    source: str
    media_type: str
    pages: list[RedactedPageItem]
    text: str
    manifest: list[dict[str, Any]] = Field(description="Each redaction: type, page, offsets or box, recognizer, operator; never the value.")


# Search


class SearchRequest(_Request):
    query: Text = Field(min_length=1, max_length=10_000, pattern=NOT_BLANK, description="Personal data in it is pseudonymised before use.")
    k: JsonInt = Field(default=10, ge=1, le=100)


class HitItem(_Model):
    document_id: str
    chunk_id: int
    source: str
    page: int
    score: float
    text: str = Field(description="The redacted text of the chunk.")
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4,
                                     description="[x0, y0, x1, y1] on the page: PDF points or image pixels.")

    @classmethod
    def of(cls, hit: Hit) -> HitItem:
        return cls(document_id=hit.document_id, chunk_id=hit.chunk_id, source=hit.source, page=hit.page,
                   score=round(hit.score, 6), text=hit.text, bbox=hit.bbox.as_list() if hit.bbox else None)


class SearchResult(_Model):
    hits: list[HitItem]


class PictureHitItem(_Model):
    document_id: str
    image_id: int
    source: str
    page: int
    kind: str = Field(description="page (an image file or photo), render (a scanned PDF page) or embedded "
                                  "(a picture placed on the page).")
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4,
                                     description="[x0, y0, x1, y1] of a placed picture on its page, in PDF points.")
    width: int = Field(description="The picture's width in pixels.")
    height: int = Field(description="The picture's height in pixels.")
    score: float = Field(description="Cosine similarity to the query.")

    @classmethod
    def of(cls, hit: ImageHit) -> PictureHitItem:
        return cls(**hit.as_dict())


class PictureSearchResult(_Model):
    hits: list[PictureHitItem]


# Ask


class AskRequest(_Request):
    question: Text = Field(min_length=1, max_length=10_000, pattern=NOT_BLANK,
                           description="Personal data in it is pseudonymised before any model sees it.")
    k: JsonInt = Field(default=5, ge=1, le=50, description="How many passages the answer may draw on.")


class CitationItem(_Model):
    number: int = Field(description="The mark [n] the answer's text uses for this passage.")
    document_id: str
    chunk_id: int
    source: str
    page: int
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4)

    @classmethod
    def of(cls, citation: Citation) -> CitationItem:
        return cls(number=citation.number, document_id=citation.document_id, chunk_id=citation.chunk_id,
                   source=citation.source, page=citation.page,
                   bbox=citation.bbox.as_list() if citation.bbox else None)


class AnswerBody(_Model):
    text: str = Field(description="The answer; cites passages as [n], the n-th citation.")
    citations: list[CitationItem]
    model: str
    extractive: bool = Field(description="True when the text quotes passages instead of being written by a model.")
    redacted_question: str = Field(description="The question as the answerer saw it.")
    guarded: int = Field(description="Values the output guard redacted from the text.")
    reidentified: int = Field(description="Tokens resolved to values (reidentify role only).")

    @classmethod
    def of(cls, answer: Answer) -> AnswerBody:
        return cls(text=answer.text, citations=[CitationItem.of(c) for c in answer.citations], model=answer.model,
                   extractive=answer.extractive, redacted_question=answer.redacted_question,
                   guarded=answer.guarded, reidentified=answer.reidentified)


# Forget and re-identification


SubjectValue = Annotated[str, Field(min_length=1, max_length=1000, pattern=NOT_BLANK, json_schema_extra=NO_NUL_SCHEMA),
                         STORABLE]


class ForgetRequest(_Request):
    subject: SubjectValue | Annotated[list[SubjectValue], Field(min_length=1, max_length=50)] = Field(
        description="The value naming the data subject (a name, an email), or a list of the values of one person.")
    delete_documents: bool = False


class ForgetResultBody(_Model):
    subject_found: bool
    vault_entries: int
    documents_deleted: int
    documents_kept: int


class ReidentifyRequest(_Request):
    tokens: list[Text] = Field(min_length=1, max_length=1000)


class ReidentifyResult(_Model):
    values: dict[str, str] = Field(description="Token to original value; unknown or forgotten tokens are absent.")


# Audit


class AuditRecordItem(_Model):
    tenant: str
    seq: int
    ts: str
    user: str
    roles: list[str]
    action: str
    outcome: str
    targets: list[str]
    counts: dict[str, Any]
    hashes: dict[str, Any]
    extra: dict[str, Any]
    checkpoint_seq: int
    prev_hash: str
    hash: str
    mac: str


class AuditRecordList(_Model):
    records: list[AuditRecordItem]


class AuditVerifyResult(_Model):
    ok: bool
    records: int
    first_broken_seq: int | None
    reason: str | None
    checkpoints: int
    macs_checked: bool
    key_fingerprint: str | None


class AuditKey(_Model):
    algorithm: Literal["Ed25519"] = "Ed25519"
    public_key: str = Field(description="Raw public key, hex; pin it with `docveil audit verify --file --verify-key`.")
