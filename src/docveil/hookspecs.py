"""The plugin contract: every hook docveil calls, grouped by stage.

Each docstring says how results combine. A hook implementation may accept any subset of the
documented arguments. ``context`` is the calling engine's ``StageContext`` (settings, hooks and
a per-engine stash for loaded models).
"""

# Specs only: pluggy never runs these bodies, so a docstring is all they need.
# mypy: disable-error-code="empty-body"

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from docveil.context import StageContext
    from docveil.protocols import ImageEncoder, KeyProvider, Operator, TextEncoder
    from docveil.types import (
        AnswerRequest,
        Chunk,
        Document,
        Finding,
        Generation,
        OcrWord,
        PageImage,
        Principal,
        RedactedDocument,
        Region,
        Source,
    )

hookspec = pluggy.HookspecMarker("docveil")
hookimpl = pluggy.HookimplMarker("docveil")


# Lifecycle


@hookspec
def docveil_warm_up(context: StageContext) -> None:
    """Load heavy models ahead of use. Broadcast: every implementation runs."""


# Load


@hookspec(firstresult=True)
def docveil_load_document(source: Source, context: StageContext) -> Document | None:
    """Turn raw bytes into a ``Document``; return None for a media type you do not handle.
    Stops at first non-None result."""


# Detect


@hookspec
def docveil_text_recognizers(context: StageContext) -> Sequence[Any]:
    """Extra Presidio ``EntityRecognizer`` objects. Broadcast: all lists are concatenated."""


@hookspec
def docveil_detect_text(texts: Sequence[str], context: StageContext) -> Sequence[Sequence[Finding]]:
    """Detect PII in a batch of texts, one list of findings per text. Broadcast: findings of
    all detectors are merged; overlapping findings are resolved by score, then length."""


@hookspec(firstresult=True)
def docveil_ocr_image(image: Any, context: StageContext) -> Sequence[OcrWord] | None:
    """Read the words of a ``PIL.Image.Image`` (RGB) with their pixel boxes, in reading order.
    Stops at first non-None result."""


@hookspec
def docveil_detect_image_regions(images: Sequence[PageImage], context: StageContext) -> Sequence[Sequence[Region]]:
    """Detect regions holding personal data (faces, plates, ...) in a batch of images, one list
    of pixel-box regions per image. Broadcast: the regions of all detectors are merged; every
    one is redacted."""


# Redact


@hookspec
def docveil_redaction_operators(context: StageContext) -> Mapping[str, Operator]:
    """Named redaction operators. Broadcast: mappings are merged, later registrations win."""


# Chunk


@hookspec(firstresult=True)
def docveil_chunk_document(document: RedactedDocument, context: StageContext) -> Sequence[Chunk] | None:
    """Split a redacted document into chunks. Stops at first non-None result."""


# Encode


@hookspec(firstresult=True)
def docveil_text_encoder(context: StageContext) -> TextEncoder | None:
    """Provide the text encoder. Stops at first non-None result."""


@hookspec(firstresult=True)
def docveil_image_encoder(context: StageContext) -> ImageEncoder | None:
    """Provide the image encoder (pictures, and text queries that look for pictures, in one
    vector space). Stops at first non-None result; None from every plugin: pictures are not
    embedded and image search is unavailable."""


# Ask


@hookspec(firstresult=True)
def docveil_answer(request: AnswerRequest, context: StageContext) -> Generation | None:
    """Answer a question from redacted passages with the answerer named by
    ``context.settings.answerer``; return None when that name is not yours.
    Stops at first non-None result."""


# Security


@hookspec(firstresult=True)
def docveil_key_provider(context: StageContext) -> KeyProvider | None:
    """Provide the key-encryption-key provider. Stops at first non-None result."""


@hookspec
def docveil_authorize(principal: Principal, action: str, resource: Mapping[str, Any],
                      context: StageContext) -> bool | None:
    """Allow (True), deny (False) or abstain (None). Broadcast: any False denies, and so does
    any other value or an exception (a ``PluginError``, the denial audited).

    ``resource`` names what the action is on: ``{"owner": ..., "document_id": ...}`` for
    ``acl.change`` and ``documents.delete``; for ``search``, ``{"index": "images"}`` for a
    picture search and ``{"index": "chunks+images"}`` for a text search that ranks pictures
    too (an image model is set); empty for other tenant-wide actions."""


@hookspec
def docveil_audit_record(record: Mapping[str, Any], context: StageContext) -> None:
    """Forward an audit record (already committed to the chain) to a sink. Broadcast."""


# Interfaces


@hookspec
def docveil_register_commands(cli: typer.Typer) -> None:
    """Add commands to the ``docveil`` command line. Broadcast."""
