"""What every request shares: one engine (its connection pool and loaded models) and the
authenticator, reached from a request through ``app.state``; and the dependency that turns a
request's credentials into its caller."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from docveil.engine import Engine
from docveil.interfaces.http.auth import Authenticator, Caller, JwtVerifier, unauthenticated


class Runtime:
    """The engine behind an app, made ready once (database open, keys and models loaded) even
    when the first requests arrive together, as they do in an app mounted without lifespan."""

    def __init__(self, engine: Engine, *, owns_engine: bool) -> None:
        self.engine = engine
        self.owns_engine = owns_engine
        self.authenticator = Authenticator(engine, JwtVerifier.from_settings(engine.settings))
        self._lock = threading.Lock()
        self._ready = False

    def ensure_ready(self) -> Engine:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self.engine.database  # noqa: B018  (opens the pool, applies migrations)
                    self.engine.keyring  # noqa: B018
                    self.engine.warm_up()
                    self._ready = True
        return self.engine

    def close(self) -> None:
        if self.owns_engine:
            self.engine.close()


def runtime_of(request: Request) -> Runtime:
    return request.app.state.docveil


bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer",
                           description="A JWT from the configured issuer, or an API key (dvk_...).")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                              description="An API key from `docveil keys api create`.")


def current_caller(request: Request,
                   bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
                   api_key: Annotated[str | None, Security(api_key_scheme)] = None) -> Caller:
    runtime = runtime_of(request)
    runtime.ensure_ready()
    # HTTPBearer passes over other schemes silently; a credential that would be ignored is refused.
    if bearer is None and request.headers.get("authorization"):
        raise unauthenticated("the Authorization header must use the Bearer scheme", error="invalid_request")
    return runtime.authenticator.caller(bearer.credentials if bearer else None, api_key)


def current_engine(request: Request) -> Engine:
    return runtime_of(request).ensure_ready()


CallerDep = Annotated[Caller, Depends(current_caller)]
EngineDep = Annotated[Engine, Depends(current_engine)]
