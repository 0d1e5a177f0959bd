"""Personal data in a document's name and metadata (a PDF's author, an HTML title, an email's
From and To) is redacted like its text: what is stored, and shown to every reader, holds the
same tokens, which ``reidentify`` resolves and ``forget`` removes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from docveil.protocols import Operator
from docveil.stages.detect.overlaps import resolve_overlaps
from docveil.stages.redact.pseudonyms import Pseudonymizer, normalise
from docveil.stages.redact.text import redact_text
from docveil.types import Document, Finding, PseudonymEntry, RedactedDocument

# File names join words with these: read as spaces (same length), so "lease_Jane_Roe.pdf" is
# three words and its name gets the same token as "Jane Roe" in the text.
_NAME_SEPARATORS = str.maketrans({"_": " ", "/": " ", "\\": " "})
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
# "Jane Roe - contract": a detector reads on through a spaced dash ("Jane Roe - contract" as a
# name), not through a comma.
_SPACED_DASH = re.compile(r"(?<= )[-\u2013\u2014](?= )")
KNOWN_VALUE = "document text"  # recognizer name of a value found again from the document's own text


def field_texts(document: Document) -> list[str]:
    """The texts to detect personal data in: the file name of the source, then each metadata
    value in order.

    Detectors read the file name only, its separators as spaces and its extension blanked (same
    length): as they are, a detector takes "doc-07.txt" or a folder "initech0" for a place and
    "Roe.pdf" for part of a name. Folders are left to the values the document's text yields."""
    name = _SPACED_DASH.sub(",", re.split(r"[/\\]", document.source)[-1].translate(_NAME_SEPARATORS))
    extension = _EXTENSION.search(name)
    if extension is not None and extension.start() > 0:
        name = name[:extension.start()] + " " * len(extension.group(0))
    return [name, *document.metadata.values()]


def redact_fields(redacted: RedactedDocument, document: Document, findings: Sequence[Sequence[Finding]], *,
                  pseudonymizer: Pseudonymizer, operators: Mapping[str, Operator],
                  operator_for: Callable[[str], str]) -> RedactedDocument:
    """``redacted`` with ``redacted_source`` and ``metadata`` holding ``document``'s, redacted.

    ``findings`` are the detectors' findings in ``field_texts(document)``. Values the document's
    text already yielded are found again in its fields whatever the detectors say."""
    texts = field_texts(document)
    if len(findings) != len(texts):
        raise ValueError(f"{len(findings)} lists of findings for {len(texts)} fields")
    entries = {entry.digest: entry for entry in redacted.pseudonyms}
    values: list[str] = []
    for number, (text, found) in enumerate(zip(texts, findings, strict=True)):
        if number == 0:  # the detectors read the file name only; known values are looked for in the whole path
            original, offset = document.source, len(document.source) - len(text)
            text = original.translate(_NAME_SEPARATORS)
            found = [replace(f, start=f.start + offset, end=f.end + offset) for f in found]
        else:
            original = text
        spans = [*found, *_known_values(text, redacted.pseudonyms)]
        value, new_entries = _redact_field(original, text, resolve_overlaps(spans), pseudonymizer=pseudonymizer,
                                           operators=operators, operator_for=operator_for)
        values.append(value)
        for entry in new_entries:
            entries.setdefault(entry.digest, entry)
    return replace(redacted, redacted_source=values[0], metadata=dict(zip(document.metadata, values[1:], strict=True)),
                   pseudonyms=tuple(entries.values()))


def _redact_field(original: str, text: str, findings: Sequence[Finding], *, pseudonymizer: Pseudonymizer,
                  operators: Mapping[str, Operator], operator_for: Callable[[str], str]
                  ) -> tuple[str, list[PseudonymEntry]]:
    """Redact ``text`` (``original`` read for detection, same length) and put the replacements
    into ``original``, so a path keeps its separators."""
    redacted, records, entries = redact_text(text, findings, pseudonymizer=pseudonymizer, operators=operators,
                                             operator_for=operator_for)
    pieces, cursor = [], 0
    for record in records:
        pieces += [original[cursor:record.start], redacted.text[record.redacted_start:record.redacted_end]]
        cursor = record.end
    pieces.append(original[cursor:])
    return "".join(pieces), entries


def _known_values(text: str, known: Sequence[PseudonymEntry]) -> list[Finding]:
    """Where ``text`` names a value the document's text was found to hold (whole words, any case)."""
    folded = text.casefold()
    if len(folded) != len(text):  # offsets would not line up ("ß"); the detectors still ran
        return []
    findings = []
    for entry in known:
        words = normalise(entry.value).split(" ")
        if not words[0]:
            continue
        pattern = r"\s+".join(map(re.escape, words))
        for match in re.finditer(rf"(?<!\w){pattern}(?!\w)", folded):
            findings.append(Finding(entry.entity_type, match.start(), match.end(), 1.0, KNOWN_VALUE))
    return findings
