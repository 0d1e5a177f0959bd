"""Tiny answerer plugins for the ask tests. They test docveil's plumbing around an answerer
(guard, citations, streaming, audit, async), not a model: each writes a fixed text."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from docveil import hookimpl
from docveil.errors import AnswerError
from docveil.types import AnswerRequest, Generation


class Scripted:
    """Answers with ``pieces`` (answerer name ``scripted``) and keeps every request it got."""

    name = "scripted"

    def __init__(self, pieces: Sequence[str] = ("An answer [1].",), *, delay: float = 0.0,
                 fail_after: int | None = None, gate: threading.Event | None = None) -> None:
        """``gate``: after the first piece, wait (up to 30 s) until the test sets it."""
        self.pieces = list(pieces)
        self.delay = delay
        self.gate = gate
        self.fail_after = fail_after
        self.requests: list[AnswerRequest] = []
        self.stopped = threading.Event()
        self.finished = threading.Event()

    def _stream(self) -> Iterator[str]:
        try:
            for index, piece in enumerate(self.pieces):
                if self.fail_after is not None and index == self.fail_after:
                    raise AnswerError("the scripted model server went away")
                if self.delay:
                    time.sleep(self.delay)
                if self.gate is not None and index == 1:
                    self.gate.wait(timeout=30)
                yield piece
            self.finished.set()
        finally:
            self.stopped.set()

    @hookimpl
    def docveil_answer(self, request: AnswerRequest, context) -> Generation | None:
        if context.settings.answerer != self.name:
            return None
        self.requests.append(request)
        return Generation(model="scripted-1", pieces=self._stream())

    def seen_texts(self) -> list[str]:
        """Every text the answerer was given."""
        return [text for request in self.requests
                for text in (request.question.text, *(p.text.text for p in request.passages))]
