"""Liveness and readiness (no authentication), and who the caller is."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from docveil.engine import Engine
from docveil.interfaces.http.error_responses import COMMON_ERRORS
from docveil.interfaces.http.runtime import CallerDep, runtime_of
from docveil.interfaces.http.schemas import Health, Liveness, Me

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/health/live", response_model=Liveness, summary="The process answers")
async def live() -> Liveness:
    return Liveness(status="ok")


@router.get("/health", response_model=Health, summary="Ready: the database answers",
            responses={503: {"model": Health, "description": "The database does not answer"}})
async def ready(request: Request) -> Health | JSONResponse:
    try:
        aengine = await runtime_of(request).ready()
        await aengine.run(_ping, aengine.engine)
    except Exception as exc:  # any failure means "not ready"; the type is enough for the log
        log.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse(Health(status="unavailable", database="unavailable").model_dump(), status_code=503)
    return Health(status="ok", database="ok")


def _ping(engine: Engine) -> None:
    with engine.database.transaction("docveil:health") as conn:
        conn.execute("SELECT 1")


@router.get("/me", response_model=Me, tags=["auth"], summary="The authenticated principal", responses=COMMON_ERRORS)
async def me(caller: CallerDep) -> Me:
    return Me.of(caller.principal, caller.method, caller.key_id)
