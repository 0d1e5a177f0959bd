"""What every request shares: one engine (its connection pool and loaded models) behind an
``AsyncEngine``, and the authenticator, reached from a request through ``app.state``; and the
dependency that turns a request's credentials into its caller."""

from __future__ import annotations

import os
import threading
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from docveil.asyncio import AsyncEngine
from docveil.engine import Engine
from docveil.interfaces.http.auth import Authenticator, Caller, JwtVerifier, unauthenticated
from docveil.security.api_keys import looks_like_key


class Runtime:
    """The engine behind an app, made ready once (database open, keys and models loaded) even
    when the first requests arrive together, as they do in an app mounted without lifespan.

    Engine calls run in the ``AsyncEngine``'s thread pools: short calls (search, listings,
    audit reads) in one, asks and ingestion in another, so slow answers never hold up searches.
    Both grow with the machine's cores."""

    def __init__(self, engine: Engine, *, owns_engine: bool) -> None:
        cores = os.cpu_count() or 2
        self.engine = engine
        self.aengine = AsyncEngine(engine, workers=max(4, 2 * cores), long_workers=max(2, cores // 2))
        self.owns_engine = owns_engine
        self.authenticator = Authenticator(engine, JwtVerifier.from_settings(engine.settings))
        self._lock = threading.Lock()
        self._ready = False

    def ensure_ready(self) -> None:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self.engine.database  # noqa: B018  (opens the pool, applies migrations)
                    self.engine.keyring  # noqa: B018
                    self.engine.warm_up()
                    self._ready = True

    async def ready(self) -> AsyncEngine:
        if not self._ready:
            await anyio.to_thread.run_sync(self.ensure_ready)
        return self.aengine

    async def close(self) -> None:
        if self.owns_engine:
            await self.aengine.close()


def runtime_of(request: Request) -> Runtime:
    return request.app.state.docveil


bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer",
                           description="A JWT from the configured issuer, or an API key (dvk_...).")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                              description="An API key from `docveil keys api create`.")


async def current_caller(request: Request,
                         bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
                         api_key: Annotated[str | None, Security(api_key_scheme)] = None) -> Caller:
    runtime = runtime_of(request)
    aengine = await runtime.ready()
    # HTTPBearer passes over other schemes silently; a credential that would be ignored is refused.
    if bearer is None and request.headers.get("authorization"):
        scheme, _, credentials = request.headers["authorization"].strip().partition(" ")
        if scheme.lower() == "bearer" and not credentials.strip():
            raise unauthenticated("the Authorization header carries no bearer token", error="invalid_request")
        raise unauthenticated("the Authorization header must use the Bearer scheme", error="invalid_request")
    token = bearer.credentials if bearer else None
    if api_key is not None or (token and looks_like_key(token)):  # a database lookup: off the event loop
        return await aengine.run(runtime.authenticator.caller, token, api_key)
    return runtime.authenticator.caller(token, api_key)


async def current_engine(request: Request) -> AsyncEngine:
    return await runtime_of(request).ready()


CallerDep = Annotated[Caller, Depends(current_caller)]
EngineDep = Annotated[AsyncEngine, Depends(current_engine)]
