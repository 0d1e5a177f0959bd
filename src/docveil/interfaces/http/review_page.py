"""The audit-review page for compliance staff: plain HTML and fetch, nothing from a CDN.

The page itself holds no data and needs no credential (a browser cannot add an API key to a
page load); the reviewer signs in on it, and every call it makes goes through the audit API,
which needs the auditor or admin role and audits each denial.
"""

from __future__ import annotations

import json
import secrets
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["audit"])


@cache
def _template() -> str:
    return resources.files("docveil.interfaces.http").joinpath("review.html").read_text(encoding="utf-8")


@router.get("/audit/review", response_class=HTMLResponse, summary="Audit review page (HTML)",
            description="A page for compliance staff: sign in with an auditor's API key or token, filter "
                        "records, verify the chain, download exports.")
async def review_page(request: Request) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    api = json.dumps(request.scope.get("root_path", "") + "/v1").replace("<", "\\u003c")
    html = _template().replace("{{nonce}}", nonce).replace("{{api}}", api)
    return HTMLResponse(html, headers={
        "Content-Security-Policy": (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                                    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
                                    "frame-ancestors 'none'"),
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    })
