"""The FastAPI application: ``create_app()`` for ``docveil serve`` or to mount in your own app.

One engine serves every request: its connection pool and its models are shared, and its
blocking calls run in the thread pools of an ``AsyncEngine`` (short calls and asks apart), never
on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.formparsers import MultiPartParser

import docveil
from docveil.config import Settings
from docveil.engine import Engine
from docveil.interfaces.http import audit_routes, documents, health, privacy, query, review_page
from docveil.interfaces.http.body_limit import FRAMING_BYTES, BodyLimitMiddleware
from docveil.interfaces.http.error_responses import COMMON_ERRORS, InternalErrorMiddleware, install_error_handlers
from docveil.interfaces.http.runtime import Runtime, current_caller
from docveil.store.database import Database

API_PREFIX = "/v1"
# Requests waiting for a database connection queue in the pool; a pool as large as the thread
# pool would only move the queue into PostgreSQL.
POOL_SIZE = 16


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    """The docveil HTTP API. Without ``engine`` one is built from ``settings`` (default:
    ``Settings.load()``) and closed with the app; a given engine is left open for its owner."""
    owns_engine = engine is None
    if engine is None:
        settings = settings or Settings.load()
        engine = Engine(settings, database=Database(settings, pool_size=POOL_SIZE))
    runtime = Runtime(engine, owns_engine=owns_engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Load models before the first request; an app mounted in another one gets no lifespan
        # events and does this on its first request instead.
        await runtime.ready()
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="docveil", version=docveil.__version__, lifespan=lifespan,
        description="Redact, store, search and ask documents without keeping personal data in clear. "
                    "Authenticate with an API key (`X-API-Key` or `Authorization: Bearer dvk_...`) or a "
                    "bearer JWT from the configured issuer.",
        openapi_url="/openapi.json",
        # The bundled documentation pages load scripts from a CDN: left out on purpose.
        docs_url=None, redoc_url=None,
    )
    app.state.docveil = runtime
    install_error_handlers(app)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(health.router)
    api.include_router(review_page.router)
    for module in (documents, query, privacy, audit_routes):
        api.include_router(module.router, responses=COMMON_ERRORS)
    app.include_router(api)

    keep_uploads_in_memory(engine.settings.max_bytes)
    routes = list(iter_route_contexts(app.routes))
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=engine.settings.max_bytes,
                       upload_routes=[route for route in routes if _takes_files(route)],
                       credential_routes=[route for route in routes if _needs_caller(route)])
    return app


def keep_uploads_in_memory(max_bytes: int) -> None:
    """Starlette spools a form part over 1 MiB to a temporary file, in clear on disk before
    anything is redacted; uploads are held in memory up to the body limit instead. This is
    Starlette's class-wide setting, so it holds for every app in the process (raised, never
    lowered)."""
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_bytes + FRAMING_BYTES)


def _takes_files(route: RouteContext) -> bool:
    body = getattr(route, "body_field", None)
    return body is not None and isinstance(body.field_info, params.File)


def _needs_caller(route: RouteContext) -> bool:
    def needs(dependant: Dependant) -> bool:
        return dependant.call is current_caller or any(needs(sub) for sub in dependant.dependencies)

    dependant = getattr(route, "dependant", None)
    return dependant is not None and needs(dependant)
