"""``AsyncEngine``: the engine's face for asyncio applications (FastAPI, aiohttp, ...).

Every call runs the synchronous engine in a bounded pool of worker threads, so the event loop
never waits on PII detection, an encoder, a language model or the database. Long, model-bound
work (``ask``, ``ask_stream``, ``ingest``) has a pool of its own: however slow an answer is, it
cannot hold up searches and listings, which always find a free worker.

Why threads rather than psycopg's ``AsyncConnectionPool``: each engine call interleaves database
work with CPU-bound model work (detection, embedding, generation) that must leave the event loop
anyway, and the tenant binding, row-level security and audit chaining live in one synchronous
code path. A second, asynchronous copy of that path would double what has to be proven safe,
for no gain: psycopg's pool is thread-safe and database waits release the GIL. With the default
sizes (4 + 2 workers, 8 connections) no worker waits for a connection; more workers than
connections queue for one, up to the pool's ``pool_timeout``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from docveil.engine import INGEST_BATCH_SIZE, Engine, ProgressCallback
from docveil.security.audit import AuditRecord, VerifyResult
from docveil.security.vault import ForgetResult
from docveil.types import (
    TENANT_WIDE,
    Acl,
    Answer,
    AnswerDelta,
    Document,
    DocumentInfo,
    Hit,
    ImageHit,
    IngestReport,
    Principal,
    RedactedDocument,
    Source,
)

T = TypeVar("T")

_END = object()


class AsyncEngine:
    """Async methods over one ``Engine``; ``workers`` threads serve short calls, ``long_workers``
    threads serve asks and ingestion. ``close()`` closes the engine too."""

    def __init__(self, engine: Engine, *, workers: int = 4, long_workers: int = 2) -> None:
        if workers < 1 or long_workers < 1:
            raise ValueError("workers and long_workers must be at least 1")
        self.engine = engine
        self._short = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docveil")
        self._long = ThreadPoolExecutor(max_workers=long_workers, thread_name_prefix="docveil-long")

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run any other engine method (or function) in the short-call pool."""
        return await self._run(self._short, fn, *args, **kwargs)

    # Reading

    async def search(self, query: str, principal: Principal, k: int = 10) -> list[Hit]:
        return await self._run(self._short, self.engine.search, query, principal, k)

    async def search_images(self, query: str | None, principal: Principal, k: int = 10, *,
                            image: bytes | Path | None = None) -> list[ImageHit]:
        # A picture is redacted first (OCR, faces): long work, kept off the short pool.
        pool = self._short if image is None else self._long
        return await self._run(pool, self.engine.search_images, query, principal, k, image=image)

    async def documents(self, principal: Principal, *, limit: int = 1000, offset: int = 0) -> list[DocumentInfo]:
        return await self._run(self._short, self.engine.documents, principal, limit=limit, offset=offset)

    async def reidentify(self, tokens: Iterable[str], principal: Principal) -> dict[str, str]:
        return await self._run(self._short, self.engine.reidentify, list(tokens), principal)

    # Asking

    async def ask(self, question: str, principal: Principal, *, k: int = 5,
                  image: bytes | Path | None = None) -> Answer:
        return await self._run(self._long, self.engine.ask, question, principal, k=k, image=image)

    async def ask_stream(self, question: str, principal: Principal, *, k: int = 5,
                         image: bytes | Path | None = None) -> AsyncIterator[AnswerDelta | Answer]:
        """``async for event in aengine.ask_stream(...)``: deltas, then the ``Answer``. Errors of
        the checks and retrieval are raised at the first iteration; leaving the loop early
        stops the answerer."""
        stream = await self._run(self._long, self.engine.ask_stream, question, principal, k=k, image=image)
        # A cancelled await leaves its next() running in the worker: closing waits for it there,
        # or the generator would be closed while it executes.
        turn = threading.Lock()

        def step() -> AnswerDelta | Answer | object:
            with turn:
                return next(stream, _END)

        def close() -> None:
            with turn:
                stream.close()

        try:
            while True:
                event = await self._run(self._long, step)
                if event is _END:
                    return
                yield event  # type: ignore[misc]
        finally:
            await self._run(self._long, close)

    # Writing

    async def ingest(self, paths: str | Path | Source | Iterable[str | Path | Source], principal: Principal, *,
                     acl: Acl = TENANT_WIDE, batch_size: int = INGEST_BATCH_SIZE,
                     progress: ProgressCallback | None = None) -> IngestReport:
        """``progress`` is called from a worker thread."""
        given = paths if isinstance(paths, (str, Path, Source)) else list(paths)
        return await self._run(self._long, self.engine.ingest, given, principal, acl=acl,
                               batch_size=batch_size, progress=progress)

    async def redact(self, source: str | Path | Source | Document, principal: Principal) -> RedactedDocument:
        return await self._run(self._short, self.engine.redact, source, principal)

    async def set_acl(self, document_id: str, acl: Acl, principal: Principal) -> None:
        await self._run(self._short, self.engine.set_acl, document_id, acl, principal)

    async def delete_document(self, document_id: str, principal: Principal) -> None:
        await self._run(self._short, self.engine.delete_document, document_id, principal)

    async def forget(self, subject: str | Sequence[str], principal: Principal, *,
                     delete_documents: bool = False) -> ForgetResult:
        return await self._run(self._long, self.engine.forget, subject, principal, delete_documents=delete_documents)

    # Audit review

    async def audit_verify(self, principal: Principal) -> VerifyResult:
        return await self._run(self._long, self.engine.audit_verify, principal)

    async def audit_records(self, principal: Principal, **filters: Any) -> list[AuditRecord]:
        return await self._run(self._short, self.engine.audit_records, principal, **filters)

    # Lifecycle

    async def warm_up(self) -> None:
        await self._run(self._long, self.engine.warm_up)

    async def close(self) -> None:
        """Wait for running calls, then close the engine."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(self._short.shutdown, wait=True))
        await loop.run_in_executor(None, functools.partial(self._long.shutdown, wait=True))
        self.engine.close()

    async def __aenter__(self) -> AsyncEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
