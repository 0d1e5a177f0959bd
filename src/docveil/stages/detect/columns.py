"""Values in table columns whose header is a label.

A labelled recognizer finds "DOB: 1985-03-14" but not the same date in a table under a "dob"
header, where nothing stands before it. Tables here are lines split into the same number of
cells (two or more) by tabs (what the HTML and Word loaders write for a table row), pipes
(Markdown), semicolons or commas (CSV, with its quotes; a CSV row between two rows of the
table's width may have more cells, where a value holds an unquoted comma); a Markdown rule line
(``|---|---|``) is skipped. The header is the
first of the first three rows with a cell that is a recognizer's labels and nothing else
(``_`` read as a space, words in parentheses, ``CLOSE_GAP_WORDS`` and ``_QUALIFIERS`` aside:
"Account number", "date_of_birth", "MRN (hospital)", "Mobile phone"); each cell below it is
then read by that recognizer as "<header>: <cell>", so the header's own words keep their say
("Call ID: 48213977" is no phone number).
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
_MAX_HEADER_CHARS = 80
_MAX_COLUMNS = 200
_HEADER_CANDIDATES = 3
# Words a header may add to a label: "Home phone", "Previous account number".
_QUALIFIERS = frozenset({"home", "work", "office", "private", "personal", "primary", "secondary", "business",
                         "direct", "main", "alternate", "alt", "emergency", "current", "previous", "former", "new",
                         "old", "other"})
_HEADER_WORDS = CLOSE_GAP_WORDS | _QUALIFIERS


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


def column_findings(text: str, recognizers: Sequence[LabelledRecognizer], entities: Sequence[str],
                    score_threshold: float = 0.0) -> list[Finding]:
    """Findings in the cells of ``text``'s tables whose column header is a recognizer's label."""
    findings: list[Finding] = []
    for rows in _tables(text):
        number, readers = _header(text, rows, recognizers)
        for column, recognizer, prefix in readers:
            wanted = [e for e in recognizer.get_supported_entities() if e in entities]
            for row in rows[number + 1:] if wanted else ():
                cell = row[column]
                value = text[cell.start:cell.end]
                if not value or len(value) > _MAX_CELL_CHARS:
                    continue
                for result in recognizer.analyze(prefix + value, wanted, None):
                    if result.start >= len(prefix) and result.score >= score_threshold:
                        findings.append(Finding(
                            result.entity_type, cell.start + result.start - len(prefix),
                            cell.start + result.end - len(prefix), float(result.score),
                            str((result.recognition_metadata or {}).get("recognizer_name", "columns"))))
    return findings


def _header(text: str, rows: list[list[_Cell]], recognizers: Sequence[LabelledRecognizer]
            ) -> tuple[int, list[tuple[int, LabelledRecognizer, str]]]:
    """The header's row number and its readers: (column, recognizer, prefix) for each column one
    recognizer reads. The header is the first of the first rows that names a column ("Hi Sam,
    the list:" above a CSV has as many commas as its rows)."""
    for number, header in enumerate(rows[:_HEADER_CANDIDATES]):
        names = [(column, _PARENTHESES.sub(" ", text[cell.start:cell.end].replace("_", " ")).strip(" *:"))
                 for column, cell in enumerate(header) if 0 < cell.end - cell.start <= _MAX_HEADER_CHARS
                 and not _form_labels(text, rows[number:], column)]
        readers = [(column, recognizer, prefix) for column, name in names if name for recognizer in recognizers
                   if (prefix := _header_prefix(name, recognizer))]
        if readers:
            return number, readers
    return 0, []


def _form_labels(text: str, rows: list[list[_Cell]], column: int) -> bool:
    """Whether ``column`` holds a form's labels ("Name:" above "Employee number:", each with its
    value beside it, as an aligned form in a PDF reads) rather than a header over values."""
    return sum(text[row[column].start:row[column].end].endswith(":") for row in rows) >= 2


def _header_prefix(header: str, recognizer: LabelledRecognizer) -> str | None:
    """What ``recognizer`` reads before each cell under ``header`` (cleaned: the header and a
    colon, or a space after "... by"), or None when the header is not one of its labels."""
    label = recognizer.label_pattern.search(header)
    if label is None:
        return None
    rest = recognizer.label_pattern.sub(" ", header)
    if any(word.lower() not in _HEADER_WORDS for word in _WORD.findall(rest)):
        return None
    return f"{header} " if label.group(0).lower().endswith(" by") else f"{header}: "


def _tables(text: str) -> Iterator[list[list[_Cell]]]:
    """The rows of each table in ``text`` (a Markdown rule line left out)."""
    lines, position = [], 0
    for line in text.split("\n"):
        lines.append((position, position + len(line.rstrip("\r"))))
        position += len(line) + 1
    index = 0
    while index < len(lines) - 1:
        found = _table_at(text, lines, index)
        if found is None:
            index += 1
            continue
        rows, index = found
        if len(rows) >= 2:
            yield rows


def _table_at(text: str, lines: list[tuple[int, int]], index: int) -> tuple[list[list[_Cell]], int] | None:
    """The rows of the table starting at line ``index``, with the index of the line after it."""
    for delimiter in _DELIMITERS:
        first = _cells(text, *lines[index], delimiter)
        if not 2 <= len(first) <= _MAX_COLUMNS:
            continue
        rows = [first]
        following = index + 1
        while following < len(lines):
            row = _cells(text, *lines[following], delimiter)
            # A CSV row may hold more cells than its header, where a value has the delimiter in
            # it unquoted ("Flat 9, 120 Otley Road"): the columns before it stay in line. Only
            # between rows of the table's width: a wider row followed by more of its width
            # heads a table of its own.
            if len(row) != len(first) and not (
                    delimiter in ",;" and len(row) > len(first) and following + 1 < len(lines)
                    and len(_cells(text, *lines[following + 1], delimiter)) == len(first)):
                break
            if not (delimiter == "|" and all(_RULE_CELL.fullmatch(text[c.start:c.end] or "-") for c in row)):
                rows.append(row[:len(first)])  # the cells past the first row's are not read
            following += 1
        if following > index + 1:
            return rows, following
    return None


def _cells(text: str, start: int, end: int, delimiter: str) -> list[_Cell]:
    """The cells of ``text[start:end]`` split at ``delimiter``, stripped (and unquoted)."""
    line = text[start:end]
    if delimiter not in line:
        return []
    if delimiter == "|":  # a Markdown row's outer pipes, either of them, open and close no cell
        body = line.strip()
        left = line.index(body[0]) + 1 if body.startswith("|") else 0
        right = line.rindex("|") if body.endswith("|") and len(body) > 1 else len(line)
        line, start = line[left:right], start + left
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
