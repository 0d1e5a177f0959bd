"""Loader for plain text and Markdown, and the decoding rules every text-based loader shares.

Text is UTF-8 (a UTF-8 byte-order mark is dropped); UTF-16 and UTF-32 are accepted only with
a byte-order mark, since without one they cannot be told apart from binary. Anything else is
refused rather than guessed: a wrong guess would garble names and numbers that PII detection
then misses. Newlines are normalised to ``\\n``.
"""

from __future__ import annotations

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError
from docveil.hookspecs import hookimpl
from docveil.stages.load.sniff import TEXT_BOMS
from docveil.stages.load.source import content_hash
from docveil.types import Document, Page, Source

MEDIA_TYPES = frozenset({"text/plain", "text/markdown"})

_CODEC_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32"}


@hookimpl
def docveil_load_document(source: Source, context: StageContext) -> Document | None:
    if source.media_type not in MEDIA_TYPES:
        return None
    text = decode_text(source)
    check_text(source.name, text, context.settings)
    return Document(
        source=source.name,
        media_type=source.media_type,
        pages=(Page(number=1, text=text, char_boxes=None),),
        content_hash=content_hash(source.data),
    )


def decode_text(source: Source, declared_encoding: str | None = None) -> str:
    """Decode ``source.data``: a byte-order mark wins, then ``declared_encoding``, then UTF-8.

    ``declared_encoding`` must be a Python codec name. Raises ``LoadError`` naming the first
    invalid byte's offset, never the bytes themselves.
    """
    data = source.data
    encoding = declared_encoding or "utf-8"
    for bom, bom_encoding in TEXT_BOMS:
        if data.startswith(bom):
            encoding = bom_encoding
            break
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        # from None: the decode error carries the raw bytes, which may be personal data.
        label = _CODEC_LABELS.get(encoding, encoding)
        raise LoadError(source.name, f"not valid {label} text (invalid byte at offset {exc.start})") from None
    return normalise_newlines(text)


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def check_text(name: str, text: str, settings: Settings) -> None:
    """Refuse text over ``max_chars`` and text with nothing but whitespace."""
    check_char_count(name, len(text), settings)
    if not text.strip():
        raise LoadError(name, "no text content")


def check_char_count(name: str, count: int, settings: Settings, *, at_least: bool = False) -> None:
    """Refuse ``count`` characters over ``max_chars``; ``at_least`` when counting stopped early."""
    if count > settings.max_chars:
        qualifier = "at least " if at_least else ""
        raise LimitExceededError(
            name, f"text has {qualifier}{count:,} characters, over the {settings.max_chars:,} character limit "
                  "(max_chars)")
