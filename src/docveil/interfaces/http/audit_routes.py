"""The audit log for compliance staff (auditor or admin role): records, verification, export
as a download, and the public key that pins exports."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BeforeValidator
from starlette.background import BackgroundTask

from docveil.engine import Engine
from docveil.interfaces.http.runtime import CallerDep, EngineDep
from docveil.interfaces.http.schemas import AuditKey, AuditRecordItem, AuditRecordList, AuditVerifyResult, Text
from docveil.types import Principal

router = APIRouter(prefix="/audit", tags=["audit"])

_MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
FilterText = Annotated[Text | None, Query(min_length=1, max_length=200)]


def _iso_8601(value: object) -> object:
    # Pydantic would also read "0.5" as seconds since 1970; a review filter takes dates only.
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 date or time, e.g. 2025-01-31T12:00:00Z") from None
    return value


Timestamp = Annotated[datetime, BeforeValidator(_iso_8601)]


@router.get("/records", response_model=AuditRecordList, summary="Audit records, filtered")
async def records(
    caller: CallerDep, engine: EngineDep,
    since: Annotated[Timestamp | None, Query(description="At or after this time (ISO 8601).")] = None,
    until: Annotated[Timestamp | None, Query(description="Before this time (ISO 8601).")] = None,
    user: FilterText = None,
    action: FilterText = None,
    outcome: FilterText = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    order: Annotated[Literal["asc", "desc"], Query(description="By sequence number; desc is newest first.")] = "desc",
) -> AuditRecordList:
    found = await engine.audit_records(caller.principal, since=since, until=until, user=user, action=action,
                                 outcome=outcome, limit=limit, newest_first=order == "desc")
    return AuditRecordList(records=[AuditRecordItem(**record.as_dict()) for record in found])


@router.get("/verify", response_model=AuditVerifyResult, summary="Verify the tenant's audit chain",
            description="Checks every record's hash link and MAC, the signed checkpoints and the head. "
                        "`ok` false names the first broken record.")
async def verify(caller: CallerDep, engine: EngineDep) -> AuditVerifyResult:
    return AuditVerifyResult(**(await engine.audit_verify(caller.principal)).as_dict())


@router.get("/key", response_model=AuditKey, summary="The public key that signs audit checkpoints")
async def verify_key(caller: CallerDep, engine: EngineDep) -> AuditKey:
    return AuditKey(public_key=(await engine.run(engine.engine.audit_verify_key, caller.principal)).hex())


@router.get("/export", response_class=FileResponse, summary="Download the audit log",
            description="The whole log with its signed checkpoints, as a file that "
                        "`docveil audit verify --file` checks offline.",
            responses={200: {"description": "The export file",
                             "content": {media: {"schema": {"type": "string"}} for media in _MEDIA_TYPES.values()}}})
async def export(
    caller: CallerDep, engine: EngineDep,
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
) -> FileResponse:
    path = await engine.run(_export_to_file, engine.engine, caller.principal, format)
    tenant = re.sub(r"[^A-Za-z0-9._-]+", "_", caller.principal.tenant)[:64]
    return FileResponse(path, media_type=_MEDIA_TYPES[format],
                        filename=f"docveil-audit-{tenant}-{date.today().isoformat()}.{format}",
                        background=BackgroundTask(os.unlink, path))


def _export_to_file(engine: Engine, principal: Principal, fmt: Literal["jsonl", "csv"]) -> str:
    # Spooled to a private temporary file: the export holds a transaction only while it is written.
    fd, path = tempfile.mkstemp(prefix="docveil-audit-", suffix=f".{fmt}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            engine.audit_export(principal, handle, fmt)
    except BaseException:
        os.unlink(path)
        raise
    return path
