"""Documents: ingest uploads, list, change an ACL, delete; and redact an upload without storing it."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path as FilePath
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError

from docveil.engine import Engine, redacted_text_output
from docveil.interfaces.http.error_responses import NOT_FOUND
from docveil.interfaces.http.runtime import CallerDep, EngineDep
from docveil.interfaces.http.schemas import (
    AclBody,
    AclResult,
    DocumentItem,
    DocumentList,
    FailedItem,
    IngestedItem,
    IngestResult,
    Name,
    RedactedPageItem,
    RedactResult,
)
from docveil.stages.load.source import source_from_bytes
from docveil.stages.redact.image import encode_image
from docveil.types import TENANT_WIDE, Acl, Principal, RedactedDocument, Source

router = APIRouter(tags=["documents"])

DocumentId = Annotated[uuid.UUID, Path(description="The document's id.")]


async def upload_source(upload: UploadFile, index: int) -> Source:
    """An upload as a ``Source`` named after the client's file name (its last component only).
    Read whole, so that the engine reports a file over ``max_bytes`` with its true size: the
    body limit of upload endpoints (``max_bytes`` plus the framing) already bounds it."""
    raw = upload.filename or ""
    name = PureWindowsPath(PurePosixPath(raw).name).name.strip() or f"upload-{index + 1}"
    data = await upload.read()
    # The engine sniffs the content again; the client's content type is not trusted.
    return Source(name=name, data=data, media_type="application/octet-stream")


async def one_file(request: Request, field: str) -> None:
    """Refuses a repeated file field, of which FastAPI would silently keep only the last."""
    if len((await request.form()).getlist(field)) > 1:
        raise RequestValidationError([{"loc": ("body", field), "type": "value_error",
                                       "msg": "one file only: the field is repeated"}])


@router.post("/documents", response_model=IngestResult, summary="Ingest uploaded files",
             description="Redact, embed and store each uploaded file. Files that cannot be loaded are "
                         "listed in `failed` with the reason; the others are stored. Without ACL fields "
                         "every member of the tenant may read the documents.")
async def ingest(
    caller: CallerDep, engine: EngineDep,
    files: Annotated[list[UploadFile], File(min_length=1, description="One or more files (text, Markdown, HTML, PDF, images).")],
    acl_users: Annotated[list[Name], Form(description="Users allowed to read (repeatable).")] = [],  # noqa: B006
    acl_roles: Annotated[list[Name], Form(description="Roles allowed to read (repeatable); '*' is everyone.")] = [],  # noqa: B006
) -> IngestResult:
    acl = Acl(users=frozenset(acl_users), roles=frozenset(acl_roles)) if (acl_users or acl_roles) else TENANT_WIDE
    sources = [await upload_source(upload, i) for i, upload in enumerate(files)]
    report = await engine.ingest(sources, caller.principal, acl=acl)
    return IngestResult(ingested=[IngestedItem.of(d) for d in report.ingested],
                        failed=[FailedItem.of(f) for f in report.failed])


@router.get("/documents", response_model=DocumentList, summary="List readable documents")
async def list_documents(
    caller: CallerDep, engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> DocumentList:
    infos = await engine.documents(caller.principal, limit=limit, offset=offset)
    return DocumentList(documents=[DocumentItem.of(info) for info in infos])


@router.put("/documents/{document_id}/acl", response_model=AclResult, responses=NOT_FOUND,
            summary="Replace a document's readers", description="Owner or admin role.")
async def set_acl(caller: CallerDep, engine: EngineDep, document_id: DocumentId, body: AclBody) -> AclResult:
    await engine.set_acl(str(document_id), Acl(users=frozenset(body.users), roles=frozenset(body.roles)), caller.principal)
    return AclResult(document_id=str(document_id), acl=AclBody(users=sorted(set(body.users)),
                                                               roles=sorted(set(body.roles))))


@router.delete("/documents/{document_id}", status_code=204, response_class=Response, responses=NOT_FOUND,
               summary="Delete a document and its chunks", description="Owner or admin role.")
async def delete_document(caller: CallerDep, engine: EngineDep, document_id: DocumentId) -> Response:
    await engine.delete_document(str(document_id), caller.principal)
    return Response(status_code=204)


@router.post("/redact", response_model=RedactResult, tags=["redact"], summary="Redact an upload",
             description="Detect and redact personal data in one file with the tenant's pseudonyms. "
                         "Nothing is stored; the redaction is audited.")
async def redact(
    caller: CallerDep, engine: EngineDep, request: Request,
    file: Annotated[UploadFile, File(description="The file to redact.")],
) -> RedactResult:
    await one_file(request, "file")
    source = await upload_source(file, 0)
    redacted = await engine.redact(source, caller.principal)
    return RedactResult(
        source=redacted.source, media_type=redacted.media_type,
        pages=[RedactedPageItem(number=page.number, text=page.text.text) for page in redacted.pages],
        text=redacted.text,
        manifest=[record.as_dict() for record in redacted.manifest]
        + [region.as_dict() for region in redacted.regions])


_FILE_TYPES = {"application/pdf": {"schema": {"type": "string", "format": "binary"}},
               "image/png": {"schema": {"type": "string", "format": "binary"}},
               "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
               "text/plain": {"schema": {"type": "string"}}}


@router.post("/redact/file", response_class=Response, tags=["redact"], summary="Redact an upload into a file",
             description="A PDF comes back as a redacted PDF (text layer, pixels and metadata redacted), a "
                         "single image as a redacted image of the same kind (JPEG stays JPEG, others become "
                         "PNG; no metadata), anything else as redacted text. Nothing is stored; audited.",
             responses={200: {"description": "The redacted file, as an attachment", "content": _FILE_TYPES}})
async def redact_file(
    caller: CallerDep, engine: EngineDep, request: Request,
    file: Annotated[UploadFile, File(description="The file to redact.")],
) -> Response:
    await one_file(request, "file")
    upload = await upload_source(file, 0)
    return await engine.run(_redact_to_response, engine.engine, upload, caller.principal)


def _redact_to_response(engine: Engine, upload: Source, principal: Principal) -> Response:
    source = source_from_bytes(upload.name, upload.data, engine.settings)  # sniffed: decides the output
    if source.media_type == "application/pdf":
        with tempfile.TemporaryDirectory(prefix="docveil-redact-") as folder:
            destination = FilePath(folder) / "redacted.pdf"
            redacted = engine.redact_to_file(source, destination, principal)
            return _attachment(destination.read_bytes(), "application/pdf", f"{_stem(redacted)}.redacted.pdf")
    redacted = engine.redact(source, principal)
    stem = _stem(redacted)
    images = [page.image for page in redacted.pages if page.image is not None]
    if len(images) == 1 and len(redacted.pages) == 1:
        kind = "jpeg" if source.media_type == "image/jpeg" else "png"
        return _attachment(encode_image(images[0], kind), f"image/{kind}", f"{stem}.redacted.{'jpg' if kind == 'jpeg' else 'png'}")
    return _attachment((redacted_text_output(redacted) + "\n").encode("utf-8"), "text/plain; charset=utf-8",
                       f"{stem}.redacted.txt")


def _stem(redacted: RedactedDocument) -> str:
    """The download's name: the upload's, redacted like the file ("Jane Roe notes.txt" gives
    "<PERSON_...> notes"), so the redacted file does not carry the name in clear."""
    return PurePosixPath(redacted.redacted_source).stem or "document"


def _attachment(data: bytes, media_type: str, filename: str) -> Response:
    # RFC 6266: an ASCII fallback and the exact name in UTF-8.
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})
