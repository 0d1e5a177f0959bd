"""Search and ask over what the caller may read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import StreamingResponse

from docveil.interfaces.http import sse
from docveil.interfaces.http.documents import one_file
from docveil.interfaces.http.error_responses import public_error
from docveil.interfaces.http.runtime import CallerDep, EngineDep
from docveil.interfaces.http.schemas import (
    NO_NUL_SCHEMA,
    NOT_BLANK,
    STORABLE,
    AnswerBody,
    AskRequest,
    ErrorResponse,
    HitItem,
    PictureHitItem,
    PictureSearchResult,
    SearchRequest,
    SearchResult,
)
from docveil.types import Answer, AnswerDelta

router = APIRouter()

ANSWER_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorResponse, "description": "The language model (or the server in front of it) failed"}}
# Each event as OpenAPI 3.1 tools read a text/event-stream schema: its fields, with the JSON in
# ``data`` described by contentSchema.
SSE_EVENT_SCHEMA: dict[str, Any] = {"oneOf": [
    {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"const": name}, "id": {"type": "string"}, "retry": {"type": "integer"},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}}}
    for name, schema in (
        ("delta", {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}),
        ("answer", {"$ref": "#/components/schemas/AnswerBody"}),
        ("error", {"$ref": "#/components/schemas/ErrorResponse"}),
    )
]}
SSE_DESCRIPTION = (
    "A `text/event-stream`: `delta` events (`{\"text\": ...}`, pieces of the answer in order), then one "
    "`answer` event with the whole answer (the `AnswerBody` schema). A failure after the stream has started "
    "is an `error` event (the `ErrorResponse` schema) and ends the stream.")


@router.post("/search", response_model=SearchResult, tags=["search"], summary="Hybrid search",
             description="Vector and keyword search over the chunks the caller may read (with `image_model` set, "
                         "the nearest pictures rank the text of their pages too). Personal data in "
                         "the query is replaced by the tenant's pseudonyms before use; the query itself is "
                         "never stored or logged (a POST body, so it stays out of access logs).")
async def search(caller: CallerDep, engine: EngineDep, body: SearchRequest) -> SearchResult:
    hits = await engine.search(body.query, caller.principal, k=body.k)
    return SearchResult(hits=[HitItem.of(hit) for hit in hits])


@router.post("/search/pictures", response_model=PictureSearchResult, tags=["search"], summary="Search pictures by text",
             description="The pictures the caller may see (image files, scanned pages, pictures in documents) nearest "
                         "to a text, through the image model's text tower (needs `image_model`; 400 `config_error` "
                         "without one). The query is pseudonymised first, as for /search.")
async def search_pictures(caller: CallerDep, engine: EngineDep, body: SearchRequest) -> PictureSearchResult:
    hits = await engine.search_images(body.query, caller.principal, k=body.k)
    return PictureSearchResult(hits=[PictureHitItem.of(hit) for hit in hits])


@router.post("/search/pictures/by-image", response_model=PictureSearchResult, tags=["search"],
             summary="Search pictures by picture",
             description="The pictures the caller may see nearest to the uploaded picture (PNG, JPEG, WebP...), which "
                         "is redacted (faces, plates, personal data in its text) before it is embedded and is not "
                         "stored. Multipart form; needs `image_model`.")
async def search_pictures_by_image(
    caller: CallerDep, engine: EngineDep, request: Request,
    image: Annotated[UploadFile, File(description="One picture.")],
    k: Annotated[int, Form(ge=1, le=100)] = 10,
) -> PictureSearchResult:
    await one_file(request, "image")
    data = await image.read()  # bounded by the body limit; the engine checks max_bytes
    hits = await engine.search_images(None, caller.principal, k=k, image=data)
    return PictureSearchResult(hits=[PictureHitItem.of(hit) for hit in hits])


@router.post("/ask", response_model=AnswerBody, tags=["ask"], responses=ANSWER_ERRORS,
             summary="Answer a question with citations",
             description="Retrieves passages the caller may read and answers from them only; the model sees "
                         "redacted text, and the answer goes through the output guard.")
async def ask(caller: CallerDep, engine: EngineDep, body: AskRequest) -> AnswerBody:
    return AnswerBody.of(await engine.ask(body.question, caller.principal, k=body.k))


@router.post("/ask/image", response_model=AnswerBody, tags=["ask"], responses=ANSWER_ERRORS,
             summary="Answer a question about an image, with citations",
             description="As /ask, with a picture (PNG, JPEG, WebP...) that is redacted (faces, plates, "
                         "personal data in its text) before the answerer sees it. Multipart form.")
async def ask_image(
    caller: CallerDep, engine: EngineDep, request: Request,
    question: Annotated[str, Form(min_length=1, max_length=10_000, pattern=NOT_BLANK, json_schema_extra=NO_NUL_SCHEMA),
                        STORABLE],
    image: Annotated[UploadFile, File(description="One picture.")],
    k: Annotated[int, Form(ge=1, le=50)] = 5,
) -> AnswerBody:
    await one_file(request, "image")
    data = await image.read()  # bounded by the body limit; the engine checks max_bytes
    return AnswerBody.of(await engine.ask(question, caller.principal, k=k, image=data))


@router.post("/ask/stream", response_class=StreamingResponse, tags=["ask"], summary="Answer, streamed as server-sent events",
             description=SSE_DESCRIPTION,
             responses={200: {"description": SSE_DESCRIPTION,
                              "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}}}, **ANSWER_ERRORS})
async def ask_stream(caller: CallerDep, engine: EngineDep, body: AskRequest) -> StreamingResponse:
    stream = engine.ask_stream(body.question, caller.principal, k=body.k)
    # The first item is awaited before answering, so a refusal or a bad request still gets its
    # status code and JSON error instead of a 200 stream that fails.
    first = await anext(stream, None)
    return StreamingResponse(_events(first, stream), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _events(first: AnswerDelta | Answer | None,
                  stream: AsyncIterator[AnswerDelta | Answer]) -> AsyncIterator[bytes]:
    item = first
    try:
        while item is not None:
            if isinstance(item, AnswerDelta):
                yield sse.event("delta", {"text": item.text})
            elif isinstance(item, Answer):
                yield sse.event("answer", AnswerBody.of(item).model_dump())
            item = await anext(stream, None)
    except Exception as exc:
        yield sse.event("error", public_error(exc)[1])
    finally:
        close = getattr(stream, "aclose", None)  # stops the answerer when the client goes away
        if close is not None:
            await close()
