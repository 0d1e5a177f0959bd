"""Merge the findings of several detectors for one text into non-overlapping spans."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from docveil.types import Finding


def resolve_overlaps(findings: Sequence[Finding]) -> list[Finding]:
    """Keep non-overlapping findings, preferring a higher score, then a longer span.

    Ties are broken by position, then entity type and recognizer name, so the result does not
    depend on the order detectors answered in. Empty spans are dropped. Sorted by start.
    """
    ranked = sorted(
        (f for f in findings if f.end > f.start),
        key=lambda f: (-f.score, -(f.end - f.start), f.start, f.entity_type, f.recognizer),
    )
    starts: list[int] = []
    kept: list[Finding] = []  # sorted by start, pairwise disjoint
    for finding in ranked:
        i = bisect_left(starts, finding.start)
        if i > 0 and kept[i - 1].end > finding.start:
            continue
        if i < len(kept) and kept[i].start < finding.end:
            continue
        starts.insert(i, finding.start)
        kept.insert(i, finding)
    return kept
