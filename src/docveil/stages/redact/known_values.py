"""Values a document was found to hold, found again wherever else it names them.

A detector that finds "Cornelius Fairbanks" in a CV may miss the same name in capitals in a
heading, or joined by underscores in an attachment's file name; a loader knows that the name in
an email's Cc header is a person's. Each such value is looked for in the document's pages and
fields: as whole words, in any case, its words joined by spaces, ``_``, ``-`` or ``.``. A value
of one word is matched as written only in page text ("Split" found as a name must not take
every "split"), in any case in a file name or metadata, where words are few.

A match whose words are joined otherwise than by a space is read through a *view* of the text
(same length, those separators as spaces), so that its pseudonym is that of the value; the
view never reaches the output: only replaced spans come from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from docveil.stages.detect.overlaps import resolve_overlaps
from docveil.stages.redact.pseudonyms import normalise
from docveil.types import Document, Finding, RedactedDocument, RedactedText

RECOGNIZER = "document text"  # recognizer name of a value found again from the document itself
_BETWEEN_WORDS = r"[\s_.\-]+"
_WORD = re.compile(r"[^\W_]+")
# Word edges where "_" counts as a separator, unlike in \b.
_BEFORE = r"(?<![^\W_])"
_AFTER = r"(?![^\W_])"


@dataclass(frozen=True)
class KnownValue:
    """A value of the document: its entity type, its words (normalised) and how it was written."""

    entity_type: str
    words: tuple[str, ...] = field(repr=False)  # personal data: kept out of reprs and logs
    written: str = field(repr=False)

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        between = ")(?:" + _BETWEEN_WORDS + ")("
        return re.compile(_BEFORE + "(" + between.join(map(re.escape, self.words)) + ")" + _AFTER)

    @cached_property
    def key(self) -> str | None:
        """The run of letters and digits a match starts with (None: it starts with a symbol)."""
        run = _WORD.match(self.words[0])
        return run.group() if run else None


def known_values(pairs: Iterable[tuple[str, str]]) -> list[KnownValue]:
    """One ``KnownValue`` per distinct (entity type, normalised value) of ``pairs``."""
    seen: dict[tuple[str, tuple[str, ...]], KnownValue] = {}
    for entity_type, value in pairs:
        words = tuple(normalise(value).split(" "))
        if words[0] and len("".join(words)) >= 2:
            seen.setdefault((entity_type, words), KnownValue(entity_type, words, value.strip()))
    return list(seen.values())


@dataclass(frozen=True)
class KnownMatch:
    """A known value found in a text, and the separators between its words there."""

    finding: Finding
    gaps: tuple[tuple[int, int], ...]


def find_known(text: str, known: Sequence[KnownValue], *, single_words_any_case: bool) -> list[KnownMatch]:
    """Where ``text`` names ``known`` values."""
    folded, origin = _folded(text)
    # Where each run of letters and digits starts: a value is tried only where its first one does.
    runs: dict[str, list[int]] = {}
    for run in _WORD.finditer(folded):
        runs.setdefault(run.group(), []).append(run.start())
    matches = []
    for value in known:
        found: Iterable[re.Match[str] | None]
        if value.key is not None:
            found = (value.pattern.match(folded, at) for at in runs.get(value.key, ()))
        else:
            found = value.pattern.finditer(folded) if value.words[0] in folded else iter(())
        for match in found:
            if match is None:
                continue
            start, end = _original(origin, match.start()), _original(origin, match.end() - 1) + 1
            if len(value.words) == 1 and not single_words_any_case and text[start:end] != value.written:
                continue
            gaps = tuple((_original(origin, match.end(group)), _original(origin, match.start(group + 1)))
                         for group in range(1, len(value.words)))
            matches.append(KnownMatch(Finding(value.entity_type, start, end, 1.0, RECOGNIZER), gaps))
    return matches


def resolved(text: str, detected: Sequence[Finding], matches: Sequence[KnownMatch],
             detected_view: str | None = None) -> tuple[str, list[Finding]]:
    """The findings that remain once overlaps are resolved, and the view of ``text`` to redact
    them through: a remaining known value's separators as spaces, a detected span as in
    ``detected_view`` (the text the detector read) when given; ``text`` itself when nothing differs.

    Known values add to what the detectors found. One that holds a detected span and more (the
    detector found "Ysolde" of "Ysolde Marrowby") wins over it; one that overlaps a detected
    span otherwise is dropped, so the detector's span, and its name in the manifest, stay (a
    known "Anna Smith" must not free "-Jones" of a detected "Smith-Jones")."""
    spans = [(f.start, f.end) for f in detected]
    more = [m.finding for m in matches if all(
        end <= m.finding.start or m.finding.end <= start  # apart
        or (m.finding.start <= start and end <= m.finding.end and (start, end) != (m.finding.start, m.finding.end))
        for start, end in spans)]
    kept = resolve_overlaps([*detected, *more])
    gaps = {match.finding: match.gaps for match in matches}
    changes = []
    for finding in kept:
        if finding in gaps:
            changes += [(start, " " * (end - start)) for start, end in gaps[finding]]
        elif detected_view is not None:
            changes.append((finding.start, detected_view[finding.start:finding.end]))
    changes = [(start, new) for start, new in changes if text[start:start + len(new)] != new]
    if not changes:
        return text, kept
    view = list(text)
    for start, new in changes:
        view[start:start + len(new)] = new
    return "".join(view), kept


def with_known_values(document: Document, findings: Sequence[Sequence[Finding]]
                      ) -> tuple[Document, list[list[Finding]]]:
    """The document to redact (``document`` itself unless a page must be read as a view) and each
    page's findings, with those of every value found on any page or given by the loader and
    overlaps resolved."""
    known = known_values([*((f.entity_type, page.text[f.start:f.end])
                            for page, found in zip(document.pages, findings, strict=True) for f in found),
                          *document.personal_values])
    pages, all_findings = [], []
    for page, found in zip(document.pages, findings, strict=True):
        view, kept = resolved(page.text, found, find_known(page.text, known, single_words_any_case=False))
        pages.append(page if view is page.text else replace(page, text=view))
        all_findings.append([replace(f, page=page.number) for f in kept])
    if all(new is old for new, old in zip(pages, document.pages, strict=True)):
        return document, all_findings
    return replace(document, pages=tuple(pages)), all_findings


def restore_originals(redacted: RedactedDocument, document: Document) -> RedactedDocument:
    """``redacted`` (made from the views of ``with_known_values``) with every character it did
    not replace taken from ``document`` again."""
    replaced: dict[int, list[tuple[int, int, int, int]]] = {}
    for r in redacted.manifest:
        replaced.setdefault(r.page, []).append((r.start, r.end, r.redacted_start, r.redacted_end))
    pages = []
    for page, original in zip(redacted.pages, document.pages, strict=True):
        text = splice(original.text, page.text.text, replaced.get(page.number, ()))
        pages.append(page if text == page.text.text else replace(page, text=RedactedText(text)))
    return replace(redacted, pages=tuple(pages))


def splice(original: str, view_output: str, replaced: Iterable[tuple[int, int, int, int]]) -> str:
    """``view_output`` (a text redacted through a view of ``original``) with every character
    outside the ``replaced`` spans (start, end in the text; start, end in the output) taken
    from ``original`` again."""
    pieces, cursor = [], 0
    for start, end, out_start, out_end in sorted(replaced):
        pieces += [original[cursor:start], view_output[out_start:out_end]]
        cursor = end
    pieces.append(original[cursor:])
    return "".join(pieces)


def _folded(text: str) -> tuple[str, list[int] | None]:
    """``text`` casefolded, and where each of its characters comes from (None: one for one)."""
    folded = text.casefold()
    if len(folded) == len(text):
        return folded, None
    origin = []
    for index, character in enumerate(text):
        origin.extend([index] * len(character.casefold()))
    return folded, origin


def _original(origin: list[int] | None, index: int) -> int:
    return index if origin is None else origin[index]
