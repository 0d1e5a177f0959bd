"""Request body limits, enforced before an endpoint reads the body.

Uploads (multipart) may carry ``max_bytes`` plus 1 MiB of framing and form fields; every other
body (JSON) is at most 1 MiB. A declared ``Content-Length`` over the limit is refused at once;
a chunked body is counted as it arrives and refused when it passes the limit, whatever the
endpoint was doing with it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docveil.interfaces.http.error_responses import error_body
from docveil.stages.load.source import format_size

FRAMING_BYTES = 1024 * 1024
JSON_BODY_BYTES = 1024 * 1024
# Before refusing, up to this much more of the body is read and dropped: the server closes the
# connection after a 413, and a client still sending then gets a connection reset instead of the
# answer. A client sending more than this still gets the reset.
DRAIN_BYTES = 64 * 1024 * 1024


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload = max_upload_bytes + FRAMING_BYTES

    def limit_for(self, scope: Scope) -> int:
        content_type = _header(scope, b"content-type") or b""
        return self.max_upload if content_type.lower().startswith(b"multipart/") else JSON_BODY_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _drain(receive)
            await _refuse(send, limit)
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
                    await _refuse(send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if exceeded and not started:  # the endpoint stopped at the limit, or swallowed it silently
            await _drain(receive)
            await _refuse(send, limit)


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


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(error_body("payload_too_large", f"the request body is over the {format_size(limit)} limit "
                                 "(max_bytes for uploads)")).encode("utf-8")
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json"),
                                          (b"content-length", str(len(body)).encode()),
                                          (b"connection", b"close")]
    start: dict[str, Any] = {"type": "http.response.start", "status": 413, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
