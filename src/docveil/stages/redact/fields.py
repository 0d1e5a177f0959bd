"""Personal data in a document's name and metadata (a PDF's author, an HTML title, an email's
From and To) is redacted like its text: what is stored, and shown to every reader, holds the
same tokens, which ``reidentify`` resolves and ``forget`` removes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from docveil.protocols import Operator
from docveil.stages.detect.given_names import faker_given_names
from docveil.stages.detect.overlaps import resolve_overlaps
from docveil.stages.redact.known_values import KnownMatch, find_known, known_values, resolved, splice
from docveil.stages.redact.pseudonyms import Pseudonymizer
from docveil.stages.redact.text import redact_text
from docveil.types import Document, Finding, PseudonymEntry, RedactedDocument

# File names join words with these: read as spaces (same length), so "lease_Jane_Roe.pdf" is
# three words and its name gets the same token as "Jane Roe" in the text.
_NAME_SEPARATORS = str.maketrans({"_": " ", "/": " ", "\\": " ", "-": " ", ".": " "})
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
# The first letter of each word. An all lower-case file name is read a second time with
# capitals, as names are written in text ("laura_belzovenra_medical" as "Laura Belzovenra
# Medical"); a detector knows few lower-case names. With a capital on every word, a detector
# also sees names and places in "hr_memo" or "globex_plan": from that reading, a person is kept
# only if it holds a given name, and places are not kept.
_FIRST_LETTER = re.compile(r"(?<![^\W\d_])[^\W\d_]")
_NAMES_FROM_CAPITALS = frozenset({"PERSON", "LOCATION"})
_LETTERS = re.compile(r"[^\W\d_]+")
_BETWEEN_WORDS = re.compile(r"[\s_.\-]")
# "Jane Roe - contract": a detector reads on through a spaced dash ("Jane Roe - contract" as a
# name), not through a comma.
_SPACED_DASH = re.compile(r"(?<= )[-\u2013\u2014](?= )")


def field_texts(document: Document) -> list[str]:
    """The texts to detect personal data in: the file name of the source, then each metadata
    value in order.

    Detectors read the file name only, its extension blanked and its separators (``_ - .``) as
    spaces (same length): as they are, a detector takes "doc-07.txt" or a folder "initech0" for
    a place and "Roe.pdf" for part of a name. An all lower-case name is read a second time, last,
    with its words capitalised. Folders are left to the values the document's text yields."""
    name = _file_name(document)
    views = [_SPACED_DASH.sub(",", name).translate(_NAME_SEPARATORS), *document.metadata.values()]
    if _read_with_capitals(name):
        views.append(_SPACED_DASH.sub(",", _FIRST_LETTER.sub(_capital, name)).translate(_NAME_SEPARATORS))
    return views


def _file_name(document: Document) -> str:
    """The last part of the source path, its extension blanked."""
    name = re.split(r"[/\\]", document.source)[-1]
    extension = _EXTENSION.search(name)
    if extension is not None and extension.start() > 0:
        name = name[:extension.start()] + " " * len(extension.group(0))
    return name


def _read_with_capitals(name: str) -> bool:
    return not any(ch.isupper() for ch in name)


def _capital(match: re.Match[str]) -> str:
    letter = match.group(0)
    return letter.upper() if len(letter.upper()) == 1 else letter


def _kept_from_capitals(view: str, findings: Sequence[Finding], source: str, known: Sequence[KnownMatch]
                        ) -> list[Finding]:
    """The findings in a file name read with capitals (see ``_FIRST_LETTER``) that stand: a
    person holding a given name, and no place. A known value of several words that starts where
    such a person starts decides where the name ends ("Rosalind Thackeray Contract")."""
    given_names = faker_given_names()
    offset = len(source) - len(view)
    kept = []
    for finding in findings:
        if finding.entity_type in _NAMES_FROM_CAPITALS and not (finding.entity_type == "PERSON" and any(
                word in given_names for word in _LETTERS.findall(view[finding.start:finding.end]))):
            continue
        start, end = finding.start + offset, finding.end + offset
        if any(m.finding.start == start and m.finding.end <= end
               and _BETWEEN_WORDS.search(source[m.finding.start:m.finding.end]) for m in known):
            continue
        kept.append(finding)
    return kept


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
    known = known_values([*((entry.entity_type, entry.value) for entry in redacted.pseudonyms),
                          *document.personal_values])
    capitals = _read_with_capitals(_file_name(document))
    fields = list(zip(texts, findings, strict=True))
    in_capitals = fields.pop()[1] if capitals else []
    values: list[str] = []
    for number, (text, found) in enumerate(fields):
        if number == 0:  # the detectors read the file name only; known values are looked for in the whole path
            original, offset = document.source, len(document.source) - len(text)
            matches = find_known(original, known, single_words_any_case=True)
            found = [replace(f, start=f.start + offset, end=f.end + offset)
                     for f in [*found, *(_kept_from_capitals(texts[-1], in_capitals, original, matches)
                                         if capitals else ())]]
            detected_view: str | None = original.translate(_NAME_SEPARATORS)
        else:
            original, detected_view = text, None
            matches = find_known(original, known, single_words_any_case=True)
        view, kept = resolved(original, resolve_overlaps(found, original), matches, detected_view)
        value, new_entries = _redact_field(original, view, kept, pseudonymizer=pseudonymizer, operators=operators,
                                           operator_for=operator_for)
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
    replaced = [(r.start, r.end, r.redacted_start, r.redacted_end) for r in records]
    return splice(original, redacted.text, replaced), entries
