"""Server-sent events, and a blocking iterator consumed from the event loop.

An engine stream must run on one thread from start to end: the engine keeps the state of its
open transaction per thread, and a thread pool would resume each step on whichever thread is
free. Each stream therefore gets a thread of its own, which hands items to the event loop
without holding one of the pool's threads while it waits.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


def event(name: str, data: Any) -> bytes:
    """One SSE event; ``data`` as compact JSON on a single line."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


class ThreadedStream(AsyncIterator[T]):
    """Iterates ``make()`` on a dedicated thread. An exception of the iterator is raised by
    ``__anext__``; ``aclose`` asks the thread to stop after the item it is producing."""

    def __init__(self, make: Callable[[], Iterator[T]]) -> None:
        self._queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._done = False
        threading.Thread(target=self._work, args=(make,), name="docveil-stream", daemon=True).start()

    def _post(self, ok: bool, item: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (ok, item))
        except RuntimeError:  # the event loop is gone (server shutting down)
            return False
        return True

    def _work(self, make: Callable[[], Iterator[T]]) -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = make()
            for item in iterator:
                if self._stop.is_set() or not self._post(True, item):
                    break
        except BaseException as exc:  # handed to the consumer, which decides what it means
            self._post(False, exc)
        finally:
            try:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
            finally:
                self._post(True, _END)

    async def __anext__(self) -> T:
        if self._done:
            raise StopAsyncIteration
        ok, item = await self._queue.get()
        if item is _END:
            self._done = True
            raise StopAsyncIteration
        if not ok:
            self._done = True
            self._stop.set()
            raise item
        return item

    async def aclose(self) -> None:
        self._done = True
        self._stop.set()
