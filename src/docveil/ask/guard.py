"""The output guard: personal data in an answer that its context does not hold is redacted.

A model can make personal data up, or repeat what it memorised. Every piece of an answer goes
through the same PII detection as documents do; a value found there that does not occur in the
passages or the question the model was given is replaced by the tenant's pseudonym token, so
the same value reads the same everywhere. Pseudonym tokens already in the answer are left as
they are.

Detection needs a little context, and a value cut in two is found in neither half, so a streamed
answer is guarded a segment at a time (a line, or a sentence of a minimal length): nothing
leaves before the guard has seen the whole of its segment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from docveil.stages.redact.pseudonyms import TOKEN_PATTERN, Pseudonymizer, normalise
from docveil.types import Finding

Detector = Callable[[Sequence[str]], Sequence[Sequence[Finding]]]

MIN_SEGMENT_CHARS = 80
MAX_SEGMENT_CHARS = 600
# A run of text found verbatim in the context at least this long counts as copied from it.
MIN_COPIED_CHARS = 24
# What may join copied runs in a segment that skips detection: no letters and at most this many
# digits (quotation marks, citation numbers "[2]", list dashes), too little to hold a value.
MAX_JOINING_DIGITS = 3
# A sentence ends at . ! or ? (possibly followed by a closing quote or bracket) and a space.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")
# "Dr. Jane Roe": a title's full stop does not end a sentence.
_ABBREVIATION = re.compile(r"(?:^|\s)(?:Dr|Mr|Mrs|Ms|Mx|Prof|St|No|Mt|Jr|Sr|vs|e\.g|i\.e|etc)\.$")


class Segmenter:
    """Collects streamed pieces and releases them as whole lines or sentences."""

    def __init__(self, min_chars: int = MIN_SEGMENT_CHARS, max_chars: int = MAX_SEGMENT_CHARS) -> None:
        self._buffer = ""
        self._min = min_chars
        self._max = max_chars

    def feed(self, piece: str) -> Iterator[str]:
        """The segments that ``piece`` completes (possibly none)."""
        self._buffer += piece
        while True:
            cut = self._cut()
            if cut is None:
                return
            segment, self._buffer = self._buffer[:cut], self._buffer[cut:]
            yield segment

    def flush(self) -> str:
        """Whatever is left at the end of the stream."""
        rest, self._buffer = self._buffer, ""
        return rest

    def _cut(self) -> int | None:
        buffer = self._buffer
        newline = buffer.find("\n")
        if newline != -1:
            return newline + 1
        if len(buffer) >= self._min:
            for match in _SENTENCE_END.finditer(buffer, self._min - 1):
                if not _ABBREVIATION.search(buffer[:match.start() + 1]):
                    return match.end()
        if len(buffer) >= self._max:
            space = buffer.rfind(" ", 0, self._max)
            return space + 1 if space > 0 else self._max
        return None


class OutputGuard:
    """Redacts values in answer text that the context it was written from does not contain."""

    def __init__(self, detect: Detector, pseudonymizer: Pseudonymizer, context: Sequence[str]) -> None:
        self._detect = detect
        self._pseudonymizer = pseudonymizer
        self._context = "\n".join(normalise(text) for text in context)
        self.redacted = 0

    def clean(self, text: str) -> str:
        """``text`` with every value not found in the context replaced by its token."""
        if not text.strip() or self.copied_from_context(text):
            return text
        tokens = [match.span() for match in TOKEN_PATTERN.finditer(text)]
        out: list[str] = []
        cursor = 0
        for finding in sorted(self._detect([text])[0], key=lambda f: f.start):
            if finding.start < cursor or _overlaps(finding, tokens):
                continue
            value = text[finding.start:finding.end]
            if self._in_context(value):
                continue
            out.append(text[cursor:finding.start])
            out.append(self._pseudonymizer.token(value, finding.entity_type))
            cursor = finding.end
            self.redacted += 1
        out.append(text[cursor:])
        return "".join(out)

    def copied_from_context(self, text: str) -> bool:
        """Whether ``text`` is runs copied verbatim from the context (each at least
        ``MIN_COPIED_CHARS`` long) joined by a few characters without letters. Any value that
        detection could find in such text is in the context already, so it is not run: an
        extractive answer, made of quotes, costs no detection beyond its header."""
        segment, context = normalise(text), self._context
        joining: list[str] = []
        start, end = 0, len(segment)
        while start < end:
            run = segment[start:start + MIN_COPIED_CHARS]
            if (len(run) < MIN_COPIED_CHARS and start > 0) or run not in context:
                joining.append(segment[start])
                if any(ch.isalpha() for ch in joining[-1]):
                    return False
                start += 1
                continue
            # The longest copy from here (every prefix of a copy is a copy).
            low, high = MIN_COPIED_CHARS, end - start
            while low < high:
                middle = (low + high + 1) // 2
                if segment[start:start + middle] in context:
                    low = middle
                else:
                    high = middle - 1
            start += low
        return sum(ch.isdigit() for ch in joining) <= MAX_JOINING_DIGITS

    def _in_context(self, value: str) -> bool:
        needle = normalise(value)
        return bool(needle) and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", self._context) is not None


def _overlaps(finding: Finding, spans: Sequence[tuple[int, int]]) -> bool:
    return any(finding.start < end and start < finding.end for start, end in spans)
