"""Every failure as ``{"error": {"type": ..., "message": ...}}``: docveil errors mapped to status
codes, validation errors without the rejected input, and no traceback or internal detail in a
response. DocveilError messages carry no personal data by contract; anything else is reported
as a bare internal error and logged by type only (driver messages can quote row values)."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docveil.errors import (
    AccessDeniedError,
    AnswerError,
    ConfigError,
    DocveilError,
    EncoderError,
    LimitExceededError,
    LoadError,
    MissingDependencyError,
    NotFoundError,
    StoreError,
)
from docveil.interfaces.http.schemas import ErrorResponse

log = logging.getLogger(__name__)

# Most specific first.
_STATUS: tuple[tuple[type[DocveilError], int, str], ...] = (
    (LimitExceededError, 413, "limit_exceeded"),
    (LoadError, 422, "load_error"),
    (AccessDeniedError, 403, "access_denied"),
    (NotFoundError, 404, "not_found"),
    (ConfigError, 400, "config_error"),
    (MissingDependencyError, 503, "unavailable"),
    (StoreError, 503, "unavailable"),
    (EncoderError, 503, "unavailable"),
    (AnswerError, 502, "answer_error"),
)
_INTERNAL = "internal error; the server log has its type"
# pydantic's name for a branch of a union in an error's location: "list[...]", "function-after[...]".
_UNION_TAG = re.compile(r"[\[(]")
_UNAVAILABLE = "the database is not available; try again later"

_HTTP_TYPES = {400: "bad_request", 401: "unauthenticated", 403: "access_denied", 404: "not_found",
               405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
               415: "unsupported_media_type", 422: "validation_error", 503: "unavailable"}

COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Bad request or invalid setting"),
        (401, "Missing, invalid, expired or revoked credentials (see WWW-Authenticate)"),
        (403, "The principal may not do this (the denial is audited)"),
        (413, "The request body or an uploaded file is over the size limit"),
        (415, "A request body of a media type the endpoint does not take"),
        (422, "Invalid request fields, or a file that cannot be loaded"),
        (500, "Internal error (the server log has its type, never its message)"),
        (503, "The database or a model is not available"),
    )
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "No such object in this tenant"}}


def error_body(kind: str, message: str, fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def status_of(exc: DocveilError) -> tuple[int, str]:
    for kind, status, name in _STATUS:
        if isinstance(exc, kind):
            return status, name
    return 500, "internal_error"


def public_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The status and body a client may see for ``exc``; internal errors are logged here."""
    if isinstance(exc, DocveilError):
        status, kind = status_of(exc)
        if status != 500:
            return status, error_body(kind, str(exc))
    if _database_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return 503, error_body("unavailable", _UNAVAILABLE)
    log_internal(exc)
    return 500, error_body("internal_error", _INTERNAL)


def _database_unavailable(exc: BaseException | None) -> bool:
    """A pool that found no connection in time (``PoolTimeout``) or a lost connection, also
    when the engine wrapped it in one of its errors (an ``AuditError``...)."""
    while exc is not None:
        if isinstance(exc, psycopg.OperationalError):
            return True
        exc = exc.__cause__
    return False


def log_internal(exc: BaseException) -> None:
    """The type and the frames only: exception messages may quote values."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("internal error %s\n%s", type(exc).__name__, frames)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DocveilError)
    async def on_docveil_error(_request: Request, exc: DocveilError) -> JSONResponse:
        status, body = public_error(exc)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Pydantic's own report echoes the input ("input"), which may be a query full of names.
        fields: list[dict[str, Any]] = []
        for err in exc.errors():
            field = {"location": _location(err.get("loc", ())), "message": str(err.get("msg", "invalid"))}
            if field not in fields:
                fields.append(field)
        return JSONResponse(error_body("validation_error", "the request is invalid: see fields", fields),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _HTTP_TYPES.get(exc.status_code, "error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette names only the methods of the first route of the path
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(error_body(kind, str(exc.detail)), status_code=exc.status_code, headers=headers or None)


def _location(loc: Sequence[Any]) -> list[str | int]:
    """Where a field is, without the tags pydantic adds for the branches of a union
    ("function-after[_storable(), constrained-str]", "list[...]"): field names and indices."""
    return [part if isinstance(part, int) else str(part) for part in loc
            if isinstance(part, int) or not _UNION_TAG.search(str(part))]


def _allowed_methods(request: Request) -> list[str]:
    # app.routes holds included routers as wrappers; iter_route_contexts yields their routes.
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


class InternalErrorMiddleware:
    """Answers any other exception with a bare 500 and logs only its type and frames. (An
    ``Exception`` handler would still let the exception reach the server, which logs its
    message.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            status, body = public_error(exc)
            if not started:
                await JSONResponse(body, status_code=status)(scope, receive, send)
