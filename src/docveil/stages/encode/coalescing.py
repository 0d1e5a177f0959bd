"""Queries from concurrent callers, encoded together.

A server answering many searches at once would otherwise run one encoder forward pass per
query, all at the same time, each asking for every core. Here one worker thread takes every
query waiting when it becomes free and encodes them in one call: N simultaneous searches cost
one batched pass, and a caller alone waits for nothing extra (there is no collection window).
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import numpy as np

from docveil.protocols import TextEncoder
from docveil.stages.encode.text import require_redacted
from docveil.types import RedactedText


class CoalescingEncoder:
    """``encode_one`` from any thread; texts waiting together go through ``encoder`` as one batch."""

    def __init__(self, encoder: TextEncoder, *, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.encoder = encoder
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[RedactedText, Future[np.ndarray]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._closed = False
        self.batches = 0  # forward passes run, for monitoring

    def encode_one(self, text: RedactedText) -> np.ndarray:
        require_redacted([text])
        future: Future[np.ndarray] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the query encoder is closed")
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="docveil-query-encoder", daemon=True)
                self._worker.start()
            self._queue.put((text, future))
        return future.result()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            worker = self._worker
            if worker is not None:
                self._queue.put(None)  # the worker stops when it reaches this
        if worker is not None:
            worker.join()

    def _run(self) -> None:
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
            self._encode(batch)
            if stop:
                return

    def _encode(self, batch: list[tuple[RedactedText, Future[np.ndarray]]]) -> None:
        self.batches += 1
        try:
            vectors = self.encoder.encode([text for text, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), vector in zip(batch, vectors, strict=True):
            future.set_result(vector)
