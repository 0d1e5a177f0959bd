"""Replace detected values in text, keep character boxes aligned, and write the manifest."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from itertools import pairwise

from docveil.errors import ConfigError, DocveilError, PluginError
from docveil.protocols import Operator
from docveil.stages.detect.overlaps import resolve_overlaps
from docveil.stages.redact.pseudonyms import Pseudonymizer, token_for
from docveil.types import (
    BBox,
    Document,
    Finding,
    Page,
    PseudonymEntry,
    RedactedDocument,
    RedactedPage,
    RedactedText,
    RedactionRecord,
)

logger = logging.getLogger(__name__)

PSEUDONYM_OPERATOR = "pseudonym"


def redact_text(
    text: str,
    findings: Sequence[Finding],
    *,
    tenant: str | None = None,
    pseudonymizer: Pseudonymizer,
    operators: Mapping[str, Operator],
    operator_for: Callable[[str], str],
) -> tuple[RedactedText, list[RedactionRecord], list[PseudonymEntry]]:
    """Redact one text (a page, a query): the redacted text, its manifest and vault entries.

    Each finding's value is replaced by the output of the operator ``operator_for`` names for
    its entity type. Overlapping findings are resolved first (by score, then length). Manifest
    records carry offsets in ``text`` and in the redacted text, never values; vault entries
    (one per distinct digest replaced by the ``pseudonym`` operator) carry the values.
    ``tenant`` is accepted for symmetry with :func:`redact_document`; the tenant is already
    bound through ``pseudonymizer``'s key.
    """
    ordered = _checked(text, findings)
    pieces: list[str] = []
    records: list[RedactionRecord] = []
    entries: dict[str, PseudonymEntry] = {}
    cursor = 0
    length = 0
    for finding in ordered:
        pieces.append(text[cursor:finding.start])
        length += finding.start - cursor
        value = text[finding.start:finding.end]
        name = operator_for(finding.entity_type)
        try:
            operator = operators[name]
        except KeyError:
            raise ConfigError(f"unknown redaction operator {name!r} (for {finding.entity_type}); "
                              f"known operators: {', '.join(sorted(operators))}") from None
        digest = pseudonymizer.digest(value, finding.entity_type)
        try:
            replacement = operator(value, finding.entity_type, digest)
        except DocveilError:
            raise
        except Exception as exc:  # its message may quote the value: kept on the cause only
            raise PluginError(f"redaction operator {name!r} failed on a {finding.entity_type} value "
                              f"({type(exc).__name__})") from exc
        if not isinstance(replacement, str):
            raise PluginError(f"redaction operator {name!r} returned {type(replacement).__name__}, "
                              "not str")
        pieces.append(replacement)
        records.append(RedactionRecord(
            entity_type=finding.entity_type, page=finding.page,
            start=finding.start, end=finding.end,
            redacted_start=length, redacted_end=length + len(replacement),
            recognizer=finding.recognizer, score=finding.score, operator=name,
        ))
        length += len(replacement)
        cursor = finding.end
        if name == PSEUDONYM_OPERATOR and digest not in entries:
            entries[digest] = PseudonymEntry(token=token_for(finding.entity_type, digest),
                                             digest=digest, entity_type=finding.entity_type,
                                             value=value)
    pieces.append(text[cursor:])
    return RedactedText("".join(pieces)), records, list(entries.values())


def _checked(text: str, findings: Sequence[Finding]) -> list[Finding]:
    for finding in findings:
        if not 0 <= finding.start < finding.end <= len(text):
            raise DocveilError(f"finding {finding.entity_type} [{finding.start}:{finding.end}] from "
                               f"{finding.recognizer} is outside the text (length {len(text)})")
    ordered = sorted(findings, key=lambda f: f.start)
    if any(a.end > b.start for a, b in pairwise(ordered)):
        logger.debug("resolving overlapping findings before redaction")
        ordered = resolve_overlaps(ordered)
    return ordered


def redact_document(
    document: Document,
    findings: Sequence[Sequence[Finding]],
    *,
    tenant: str,
    pseudonymizer: Pseudonymizer,
    operators: Mapping[str, Operator],
    operator_for: Callable[[str], str],
) -> RedactedDocument:
    """Redact every page; ``findings[i]`` are the findings in ``document.pages[i].text``.

    Character boxes follow the text: an unchanged character keeps its box, every character of
    a replacement gets the box enclosing the replaced characters.
    """
    if not tenant:
        raise ConfigError("redacting a document needs a tenant")
    if len(findings) != len(document.pages):
        raise DocveilError(f"{document.source}: {len(findings)} lists of findings for "
                           f"{len(document.pages)} pages")
    pages: list[RedactedPage] = []
    manifest: list[RedactionRecord] = []
    vault: dict[str, PseudonymEntry] = {}
    for page, page_findings in zip(document.pages, findings, strict=True):
        redacted, records, entries = redact_text(
            page.text, [replace(f, page=page.number) for f in page_findings],
            tenant=tenant, pseudonymizer=pseudonymizer, operators=operators,
            operator_for=operator_for)
        pages.append(RedactedPage(
            number=page.number, text=redacted, char_boxes=_boxes(document.source, page, records),
            width=page.width, height=page.height))
        manifest.extend(records)
        for entry in entries:
            vault.setdefault(entry.digest, entry)
    return RedactedDocument(
        source=document.source, media_type=document.media_type, pages=tuple(pages),
        content_hash=document.content_hash, tenant=tenant, manifest=tuple(manifest),
        pseudonyms=tuple(vault.values()))


def _boxes(source: str, page: Page, records: Sequence[RedactionRecord]
           ) -> tuple[BBox | None, ...] | None:
    boxes = page.char_boxes
    if boxes is None:
        return None
    if len(boxes) != len(page.text):
        raise DocveilError(f"{source}: page {page.number} has {len(boxes)} character boxes "
                           f"for {len(page.text)} characters")
    out: list[BBox | None] = []
    cursor = 0
    for record in records:
        out.extend(boxes[cursor:record.start])
        out.extend([BBox.enclosing(boxes[record.start:record.end])]
                   * (record.redacted_end - record.redacted_start))
        cursor = record.end
    out.extend(boxes[cursor:])
    return tuple(out)
