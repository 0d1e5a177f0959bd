"""Request body limits, and the refusal of requests without credentials or with a body of the
wrong media type, before an endpoint reads the body.

The limit follows the endpoint, never the client's ``Content-Type``: an endpoint that takes
files may receive ``max_bytes`` plus 1 MiB of framing and form fields; every other body (JSON)
is at most 1 MiB. A declared ``Content-Length`` over the limit is refused at once; a chunked
body is counted as it arrives and refused when it passes the limit, whatever the endpoint was
doing with it. A request to an endpoint that needs credentials but carries no credential
header at all gets its 401 before its body is parsed. A body declared as something the endpoint
does not take (text or a form sent to a JSON endpoint, JSON sent where files are expected) is a
415 rather than a validation error about its fields.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from fastapi.routing import RouteContext
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docveil.interfaces.http.auth import NO_CREDENTIALS, challenge
from docveil.interfaces.http.error_responses import error_body
from docveil.stages.load.source import format_size

FRAMING_BYTES = 1024 * 1024
JSON_BODY_BYTES = 1024 * 1024
# Before refusing (413 or 401), up to this much more of the body is read and dropped: the server
# closes the connection after the refusal, and a client still sending then gets a connection
# reset instead of the answer. A client sending more than this still gets the reset.
DRAIN_BYTES = 64 * 1024 * 1024


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """``upload_routes`` take files; ``credential_routes`` need a caller."""

    def __init__(self, app: ASGIApp, max_upload_bytes: int, upload_routes: Sequence[RouteContext],
                 credential_routes: Sequence[RouteContext]) -> None:
        self.app = app
        self.max_upload = max_upload_bytes + FRAMING_BYTES
        self.upload_routes = upload_routes
        self.credential_routes = credential_routes

    def limit_for(self, scope: Scope) -> int:
        return self.max_upload if _matches(self.upload_routes, scope) else JSON_BODY_BYTES

    def anonymous(self, scope: Scope) -> bool:
        return (_header(scope, b"x-api-key") is None and _header(scope, b"authorization") is None
                and _matches(self.credential_routes, scope))

    def unsupported_media_type(self, scope: Scope) -> str | None:
        """Why the declared type of a request's body does not suit its endpoint; None if it does
        (or no type or no body is declared)."""
        declared = _header(scope, b"content-type")
        if scope["method"] not in ("POST", "PUT", "PATCH") or declared is None:
            return None
        media_type = declared.split(b";", 1)[0].strip().lower()
        if _matches(self.upload_routes, scope):
            return None if media_type == b"multipart/form-data" else "this endpoint takes multipart/form-data"
        if media_type == b"application/json" or media_type.endswith(b"+json") or \
                _header(scope, b"content-length") == b"0" or not _matches(self.credential_routes, scope):
            return None  # (no endpoint for this method: its 405 or 404 says more)
        return "this endpoint takes a JSON body (Content-Type: application/json)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.anonymous(scope):
            await _drain(receive)
            await _answer(send, 401, error_body("unauthenticated", NO_CREDENTIALS),
                          [(b"www-authenticate", challenge(NO_CREDENTIALS).encode())])
            return
        limit = self.limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _drain(receive)
            await self._refuse(send, limit)
            return
        wrong_type = self.unsupported_media_type(scope)
        if wrong_type is not None:
            await _drain(receive)
            await _answer(send, 415, error_body("unsupported_media_type", wrong_type))
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the endpoint answers to a cut-off body, the answer is 413
                if not started:
                    started = True
                    await _drain(receive)
                    await self._refuse(send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if exceeded and not started:  # the endpoint stopped at the limit, or swallowed it silently
            await _drain(receive)
            await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        what = "(max_bytes plus 1 MiB for the form)" if limit == self.max_upload else "for a JSON body"
        message = f"the request body is over the {format_size(limit)} limit {what}"
        await _answer(send, 413, error_body("payload_too_large", message))


async def _drain(receive: Receive) -> None:
    drained = 0
    while drained < DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


def _matches(routes: Sequence[RouteContext], scope: Scope) -> bool:
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


async def _answer(send: Send, status: int, error: dict[str, Any],
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    # Connection: close, as the body may not have been read to its end.
    body = json.dumps(error).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"), *(headers or [])]
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
