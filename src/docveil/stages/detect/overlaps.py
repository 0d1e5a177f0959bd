"""Merge the findings of several detectors for one text into non-overlapping spans."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import accumulate

from docveil.types import Finding

# Punctuation that parts the pieces of a losing finding from the winners ("Portland" won, ", OR
# 97214" is left): not kept at a piece's ends.
_SEPARATORS = frozenset(",;")


def resolve_overlaps(findings: Sequence[Finding], text: str | None = None) -> list[Finding]:
    """Keep non-overlapping findings, preferring a higher score, then a longer span.

    Ties are broken by position, then entity type and recognizer name, so the result does not
    depend on the order detectors answered in. Empty spans are dropped. Sorted by start.

    With ``text``, what a losing finding covered outside the winners stays covered: each such
    piece holding two letters or digits, without the white space at its ends, is kept with the
    loser's type and score ("Jan Kowalski Polna" lost to the address "Polna 12, 00-514
    Warszawa" keeps "Jan Kowalski"; commas and semicolons at a piece's ends are left out).
    Nothing a detector flagged is then left in clear.
    """
    ranked = sorted(
        (f for f in findings if f.end > f.start),
        key=lambda f: (-f.score, -(f.end - f.start), f.start, f.entity_type, f.recognizer),
    )
    starts: list[int] = []
    kept: list[Finding] = []  # sorted by start, pairwise disjoint
    lost: list[Finding] = []
    for finding in ranked:
        if not _insert(kept, starts, finding):
            lost.append(finding)
    if text is not None:
        for finding in lost:  # best first, each piece taken before worse findings' pieces
            for start, end in _uncovered(kept, starts, finding.start, min(finding.end, len(text))):
                while start < end and (text[start].isspace() or text[start] in _SEPARATORS):
                    start += 1
                while end > start and (text[end - 1].isspace() or text[end - 1] in _SEPARATORS):
                    end -= 1
                if sum(ch.isalnum() for ch in text[start:end]) >= 2:
                    _insert(kept, starts, replace(finding, start=start, end=end))
    return kept


def _insert(kept: list[Finding], starts: list[int], finding: Finding) -> bool:
    """Put ``finding`` into ``kept`` unless it overlaps one there."""
    i = bisect_left(starts, finding.start)
    if (i > 0 and kept[i - 1].end > finding.start) or (i < len(kept) and kept[i].start < finding.end):
        return False
    starts.insert(i, finding.start)
    kept.insert(i, finding)
    return True


def _uncovered(kept: list[Finding], starts: list[int], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` that no finding in ``kept`` covers."""
    pieces = []
    i = max(0, bisect_left(starts, start) - 1)
    cursor = start
    while i < len(kept) and kept[i].start < end:
        if kept[i].end > cursor:
            if kept[i].start > cursor:
                pieces.append((cursor, kept[i].start))
            cursor = max(cursor, kept[i].end)
        i += 1
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def merged_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` sorted, overlapping ones joined into one."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


class SpanIndex:
    """Answers "does one of these spans hold that one" and "does one overlap it" in log time."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        self._spans = sorted(spans)
        self._starts = [start for start, _ in self._spans]
        self._reach = list(accumulate((end for _, end in self._spans), max))  # furthest end so far

    def holds(self, start: int, end: int) -> bool:
        i = bisect_right(self._starts, start) - 1
        return i >= 0 and self._reach[i] >= end

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect_left(self._starts, end) - 1  # the spans that start before ``end``
        return i >= 0 and self._reach[i] > start
