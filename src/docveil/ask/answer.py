"""One answer in the making: the answerer's pieces are guarded, tokens are resolved for those
allowed to see them, and citations are read from the finished text.

The engine does the rest (access, retrieval, transactions, audit); this module holds no
database connection and no keys beyond the tenant pseudonymizer inside the guard.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Mapping, Sequence

from docveil.ask.guard import OutputGuard, Segmenter
from docveil.errors import PluginError
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN
from docveil.types import Answer, AnswerRequest, Citation, Generation, Hit

_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
# A passage quoted in the answer may hold its own "[3]" (a clause reference): not a citation.
_QUOTED = re.compile(r'"[^"\n]*"|\u201c[^\u201d\n]*\u201d')


def context_tokens(request: AnswerRequest) -> set[str]:
    """The pseudonym tokens in what the answerer was given. Only these may be resolved in its
    answer: a token it writes that its context does not hold (made up, or planted in a
    document to fish for another subject) stays a token."""
    return {match.group(0) for text in guard_context(request) for match in TOKEN_PATTERN.finditer(text)}


def guard_context(request: AnswerRequest) -> list[str]:
    """The texts whose values an answer may repeat."""
    texts = [request.question.text, *(p.text.text for p in request.passages)]
    if request.image is not None:
        texts.append(request.image.text.text)
    return texts


class AskRun:
    """Turns a ``Generation`` into guarded deltas and, at the end, an ``Answer``.

    ``resolved`` maps tokens to their values for a principal who may re-identify (empty
    otherwise); only tokens from ``context_tokens(request)`` are ever substituted.
    """

    def __init__(self, request: AnswerRequest, hits: Sequence[Hit], generation: Generation,
                 guard: OutputGuard, resolved: Mapping[str, str]) -> None:
        if len(hits) != len(request.passages):
            raise ValueError("one hit per passage")
        self.request = request
        self.hits = tuple(hits)
        self.generation = generation
        self.guard = guard
        allowed = context_tokens(request)
        self._resolved = {token: value for token, value in resolved.items() if token in allowed}
        self.disclosed: set[str] = set()
        self._guarded_parts: list[str] = []
        self._parts: list[str] = []

    def deltas(self) -> Generator[str, None, None]:
        """Guarded (and, where allowed, re-identified) text, a segment at a time."""
        segmenter = Segmenter()
        pieces = self.generation.pieces
        try:
            for piece in pieces:
                if not isinstance(piece, str):
                    raise PluginError(f"answerer {self.generation.model!r} streamed "
                                      f"{type(piece).__name__}, not str")
                for segment in segmenter.feed(piece):
                    yield from self._release(segment)
            yield from self._release(segmenter.flush())
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # stops a generator (and the model behind it) when the reader goes away

    def _release(self, segment: str) -> Iterator[str]:
        if not segment:
            return
        guarded = self.guard.clean(segment)
        self._guarded_parts.append(guarded)
        shown = TOKEN_PATTERN.sub(self._resolve, guarded) if self._resolved else guarded
        self._parts.append(shown)
        yield shown

    def _resolve(self, match: re.Match[str]) -> str:
        token = match.group(0)
        value = self._resolved.get(token)
        if value is None:
            return token
        self.disclosed.add(token)
        return value

    @property
    def text(self) -> str:
        """What was shown so far."""
        return "".join(self._parts)

    def citations(self, *, all_if_none: bool = True) -> tuple[Citation, ...]:
        """The passages cited as ``[n]`` (outside quotes) in order of first mention; all of them
        if none is, unless ``all_if_none`` is false (an answer cut short cited only what it showed)."""
        numbers: list[int] = []
        for match in _CITATION.finditer(_QUOTED.sub(" ", "".join(self._guarded_parts))):
            for raw in match.group(1).split(","):
                number = int(raw)
                if 1 <= number <= len(self.hits) and number not in numbers:
                    numbers.append(number)
        if not numbers and all_if_none:
            numbers = list(range(1, len(self.hits) + 1))
        return tuple(Citation(document_id=h.document_id, chunk_id=h.chunk_id, source=h.source,
                              page=h.page, bbox=h.bbox, number=n)
                     for n, h in ((n, self.hits[n - 1]) for n in numbers))

    def answer(self) -> Answer:
        return Answer(text=self.text, citations=self.citations(), model=self.generation.model,
                      extractive=self.generation.extractive,
                      redacted_question=self.request.question.text, guarded=self.guard.redacted,
                      reidentified=len(self.disclosed))
