"""Values in table columns whose header is a label.

A labelled recognizer finds "DOB: 1985-03-14" but not the same date in a table under a "dob"
header, where nothing stands before it. Tables here are lines split into the same number of
cells (two or more) by tabs (what the HTML and Word loaders write for a table row), pipes
(Markdown), semicolons or commas (CSV, with its quotes); the first line is the header and a
Markdown rule line (``|---|---|``) is skipped. A header names a column when a recognizer's label
is all of it (``_`` read as a space, words in parentheses and the words of ``CLOSE_GAP_WORDS``
aside: "Account number", "date_of_birth", "MRN (hospital)"); each cell of that column is then
read by that recognizer as "<label>: <cell>".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from docveil.stages.detect.numbers import CLOSE_GAP_WORDS
from docveil.types import Finding

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult

_DELIMITERS = ("\t", "|", ";", ",")
# A cell between delimiters; for commas and semicolons a quoted cell may hold them.
_QUOTED_CELL = {d: re.compile(rf'[ \t]*"(?:[^"\n]|"")*"[ \t]*(?={re.escape(d)}|$)|[^{re.escape(d)}\n]*')
                for d in (";", ",")}
_PLAIN_CELL = {d: re.compile(rf"[^{re.escape(d)}\n]*") for d in ("\t", "|")}
_RULE_CELL = re.compile(r"\s*:?-{3,}:?\s*")
_PARENTHESES = re.compile(r"\([^)]*\)")
_WORD = re.compile(r"\w+")
_MAX_CELL_CHARS = 200


class LabelledRecognizer(Protocol):
    """A recognizer that counts a value only after one of its labels (``label_pattern``)."""

    @property
    def label_pattern(self) -> re.Pattern[str]: ...

    def get_supported_entities(self) -> list[str]: ...

    def analyze(self, text: str, entities: list[str], nlp_artifacts: None = None) -> list[RecognizerResult]: ...


@dataclass(frozen=True)
class _Cell:
    start: int
    end: int


def column_findings(text: str, recognizers: Sequence[LabelledRecognizer], entities: Sequence[str]) -> list[Finding]:
    """Findings in the cells of ``text``'s tables whose column header is a recognizer's label."""
    findings: list[Finding] = []
    for header, rows in _tables(text):
        for column, header_cell in enumerate(header):
            readers = [(recognizer, label) for recognizer in recognizers
                       if (label := _header_label(text[header_cell.start:header_cell.end], recognizer))]
            for recognizer, label in readers:
                wanted = [e for e in recognizer.get_supported_entities() if e in entities]
                if not wanted:
                    continue
                prefix = f"{label}: "
                for row in rows:
                    cell = row[column]
                    value = text[cell.start:cell.end]
                    if not value or len(value) > _MAX_CELL_CHARS:
                        continue
                    for result in recognizer.analyze(prefix + value, wanted, None):
                        if result.start >= len(prefix):
                            findings.append(Finding(
                                result.entity_type, cell.start + result.start - len(prefix),
                                cell.start + result.end - len(prefix), float(result.score),
                                str((result.recognition_metadata or {}).get("recognizer_name", "columns"))))
    return findings


def _header_label(header: str, recognizer: LabelledRecognizer) -> str | None:
    """The label ``header`` is, for ``recognizer``, or None."""
    header = _PARENTHESES.sub(" ", header.replace("_", " ")).strip(" *#:")
    match = recognizer.label_pattern.search(header)
    if match is None:
        return None
    rest = header[:match.start()] + " " + header[match.end():]
    if any(word.lower() not in CLOSE_GAP_WORDS for word in _WORD.findall(rest)):
        return None
    return match.group(0)


def _tables(text: str) -> Iterator[tuple[list[_Cell], list[list[_Cell]]]]:
    """(header cells, rows of cells) of each table in ``text``."""
    lines, position = [], 0
    for line in text.split("\n"):
        lines.append((position, position + len(line)))
        position += len(line) + 1
    index = 0
    while index < len(lines) - 1:
        found = _table_at(text, lines, index)
        if found is None:
            index += 1
            continue
        header, rows, index = found
        yield header, rows


def _table_at(text: str, lines: list[tuple[int, int]], index: int
              ) -> tuple[list[_Cell], list[list[_Cell]], int] | None:
    """The table whose header is line ``index``, with the index of the line after it."""
    for delimiter in _DELIMITERS:
        header = _cells(text, *lines[index], delimiter)
        if len(header) < 2:
            continue
        rows: list[list[_Cell]] = []
        following = index + 1
        while following < len(lines):
            row = _cells(text, *lines[following], delimiter)
            if len(row) != len(header):
                break
            if not (delimiter == "|" and all(_RULE_CELL.fullmatch(text[c.start:c.end] or "-") for c in row)):
                rows.append(row)
            following += 1
        if rows:
            return header, rows, following
    return None


def _cells(text: str, start: int, end: int, delimiter: str) -> list[_Cell]:
    """The cells of ``text[start:end]`` split at ``delimiter``, stripped (and unquoted)."""
    line = text[start:end]
    if delimiter not in line:
        return []
    if delimiter == "|":
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
            offset = line.index("|") + 1
            line = line[offset:line.rindex("|")]
            start += offset
    pattern = _QUOTED_CELL.get(delimiter) or _PLAIN_CELL[delimiter]
    cells, position = [], 0
    while True:
        match = pattern.match(line, position)
        assert match is not None  # every pattern matches the empty string
        cells.append(_strip(text, start + match.start(), start + match.end()))
        position = match.end()
        if position >= len(line) or line[position] != delimiter:
            return cells
        position += 1


def _strip(text: str, start: int, end: int) -> _Cell:
    while start < end and text[start] in " \t\r\"":
        start += 1
    while end > start and text[end - 1] in " \t\r\"":
        end -= 1
    return _Cell(start, end)
