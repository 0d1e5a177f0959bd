"""Data-subject rights: forget a subject, and re-identify pseudonym tokens (both audited)."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from docveil.interfaces.http.runtime import CallerDep, EngineDep
from docveil.interfaces.http.schemas import ForgetRequest, ForgetResultBody, ReidentifyRequest, ReidentifyResult

router = APIRouter(tags=["privacy"])


@router.post("/forget", response_model=ForgetResultBody, summary="Crypto-shred a data subject",
             description="Destroys the subject's pseudonym-vault entries and key and takes their token out "
                         "of every chunk; optionally deletes documents that only concern them. Needs the "
                         "privacy-officer or admin role.")
async def forget(caller: CallerDep, engine: EngineDep, body: ForgetRequest) -> ForgetResultBody:
    result = await engine.forget(body.subject, caller.principal, delete_documents=body.delete_documents)
    return ForgetResultBody(**dataclasses.asdict(result))


@router.post("/reidentify", response_model=ReidentifyResult, summary="Resolve pseudonym tokens",
             description="The original values of pseudonym tokens; needs the reidentify role. Tokens of "
                         "forgotten subjects stay unresolved.")
async def reidentify(caller: CallerDep, engine: EngineDep, body: ReidentifyRequest) -> ReidentifyResult:
    return ReidentifyResult(values=await engine.reidentify(body.tokens, caller.principal))
