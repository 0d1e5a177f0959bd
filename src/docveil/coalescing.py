"""Work items from concurrent callers, processed together.

A server answering many searches at once would otherwise run the same model once per request,
all at the same time, each asking for every core. A ``Coalescer`` has one worker thread that
takes every item waiting when it becomes free and processes them in one batch call: N
simultaneous callers cost one batched call, and a caller alone waits for nothing extra (there is
no collection window). docveil coalesces query detection and query encoding.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """``submit`` from any thread; items waiting together go through ``run`` as one batch."""

    def __init__(self, run: Callable[[list[T]], Iterable[R]], *, name: str, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self.batches = 0  # batch calls made, for monitoring
        self._run_batch = run
        self._name = name
        self._queue: queue.SimpleQueue[tuple[T, Future[R]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._closed = False

    def submit(self, item: T) -> R:
        future: Future[R] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self._name} is closed")
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name=f"docveil-{self._name}", daemon=True)
                self._worker.start()
            self._queue.put((item, future))
        return future.result()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            worker = self._worker
            if worker is not None:
                self._queue.put(None)  # the worker stops when it reaches this
        if worker is not None:
            worker.join()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list[tuple[T, Future[R]]]) -> None:
        self.batches += 1
        try:
            results = list(self._run_batch([item for item, _ in batch]))
            if len(results) != len(batch):  # a plugin's bug: the callers are told, the worker lives on
                raise RuntimeError(f"the {self._name} gave {len(results)} results for {len(batch)} items")
        except BaseException as exc:  # handed to the waiting callers
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            # One caller's bad item must not fail the others: each alone, once more.
            for item, future in batch:
                self._process([(item, future)])
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
